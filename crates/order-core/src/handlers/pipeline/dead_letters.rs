//! `GET /pipeline/dead-letters?group=` (admin token): the group's newest dead letters,
//! each with the reason it failed, at most [`DEAD_LETTERS_SHOWN`].

use crate::handlers::pipeline::admin::{authorize, group_param};
use crate::handlers::pipeline::status::unavailable;
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::envelope::Envelope;
use crate::model::time::rfc3339_ms;
use crate::ports::operations::{DeadLetter, Operations};
use crate::ports::settings::Misconfigured;

/// How many dead letters are shown, newest first.
pub const DEAD_LETTERS_SHOWN: usize = 100;

pub fn answer(
    req: &Request,
    ops: &impl Operations,
    groups: &[String],
    admin_token: Result<String, Misconfigured>,
) -> Result<Response, Problem> {
    authorize(req, admin_token)?;
    let group = group_param(req, groups)?;
    let (letters, total) = ops.dead_letters(&group, DEAD_LETTERS_SHOWN).map_err(unavailable(ops))?;
    let shown: Vec<serde_json::Value> = letters.iter().map(dead_letter_json).collect();
    Ok(Response::json(200, &serde_json::json!({"group": group, "total": total, "dead_letters": shown}))
        .with_header("cache-control", "no-store"))
}

/// A dead letter as `GET /pipeline/dead-letters` shows it: when it was dead-lettered,
/// why, after how many deliveries, and the order's ids when its envelope reads.
fn dead_letter_json(d: &DeadLetter) -> serde_json::Value {
    let at = d.entry.split('-').next().and_then(|ms| ms.parse::<u64>().ok()).map(rfc3339_ms);
    let mut v = serde_json::json!({
        "partition": d.partition,
        "entry": d.entry,
        "dead_lettered_at": at,
        "original_entry": d.original_entry,
        "deliveries": d.deliveries,
        "reason": d.reason,
    });
    if let Some(e) = d.envelope.as_deref().and_then(|e| Envelope::from_bytes(e).ok()) {
        v["message_id"] = e.id.as_str().into();
        v["accountid"] = e.order.accountid.to_string().into();
        v["vendorid"] = e.order.vendorid.to_string().into();
    }
    v
}
