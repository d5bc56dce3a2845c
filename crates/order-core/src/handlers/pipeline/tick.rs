//! `GET /pipeline/tick`: the platform's clock (a Kubernetes probe, a systemd timer,
//! `scripts/run`, a hosted scheduler) calls it every few seconds. It answers `200` at
//! once, touching nothing, whatever the state of Redis, so a probe never fails for it;
//! after the answer the component rings every group with work waiting
//! ([`crate::ports::operations::Operations::tick`]).

use crate::http::request::Request;
use crate::http::response::Response;

pub fn answer() -> Response {
    Response::json(
        200,
        &serde_json::json!({"tick": "accepted", "detail": "every consumer group with work waiting is rung after this answer"}),
    )
    .with_header("cache-control", "no-store")
}

/// Whether `req` is the platform clock's tick, which the component follows, after its
/// answer, with [`crate::ports::operations::Operations::tick`].
pub fn is_tick(req: &Request) -> bool {
    req.method == "GET" && req.path_info.trim_end_matches('/') == "/tick"
}
