//! One handler per endpoint or consumer, each with its whole life (parse, apply,
//! answer), and the component that runs it:
//! - [`accept_order`]: `POST /order` (order-api)
//! - [`read_order`]: `GET /order` (order-reader, or order-api where it holds the store)
//! - [`invoices`]: `GET /invoice` and `GET /invoice/download` (invoice-api)
//! - [`pipeline`]: `GET /pipeline`, its metrics, dead letters, redrive, doorbell and
//!   tick (pipeline-api)
//! - [`live_page`]: `GET /`, a page that watches the pipeline (pipeline-api)
//! - [`api_document`]: `GET /openapi.json`, this API's OpenAPI document (pipeline-api)
//! - [`store_order`]: a batch of messages on the orders topic (order-writer)
//! - [`write_invoice`]: a batch of messages on the orders topic (invoice-writer)
//! - [`drain_request`]: `POST /drain/<group>` (order-writer, invoice-writer on the
//!   HTTP-only platforms)

pub mod accept_order;
pub mod api_document;
pub mod drain_request;
pub mod invoices;
pub mod live_page;
pub mod pipeline;
pub mod read_order;
pub mod store_order;
pub mod write_invoice;
