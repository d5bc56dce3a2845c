//! invoice-api: `GET /invoice` hands out signed, expiring download URLs (the bucket's
//! own presigned URLs when the invoices are in an object store);
//! `GET /invoice/download?token=` honours ours.

use order_core::handlers::invoices::{self, config::Config};
use order_core::http::Problem;
use order_core::model::clock::{Clock, SystemClock};
use order_core::ports::settings::Misconfigured;
use order_core::ports::ObjectStore;
use spin_adapters::http::serve;
use spin_adapters::{objects, store, variable};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    serve(req, "invoice-api", |req| match (store::open("invoices"), objects::open()) {
        (Ok(store), Ok(objects)) => {
            let objects = objects.as_ref().map(|o| o as &dyn ObjectStore);
            invoices::handle(req, &store, objects, config(), SystemClock.now_ms())
        }
        (Err(e), _) | (_, Err(e)) => Problem::unavailable(e.to_string()).into_response(),
    })
    .await
}

fn config() -> Result<Config, Misconfigured> {
    Config::from_variables(
        &variable("url_signing_keys")?,
        &variable("invoice_url_ttl_seconds")?,
        &variable("read_api_keys")?,
        &variable("read_url_ttl_seconds")?,
        &variable("public_base_url")?,
    )
}
