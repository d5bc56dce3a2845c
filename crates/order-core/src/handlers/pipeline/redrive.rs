//! `POST /pipeline/redrive?group=` (admin token): moves the group's dead letters back
//! for another try, for that group only, and rings its doorbell.

use crate::handlers::pipeline::admin::{authorize, group_param};
use crate::handlers::pipeline::status::unavailable;
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::operations::Operations;
use crate::ports::settings::Misconfigured;

/// The answer, and the group to ring over HTTP if its bell was taken.
pub fn answer(
    req: &Request,
    ops: &impl Operations,
    groups: &[String],
    admin_token: Result<String, Misconfigured>,
) -> Result<(Response, DrainCalls), Problem> {
    authorize(req, admin_token)?;
    let group = group_param(req, groups)?;
    let redriven = ops.redrive(&group).map_err(unavailable(ops))?;
    let answer = Response::json(200, &serde_json::json!({"group": group, "redriven": redriven.moved}));
    Ok((answer, redriven.drain_calls))
}
