//! order-reader: `GET /order?accountid=&vendorid=` answers the stored order to a request
//! with a read credential (an API key, or the order's capability token). It has a private
//! route: clients reach it through order-api's `/order`, which passes a capability URL's
//! token on as `Authorization: Bearer`.

use order_core::handlers::read_order;
use order_core::http::Problem;
use order_core::model::clock::{Clock, SystemClock};
use spin_adapters::http::serve;
use spin_adapters::{read_access, store};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    serve(req, "order-reader", |req| match store::open("orders") {
        Ok(store) => read_order::handle(req, &store, read_access(), SystemClock.now_ms()),
        Err(e) => Problem::unavailable(e.to_string()).into_response(),
    })
    .await
}
