//! order-reader: `GET /order?accountid=&vendorid=` answers the stored order to a request
//! with a read credential (an API key, or the order's capability URL). It has a private
//! route: clients reach it through order-api's `/order`.

use order_core::ports::{Clock, SystemClock};
use order_core::read_access::ReadAccess;
use order_core::{read_order, Problem};
use spin_ports::{serve, variable, SpinStore};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    serve(req, "order-reader", "/order", |req| match SpinStore::open("orders") {
        Ok(store) => read_order::handle(req, &store, access(), SystemClock.now_ms()),
        Err(e) => Problem::unavailable(e.to_string()).into_response(),
    })
    .await
}

fn access() -> Result<ReadAccess, String> {
    ReadAccess::from_variables(
        &variable("read_api_keys")?,
        &variable("url_signing_keys")?,
        &variable("read_url_ttl_seconds")?,
        &variable("public_base_url")?,
    )
}
