//! order-api: `POST /order` validates an order, appends it to the orders topic, rings
//! the consumers' doorbell, and answers with capability URLs for the order and its
//! invoice. Where no Redis trigger runs (`doorbell = "http"`), it rings the drain
//! endpoints of the groups whose bell it took, after it has answered.
//!
//! `GET /order` (Spin routes by path, not method): where it may read the `orders` store
//! (the stores on Redis, or a manifest that lists the label), it reads the order itself;
//! otherwise (`spin.toml`) it forwards to order-reader by local service chaining, so the
//! API never holds the order store.

use order_core::access::capabilities::Capabilities;
use order_core::access::forwarding;
use order_core::handlers::{accept_order, read_order};
use order_core::http::{respond, Problem};
use order_core::model::clock::{Clock, SystemClock};
use order_core::ports::settings::Misconfigured;
use spin_adapters::http::{answer, answer_then, read_request, to_spin};
use spin_adapters::topic::publisher::TopicPublisher;
use spin_adapters::{store, variable, wake};
use spin_sdk::http::{IncomingRequest, Request, Response, ResponseOutparam};
use spin_sdk::http_component;

const ORDER_READER: &str = "http://order-reader.spin.internal/order";

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let started = std::time::Instant::now();
    let req = match read_request(req).await {
        Ok(req) => req,
        Err(problem) => return answer_then(out, to_spin(problem.into_response())).await,
    };
    if req.method == "GET" {
        let resp = match store::open_granted("orders") {
            Ok(Some(store)) => {
                let resp = read_order::handle(&req, &store, spin_adapters::read_access(), SystemClock.now_ms());
                answer("order-api", "/order", &req, resp, started)
            }
            // order-reader logs the request itself; one refused before it, order-api.
            Ok(None) => match forwarding::passed_on(&req) {
                Ok(passed) => forward_to_reader(&req, passed).await,
                Err(problem) => answer("order-api", "/order", &req, problem.into_response(), started),
            },
            Err(e) => answer("order-api", "/order", &req, Problem::unavailable(e.to_string()).into_response(), started),
        };
        return answer_then(out, resp).await;
    }
    let publisher = match TopicPublisher::from_variables() {
        Ok(publisher) => publisher,
        Err(e) => return answer_then(out, to_spin(Problem::unavailable(e).into_response())).await,
    };
    let (resp, drain_calls) =
        accept_order::handle(&req, &publisher, &SystemClock, capabilities(), &spin_adapters::tracer());
    answer_then(out, answer("order-api", "/order", &req, resp, started)).await;
    wake::ring("order-api", &drain_calls).await;
}

fn capabilities() -> Result<Capabilities, Misconfigured> {
    Capabilities::from_variables(
        &variable("url_signing_keys")?,
        &variable("read_url_ttl_seconds")?,
        &variable("public_base_url")?,
    )
}

/// The read goes on with its credential in a header, never in the URL (see
/// `forwarding::passed_on`).
async fn forward_to_reader(
    req: &order_core::http::Request,
    (query, authorization): (String, Option<String>),
) -> Response {
    let mut out = Request::get(format!("{ORDER_READER}?{query}"));
    if let Some(v) = req.header("traceparent") {
        out.header("traceparent", v);
    }
    if let Some(v) = authorization {
        out.header("authorization", v);
    }
    match spin_sdk::http::send::<_, Response>(out.build()).await {
        Ok(resp) => resp,
        Err(e) => to_spin(respond(Err(Problem::unavailable(format!("order-reader is unavailable: {e}"))))),
    }
}
