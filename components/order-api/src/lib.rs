//! order-api: `POST /order` validates an order, appends it to the orders topic, rings
//! the consumers' doorbell, and answers with capability URLs for the order and its
//! invoice.
//! `GET /order` is order-reader's: it is forwarded there by Spin's local service
//! chaining, since Spin routes by path, not method, and this component may not read the
//! order store.

use order_core::http::respond;
use order_core::ports::SystemClock;
use order_core::read_access::Capabilities;
use order_core::{accept_order, Problem};
use spin_ports::topic::{Topic, TopicPublisher};
use spin_ports::{answer, read_request, to_spin, variable};
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
    let resp = accept_order::handle(&req, &TopicPublisher(topic), &SystemClock, capabilities());
    answer("order-api", "/order", &req, resp, started)
}

fn capabilities() -> Result<Capabilities, String> {
    Capabilities::from_variables(
        &variable("url_signing_keys")?,
        &variable("read_url_ttl_seconds")?,
        &variable("public_base_url")?,
    )
}

async fn forward_to_reader(req: &order_core::http::Request) -> Response {
    let mut out = Request::get(format!("{ORDER_READER}?{}", req.query));
    for name in ["traceparent", "authorization"] {
        if let Some(v) = req.header(name) {
            out.header(name, v);
        }
    }
    match spin_sdk::http::send::<_, Response>(out.build()).await {
        Ok(resp) => resp,
        Err(e) => to_spin(respond(Err(Problem::unavailable(format!("order-reader is unavailable: {e}"))))),
    }
}
