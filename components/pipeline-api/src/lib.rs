//! pipeline-api: `GET /pipeline` shows each consumer group's backlog,
//! `POST /pipeline/redrive?group=` (admin token) retries its dead letters, and
//! `POST /pipeline/doorbell` (admin token) wakes the consumers. Every redrive and
//! every ring, done or not, also writes an audit line.

use order_core::ports::{Clock, SystemClock};
use order_core::{pipeline, Problem};
use spin_ports::topic::{Topic, TopicOperations};
use spin_ports::{log, serve, variable};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    serve(req, "pipeline-api", "/pipeline", |req| {
        let resp = match Topic::from_variables() {
            Ok(topic) => {
                let groups = topic.groups.clone();
                pipeline::handle(req, &TopicOperations(topic), &groups, variable("admin_token"))
            }
            Err(e) => Problem::unavailable(e).into_response(),
        };
        if let Some(line) = pipeline::audit_line("pipeline-api", req, &resp, SystemClock.now_ms()) {
            log(&line);
        }
        resp
    })
    .await
}
