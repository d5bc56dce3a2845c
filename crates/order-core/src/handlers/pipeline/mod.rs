//! The pipeline's operations endpoints (pipeline-api):
//!
//! - `GET /pipeline`: per consumer group, the backlog and its health (see [`crate::ports::operations::GroupStatus`]).
//! - `GET /pipeline/metrics`: the same for Prometheus ([`metrics`]).
//! - `GET /pipeline/dead-letters?group=` (admin token): the group's newest dead letters,
//!   each with the reason it failed, at most [`dead_letters::DEAD_LETTERS_SHOWN`].
//! - `POST /pipeline/redrive?group=`: move the group's dead letters back for another
//!   try. Needs `Authorization: Bearer <admin token>`: 401 without it, 403 with a wrong one.
//! - `POST /pipeline/doorbell` (admin token): wake every consumer group without
//!   posting an order, at most once a second (`429` with `Retry-After` past that).
//!   Rarely needed: retries come back by themselves on the retry clock; a supervisor
//!   rings once after it restarts the consumers.
//! - `GET /pipeline/tick`: the platform's clock (a Kubernetes probe, a systemd timer,
//!   `scripts/run`, a hosted scheduler) calls it every few seconds. It answers `200` at
//!   once, whatever the state of Redis, so a probe never fails for it; after the answer
//!   the component rings every group with work waiting ([`Operations::tick`]). This is
//!   what wakes consumers that came back after every bell and timer they missed expired.
//!
//! One file per endpoint below; this one routes.

pub mod admin;
pub mod audit;
pub mod dead_letters;
pub mod doorbell;
pub mod metrics;
pub mod redrive;
pub mod status;
#[cfg(test)]
mod tests;
pub mod tick;

use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::operations::Operations;
use crate::ports::settings::Misconfigured;

/// Answers `req`, and names the groups whose bell it took where the doorbell rings over
/// HTTP (a redrive, a ring), for the component to call after the answer. `groups` are the
/// configured consumer groups; `admin_token` the configured token (`Err` when the
/// variable is unusable).
pub fn handle(
    req: &Request,
    ops: &impl Operations,
    groups: &[String],
    admin_token: Result<String, Misconfigured>,
) -> (Response, DrainCalls) {
    route(req, ops, groups, admin_token).unwrap_or_else(|p| (p.into_response(), DrainCalls::default()))
}

fn route(
    req: &Request,
    ops: &impl Operations,
    groups: &[String],
    admin_token: Result<String, Misconfigured>,
) -> Result<(Response, DrainCalls), Problem> {
    req.check_limits()?;
    let rings_nothing = |r: Response| (r, DrainCalls::default());
    match (req.path_info.trim_end_matches('/'), req.method.as_str()) {
        ("", "GET") => status::answer(ops).map(rings_nothing),
        ("/metrics", "GET") => metrics::answer(req, ops).map(rings_nothing),
        ("/tick", "GET") => Ok(rings_nothing(tick::answer())),
        ("/doorbell", "POST") => doorbell::answer(req, ops, admin_token),
        ("/dead-letters", "GET") => dead_letters::answer(req, ops, groups, admin_token).map(rings_nothing),
        ("/redrive", "POST") => redrive::answer(req, ops, groups, admin_token),
        ("" | "/metrics" | "/dead-letters" | "/tick", _) => Err(Problem::method_not_allowed(&req.method, &["GET"])),
        ("/doorbell" | "/redrive", _) => Err(Problem::method_not_allowed(&req.method, &["POST"])),
        (other, _) => Err(Problem::not_found(format!("no such resource `/pipeline{other}`"))),
    }
}
