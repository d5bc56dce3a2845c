//! `POST /pipeline/doorbell` (admin token): wakes every consumer group without posting
//! an order, at most once a second (`429` with `Retry-After` past that). Rarely needed:
//! retries come back by themselves on the retry clock, and the platform's clock rings
//! what is left; a supervisor rings once after it restarts the consumers.

use crate::handlers::pipeline::admin::authorize;
use crate::handlers::pipeline::status::unavailable;
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::operations::Operations;
use crate::ports::settings::Misconfigured;

/// The answer, and the groups to ring over HTTP where the doorbell is there.
pub fn answer(
    req: &Request,
    ops: &impl Operations,
    admin_token: Result<String, Misconfigured>,
) -> Result<(Response, DrainCalls), Problem> {
    authorize(req, admin_token)?;
    let rung = ops.ring().map_err(unavailable(ops))?;
    if rung.groups.is_empty() {
        let mut p = Problem::new(429, "the doorbell rang less than a second ago; the consumers are awake");
        p.headers.push(("retry-after".into(), "1".into()));
        return Err(p);
    }
    Ok((Response::json(202, &rung), rung.drain_calls.clone()))
}
