//! order-reader: `GET /order?accountid=&vendorid=` answers the stored order. It has a
//! private route: clients reach it through order-api's `/order`.

use order_core::{read_order, Problem};
use spin_ports::{answer, read_request, to_spin, SpinStore};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let started = std::time::Instant::now();
    let req = match read_request(req).await {
        Ok(req) => req,
        Err(problem) => return to_spin(problem.into_response()),
    };
    let resp = match SpinStore::open("orders") {
        Ok(store) => read_order::handle(&req, &store),
        Err(e) => Problem::unavailable(e.to_string()).into_response(),
    };
    answer("order-reader", "/order", &req, resp, started)
}
