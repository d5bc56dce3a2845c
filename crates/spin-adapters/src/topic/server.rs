//! What the topic needs of its Redis server, and how it tells: keyspace notifications
//! for expired keys (the retry clock hears its timer through them), and a
//! `maxmemory-policy` that never evicts the work.

use order_core::ports::operations::RetryClock;
use order_core::ports::PortError;

use crate::redis::{bin, text, Redis};

/// The retry clock hears its timer expire through Redis keyspace notifications on the
/// timer key's own channel (`__keyspace@<db>__:<key>`), which need the flags `K`
/// (keyspace channels) and `x` (expiry events; `A` includes it). Given the server's
/// `notify-keyspace-events`, returns the value to set, keeping every flag already
/// there, or `None` when nothing is missing.
pub fn notify_keyspace_events_with_expiry(current: &str) -> Option<String> {
    let has_k = current.contains('K');
    let has_x = current.contains('x') || current.contains('A');
    if has_k && has_x {
        return None;
    }
    let mut flags = current.to_owned();
    if !has_k {
        flags.push('K');
    }
    if !has_x {
        flags.push('x');
    }
    Some(flags)
}

/// What to say of a Redis whose `maxmemory-policy` is `policy`, if it can lose accepted
/// work: an `allkeys-*` policy evicts any key when memory runs out, the orders stream and
/// a group's wake key included. `noeviction` refuses writes instead (order-api answers
/// `503`, nothing accepted is lost), and a `volatile-*` policy evicts only keys with a
/// TTL, which nothing the pipeline must keep has.
pub fn eviction_warning(policy: &str) -> Option<String> {
    policy.starts_with("allkeys-").then(|| {
        format!(
            "Redis has maxmemory-policy `{policy}`: when full it evicts any key, the orders stream and the \
             consumers' wake keys included, and accepted orders are lost. Set maxmemory-policy to `noeviction` \
             (writes are refused instead: order-api answers 503) or a `volatile-*` policy (nothing the pipeline \
             must keep has a TTL)"
        )
    })
}

/// The retry clock's state from the server's `notify-keyspace-events` as read now.
pub fn retry_clock_from_flags(flags: &str) -> RetryClock {
    match notify_keyspace_events_with_expiry(flags) {
        None => RetryClock::On,
        Some(_) => RetryClock::Off(format!(
            "Redis has notify-keyspace-events `{flags}`, without K and x: a consumer turns them on when it \
                 next wakes; until then a failed message is retried at the platform clock's next call of GET \
                 /pipeline/tick"
        )),
    }
}

/// The retry clock as a consumer's check recorded it (where Redis refuses `CONFIG` to
/// `GET /pipeline`): `on`, `off: <why>` (what `GroupQueue::check_clock` writes), or
/// nothing in the last minute.
pub fn retry_clock_recorded(recorded: &str) -> RetryClock {
    match recorded.split_once(": ") {
        _ if recorded == "on" => RetryClock::On,
        Some(("off", why)) => RetryClock::Off(why.to_owned()),
        _ => RetryClock::Unchecked,
    }
}

/// Where no Redis trigger runs (the doorbell over HTTP): no clock can fire, so a failed
/// message comes back when a drain endpoint is next called.
pub fn retry_clock_scheduled() -> RetryClock {
    RetryClock::Scheduled(
        "no Redis trigger runs here: a failed message is retried when a drain endpoint is next called (by the \
         next order, or by your scheduler's call of GET /pipeline/tick: see docs/deploying.md)"
            .into(),
    )
}

/// The server's `notify-keyspace-events` (`Err` where `CONFIG` is refused).
pub fn notify_keyspace_events(redis: &impl Redis) -> Result<String, String> {
    let reply = redis.execute("CONFIG", vec![bin("GET"), bin("notify-keyspace-events")]).map_err(|e| e.to_string())?;
    let flags = reply.get(1).map(text).transpose().map_err(|e: PortError| e.to_string())?;
    flags.ok_or_else(|| "no such setting".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_policies_that_evict_any_key_are_warned_of() {
        for quiet in ["noeviction", "volatile-lru", "volatile-lfu", "volatile-ttl", "volatile-random", ""] {
            assert_eq!(eviction_warning(quiet), None, "{quiet}");
        }
        for loud in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            let w = eviction_warning(loud).unwrap();
            assert!(w.contains(loud) && w.contains("noeviction") && w.contains("volatile-"), "{w}");
        }
    }

    #[test]
    fn keyspace_flags_keep_what_is_there_and_add_what_is_missing() {
        assert_eq!(notify_keyspace_events_with_expiry("").as_deref(), Some("Kx"));
        assert_eq!(notify_keyspace_events_with_expiry("Ex").as_deref(), Some("ExK"));
        assert_eq!(notify_keyspace_events_with_expiry("KEA"), None);
        assert_eq!(notify_keyspace_events_with_expiry("xK"), None);
        assert_eq!(notify_keyspace_events_with_expiry("Kg").as_deref(), Some("Kgx"));
    }

    #[test]
    fn retry_clock_state_reads_the_flags_now() {
        assert_eq!(retry_clock_from_flags("KEA"), RetryClock::On);
        assert_eq!(retry_clock_from_flags("xK"), RetryClock::On);
        let off = retry_clock_from_flags("Eg");
        assert_eq!(off.state(), "off");
        assert!(off.detail().unwrap().contains("`Eg`, without K and x"));
    }

    #[test]
    fn retry_clock_state_is_what_the_check_recorded() {
        assert_eq!(retry_clock_recorded("on"), RetryClock::On);
        assert_eq!(
            retry_clock_recorded("off: Redis refused CONFIG: set it"),
            RetryClock::Off("Redis refused CONFIG: set it".into())
        );
        assert_eq!(retry_clock_recorded(""), RetryClock::Unchecked);
        assert_eq!(retry_clock_scheduled().state(), "scheduled");
    }
}
