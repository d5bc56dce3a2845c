//! order-reader: `GET /order?accountid=&vendorid=` answers the stored order. It has a
//! private route: clients reach it through order-api's `/order`.

use order_core::{read_order, Problem};
use spin_ports::{read_request, to_spin, SpinStore};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let answer = match (read_request(req).await, SpinStore::open("orders")) {
        (Ok(req), Ok(store)) => read_order::handle(&req, &store),
        (Err(problem), _) => problem.into_response(),
        (_, Err(e)) => Problem::unavailable(e.to_string()).into_response(),
    };
    to_spin(answer)
}
