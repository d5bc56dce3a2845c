//! pipeline-api: `GET /` is the live page ([`order_core::live_page`], its files in
//! `live/`), `GET /pipeline` shows each consumer group's backlog,
//! `POST /pipeline/redrive?group=` (admin token) retries its dead letters, and
//! `POST /pipeline/doorbell` (admin token) wakes the consumers. Every redrive and
//! every ring, done or not, also writes an audit line. `GET /pipeline/tick` is the
//! platform's clock: `200` at once, then a ring for each group with work waiting. With
//! the doorbell on HTTP, the groups a redrive, a ring or a tick woke have their drain
//! endpoints called after the answer.

use order_core::live_page::{self, Asset};
use order_core::pipeline::{self, Operations};
use order_core::ports::{Clock, SystemClock};
use order_core::Problem;
use spin_ports::topic::{Topic, TopicOperations};
use spin_ports::{answer_then, doorbell, log, serve, variable};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

const LIVE_PAGE: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_bytes!("../live/index.html") },
    Asset { name: "live.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../live/live.js") },
    Asset { name: "live.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../live/live.css") },
];

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let mut rung = Vec::new();
    let mut tick = false;
    let resp = serve(req, "pipeline-api", |req| {
        if let Some(page) = live_page::serve(req, LIVE_PAGE) {
            return page;
        }
        tick = pipeline::is_tick(req);
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
    if tick {
        rung = ring_for_tick();
    }
    if !rung.is_empty() {
        doorbell::ring("pipeline-api", &rung).await;
    }
}

/// The tick's ring, after the answer: logged when it rang (or failed), quiet when no
/// group had work waiting. Returns the groups to call over HTTP, if the doorbell is
/// there.
fn ring_for_tick() -> Vec<String> {
    let ops = match Topic::from_variables() {
        Ok(topic) => TopicOperations::new(topic),
        Err(e) => {
            eprintln!("tick: {e}");
            return Vec::new();
        }
    };
    match ops.tick() {
        Ok(r) if !r.groups.is_empty() => {
            log(&order_core::log::tick_line("pipeline-api", SystemClock.now_ms(), &r.groups, r.subscribers))
        }
        Ok(_) => {}
        Err(e) => eprintln!("tick: {e}"),
    }
    ops.rung.take()
}
