//! order-api: `POST /order` validates an order, appends it to the orders topic and
//! rings the consumers' doorbell.
//! `GET /order` is order-reader's: it is forwarded there by Spin's local service
//! chaining, since Spin routes by path, not method, and this component may not read the
//! order store.

use order_core::http::respond;
use order_core::ports::SystemClock;
use order_core::{accept_order, Problem};
use spin_ports::topic::{Topic, TopicPublisher};
use spin_ports::{answer, read_request, to_spin};
use spin_sdk::http::{IncomingRequest, Request, Response};
use spin_sdk::http_component;

const ORDER_READER: &str = "http://order-reader.spin.internal/order";

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let started = std::time::Instant::now();
    let req = match read_request(req).await {
        Ok(req) => req,
        Err(problem) => return to_spin(problem.into_response()),
    };
    if req.method == "GET" {
        // order-reader logs the request itself.
        return forward_to_reader(&req).await;
    }
    let topic = match Topic::from_variables() {
        Ok(t) => t,
        Err(e) => return to_spin(Problem::unavailable(e).into_response()),
    };
    let resp = accept_order::handle(&req, &TopicPublisher(topic), &SystemClock);
    answer("order-api", "/order", &req, resp, started)
}

async fn forward_to_reader(req: &order_core::http::Request) -> Response {
    let mut out = Request::get(format!("{ORDER_READER}?{}", req.query));
    if let Some(tp) = req.header("traceparent") {
        out.header("traceparent", tp);
    }
    match spin_sdk::http::send::<_, Response>(out.build()).await {
        Ok(resp) => resp,
        Err(e) => to_spin(respond(Err(Problem::unavailable(format!("order-reader is unavailable: {e}"))))),
    }
}
