//! Waking the consumers, on Spin. What rings and when is `order_core::delivery::wake`;
//! here is how: the variable `doorbell` says whether a bell is a message on the Redis
//! channel (the scripts publish it, and the Redis trigger hears it and the retry clock's
//! timers) or a call of the group's drain endpoint (`POST /drain/<group>`, see
//! `order_core::handlers::drain_request`), a self-request, a relative URL the component's
//! `allowed_outbound_hosts` allows with `http://self`. Every call that takes a bell (a
//! publish, a redrive, a ring, a tick, a drain that hands over) returns the groups to
//! ring ([`DrainCalls`]), empty on Redis; its caller passes them to [`ring`] after it has
//! answered. Only whoever took a group's bell calls it, so a burst of orders costs a
//! handful of calls, not one per order (each counts against the hosted platform's
//! outbound quota).

use order_core::delivery::wake::Wake;
use order_core::handlers::drain_request;
use order_core::log::ring_line;
use order_core::model::clock::{Clock, SystemClock};
use order_core::ports::drain_calls::DrainCalls;
use spin_sdk::http::{Method, Request, Response};

use crate::{log, variable};

/// How a consumer group is woken (the variable `doorbell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doorbell {
    /// `redis`: a message on `orders_channel`, heard by the Redis trigger (`spin up`,
    /// SpinKube). The retry clock is heard there too.
    Redis,
    /// `http`: no Redis trigger runs (Fermyon Cloud, Akamai Functions). The scripts
    /// still take and release the bells, but publish nothing; whoever took a bell calls
    /// the group's drain endpoint ([`ring`]). Retries come with the next order or the next
    /// scheduled call.
    Http,
}

/// What a message on a consumer's Redis channels is: the keyspace event `expired` on
/// its timer's channel (its retry clock or bell lease ran out), or else the doorbell's
/// payload, the groups it rings for (`order-writer,invoice-writer`). Another keyspace
/// event on the timer's channel (`set`) reads as a doorbell for no group of ours.
pub fn reason(payload: &[u8]) -> Wake {
    match payload {
        b"expired" => Wake::Timer,
        _ => Wake::Doorbell(
            payload
                .split(|b| *b == b',')
                .map(|g| String::from_utf8_lossy(g.trim_ascii()).into_owned())
                .filter(|g| !g.is_empty())
                .collect(),
        ),
    }
}

impl Doorbell {
    /// The drain calls owed for `groups`, whose bells a call took: the groups themselves
    /// where the doorbell is HTTP (the caller calls their drain endpoints), none on Redis
    /// (the call's script published the ring already). The one place this is decided.
    pub fn drain_calls(self, groups: Vec<String>) -> DrainCalls {
        match self {
            Doorbell::Http => DrainCalls(groups),
            Doorbell::Redis => DrainCalls::default(),
        }
    }
}

impl Doorbell {
    /// The variable `doorbell`: `redis` or `http`.
    pub fn from_variable(value: &str) -> Result<Doorbell, String> {
        match value.trim() {
            "redis" => Ok(Doorbell::Redis),
            "http" => Ok(Doorbell::Http),
            other => Err(format!("variable `doorbell` must be `redis` or `http`, not `{other}`")),
        }
    }
}

/// Calls the drain endpoint of each group `drain_calls` names (nothing when it is empty, as
/// it is where the doorbell is on Redis); returns how many answered `202`. A failed call
/// is logged and otherwise left: the bell it held expires after `BELL_LEASE_MS`, and the
/// next order or scheduled call rings again. Called after the caller has sent its own
/// answer: the drain endpoint answers `202` at once and drains after, so this waits only
/// for that.
pub async fn ring(component: &str, drain_calls: &DrainCalls) -> usize {
    if drain_calls.is_empty() {
        return 0;
    }
    let token = variable("drain_token").unwrap_or_default();
    let mut answered = 0;
    for group in &drain_calls.0 {
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
        log(&ring_line(component, group, &path, status, SystemClock.now_ms()));
    }
    answered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_the_timer_or_a_doorbell_naming_its_groups() {
        assert_eq!(reason(b"expired"), Wake::Timer);
        let bell = reason(b"order-writer, invoice-writer");
        assert_eq!(bell, Wake::Doorbell(vec!["order-writer".into(), "invoice-writer".into()]));
        assert!(bell.wakes("invoice-writer") && !bell.wakes("order-writer-2"));
        assert!(!reason(b"set").wakes("order-writer"), "another keyspace event on the timer's key");
        assert!(!reason(b"").wakes("order-writer"));
    }
}
