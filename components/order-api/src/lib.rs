//! order-api: `POST /order` validates an order and publishes it to the orders channel.
//! `GET /order` is order-reader's: it is forwarded there by Spin's local service
//! chaining, since Spin routes by path, not method, and this component may not read the
//! order store.

use order_core::http::respond;
use order_core::ports::SystemClock;
use order_core::{accept_order, Problem};
use spin_ports::{read_request, to_spin, variable, RedisPublisher};
use spin_sdk::http::{IncomingRequest, Request, Response};
use spin_sdk::http_component;

const ORDER_READER: &str = "http://order-reader.spin.internal/order";

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let req = match read_request(req).await {
        Ok(req) => req,
        Err(problem) => return to_spin(problem.into_response()),
    };
    if req.method == "GET" {
        return forward_to_reader(&req).await;
    }
    let (address, channel) = match (variable("redis_address"), variable("orders_channel")) {
        (Ok(a), Ok(c)) => (a, c),
        (Err(e), _) | (_, Err(e)) => return to_spin(Problem::unavailable(e).into_response()),
    };
    let publisher = RedisPublisher::new(address);
    to_spin(accept_order::handle(
        &req,
        &publisher,
        &channel,
        &SystemClock,
    ))
}

async fn forward_to_reader(req: &order_core::http::Request) -> Response {
    let mut out = Request::get(format!("{ORDER_READER}?{}", req.query));
    if let Some(tp) = req.header("traceparent") {
        out.header("traceparent", tp);
    }
    match spin_sdk::http::send::<_, Response>(out.build()).await {
        Ok(resp) => resp,
        Err(e) => to_spin(respond(Err(Problem::unavailable(format!(
            "order-reader is unavailable: {e}"
        ))))),
    }
}
