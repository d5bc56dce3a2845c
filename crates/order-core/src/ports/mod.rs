//! The small traits through which the domain reaches storage, messaging, spans and the
//! deployment's settings, one file a port (time and randomness are the model's `clock`). Spin's key-value stores, outbound Redis and outbound HTTP implement them
//! in `spin-adapters`; the tests implement them in memory (`testing`) and over a
//! real Redis server.

pub mod drain_calls;
pub mod error;
pub mod key_value;
pub mod object_store;
pub mod operations;
pub mod publisher;
pub mod queue;
pub mod settings;
pub mod tracer;

pub use error::PortError;
pub use key_value::{KeyValue, Put, PutOutcome, VersionOf};
pub use object_store::{Object, ObjectStore};
pub use operations::Operations;
pub use publisher::{Idempotency, Published, Publisher};
pub use queue::Queue;
