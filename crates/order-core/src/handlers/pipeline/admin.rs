//! What the admin endpoints share: the admin token, and the `group` they act on.

use crate::access::credentials::{bearer_token, configured, secret_matches, unauthorized, MIN_SECRET_BYTES};
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::ports::settings::Misconfigured;

/// Whether `req` carries the admin token: `401` without a bearer token, `403` with
/// another, `503` when none is configured (the variable unset or too short: it grants
/// nothing).
pub fn authorize(req: &Request, admin_token: Result<String, Misconfigured>) -> Result<(), Problem> {
    let expected = configured(admin_token).ok_or_else(|| {
        Problem::unavailable(format!("variable `admin_token` is not set to {MIN_SECRET_BYTES} or more bytes"))
    })?;
    let Some(given) = req.header("authorization").and_then(bearer_token) else {
        return Err(unauthorized("Bearer", "send `Authorization: Bearer <admin token>` (the `admin_token` variable)"));
    };
    if secret_matches(given.as_bytes(), [expected.as_bytes()]) {
        Ok(())
    } else {
        Err(Problem::forbidden("the admin token is not valid"))
    }
}

/// The `group` query parameter, one of the configured groups.
pub fn group_param(req: &Request, groups: &[String]) -> Result<String, Problem> {
    let group = req
        .query_params()?
        .get("group")
        .map(str::to_owned)
        .ok_or_else(|| Problem::invalid("group", "query parameter `group` is required"))?;
    if !groups.contains(&group) {
        return Err(Problem::invalid("group", format!("group `{group}` is not one of {}", groups.join(", "))));
    }
    Ok(group)
}
