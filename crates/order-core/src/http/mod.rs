//! HTTP as the handlers see it: a platform-neutral request and response, and the one
//! shape of every error answer (RFC 9457 problem details).

pub mod problem;
pub mod request;
pub mod response;

pub use problem::{respond, Problem};
pub use request::Request;
pub use response::Response;
