//! invoice-api: `GET /invoice` hands out signed, expiring download URLs;
//! `GET /invoice/download?token=` honours them.

use order_core::invoice_url::{self, Config};
use order_core::ports::{Clock, SystemClock};
use order_core::Problem;
use spin_ports::{read_request, to_spin, variable, SpinStore};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let answer = match (read_request(req).await, SpinStore::open("invoices")) {
        (Ok(req), Ok(store)) => invoice_url::handle(&req, &store, config(), SystemClock.now_ms()),
        (Err(problem), _) => problem.into_response(),
        (_, Err(e)) => Problem::unavailable(e.to_string()).into_response(),
    };
    to_spin(answer)
}

fn config() -> Result<Config, String> {
    Config::from_variables(&variable("url_signing_keys")?, &variable("invoice_url_ttl_seconds")?)
}
