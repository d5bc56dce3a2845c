//! One structured log line per handled event, as JSON on stdout (Spin keeps each
//! component's stdout in `.spin/logs/<component>_stdout.txt`): [`request_line`] for an
//! HTTP request, [`message_line`] for a message a consumer handled, and
//! [`retry_clock_line`] when a consumer checks that its retry clock can fire, and
//! [`ring_line`] for a doorbell rung over HTTP.
//!
//! Fields: `ts`, `component`, `event`, `outcome`, `status`, `method`, `path`,
//! `message_id`, `trace_id`, `accountid`, `vendorid`, `duration_ms`, `reason`. A line
//! never carries a query string, a header value other than the trace id, a token or a
//! secret: only ids the API itself validated, and the problem detail of a refusal
//! (which names fields, never their secret values).

use serde::Serialize;

use crate::delivery::drain::Record;
use crate::delivery::handled::{Failure, MessageMeta};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::ids::Id;
use crate::model::span::MessagingSystem;
use crate::model::time::rfc3339_ms;
use crate::model::trace::{hex, TraceParent};

#[derive(Serialize)]
struct RequestLine<'a> {
    ts: String,
    component: &'a str,
    event: &'static str,
    outcome: &'static str,
    status: u16,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accountid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendorid: Option<String>,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// The log line for one HTTP request, stamped `began_ms` (when it arrived). `path` is
/// the route's path (no query string).
pub fn request_line(
    component: &str,
    path: &str,
    req: &Request,
    resp: &Response,
    duration_ms: f64,
    began_ms: u64,
) -> String {
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    // Ids: from an accepted order's answer, else from the query if they are valid ids.
    let query = req.query_params().unwrap_or_default();
    let id = |name: &str| {
        text(&body[name]).or_else(|| query.get(name).and_then(|v| Id::parse(name, v).ok()).map(|i| i.to_string()))
    };
    let trace_id = resp
        .header("x-trace-id")
        .map(str::to_owned)
        .or_else(|| req.header("traceparent").and_then(TraceParent::parse).map(|t| hex(&t.trace_id)));
    let outcome = match resp.status {
        200..=299 => "ok",
        400..=499 => "refused",
        _ => "failed",
    };
    serde_json::to_string(&RequestLine {
        ts: rfc3339_ms(began_ms),
        component,
        event: "request",
        outcome,
        status: resp.status,
        method: &req.method,
        path,
        message_id: text(&body["message_id"]),
        trace_id,
        accountid: id("accountid"),
        vendorid: id("vendorid"),
        duration_ms: (duration_ms * 1000.0).round() / 1000.0,
        reason: (resp.status >= 400).then(|| text(&body["detail"])).flatten(),
    })
    .expect("a log line serializes")
}

/// The log line for one message a consumer handled: `outcome` is the handler's
/// (`stored`, `superseded`, `invoiced`), or `will-retry` or `dead-lettered` with the
/// `reason`.
pub fn message_line(component: &str, record: &Record) -> String {
    #[derive(Serialize)]
    struct Line<'a> {
        ts: String,
        component: &'a str,
        event: &'static str,
        outcome: &'a str,
        #[serde(flatten)]
        meta: Option<&'a MessageMeta>,
        entry: &'a str,
        deliveries: u32,
        duration_ms: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    }
    let (outcome, meta, detail, reason) = match record.result {
        Ok(h) => (h.outcome, Some(&h.meta), Some(h.detail.as_str()), None),
        Err(f @ Failure::Malformed(_)) => ("dead-lettered", None, None, Some(f.to_string())),
        Err(f @ Failure::Store { meta, .. }) => ("will-retry", Some(meta), None, Some(f.to_string())),
    };
    serde_json::to_string(&Line {
        ts: rfc3339_ms(record.now_ms),
        component,
        event: "message",
        outcome,
        meta,
        entry: &record.delivery.entry,
        deliveries: record.delivery.deliveries,
        duration_ms: (record.duration_ms * 1000.0).round() / 1000.0,
        detail,
        reason,
    })
    .expect("a log line serializes")
}

/// The log line of a retry-clock check: outcome `on`, or `off` with the reason (what
/// the operator must change on the topic's server).
pub fn retry_clock_line(component: &str, now_ms: u64, result: &Result<(), String>) -> String {
    serde_json::to_string(&serde_json::json!({
        "ts": rfc3339_ms(now_ms),
        "component": component,
        "event": "retry-clock",
        "outcome": if result.is_ok() { "on" } else { "off" },
        "reason": result.as_ref().err(),
    }))
    .expect("a log line serializes")
}

/// The log line of a setting of the topic's server that can lose accepted work, with its
/// fix: event `<system>-warning`.
pub fn server_warning_line(component: &str, now_ms: u64, system: MessagingSystem, warning: &str) -> String {
    serde_json::to_string(&serde_json::json!({
        "ts": rfc3339_ms(now_ms),
        "component": component,
        "event": format!("{}-warning", system.name),
        "detail": warning,
    }))
    .expect("a log line serializes")
}

/// The log line of the platform clock's tick, when it rang: the groups, and how many
/// subscribers heard it (0 while no consumer listens).
pub fn tick_line(component: &str, now_ms: u64, groups: &[String], subscribers: u64) -> String {
    serde_json::to_string(&serde_json::json!({
        "ts": rfc3339_ms(now_ms),
        "component": component,
        "event": "tick",
        "rung": groups,
        "subscribers": subscribers,
    }))
    .expect("a log line serializes")
}

/// The log line of a doorbell rung over HTTP (a call of a group's drain endpoint):
/// outcome `ok` when it answered `202`, else `failed` with the status or the error.
pub fn ring_line(component: &str, group: &str, path: &str, status: Result<u16, String>, now_ms: u64) -> String {
    serde_json::to_string(&serde_json::json!({
        "ts": rfc3339_ms(now_ms),
        "component": component,
        "event": "doorbell",
        "outcome": if status == Ok(202) { "ok" } else { "failed" },
        "group": group,
        "path": path,
        "status": status.as_ref().ok(),
        "reason": status.as_ref().err(),
    }))
    .expect("a log line serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::handled::Handled;
    use crate::http::problem::Problem;
    use crate::ports::error::PortError;
    use crate::ports::queue::Delivery;

    #[test]
    fn accepted_order_line_carries_its_ids() {
        let req = Request { method: "POST".into(), ..Request::default() };
        let resp = Response::json(
            202,
            &serde_json::json!({"message_id": "m1", "accountid": "a0", "vendorid": "v0", "trace_id": "t1"}),
        )
        .with_header("x-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736");
        let line: serde_json::Value =
            serde_json::from_str(&request_line("order-api", "/order", &req, &resp, 1.23456, 0)).unwrap();
        assert_eq!(line["message_id"], "m1");
        assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            (line["accountid"].as_str(), line["outcome"].as_str(), line["status"].as_u64()),
            (Some("a0"), Some("ok"), Some(202))
        );
        assert_eq!(line["duration_ms"], 1.235);
    }

    #[test]
    fn never_logs_the_query_or_tokens() {
        let req = Request {
            method: "GET".into(),
            query: "token=v1.k1.123.c2VjcmV0.c2ln&accountid=a%23b".into(),
            headers: vec![("authorization".into(), "Bearer hunter2-hunter2".into())],
            ..Request::default()
        };
        let resp = Problem::forbidden("the token is not valid").into_response();
        let line = request_line("invoice-api", "/invoice/download", &req, &resp, 0.0, 0);
        assert!(!line.contains("v1.k1") && !line.contains("hunter2") && !line.contains("a#b"), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!((v["outcome"].as_str(), v["reason"].as_str()), (Some("refused"), Some("the token is not valid")));
    }

    #[test]
    fn a_message_line_says_what_became_of_it() {
        let delivery = Delivery { entry: "3-0".into(), deliveries: 2, payload: vec![] };
        let line = |result: Result<Handled, Failure>| -> serde_json::Value {
            let record = Record { delivery: &delivery, result: &result, duration_ms: 0.4, now_ms: 0 };
            serde_json::from_str(&message_line("order-writer", &record)).unwrap()
        };
        let meta = MessageMeta { message_id: "m1".into(), ..MessageMeta::default() };
        let stored = line(Ok(Handled { meta: meta.clone(), outcome: "stored", detail: "a0#v0".into() }));
        assert_eq!((stored["outcome"].as_str(), stored["detail"].as_str()), (Some("stored"), Some("a0#v0")));
        assert_eq!((stored["message_id"].as_str(), stored["deliveries"].as_u64()), (Some("m1"), Some(2)));
        let retry = line(Err(Failure::Store { meta, error: PortError::unavailable("throttled") }));
        assert_eq!(retry["outcome"], "will-retry");
        assert_eq!(retry["reason"], "store failed: throttled");
        assert_eq!((retry["component"].as_str(), retry["entry"].as_str()), (Some("order-writer"), Some("3-0")));
        let dead = line(Err(Failure::Malformed("not JSON".into())));
        assert_eq!(
            (dead["outcome"].as_str(), dead["reason"].as_str()),
            (Some("dead-lettered"), Some("malformed message: not JSON"))
        );
    }
}
