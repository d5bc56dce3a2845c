//! The pipeline's operations endpoints (pipeline-api):
//!
//! - `GET /pipeline`: per consumer group, the backlog and its health (see [`GroupStatus`]).
//! - `GET /pipeline/metrics`: the same for Prometheus ([`crate::metrics`]).
//! - `GET /pipeline/dead-letters?group=` (admin token): the group's newest dead letters,
//!   each with the reason it failed, at most [`DEAD_LETTERS_SHOWN`].
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

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::{respond, Request, Response};
use crate::ports::PortError;
use crate::problem::Problem;

/// Shortest admin token accepted, in bytes.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Entries still in the topic's log (acknowledged entries are trimmed).
    pub stream_length: u64,
    /// Orders appended to the topic since it was created (a counter kept in Redis).
    pub orders_accepted: u64,
    /// Whether failed messages come back by themselves (see [`crate::delivery`]).
    pub retry_clock: RetryClock,
    pub groups: Vec<GroupStatus>,
    /// What the Redis server is set to do that can lose accepted work, each with its fix
    /// (see [`crate::consumer::eviction_warning`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Status {
    /// Every configured group in `configured`'s order, then any other group the topic
    /// has. A configured group the topic does not have yet (no order was published since
    /// it was configured: the next one creates it at the topic's start) shows its lag as
    /// the whole topic and nothing delivered, so a fresh deployment shows its groups too.
    pub fn with_configured_groups(mut self, configured: &[String]) -> Status {
        let mut groups: Vec<GroupStatus> = configured
            .iter()
            .map(|name| match self.groups.iter().position(|g| &g.group == name) {
                Some(i) => self.groups.remove(i),
                None => GroupStatus {
                    group: name.clone(),
                    lag: Some(self.stream_length),
                    pending: 0,
                    oldest_pending_age_ms: None,
                    dead_letters: 0,
                    delivered: 0,
                    acked: 0,
                },
            })
            .collect();
        groups.append(&mut self.groups);
        self.groups = groups;
        self
    }
}

/// The retry clock's last check by a consumer (checks hold a minute; a consumer checks
/// when it arms the clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryClock {
    /// `on`, `off`, `unchecked` (Redis refuses `CONFIG` and no consumer checked lately),
    /// or `scheduled` (the HTTP-only wiring, which has no clock: see
    /// [`RetryClock::scheduled`]).
    pub state: &'static str,
    /// When `off`: why, and what to change on the Redis server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl RetryClock {
    /// Where no Redis trigger runs (the doorbell over HTTP): no clock can fire, so a
    /// failed message comes back when a drain endpoint is next called.
    pub fn scheduled() -> RetryClock {
        RetryClock {
            state: "scheduled",
            detail: Some(
                "no Redis trigger runs here: a failed message is retried when a drain endpoint is next called \
                 (by the next order, or by your scheduler's call of GET /pipeline/tick: see docs/deploying.md)"
                    .into(),
            ),
        }
    }

    /// From the server's `notify-keyspace-events` as read now.
    pub fn from_flags(flags: &str) -> RetryClock {
        match crate::consumer::notify_keyspace_events_with_expiry(flags) {
            None => RetryClock { state: "on", detail: None },
            Some(_) => RetryClock {
                state: "off",
                detail: Some(format!(
                    "Redis has notify-keyspace-events `{flags}`, without K and x: a consumer turns them on when it \
                     next wakes; until then a failed message is retried at the platform clock's next call of GET \
                     /pipeline/tick"
                )),
            },
        }
    }

    /// From what a consumer's check recorded (when Redis refuses `CONFIG` to us too):
    /// `on`, `off: <reason>`, or nothing.
    pub fn from_state(recorded: &str) -> RetryClock {
        match recorded.split_once(": ") {
            _ if recorded == "on" => RetryClock { state: "on", detail: None },
            Some(("off", why)) => RetryClock { state: "off", detail: Some(why.to_owned()) },
            _ => RetryClock { state: "unchecked", detail: None },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    pub group: String,
    /// Entries not yet delivered to the group (`null` when Redis cannot tell).
    pub lag: Option<u64>,
    /// Delivered but not yet acknowledged: being handled, or waiting for a retry.
    pub pending: u64,
    /// Age of the oldest pending entry, by its time on the topic.
    pub oldest_pending_age_ms: Option<u64>,
    /// Entries in the group's dead-letter log.
    pub dead_letters: u64,
    /// Entries ever delivered to the group (first deliveries).
    pub delivered: u64,
    /// Entries the group acknowledged.
    pub acked: u64,
}

/// What a ring did: the groups rung (none when rate-limited), and how many subscribers
/// heard it (0: no consumer is listening yet, say while one restarts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rung {
    #[serde(rename = "rung")]
    pub groups: Vec<String>,
    pub subscribers: u64,
}

/// How many dead letters `GET /pipeline/dead-letters` shows, newest first.
pub const DEAD_LETTERS_SHOWN: usize = 100;

/// A message in a group's dead-letter log, as the queue keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its entry in the dead-letter log (its time, in ms, before the `-`).
    pub entry: String,
    /// The topic entry it was.
    pub original_entry: String,
    pub deliveries: u64,
    pub reason: String,
    /// The envelope, when the entry had one.
    pub envelope: Option<Vec<u8>>,
}

pub trait Operations {
    fn status(&self) -> Result<Status, PortError>;
    /// Moves `group`'s dead letters back onto the topic, for that group only; returns
    /// how many.
    fn redrive(&self, group: &str) -> Result<u64, PortError>;
    /// Rings for every group, unless it rang less than a second ago (then no groups).
    fn ring(&self) -> Result<Rung, PortError>;
    /// The platform clock's tick: rings each group that has work waiting (entries not
    /// yet delivered to it, or pending), whether or not its bell is taken (a consumer
    /// that died holding it rang for no one), unless a tick rang less than a second ago
    /// (replicas probed at once ring once).
    fn tick(&self) -> Result<Rung, PortError>;
    /// The group's newest `limit` dead letters, newest first, and how many it holds.
    fn dead_letters(&self, group: &str, limit: usize) -> Result<(Vec<DeadLetter>, u64), PortError>;
}

/// Whether `req` is the platform clock's tick, which the component follows, after its
/// answer, with [`Operations::tick`].
pub fn is_tick(req: &Request) -> bool {
    req.method == "GET" && req.path_info.trim_end_matches('/') == "/tick"
}

/// `groups` are the configured consumer groups; `admin_token` the configured token
/// (`Err` when the variable is unusable).
pub fn handle(
    req: &Request,
    ops: &impl Operations,
    groups: &[String],
    admin_token: Result<String, String>,
) -> Response {
    respond(route(req, ops, groups, admin_token))
}

fn route(
    req: &Request,
    ops: &impl Operations,
    groups: &[String],
    admin_token: Result<String, String>,
) -> Result<Response, Problem> {
    req.check_limits()?;
    let unavailable = |e: PortError| Problem::unavailable(format!("redis is unavailable: {e}"));
    match (req.path_info.trim_end_matches('/'), req.method.as_str()) {
        ("", "GET") => {
            Ok(Response::json(200, &ops.status().map_err(unavailable)?).with_header("cache-control", "no-store"))
        }
        ("/metrics", "GET") => Ok(crate::metrics::render(req, &ops.status().map_err(unavailable)?)),
        // Touches nothing before the answer: see `is_tick`.
        ("/tick", "GET") => Ok(Response::json(
            200,
            &serde_json::json!({"tick": "accepted", "detail": "every consumer group with work waiting is rung after this answer"}),
        )
        .with_header("cache-control", "no-store")),
        ("/doorbell", "POST") => {
            authorize(req, admin_token)?;
            let rung = ops.ring().map_err(unavailable)?;
            if rung.groups.is_empty() {
                let mut p = Problem::new(429, "the doorbell rang less than a second ago; the consumers are awake");
                p.headers.push(("retry-after".into(), "1".into()));
                return Err(p);
            }
            Ok(Response::json(202, &rung))
        }
        ("/dead-letters", "GET") => {
            authorize(req, admin_token)?;
            let group = group_param(req, groups)?;
            let (letters, total) = ops.dead_letters(&group, DEAD_LETTERS_SHOWN).map_err(unavailable)?;
            let shown: Vec<serde_json::Value> = letters.iter().map(dead_letter_json).collect();
            Ok(Response::json(200, &serde_json::json!({"group": group, "total": total, "dead_letters": shown}))
                .with_header("cache-control", "no-store"))
        }
        ("/redrive", "POST") => {
            authorize(req, admin_token)?;
            let group = group_param(req, groups)?;
            let n = ops.redrive(&group).map_err(unavailable)?;
            Ok(Response::json(200, &serde_json::json!({"group": group, "redriven": n})))
        }
        ("" | "/metrics" | "/dead-letters" | "/tick", _) => Err(Problem::method_not_allowed(&req.method, &["GET"])),
        ("/doorbell" | "/redrive", _) => Err(Problem::method_not_allowed(&req.method, &["POST"])),
        (other, _) => Err(Problem::not_found(format!("no such resource `/pipeline{other}`"))),
    }
}

/// The `group` query parameter, one of the configured groups.
fn group_param(req: &Request, groups: &[String]) -> Result<String, Problem> {
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

/// A dead letter as `GET /pipeline/dead-letters` shows it: when it was dead-lettered,
/// why, after how many deliveries, and the order's ids when its envelope reads.
fn dead_letter_json(d: &DeadLetter) -> serde_json::Value {
    let at = d.entry.split('-').next().and_then(|ms| ms.parse::<u64>().ok()).map(crate::envelope::rfc3339_ms);
    let mut v = serde_json::json!({
        "entry": d.entry,
        "dead_lettered_at": at,
        "original_entry": d.original_entry,
        "deliveries": d.deliveries,
        "reason": d.reason,
    });
    if let Some(e) = d.envelope.as_deref().and_then(|e| crate::envelope::Envelope::from_bytes(e).ok()) {
        v["message_id"] = e.id.as_str().into();
        v["accountid"] = e.order.accountid.to_string().into();
        v["vendorid"] = e.order.vendorid.to_string().into();
    }
    v
}

fn authorize(req: &Request, admin_token: Result<String, String>) -> Result<(), Problem> {
    let expected = admin_token.ok().filter(|t| t.len() >= MIN_ADMIN_TOKEN_BYTES).ok_or_else(|| {
        Problem::unavailable(format!("variable `admin_token` is not set to {MIN_ADMIN_TOKEN_BYTES} or more bytes"))
    })?;
    let Some(given) = req.header("authorization").and_then(bearer_token) else {
        let mut p = Problem::new(401, "send `Authorization: Bearer <admin token>` (the `admin_token` variable)");
        p.headers.push(("www-authenticate".into(), "Bearer".into()));
        return Err(p);
    };
    if tokens_match(given, &expected) {
        Ok(())
    } else {
        Err(Problem::forbidden("the admin token is not valid"))
    }
}

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
        ts: crate::envelope::rfc3339_ms(now_ms),
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

/// The token of an `Authorization: Bearer <token>` value: the scheme matches in any case
/// (RFC 9110 §11.1: `bearer`, `BEARER`), followed by one or more spaces. `None` for
/// another scheme or no token.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = rest.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether the given token is the expected one, in constant time (`subtle`): timing
/// reveals neither how much of it matched nor, since the SHA-256 digests are what is
/// compared, whether its length did.
pub(crate) fn tokens_match(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn configured_groups_show_before_the_topic_has_them() {
        let group = |name: &str, acked| GroupStatus {
            group: name.into(),
            lag: Some(0),
            pending: 0,
            oldest_pending_age_ms: None,
            dead_letters: 0,
            delivered: acked,
            acked,
        };
        let status = |groups| Status {
            stream_length: 2,
            orders_accepted: 9,
            retry_clock: RetryClock::from_state("on"),
            groups,
            warnings: vec![],
        };
        let configured = ["order-writer".to_owned(), "invoice-writer".to_owned()];
        // The topic has one of them, and a group no longer configured.
        let shown = status(vec![group("old", 1), group("invoice-writer", 7)]).with_configured_groups(&configured);
        let names: Vec<&str> = shown.groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(names, ["order-writer", "invoice-writer", "old"]);
        assert_eq!(shown.groups[0], GroupStatus { lag: Some(2), ..group("order-writer", 0) });
        assert_eq!(shown.groups[1], group("invoice-writer", 7));
        // A fresh topic: both, with nothing to deliver.
        let fresh = Status { stream_length: 0, ..status(vec![]) }.with_configured_groups(&configured);
        assert!(fresh.groups.iter().all(|g| g.lag == Some(0) && g.acked == 0), "{fresh:?}");
    }

    #[derive(Default)]
    struct Ops {
        redriven: Cell<u64>,
        rung: Cell<u32>,
        down: bool,
    }

    impl Operations for Ops {
        fn status(&self) -> Result<Status, PortError> {
            if self.down {
                return Err(PortError("connection refused".into()));
            }
            Ok(Status {
                stream_length: 0,
                orders_accepted: 0,
                retry_clock: RetryClock::from_state(""),
                groups: vec![],
                warnings: vec![],
            })
        }
        fn redrive(&self, _: &str) -> Result<u64, PortError> {
            if self.down {
                return Err(PortError("connection refused".into()));
            }
            self.redriven.set(3);
            Ok(3)
        }
        fn ring(&self) -> Result<Rung, PortError> {
            self.rung.set(self.rung.get() + 1);
            Ok(Rung { groups: vec!["order-writer".into()], subscribers: 1 })
        }
        fn tick(&self) -> Result<Rung, PortError> {
            unreachable!("the component ticks after the answer, never the handler")
        }
        fn dead_letters(&self, _: &str, _: usize) -> Result<(Vec<DeadLetter>, u64), PortError> {
            if self.down {
                return Err(PortError("connection refused".into()));
            }
            let letter = DeadLetter {
                entry: "1764288000123-0".into(),
                original_entry: "1764287999000-0".into(),
                deliveries: 5,
                reason: "store failed: disk full".into(),
                envelope: None,
            };
            Ok((vec![letter], 7))
        }
    }

    const TOKEN: &str = "0123456789abcdef-admin";

    fn req(method: &str, path: &str, query: &str, auth: Option<&str>) -> Request {
        Request {
            method: method.into(),
            path_info: path.into(),
            query: query.into(),
            headers: auth.map(|a| vec![("authorization".to_string(), a.to_string())]).unwrap_or_default(),
            ..Request::default()
        }
    }

    fn groups() -> Vec<String> {
        vec!["order-writer".into(), "invoice-writer".into()]
    }

    #[test]
    fn every_read_is_a_503_naming_redis_while_it_is_down() {
        let ops = Ops { down: true, ..Ops::default() };
        let auth = format!("Bearer {TOKEN}");
        for (path, query) in [("", ""), ("/metrics", ""), ("/dead-letters", "group=order-writer")] {
            let resp = handle(&req("GET", path, query, Some(&auth)), &ops, &groups(), Ok(TOKEN.into()));
            let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
            assert_eq!(resp.status, 503, "{path}: {body}");
            assert!(body["detail"].as_str().unwrap().starts_with("redis is unavailable: connection refused"), "{path}");
        }
    }

    #[test]
    fn redrive_needs_the_admin_token() {
        let ops = Ops::default();
        let gs = groups();
        let call = |auth: Option<&str>, token: Result<String, String>| {
            handle(&req("POST", "/redrive", "group=order-writer", auth), &ops, &gs, token).status
        };
        assert_eq!(call(None, Ok(TOKEN.into())), 401);
        assert_eq!(call(Some("Bearer nope"), Ok(TOKEN.into())), 403);
        assert_eq!(call(Some(&format!("Basic {TOKEN}")), Ok(TOKEN.into())), 401);
        assert_eq!(call(Some(&format!("Bearer {TOKEN}x")), Ok(TOKEN.into())), 403);
        assert_eq!(call(Some(&format!("Bearer {}", "x".repeat(8192))), Ok(TOKEN.into())), 431);
        assert_eq!(ops.redriven.get(), 0);
        assert_eq!(call(Some(&format!("Bearer {TOKEN}")), Ok(TOKEN.into())), 200);
        assert_eq!(ops.redriven.get(), 3);
        // An unset or too short token is a configuration problem, and grants nothing.
        assert_eq!(call(Some("Bearer short"), Ok("short".into())), 503);
        assert_eq!(call(Some("Bearer "), Err("undefined".into())), 503);
    }

    #[test]
    fn the_bearer_scheme_matches_in_any_case_with_any_spaces() {
        let ops = Ops::default();
        let gs = groups();
        let call = |auth: &str| {
            handle(&req("POST", "/redrive", "group=order-writer", Some(auth)), &ops, &gs, Ok(TOKEN.into()))
        };
        for ok in [
            format!("bearer {TOKEN}"),
            format!("BEARER {TOKEN}"),
            format!("BeArEr    {TOKEN}"),
            format!("  Bearer {TOKEN}  "),
        ] {
            assert_eq!(call(&ok).status, 200, "{ok}");
        }
        assert_eq!(call("bearer nope").status, 403);
        for unauthenticated in
            ["bearer", "Bearer ", &format!("Bearer{TOKEN}"), &format!("Bearerx {TOKEN}"), &format!("Basic {TOKEN}")]
        {
            let r = call(unauthenticated);
            assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")), "{unauthenticated}");
        }
    }

    #[test]
    fn routes_methods_and_groups() {
        let ops = Ops::default();
        let auth = format!("Bearer {TOKEN}");
        let gs = groups();
        let h = |m, p, q, a: Option<&str>| handle(&req(m, p, q, a), &ops, &gs, Ok(TOKEN.into()));
        assert_eq!(h("GET", "", "", None).status, 200);
        assert_eq!(h("POST", "/doorbell", "", None).status, 401, "the doorbell needs the admin token");
        assert_eq!(h("POST", "/doorbell", "", Some("Bearer nope")).status, 403);
        assert_eq!(ops.rung.get(), 0);
        let rung = h("POST", "/doorbell", "", Some(&auth));
        assert_eq!((rung.status, ops.rung.get()), (202, 1));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&rung.body).unwrap()["rung"][0], "order-writer");
        assert_eq!(h("POST", "/redrive", "group=nobody", Some(&auth)).status, 400);
        assert_eq!(h("POST", "/redrive", "", Some(&auth)).status, 400);
        assert_eq!(h("DELETE", "", "", None).header("allow"), Some("GET"));
        assert_eq!(h("GET", "/doorbell", "", None).header("allow"), Some("POST"));
        assert_eq!(h("GET", "/other", "", None).status, 404);
    }

    #[test]
    fn dead_letters_need_the_admin_token_and_show_their_reasons() {
        let ops = Ops::default();
        let gs = groups();
        let h = |q, a: Option<&str>| handle(&req("GET", "/dead-letters", q, a), &ops, &gs, Ok(TOKEN.into()));
        assert_eq!(h("group=order-writer", None).status, 401);
        assert_eq!(h("group=order-writer", Some("Bearer nope")).status, 403);
        let auth = format!("Bearer {TOKEN}");
        assert_eq!(h("group=nobody", Some(&auth)).status, 400);
        let r = h("group=order-writer", Some(&auth));
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["total"], 7);
        assert_eq!(v["dead_letters"][0]["reason"], "store failed: disk full");
        assert_eq!(v["dead_letters"][0]["dead_lettered_at"], "2025-11-28T00:00:00.123Z");
        assert_eq!(v["dead_letters"][0]["deliveries"], 5);
        assert_eq!(handle(&req("POST", "/dead-letters", "", Some(&auth)), &ops, &gs, Ok(TOKEN.into())).status, 405);
    }

    #[test]
    fn one_audit_line_per_redrive_and_never_the_token() {
        let gs = groups();
        let audit = |ops: &Ops, query: &str, auth: Option<&str>| -> serde_json::Value {
            let r = req("POST", "/redrive", query, auth);
            let resp = handle(&r, ops, &gs, Ok(TOKEN.into()));
            let line = audit_line("pipeline-api", &r, &resp, 1_764_288_000_123).expect("a redrive is audited");
            assert!(!line.contains(TOKEN) && !line.contains("0123456789abcdef"), "{line}");
            serde_json::from_str(&line).unwrap()
        };
        let ops = Ops::default();
        let auth = format!("Bearer {TOKEN}");
        let ok = audit(&ops, "group=order-writer", Some(&auth));
        assert_eq!(
            ok,
            serde_json::json!({"ts": "2025-11-28T00:00:00.123Z", "component": "pipeline-api", "event": "audit",
                "action": "redrive", "outcome": "ok", "status": 200, "group": "order-writer", "redriven": 3})
        );
        let wrong = audit(&ops, "group=order-writer", Some(&format!("Bearer {TOKEN}x")));
        assert_eq!((wrong["outcome"].as_str(), wrong["status"].as_u64()), (Some("refused"), Some(403)));
        assert_eq!(wrong["reason"], "the admin token is not valid");
        assert!(wrong.get("group").is_none() && wrong.get("redriven").is_none());
        assert_eq!(audit(&ops, "group=order-writer", None)["status"], 401);
        // The token where it does not belong (the query) is not echoed either.
        let misplaced = audit(&ops, &format!("group={TOKEN}"), Some(&auth));
        assert_eq!((misplaced["status"].as_u64(), misplaced["reason"].as_str()), (Some(400), Some("Bad Request")));
        assert_eq!(audit(&ops, &format!("group=order-writer&group={TOKEN}"), Some(&auth))["status"], 400);
        let down = audit(&Ops { down: true, ..Ops::default() }, "group=order-writer", Some(&auth));
        assert_eq!((down["outcome"].as_str(), down["status"].as_u64()), (Some("failed"), Some(503)));
        assert!(down["reason"].as_str().unwrap().contains("redis is unavailable"));
        let r = req("POST", "/doorbell", "", Some(&auth));
        let rung = audit_line("pipeline-api", &r, &handle(&r, &ops, &gs, Ok(TOKEN.into())), 0).unwrap();
        assert!(rung.contains(r#""action":"doorbell""#) && rung.contains(r#""outcome":"ok""#) && !rung.contains(TOKEN));
        // Anything else is not an admin action.
        for (m, p) in [("GET", ""), ("GET", "/doorbell"), ("GET", "/redrive")] {
            let r = req(m, p, "group=order-writer", Some(&auth));
            assert_eq!(audit_line("pipeline-api", &r, &handle(&r, &ops, &gs, Ok(TOKEN.into())), 0), None, "{m} {p}");
        }
    }

    /// A probe (kubelet, systemd timer) must get its `200` at once whatever Redis does:
    /// the handler touches nothing, and the component rings after the answer.
    #[test]
    fn the_tick_answers_200_without_touching_redis_even_while_it_is_down() {
        let ops = Ops { down: true, ..Ops::default() };
        let gs = groups();
        for path in ["/tick", "/tick/"] {
            let r = req("GET", path, "", None);
            let resp = handle(&r, &ops, &gs, Err("unset".into()));
            assert_eq!((resp.status, resp.header("cache-control")), (200, Some("no-store")), "{path}");
            assert!(is_tick(&r), "{path}");
        }
        assert_eq!(ops.rung.get(), 0);
        let post = req("POST", "/tick", "", None);
        assert_eq!(handle(&post, &ops, &gs, Ok(TOKEN.into())).header("allow"), Some("GET"));
        assert!(!is_tick(&post) && !is_tick(&req("GET", "/ticks", "", None)) && !is_tick(&req("GET", "", "", None)));
    }

    #[test]
    fn retry_clock_state_reads_the_flags_now_or_what_the_check_recorded() {
        assert_eq!(RetryClock::from_flags("KEA").state, "on");
        assert_eq!(RetryClock::from_flags("xK").state, "on");
        let off = RetryClock::from_flags("Eg");
        assert_eq!(off.state, "off");
        assert!(off.detail.unwrap().contains("`Eg`, without K and x"));
        assert_eq!(RetryClock::from_state("on").state, "on");
        let off = RetryClock::from_state("off: Redis refused CONFIG: set it");
        assert_eq!((off.state, off.detail.as_deref()), ("off", Some("Redis refused CONFIG: set it")));
        assert_eq!(RetryClock::from_state("").state, "unchecked");
    }

    #[test]
    fn tokens_match_is_eq() {
        assert!(tokens_match("abc", "abc") && tokens_match("", ""));
        assert!(!tokens_match("abc", "abd") && !tokens_match("ab", "abc") && !tokens_match("abcd", "abc"));
        assert!(!tokens_match("", "abc") && !tokens_match("abc\0", "abc"));
    }
}
