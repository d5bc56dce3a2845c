//! The audit line of every admin action, done or refused.

use serde::Serialize;

use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::time::rfc3339_ms;

#[derive(Serialize)]
struct AuditLine<'a> {
    ts: String,
    component: &'a str,
    event: &'static str,
    action: &'static str,
    outcome: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redriven: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The audit log line of an admin action (`POST /pipeline/redrive`, `POST
/// /pipeline/doorbell`), whatever its answer `resp` was; `None` for any other request. The component logs it beside the request's own line.
///
/// One JSON line: `ts` (`now_ms`), `component`, `event: "audit"`, `action: "redrive"`,
/// `outcome` (`ok`, `refused` for a 4xx, `failed` for a 5xx), `status`; `group` and
/// `redriven` when it was done; `reason` when it was not. Everything comes from the
/// answer, never from the request's headers or query, so the line holds no token, and
/// no client text either: a refusal whose detail may echo client input (400, 414, 431)
/// gives its title as the reason, not its detail.
pub fn audit_line(component: &str, req: &Request, resp: &Response, now_ms: u64) -> Option<String> {
    let action = match (req.method.as_str(), req.path_info.trim_end_matches('/')) {
        ("POST", "/redrive") => "redrive",
        ("POST", "/doorbell") => "doorbell",
        _ => return None,
    };
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let done = resp.status == 200 || resp.status == 202;
    let reason = match resp.status {
        200 | 202 => None,
        401 | 403 | 429 | 500.. => body["detail"].as_str(),
        _ => body["title"].as_str(),
    };
    let line = AuditLine {
        ts: rfc3339_ms(now_ms),
        component,
        event: "audit",
        action,
        outcome: match resp.status {
            200..=299 => "ok",
            400..=499 => "refused",
            _ => "failed",
        },
        status: resp.status,
        group: body["group"].as_str().filter(|_| done),
        redriven: body["redriven"].as_u64().filter(|_| done),
        reason,
    };
    serde_json::to_string(&line).ok()
}
