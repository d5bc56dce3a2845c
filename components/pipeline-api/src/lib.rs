//! pipeline-api: `GET /pipeline` shows each consumer group's backlog,
//! `POST /pipeline/redrive?group=` (admin token) retries its dead letters, and
//! `POST /pipeline/doorbell` wakes the consumers.

use order_core::pipeline;
use spin_ports::topic::{Topic, TopicOperations};
use spin_ports::{read_request, to_spin, variable};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let answer = match (read_request(req).await, Topic::from_variables()) {
        (Ok(req), Ok(topic)) => {
            let groups = topic.groups.clone();
            pipeline::handle(&req, &TopicOperations(topic), &groups, variable("admin_token"))
        }
        (Err(problem), _) => problem.into_response(),
        (_, Err(e)) => order_core::Problem::unavailable(e).into_response(),
    };
    to_spin(answer)
}
