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
//! heard through a keyspace notification (see `spin-adapters/src/topic/` and its scripts).
//!
//! Where no Redis trigger runs (the doorbell on HTTP), the calls that take a bell (a
//! publish, a redrive, a ring, a tick, a drain that hands over) name the groups whose
//! bell they took in a [`DrainCalls`](crate::ports::drain_calls::DrainCalls), and their caller calls those groups' drain endpoints
//! once it has answered. On Redis the scripts rang already, and the list is empty.

/// How long a group's bell stays out without its consumer renewing it. A consumer
/// renews it as it claims, so this only matters when one dies holding it: the bell's
/// expiry then wakes the group (and new orders ring again).
pub const BELL_LEASE_MS: u64 = 5_000;

/// What called a consumer, as its adapter reads the trigger's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// The doorbell, naming the groups it rings for.
    Doorbell(Vec<String>),
    /// The group's own timer: its retry clock, or a bell whose lease ran out.
    Timer,
}

impl Wake {
    /// Whether this asks `group` to drain: a doorbell that names it, or its timer.
    /// Anything else is not for this group and costs it no round trip to the topic.
    pub fn wakes(&self, group: &str) -> bool {
        match self {
            Wake::Doorbell(groups) => groups.iter().any(|g| g == group),
            Wake::Timer => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_for_its_group_or_its_timer_only() {
        let bell = |g: &[&str]| Wake::Doorbell(g.iter().map(|g| g.to_string()).collect());
        assert!(bell(&["order-writer", "invoice-writer"]).wakes("invoice-writer"));
        assert!(bell(&["order-writer"]).wakes("order-writer"));
        assert!(Wake::Timer.wakes("order-writer"));
        assert!(!bell(&["invoice-writer"]).wakes("order-writer"));
        assert!(!bell(&["order-writer-2"]).wakes("order-writer"));
        assert!(!bell(&[]).wakes("order-writer"));
    }
}
