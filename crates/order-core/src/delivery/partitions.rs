//! A drain of one group over a topic of several partitions (`docs/scaling.md`): each
//! partition is a queue of its own on its own server, drained in turn by one invocation.
//!
//! Only partition 0's wakes are heard (its doorbell channel and its keyspace), so
//! partition 0 carries the others' wakes:
//! - a ring a partition other than 0 takes (a drain that stopped at its limit with work
//!   left) is forwarded to partition 0's channel by the caller, one ring for all of
//!   them, and none when partition 0's own drain rang;
//! - their retry clocks and bell leases expire unheard, so partition 0 keeps a timer
//!   for them ([`Partition::keep_others_timer`]), whose expiry drains every partition:
//!   one visibility timeout away before the drain, so a consumer that dies in it is
//!   followed by another; after it, when the soonest of the retry clocks their drains
//!   set fires ([`Report::timer_ms`]); and
//!   within the bell's lease when a ring was forwarded, as a ring lost on its way would
//!   be followed by its bell's expiry.
//!
//! Each partition has an equal share of the invocation's budget ([`Limits::shared`]),
//! so the order starves none; partition 0 goes last. A partition other than 0 that
//! cannot be reached is left to partition 0's timer, and the others drain as usual.
//! Partition 0 unreachable ends the drain: nothing would wake the others.
//!
//! Caveat: a partition that never answers (a paused server, an address that drops
//! packets) holds the drain as long as the connection waits for it, and a trigger that
//! hands over its messages one at a time holds every wake behind it (the adapter's
//! platform has no timeout here: `docs/scaling.md`).

use crate::delivery::drain::{drain, Ended, Handler, Limits, Report};
use crate::delivery::spans::Tracing;
use crate::delivery::wake::BELL_LEASE_MS;
use crate::model::clock::Clock;
use crate::ports::error::PortError;
use crate::ports::queue::Queue;
use crate::ports::tracer::Tracer;

/// One partition of a group's topic.
pub trait Partition: Queue {
    /// Its place in the topic; 0 is the partition whose wakes are heard.
    fn index(&self) -> u32;

    /// Whether a ring it takes must be forwarded to partition 0's channel by its caller
    /// (a partition other than 0, where the doorbell is a channel).
    fn forwards_rings(&self) -> bool;

    /// Partition 0's timer for the others: keeps it within `ms`, and with `ring` rings
    /// the group on partition 0's channel. Asked of partition 0 only; nothing where no
    /// timer is heard (the doorbell on HTTP).
    fn keep_others_timer(&self, ms: u64, ring: bool) -> Result<(), PortError>;
}

/// A drain's [`Handler`] that also hears each partition's outcome, as soon as that
/// partition is done (before the next one is drained).
pub trait PartitionHandler<P>: Handler {
    fn drained(&mut self, partition: &P, result: &Result<Report, PortError>);
}

/// What a drain over the partitions did, beyond what each partition's outcome said.
#[derive(Debug, Default)]
pub struct Drained {
    /// Partition 0's failure, which is the invocation's: its wakes are everyone's.
    pub control_failure: Option<PortError>,
    /// Partition 0's timer for the others that could not be kept (before the drain,
    /// after it).
    pub timer_failures: Vec<PortError>,
    /// A drain stopped at its limit with work left and took the bell for the next
    /// invocation (rung already where the doorbell is a channel).
    pub handed_over: bool,
}

/// Before anything else in an invocation that will drain (or failed to start draining)
/// a topic of several partitions: partition 0's timer for the others one visibility
/// timeout away, so that if this invocation dies, or drains nothing, another follows
/// for them. Nothing for one partition.
pub fn follow_others<P: Partition>(partitions: &[P], visibility_timeout_ms: u64) -> Result<(), PortError> {
    match partitions {
        [control, _, ..] => control.keep_others_timer(visibility_timeout_ms, false),
        _ => Ok(()),
    }
}

/// Drains the group on every partition, `partitions[0]` being partition 0 (see the
/// module's doc), telling `handler` of each partition's outcome as it comes. One
/// partition is a plain [`drain`], with no timer.
pub fn drain_partitions<P: Partition>(
    partitions: &[P],
    visibility_timeout_ms: u64,
    clock: &impl Clock,
    limits: Limits,
    tracing: &Tracing<impl Tracer>,
    handler: &mut impl PartitionHandler<P>,
) -> Drained {
    let mut out = Drained::default();
    let Some((control, others)) = partitions.split_first() else {
        return out;
    };
    if let Err(e) = follow_others(partitions, visibility_timeout_ms) {
        out.timer_failures.push(e);
    }
    let limits = limits.shared(partitions.len());
    let (mut forward, mut control_rang) = (false, false);
    let mut timer_ms: Option<u64> = None;
    let mut want = |ms: u64| timer_ms = Some(timer_ms.map_or(ms, |t| t.min(ms)));
    for partition in others.iter().chain(std::iter::once(control)) {
        let result = drain(partition, clock, limits, tracing, handler);
        handler.drained(partition, &result);
        let is_control = std::ptr::eq(partition, control);
        match result {
            Err(e) if is_control => {
                out.control_failure = Some(e);
                return out;
            }
            Err(_) => want(visibility_timeout_ms),
            Ok(report) => {
                if report.ended == (Ended::Limit { rang: true }) {
                    out.handed_over = true;
                    control_rang |= is_control;
                    forward |= partition.forwards_rings();
                }
                if let (false, Some(ms)) = (is_control, report.timer_ms) {
                    want(ms);
                }
            }
        }
    }
    let ring = forward && !control_rang;
    let ms = if ring { Some(timer_ms.map_or(BELL_LEASE_MS, |ms| ms.min(BELL_LEASE_MS))) } else { timer_ms };
    if let Some(ms) = ms {
        if let Err(e) = control.keep_others_timer(ms, ring) {
            out.timer_failures.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::drain::Record;
    use crate::delivery::handled::{Failure, Handled, MessageMeta};
    use crate::delivery::spans::OFF;
    use crate::ports::queue::{Claimed, ClockCheck, Contact, Delivery, Next, Settlement, Stop};
    use crate::testing::clock::TestClock;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// What the partitions were asked, in order, across all of them.
    type Calls = Rc<RefCell<Vec<String>>>;

    /// A partition holding `backlog` messages, recording the calls made of it; its
    /// drains end setting its retry clock to `own_timer`.
    struct Fake {
        index: u32,
        backlog: Cell<usize>,
        own_timer: Option<u64>,
        down: bool,
        /// Its timer for the others cannot be kept (partition 0's server refuses it).
        timer_down: bool,
        calls: Calls,
    }

    fn fake(index: u32, backlog: usize, calls: &Calls) -> Fake {
        Fake {
            index,
            backlog: Cell::new(backlog),
            own_timer: None,
            down: false,
            timer_down: false,
            calls: calls.clone(),
        }
    }

    impl Queue for Fake {
        fn exchange(&self, _: &Settlement, next: Next, _: Contact) -> Result<Claimed, PortError> {
            if self.down {
                return Err(PortError::unavailable(format!("partition {} refused", self.index)));
            }
            let (n, rang) = match next {
                Next::Claim(n) => (n.min(self.backlog.get()), false),
                Next::Stop(Stop::Limit) => (0, self.backlog.get() > 0),
                Next::Stop(Stop::Pause) => (0, false),
            };
            self.calls.borrow_mut().push(format!("exchange {} {n}", self.index));
            self.backlog.set(self.backlog.get() - n);
            let deliveries =
                (0..n).map(|i| Delivery { entry: format!("{i}-0"), deliveries: 1, payload: vec![1] }).collect();
            // The exchange that ends the drain sets the partition's retry clock, if any.
            let ends = n == 0 && !rang;
            Ok(Claimed {
                deliveries,
                more: self.backlog.get() > 0,
                check_clock: None,
                rang,
                timer_ms: self.own_timer.filter(|_| ends),
            })
        }
        fn check_clock(&self, _: &ClockCheck) -> Result<(), String> {
            Ok(())
        }
    }

    impl Partition for Fake {
        fn index(&self) -> u32 {
            self.index
        }
        fn forwards_rings(&self) -> bool {
            self.index != 0
        }
        fn keep_others_timer(&self, ms: u64, ring: bool) -> Result<(), PortError> {
            assert_eq!(self.index, 0, "only partition 0 keeps the others' timer");
            if self.timer_down {
                return Err(PortError::unavailable("the timer was refused"));
            }
            self.calls.borrow_mut().push(format!("timer {ms}{}", if ring { " ring" } else { "" }));
            Ok(())
        }
    }

    /// Stores every message, and keeps each partition's outcome as it is told it:
    /// (partition, messages handled; `None` for a failed drain).
    #[derive(Default)]
    struct Outcomes(Vec<(u32, Option<usize>)>);

    impl Handler for Outcomes {
        fn handle_batch(&mut self, batch: &[&[u8]]) -> Vec<Result<Handled, Failure>> {
            batch
                .iter()
                .map(|_| Ok(Handled { meta: MessageMeta::default(), outcome: "stored", detail: "".into() }))
                .collect()
        }
        fn record(&mut self, _: &Record) {}
    }

    impl PartitionHandler<Fake> for Outcomes {
        fn drained(&mut self, partition: &Fake, result: &Result<Report, PortError>) {
            partition.calls.borrow_mut().push(format!("drained {}", partition.index));
            self.0.push((partition.index, result.as_ref().ok().map(|r| r.handled)));
        }
    }

    fn run(partitions: &[Fake], max_batches: usize) -> (Drained, Vec<(u32, Option<usize>)>) {
        let limits = Limits { batch: 10, max_batches, max_ms: 60_000, linger_ms: 0 };
        let mut outcomes = Outcomes::default();
        let drained = drain_partitions(partitions, 30_000, &TestClock::at(0), limits, &OFF, &mut outcomes);
        (drained, outcomes.0)
    }

    #[test]
    fn one_partition_is_a_plain_drain_with_no_timer() {
        let calls = Calls::default();
        let ps = [fake(0, 25, &calls)];
        let (d, outcomes) = run(&ps, 100);
        assert_eq!(outcomes, vec![(0, Some(25))]);
        assert!(!calls.borrow().iter().any(|c| c.starts_with("timer")), "{:?}", calls.borrow());
        assert!(!d.handed_over && d.timer_failures.is_empty() && d.control_failure.is_none());
    }

    #[test]
    fn partition_0_drains_last_each_outcome_told_at_once_and_the_timer_kept_to_the_soonest_of_the_others() {
        let calls = Calls::default();
        let mut zero = fake(0, 5, &calls);
        zero.own_timer = Some(1_000);
        let mut one = fake(1, 5, &calls);
        one.own_timer = Some(9_000);
        let mut two = fake(2, 5, &calls);
        two.own_timer = Some(4_000);
        let ps = [zero, one, two];
        let (_, outcomes) = run(&ps, 100);
        assert_eq!(outcomes, vec![(1, Some(5)), (2, Some(5)), (0, Some(5))]);
        let calls = calls.borrow();
        assert_eq!(calls.first().map(String::as_str), Some("timer 30000"), "set before any exchange: {calls:?}");
        // Partition 0's own retry clock is heard on its own: the others' soonest is kept.
        assert_eq!(calls.last().map(String::as_str), Some("timer 4000"), "{calls:?}");
        let told = |p: u32| calls.iter().position(|c| *c == format!("drained {p}")).unwrap();
        let first_exchange = |p: u32| calls.iter().position(|c| c.starts_with(&format!("exchange {p} "))).unwrap();
        assert!(told(1) < first_exchange(2) && told(2) < first_exchange(0), "each told before the next: {calls:?}");
    }

    #[test]
    fn each_partition_has_its_share_of_the_budget() {
        let calls = Calls::default();
        let ps = [fake(0, 100, &calls), fake(1, 100, &calls)];
        let (d, outcomes) = run(&ps, 6);
        // 6 batches of 10 shared by two: 3 each, then each stops at its limit and rings.
        assert_eq!(outcomes, vec![(1, Some(30)), (0, Some(30))]);
        assert!(d.handed_over);
        assert!(
            !calls.borrow().iter().any(|c| c.ends_with("ring")),
            "partition 0 rang: none forwarded: {:?}",
            calls.borrow()
        );
    }

    #[test]
    fn a_ring_the_others_took_is_forwarded_once_and_the_timer_kept_within_the_bells_lease() {
        let calls = Calls::default();
        let ps = [fake(0, 0, &calls), fake(1, 100, &calls), fake(2, 100, &calls)];
        let (d, _) = run(&ps, 6);
        assert!(d.handed_over);
        let calls = calls.borrow();
        let timers: Vec<&String> = calls.iter().filter(|c| c.starts_with("timer")).collect();
        assert_eq!(timers, vec!["timer 30000", &format!("timer {BELL_LEASE_MS} ring")], "{calls:?}");
    }

    #[test]
    fn a_partition_that_cannot_be_reached_is_left_to_the_timer_and_the_others_drain() {
        let calls = Calls::default();
        let mut one = fake(1, 5, &calls);
        one.down = true;
        let ps = [fake(0, 5, &calls), one, fake(2, 5, &calls)];
        let (d, outcomes) = run(&ps, 100);
        assert_eq!(outcomes, vec![(1, None), (2, Some(5)), (0, Some(5))]);
        assert!(d.control_failure.is_none());
        assert_eq!(calls.borrow().last().map(String::as_str), Some("timer 30000"), "one visibility timeout away");
    }

    #[test]
    fn partition_0_unreachable_is_the_invocations_failure_and_keeps_no_timer_after() {
        let calls = Calls::default();
        let mut zero = fake(0, 5, &calls);
        zero.down = true;
        let ps = [zero, fake(1, 5, &calls)];
        let (d, outcomes) = run(&ps, 100);
        assert_eq!(outcomes, vec![(1, Some(5)), (0, None)]);
        assert!(d.control_failure.is_some());
        let timers = calls.borrow().iter().filter(|c| c.starts_with("timer")).count();
        assert_eq!(timers, 1, "only the one set before: {:?}", calls.borrow());
    }

    #[test]
    fn the_others_are_followed_even_when_nothing_is_drained() {
        let calls = Calls::default();
        follow_others(&[fake(0, 0, &calls)], 30_000).unwrap();
        assert!(calls.borrow().is_empty(), "one partition: nothing to follow");
        follow_others(&[fake(0, 0, &calls), fake(1, 5, &calls)], 30_000).unwrap();
        assert_eq!(*calls.borrow(), vec!["timer 30000"]);
    }

    #[test]
    fn a_timer_that_cannot_be_kept_is_reported_and_the_partitions_still_drain() {
        let calls = Calls::default();
        let mut zero = fake(0, 5, &calls);
        zero.timer_down = true;
        let mut one = fake(1, 5, &calls);
        one.own_timer = Some(4_000);
        let ps = [zero, one];
        let (d, outcomes) = run(&ps, 100);
        assert_eq!(outcomes, vec![(1, Some(5)), (0, Some(5))]);
        assert_eq!(d.timer_failures.len(), 2, "before the drain and after it: {:?}", d.timer_failures);
        assert!(d.control_failure.is_none(), "the drain itself succeeded");
    }
}
