//! A consumer component's settings and its retry clock's one requirement of Redis.
//!
//! A consumer (order-writer, invoice-writer) is woken by a message on its trigger
//! ([`crate::delivery::wakes`]), drains its group within [`GroupConfig::limits`], and,
//! when the queue asks, makes sure its retry clock can fire
//! ([`notify_keyspace_events_with_expiry`]) and that Redis will not evict its work
//! ([`eviction_warning`]).

use crate::delivery::Limits;

/// Batches per invocation at most; the time budget usually ends a drain first.
pub const MAX_BATCHES: usize = 1_000;

/// Settings of a consumer group, from the component's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub batch: usize,
    pub visibility_timeout_ms: u64,
    pub max_deliveries: u32,
    /// How long one invocation drains before it hands over to the next (by ringing for
    /// itself): the next doorbell, or the other consumer's next message, waits for it.
    pub drain_budget_ms: u64,
    /// How long a drain waits after a short batch for a fuller one.
    pub batch_linger_ms: u64,
}

impl GroupConfig {
    /// Batch 1-1000, visibility timeout 1 ms to 1 hour, delivery limit 1-100, drain
    /// budget 1 ms to 10 minutes, linger 0 to 1000 ms. The error names the variable.
    pub fn from_variables(
        batch: &str,
        visibility_ms: &str,
        max_deliveries: &str,
        drain_budget_ms: &str,
        batch_linger_ms: &str,
    ) -> Result<GroupConfig, String> {
        fn num<T: std::str::FromStr + PartialOrd>(name: &str, v: &str, lo: T, hi: T) -> Result<T, String> {
            match v.trim().parse::<T>() {
                Ok(n) if n >= lo && n <= hi => Ok(n),
                _ => Err(format!("variable `{name}` must be a whole number in range, not `{v}`")),
            }
        }
        Ok(GroupConfig {
            batch: num("batch_size", batch, 1, 1_000)?,
            visibility_timeout_ms: num("visibility_timeout_ms", visibility_ms, 1, 3_600_000)?,
            max_deliveries: num("max_deliveries", max_deliveries, 1, 100)?,
            drain_budget_ms: num("drain_budget_ms", drain_budget_ms, 1, 600_000)?,
            batch_linger_ms: num("batch_linger_ms", batch_linger_ms, 0, 1_000)?,
        })
    }

    pub fn limits(&self) -> Limits {
        Limits {
            batch: self.batch,
            max_batches: MAX_BATCHES,
            max_ms: self.drain_budget_ms,
            linger_ms: self.batch_linger_ms,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bounds_name_the_variable() {
        assert_eq!(
            GroupConfig::from_variables("10", "30000", "5", "250", "0"),
            Ok(GroupConfig {
                batch: 10,
                visibility_timeout_ms: 30_000,
                max_deliveries: 5,
                drain_budget_ms: 250,
                batch_linger_ms: 0
            })
        );
        let err = |v: [&str; 5]| GroupConfig::from_variables(v[0], v[1], v[2], v[3], v[4]).unwrap_err();
        assert!(err(["0", "30000", "5", "250", "0"]).contains("batch_size"));
        assert!(err(["10", "x", "5", "250", "0"]).contains("visibility_timeout_ms"));
        assert!(err(["10", "1", "101", "250", "0"]).contains("max_deliveries"));
        assert!(err(["10", "1", "5", "0", "0"]).contains("drain_budget_ms"));
        assert!(err(["10", "1", "5", "9", "1001"]).contains("batch_linger_ms"));
    }

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
}
