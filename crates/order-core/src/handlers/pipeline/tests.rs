//! The pipeline's endpoints through their router, against an in-memory [`Operations`].

use std::cell::Cell;

use super::handle as route_and_ring;
use crate::handlers::pipeline::audit::audit_line;
use crate::handlers::pipeline::tick::is_tick;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::span::MessagingSystem;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::error::PortError;
use crate::ports::operations::{DeadLetter, DoorbellRing, Operations, Redrive, RetryClock, Status};
use crate::ports::settings::Misconfigured;
use crate::testing::tracer::TEST_SYSTEM;

/// The answer alone: these tests ring nothing over HTTP.
fn handle(req: &Request, ops: &Ops, groups: &[String], admin_token: Result<String, Misconfigured>) -> Response {
    let (answer, drain_calls) = route_and_ring(req, ops, groups, admin_token);
    assert_eq!(drain_calls, DrainCalls::default(), "the fake rings nothing over HTTP");
    answer
}

#[derive(Default)]
struct Ops {
    redriven: Cell<u64>,
    rung: Cell<u32>,
    down: bool,
    /// The bell rang less than a second ago: a ring rings no group.
    rang_just_now: bool,
}

impl Operations for Ops {
    fn messaging_system(&self) -> MessagingSystem {
        TEST_SYSTEM
    }
    fn status(&self) -> Result<Status, PortError> {
        if self.down {
            return Err(PortError::unavailable("connection refused"));
        }
        Ok(Status {
            durability: None,
            stream_length: 0,
            orders_accepted: 0,
            retry_clock: RetryClock::Unchecked,
            groups: vec![],
            warnings: vec![],
            partitions: vec![],
        })
    }
    fn redrive(&self, _: &str) -> Result<Redrive, PortError> {
        if self.down {
            return Err(PortError::unavailable("connection refused"));
        }
        self.redriven.set(3);
        Ok(Redrive { moved: 3, drain_calls: DrainCalls::default() })
    }
    fn ring(&self) -> Result<DoorbellRing, PortError> {
        self.rung.set(self.rung.get() + 1);
        if self.rang_just_now {
            return Ok(DoorbellRing::default());
        }
        Ok(DoorbellRing { groups: vec!["order-writer".into()], subscribers: 1, drain_calls: DrainCalls::default() })
    }
    fn tick(&self) -> Result<DoorbellRing, PortError> {
        unreachable!("the component ticks after the answer, never the handler")
    }
    fn dead_letters(&self, _: &str, _: usize) -> Result<(Vec<DeadLetter>, u64), PortError> {
        if self.down {
            return Err(PortError::unavailable("connection refused"));
        }
        let letter = DeadLetter {
            partition: 0,
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
fn every_read_is_a_503_naming_the_topic_server_while_it_is_down() {
    let ops = Ops { down: true, ..Ops::default() };
    let auth = format!("Bearer {TOKEN}");
    for (path, query) in [("", ""), ("/metrics", ""), ("/dead-letters", "group=order-writer")] {
        let resp = handle(&req("GET", path, query, Some(&auth)), &ops, &groups(), Ok(TOKEN.into()));
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(resp.status, 503, "{path}: {body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with("test-topic is unavailable: connection refused"),
            "{path}"
        );
    }
}

#[test]
fn redrive_needs_the_admin_token() {
    let ops = Ops::default();
    let gs = groups();
    let call = |auth: Option<&str>, token: Result<String, Misconfigured>| {
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
    let call =
        |auth: &str| handle(&req("POST", "/redrive", "group=order-writer", Some(auth)), &ops, &gs, Ok(TOKEN.into()));
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
    assert!(down["reason"].as_str().unwrap().contains("test-topic is unavailable"));
    let r = req("POST", "/doorbell", "", Some(&auth));
    let rung = audit_line("pipeline-api", &r, &handle(&r, &ops, &gs, Ok(TOKEN.into())), 0).unwrap();
    assert!(rung.contains(r#""action":"doorbell""#) && rung.contains(r#""outcome":"ok""#) && !rung.contains(TOKEN));
    // Anything else is not an admin action.
    for (m, p) in [("GET", ""), ("GET", "/doorbell"), ("GET", "/redrive")] {
        let r = req(m, p, "group=order-writer", Some(&auth));
        assert_eq!(audit_line("pipeline-api", &r, &handle(&r, &ops, &gs, Ok(TOKEN.into())), 0), None, "{m} {p}");
    }
}

/// A probe (kubelet, systemd timer) must get its `200` at once whatever the topic's server does:
/// the handler touches nothing, and the component rings after the answer.
#[test]
fn the_tick_answers_200_without_touching_the_topic_even_while_it_is_down() {
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

/// Where the doorbell rings over HTTP, a redrive and a ring hand the groups whose bell
/// they took back to the component, to call after its answer.
#[test]
fn a_redrive_and_a_ring_hand_back_the_groups_to_ring() {
    struct OverHttp(Ops);
    impl Operations for OverHttp {
        fn messaging_system(&self) -> MessagingSystem {
            TEST_SYSTEM
        }
        fn status(&self) -> Result<Status, PortError> {
            self.0.status()
        }
        fn redrive(&self, group: &str) -> Result<Redrive, PortError> {
            Ok(Redrive { drain_calls: DrainCalls(vec![group.to_owned()]), ..self.0.redrive(group)? })
        }
        fn ring(&self) -> Result<DoorbellRing, PortError> {
            let rung = self.0.ring()?;
            Ok(DoorbellRing { drain_calls: DrainCalls(rung.groups.clone()), ..rung })
        }
        fn tick(&self) -> Result<DoorbellRing, PortError> {
            self.0.tick()
        }
        fn dead_letters(&self, group: &str, limit: usize) -> Result<(Vec<DeadLetter>, u64), PortError> {
            self.0.dead_letters(group, limit)
        }
    }
    let ops = OverHttp(Ops::default());
    let auth = format!("Bearer {TOKEN}");
    let call = |m: &str, p: &str, q: &str, a: Option<&str>| {
        route_and_ring(&req(m, p, q, a), &ops, &groups(), Ok(TOKEN.into()))
    };
    let (answer, drain_calls) = call("POST", "/redrive", "group=invoice-writer", Some(&auth));
    assert_eq!((answer.status, drain_calls), (200, DrainCalls(vec!["invoice-writer".into()])));
    let (answer, drain_calls) = call("POST", "/doorbell", "", Some(&auth));
    assert_eq!((answer.status, drain_calls), (202, DrainCalls(vec!["order-writer".into()])));
    // Refused: nothing to ring.
    let (answer, drain_calls) = call("POST", "/redrive", "group=invoice-writer", None);
    assert_eq!((answer.status, drain_calls), (401, DrainCalls::default()));
}

/// A doorbell rung again within the second is a `429` with `Retry-After: 1`, rings no
/// group, and its audit line says it was refused, and why.
#[test]
fn a_doorbell_rung_again_within_the_second_is_a_429() {
    let ops = Ops { rang_just_now: true, ..Ops::default() };
    let r = req("POST", "/doorbell", "", Some(&format!("Bearer {TOKEN}")));
    let (answer, drain_calls) = route_and_ring(&r, &ops, &groups(), Ok(TOKEN.into()));
    assert_eq!((answer.status, answer.header("retry-after"), drain_calls), (429, Some("1"), DrainCalls::default()));
    let line: serde_json::Value = serde_json::from_str(&audit_line("pipeline-api", &r, &answer, 0).unwrap()).unwrap();
    assert_eq!((line["outcome"].as_str(), line["status"].as_u64()), (Some("refused"), Some(429)));
    assert!(line["reason"].as_str().unwrap().contains("less than a second ago"), "{line}");
}
