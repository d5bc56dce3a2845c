//! The doorbell over HTTP, for the platforms with no Redis trigger: calls a group's
//! drain endpoint (`POST /drain/<group>`, see `order_core::drain_request`) as a
//! self-request, a relative URL the component's `allowed_outbound_hosts` allows with
//! `http://self`. Only whoever took the group's bell in Redis calls it, so a burst of
//! orders costs a handful of calls, not one per order (each counts against the hosted
//! platform's outbound quota).
//!
//! Called after the caller has sent its own answer: the drain endpoint answers `202` at
//! once and drains after, so this waits only for that.

use order_core::drain_request;
use spin_sdk::http::{Method, Request, Response};

use crate::{log, variable};

/// Calls the drain endpoint of each of `groups`; returns how many answered `202`. A
/// failed call is logged and otherwise left: the bell it held expires after
/// `BELL_LEASE_MS`, and the next order or scheduled call rings again.
pub async fn ring(component: &str, groups: &[String]) -> usize {
    let token = variable("drain_token").unwrap_or_default();
    let mut answered = 0;
    for group in groups {
        let path = drain_request::path(group);
        let req = Request::builder()
            .method(Method::Post)
            .uri(path.as_str())
            .header("authorization", format!("Bearer {token}"))
            .build();
        let status = match spin_sdk::http::send::<_, Response>(req).await {
            Ok(resp) => Ok(*resp.status()),
            Err(e) => Err(e.to_string()),
        };
        answered += usize::from(status == Ok(202));
        log(&order_core::log::ring_line(component, group, &path, status, now_ms()));
    }
    answered
}

fn now_ms() -> u64 {
    use order_core::ports::{Clock, SystemClock};
    SystemClock.now_ms()
}
