//! Who wakes a consumer. Nothing polls. Two things ring, and the queue keeps both
//! coalesced, so work never waits for traffic and a burst does not queue an invocation
//! per order:
//! - *The doorbell.* Each group has a bell: appending an order takes every bell that
//!   is not out (a lease of [`BELL_LEASE_MS`]) and rings once for the groups it took. A
//!   draining consumer holds its group's bell and releases it in the same atomic step
//!   that finds the group empty, so an order appended a moment later rings again: at
//!   most one doorbell is outstanding per group, and none is lost. A drain that stops
//!   at its limit with work left keeps the bell and rings for itself. A bell left by a
//!   consumer that died expires, and its expiry wakes the group.
//! - *The retry clock.* A message whose handling failed stays pending until its
//!   visibility timeout passes. When a drain ends with entries pending, the queue sets a
//!   timer that fires when the earliest of them becomes claimable again, and the timer
//!   wakes the consumer by itself. So a retry comes about one visibility timeout after
//!   the failure, with no new order and no operator.
//!
//! On Redis both are one key per group that holds a bell or a timer; its expiry is
//! heard through a keyspace notification (see `spin-ports/src/topic/` and its scripts).
//!
//! Where no Redis trigger runs (the doorbell on HTTP), the calls that take a bell (a
//! publish, a redrive, a ring, a tick, a drain that hands over) name the groups whose
//! bell they took in a [`ToRing`], and their caller calls those groups' drain endpoints
//! once it has answered. On Redis the scripts rang already, and the list is empty.

/// How long a group's bell stays out without its consumer renewing it. A consumer
/// renews it as it claims, so this only matters when one dies holding it: the bell's
/// expiry then wakes the group (and new orders ring again).
pub const BELL_LEASE_MS: u64 = 5_000;

/// The groups a call took the bell of and did not ring itself: its caller rings them
/// (over HTTP, after its own answer). Empty where the doorbell is the Redis channel, which
/// the call's script published on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToRing(pub Vec<String>);

impl ToRing {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether a message on a consumer's trigger asks `group` to drain. The doorbell's
/// payload names the groups it rings for (`order-writer,invoice-writer`); the retry
/// clock's is the keyspace event `expired`, on a channel only that group's timer
/// uses. Anything else (another group's doorbell, another keyspace event on the
/// timer's channel) is not for this group and costs it no Redis round trip.
pub fn wakes(payload: &[u8], group: &str) -> bool {
    payload == b"expired" || payload.split(|b| *b == b',').any(|g| g.trim_ascii() == group.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_for_its_group_or_its_timer_only() {
        assert!(wakes(b"order-writer,invoice-writer", "invoice-writer"));
        assert!(wakes(b"order-writer", "order-writer"));
        assert!(wakes(b"expired", "order-writer"));
        assert!(!wakes(b"invoice-writer", "order-writer"));
        assert!(!wakes(b"set", "order-writer"), "another keyspace event on the timer's channel");
        assert!(!wakes(b"order-writer-2", "order-writer"));
        assert!(!wakes(b"", "order-writer"));
    }
}
