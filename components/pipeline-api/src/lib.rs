//! pipeline-api: `GET /pipeline` shows each consumer group's backlog,
//! `POST /pipeline/redrive?group=` (admin token) retries its dead letters, and
//! `POST /pipeline/doorbell` (admin token) wakes the consumers. Every redrive and
//! every ring, done or not, also writes an audit line. With the doorbell on HTTP, the
//! groups a redrive or a ring woke have their drain endpoints called after the answer.

use order_core::ports::{Clock, SystemClock};
use order_core::{pipeline, Problem};
use spin_ports::topic::{Topic, TopicOperations};
use spin_ports::{answer_then, doorbell, log, serve, variable};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let mut rung = Vec::new();
    let resp = serve(req, "pipeline-api", "/pipeline", |req| {
        let resp = match Topic::from_variables() {
            Ok(topic) => {
                let groups = topic.groups.clone();
                let ops = TopicOperations::new(topic);
                let resp = pipeline::handle(req, &ops, &groups, variable("admin_token"));
                rung = ops.rung.take();
                resp
            }
            Err(e) => Problem::unavailable(e).into_response(),
        };
        if let Some(line) = pipeline::audit_line("pipeline-api", req, &resp, SystemClock.now_ms()) {
            log(&line);
        }
        resp
    })
    .await;
    answer_then(out, resp).await;
    if !rung.is_empty() {
        doorbell::ring("pipeline-api", &rung).await;
    }
}
