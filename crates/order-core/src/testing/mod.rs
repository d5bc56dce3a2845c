//! Test support, for this crate's tests and (with the `testing` feature) other crates':
//! in-memory ports, deterministic clocks, the notebook's order, and the contract every
//! key-value store keeps. Not compiled into the components.

pub mod clock;
pub mod contract;
pub mod fixtures;
pub mod memory;
pub mod tracer;
