//! order-reader: `GET /order?accountid=&vendorid=` answers the stored order. It has a
//! private route: clients reach it through order-api's `/order`.

use order_core::{read_order, Problem};
use spin_ports::{serve, SpinStore};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    serve(req, "order-reader", "/order", |req| match SpinStore::open("orders") {
        Ok(store) => read_order::handle(req, &store),
        Err(e) => Problem::unavailable(e.to_string()).into_response(),
    })
    .await
}
