//! Who may do what: the bearer credentials (admin token, drain token, read API keys),
//! the signed capability URLs, and the read rules built on both.

pub mod capabilities;
pub mod credentials;
pub mod forwarding;
pub mod read_access;
pub mod signing;
