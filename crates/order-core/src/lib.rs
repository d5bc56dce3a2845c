//! The coffee-order domain, free of any platform.
//!
//! Everything a component of the pipeline decides is decided here. The components under
//! `components/` are adapters: they turn a Spin trigger's input into a call to one of the
//! [`handlers`] and map the answer back, through the [`ports`] that `spin-adapters`
//! implements on Spin. So the whole pipeline is tested natively, and other backends can
//! be added without touching the domain.
//!
//! | folder | what |
//! |---|---|
//! | [`model`] | the order and its validation (and its own error, `Invalid`), time and randomness (`Clock`), ids and keys, money, the stored order, the durability levels, the invoice, the message envelope, message ids and their one "newer than", trace context and spans, time stamps, JSON depth |
//! | [`ports`] | one trait a port: key-value stores, the object store, the topic's publisher, a consumer group's queue, the pipeline's operations, the tracer, the drain calls a call hands back, the deployment's settings (`Misconfigured`), the error they share |
//! | [`http`] | the request and response a handler sees, the request checks, problem answers |
//! | [`access`] | bearer credentials, signed capability URLs, who may read what |
//! | [`delivery`] | at least once: what wakes a consumer, the drain, a message's outcome, a group's settings |
//! | [`handlers`] | one per endpoint or consumer |
//! | [`log`] | the JSON log line of each request, message, clock check and ring |
//! | `testing` | in-memory ports, test clocks and the store contract (tests, and the `testing` feature) |
//!
//! The folders are layers, each importing only from itself and those below it:
//! `model` < `http` < `ports` < `delivery` < `log` < `access` < `handlers`
//! (`docs/architecture.md` draws them; `tests/layers.rs` holds the code to them).

pub mod access;
pub mod delivery;
pub mod handlers;
pub mod http;
pub mod log;
pub mod model;
pub mod ports;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
