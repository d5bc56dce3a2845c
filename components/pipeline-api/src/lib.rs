//! pipeline-api: `GET /` is the live page ([`order_core::handlers::live_page`], its files in
//! `live/`), `GET /openapi.json` the API's OpenAPI document (`docs/openapi.json`),
//! `GET /pipeline` shows each consumer group's backlog,
//! `POST /pipeline/redrive?group=` (admin token) retries its dead letters, and
//! `POST /pipeline/doorbell` (admin token) wakes the consumers. Every redrive and
//! every ring, done or not, also writes an audit line. `GET /pipeline/tick` is the
//! platform's clock: `200` at once, then a ring for each group with work waiting. With
//! the doorbell on HTTP, the groups a redrive, a ring or a tick woke have their drain
//! endpoints called after the answer.

use order_core::handlers::api_document;
use order_core::handlers::live_page::{self, Asset};
use order_core::handlers::pipeline::{self, audit::audit_line, tick::is_tick};
use order_core::http::Problem;
use order_core::model::clock::{Clock, SystemClock};
use order_core::ports::drain_calls::DrainCalls;
use order_core::ports::Operations;
use spin_adapters::http::{answer_then, serve};
use spin_adapters::topic::durability::DurabilityConfig;
use spin_adapters::topic::operations::TopicOperations;
use spin_adapters::topic::Topic;
use spin_adapters::{log, variable, wake};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

const LIVE_PAGE: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_bytes!("../live/index.html") },
    Asset { name: "live.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../live/live.js") },
    Asset { name: "live.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../live/live.css") },
];

/// The OpenAPI document, as the repository holds it.
const API_DOCUMENT: &[u8] = include_bytes!("../../../docs/openapi.json");

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let mut drain_calls = DrainCalls::default();
    // The tick's operations, kept for its ring after the answer.
    let mut tick = None;
    let resp = serve(req, "pipeline-api", |req| {
        if let Some(answer) = api_document::serve(req, API_DOCUMENT).or_else(|| live_page::serve(req, LIVE_PAGE)) {
            return answer;
        }
        let resp = match Topic::from_variables() {
            Ok(topic) => {
                let groups = topic.groups.clone();
                let ops = TopicOperations::new(topic).with_durability(DurabilityConfig::from_variables());
                let (resp, rung) = pipeline::handle(req, &ops, &groups, variable("admin_token"));
                drain_calls = rung;
                if is_tick(req) {
                    tick = Some(ops);
                }
                resp
            }
            Err(e) => {
                if is_tick(req) {
                    eprintln!("tick: {e}");
                }
                Problem::unavailable(e).into_response()
            }
        };
        if let Some(line) = audit_line("pipeline-api", req, &resp, SystemClock.now_ms()) {
            log(&line);
        }
        resp
    })
    .await;
    answer_then(out, resp).await;
    if let Some(ops) = tick {
        drain_calls = drain_calls_for_tick(&ops);
    }
    wake::ring("pipeline-api", &drain_calls).await;
}

/// The tick's ring, after the answer: logged when it rang (or failed), quiet when no
/// group had work waiting. Returns the groups to call over HTTP, if the doorbell is
/// there.
fn drain_calls_for_tick(ops: &TopicOperations) -> DrainCalls {
    match ops.tick() {
        Ok(r) => {
            if !r.groups.is_empty() {
                log(&order_core::log::tick_line("pipeline-api", SystemClock.now_ms(), &r.groups, r.subscribers));
            }
            r.drain_calls
        }
        Err(e) => {
            eprintln!("tick: {e}");
            DrainCalls::default()
        }
    }
}
