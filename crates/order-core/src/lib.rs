//! The coffee-order domain, free of any platform.
//!
//! Everything a component of the pipeline decides is decided here: what a valid order
//! is ([`order`]), how it is keyed ([`ids`]), what travels on the channel
//! ([`envelope`]), what an invoice says ([`invoice`], [`money`]) and what a download
//! URL grants ([`token`]). The components under `components/` are adapters: they turn
//! a Spin trigger's input into a call to one of the handlers below and map the answer
//! back. Storage and messaging are reached only through the [`ports`] traits, so the
//! whole pipeline is tested natively and other backends can be added without touching
//! the domain.
//!
//! One handler a file, each with its whole life (parse, apply, answer):
//! - [`accept_order`]: `POST /order` (order-api)
//! - [`read_order`]: `GET /order` (order-reader)
//! - [`store_order`]: a message on the orders topic (order-writer)
//! - [`write_invoice`]: a message on the orders topic (invoice-writer)
//! - [`pipeline`]: `GET /pipeline`, `POST /pipeline/redrive`, `POST /pipeline/doorbell`
//! - [`live_page`]: `GET /`, a page that watches the pipeline (pipeline-api)
//! - [`drain_request`]: `POST /drain/<group>` (order-writer, invoice-writer on the
//!   HTTP-only platforms)
//!
//! [`delivery`] drains a consumer group at least once; it is what makes the two
//! consumers above safe to retry.
//! - [`invoice_url`]: `GET /invoice` and `GET /invoice/download` (invoice-api)

pub mod consumer;
pub mod delivery;
pub mod envelope;
pub mod http;
pub mod ids;
pub mod invoice;
pub mod live_page;
pub mod log;
pub mod metrics;
pub mod money;
pub mod order;
pub mod ports;
pub mod problem;
pub mod read_access;
pub mod token;

pub mod accept_order;
pub mod drain_request;
pub mod invoice_url;
pub mod pipeline;
pub mod read_order;
pub mod store_order;
pub mod write_invoice;

pub use ports::{Clock, KeyValue, PortError, Publisher};
pub use problem::Problem;
