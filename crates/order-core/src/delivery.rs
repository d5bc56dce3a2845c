//! At-least-once delivery from the orders topic to one consumer group.
//!
//! The topic is a durable log with one consumer group per consumer (one SQS queue
//! each, in the original's terms). A consumer invocation [`drain`]s its group: it
//! claims a batch, handles each message, and settles the batch. Only what was handled
//! is acknowledged; a message whose handling failed stays pending and is claimed again
//! once its visibility timeout has passed; after the delivery limit it moves to the
//! group's dead-letter log with the last failure's reason. A malformed message cannot
//! succeed on a retry, so it is dead-lettered at once.
//!
//! Handlers must therefore be idempotent, and they are: [`crate::store_order`] and
//! [`crate::write_invoice`] rewrite the same bytes for a duplicate and never let an
//! older message overwrite a newer one.
//!
//! **Who wakes a consumer.** Nothing polls. Two things ring, and the queue keeps both
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
//! heard through a keyspace notification (see `spin-ports/src/topic.rs`).

use crate::envelope::{Envelope, MessageMeta};
use crate::ports::{Clock, PortError};

/// How long a group's bell stays out without its consumer renewing it. A consumer
/// renews it as it claims, so this only matters when one dies holding it: the bell's
/// expiry then wakes the group (and new orders ring again).
pub const BELL_LEASE_MS: u64 = 5_000;

/// A message handed to a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The log's own id for the entry (not the envelope's message id).
    pub entry: String,
    /// How many times it has been delivered to this group, this time included.
    pub deliveries: u32,
    pub payload: Vec<u8>,
}

/// What a batch's handling decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Handled: acknowledge.
    pub acked: Vec<String>,
    /// Failed this time, with the reason: leave pending for a later delivery.
    pub failed: Vec<(String, String)>,
    /// Can never succeed, with the reason: move to the dead-letter log now.
    pub dead: Vec<(String, String)>,
}

/// What a drain asks of the queue after settling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Claim up to this many messages.
    Claim(usize),
    /// Claim nothing: the drain ends here.
    Stop(Stop),
}

/// Why a drain ends before its group is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It reached its batch or time limit: if more is waiting, the queue keeps the bell
    /// and rings for this group, so the rest drains in the next invocation.
    Limit,
    /// A whole batch failed (the store is likely down): the bell is released, so a new
    /// order rings again, and the retry clock brings the failed batch back.
    Pause,
}

/// The queue's answer to an exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claimed {
    pub deliveries: Vec<Delivery>,
    /// Something is claimable right now beyond what was returned (never delivered, or
    /// pending past the visibility timeout). A short batch is not the end: this is.
    pub more: bool,
    /// The queue armed its retry clock and has not checked lately that the clock can
    /// fire (on Redis: that keyspace notifications are on). See [`Queue::check_clock`].
    pub check_clock: bool,
    /// The queue rang the doorbell for this group (a `Stop::Limit` with more waiting).
    pub rang: bool,
}

/// One consumer group's view of the topic.
pub trait Queue {
    /// Settles the previous batch, then claims up to `Next::Claim(n)` messages, in one
    /// round trip: first those pending past the visibility timeout (redeliveries), then
    /// new ones. Messages past the delivery limit are moved to the dead-letter log by
    /// the queue itself and not returned. An exchange that finds nothing to claim, or a
    /// `Next::Stop`, ends the drain: the queue then releases the group's bell (or rings
    /// again, for a `Stop::Limit` with more waiting) and aims its retry clock at the
    /// earliest pending message, atomically with the look that found the group empty.
    fn exchange(&self, settle: &Settlement, next: Next) -> Result<Claimed, PortError>;

    /// Makes sure the retry clock can fire, and says whether it can (`Err` with the
    /// reason it cannot, meant for the operator). Called when [`Claimed::check_clock`].
    fn check_clock(&self) -> Result<(), String>;
}

/// Limits of one drain: it stops at whichever comes first, so one invocation never
/// holds the trigger long (the next doorbell waits for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub batch: usize,
    pub max_batches: usize,
    pub max_ms: u64,
    /// After a batch that came back short, wait this long before claiming again, so
    /// orders arriving one by one are handled a batch at a time, not one exchange and
    /// one store transaction each (SQS's batching window). 0: claim again at once.
    pub linger_ms: u64,
}

/// A handler's success: what it did (`stored`, `superseded`, `invoiced`), and to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub meta: MessageMeta,
    pub outcome: &'static str,
    pub detail: String,
}

/// A handler's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not an envelope we can read: retrying cannot help.
    Malformed(String),
    /// The store failed: try again later.
    Store { meta: MessageMeta, error: PortError },
}

impl Failure {
    /// The store failed while handling `e`.
    pub fn store(e: &Envelope, error: PortError) -> Failure {
        Failure::Store { meta: e.meta(), error }
    }
}

/// Reads a batch's payloads; an unreadable one is `Malformed`, in its place.
pub fn envelopes(payloads: &[&[u8]]) -> Vec<Result<Envelope, Failure>> {
    payloads.iter().map(|p| Envelope::from_bytes(p).map_err(Failure::Malformed)).collect()
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Malformed(why) => write!(f, "malformed message: {why}"),
            Failure::Store { error, .. } => write!(f, "store failed: {error}"),
        }
    }
}

/// One message's handling, for the log ([`crate::log::message_line`]).
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub delivery: &'a Delivery,
    pub result: &'a Result<Handled, Failure>,
    /// The batch's handling time, shared out evenly.
    pub duration_ms: f64,
    /// When the batch's handling began (the line's time stamp).
    pub now_ms: u64,
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ended {
    /// Nothing claimable was left; the bell is released.
    #[default]
    CaughtUp,
    /// Stopped at a limit; `rang` when more was waiting and the next invocation is rung.
    Limit { rang: bool },
    /// A whole batch failed; the retry clock brings it back.
    Paused,
}

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub handled: usize,
    pub failed: usize,
    pub dead_lettered: usize,
    /// Exchanges that claimed (or skipped) something.
    pub batches: usize,
    pub ended: Ended,
    /// The retry clock was armed and wants checking ([`Queue::check_clock`]).
    pub check_clock: bool,
}

/// Drains the group: one round trip to the queue per batch (settle the last, claim the
/// next), handling each batch with `handle_batch`, until the queue says nothing more
/// is claimable, or a limit is reached, or a whole batch fails (the store is likely
/// down: pause, and let the retry clock pace the retries; a batch where only some
/// messages fail goes on, so one poison message does not hold back the rest).
/// `on_record` sees every message's handling (for the log).
pub fn drain(
    queue: &impl Queue,
    clock: &impl Clock,
    limits: Limits,
    mut handle_batch: impl FnMut(&[&[u8]]) -> Vec<Result<Handled, Failure>>,
    mut on_record: impl FnMut(&Record),
) -> Result<Report, PortError> {
    let started_ms = clock.now_ms();
    let mut report = Report::default();
    let mut settlement = Settlement::default();
    let mut next = Next::Claim(limits.batch);
    loop {
        let claimed = queue.exchange(&settlement, next)?;
        report.handled += settlement.acked.len();
        report.failed += settlement.failed.len();
        report.dead_lettered += settlement.dead.len();
        report.check_clock |= claimed.check_clock;
        settlement = Settlement::default();
        match next {
            Next::Stop(Stop::Limit) => {
                report.ended = Ended::Limit { rang: claimed.rang };
                break;
            }
            Next::Stop(Stop::Pause) => {
                report.ended = Ended::Paused;
                break;
            }
            Next::Claim(_) if claimed.deliveries.is_empty() && !claimed.more => {
                report.ended = Ended::CaughtUp;
                break;
            }
            Next::Claim(_) => {}
        }
        report.batches += 1;
        let deliveries = claimed.deliveries;
        if !deliveries.is_empty() {
            let began_ms = clock.now_ms();
            let started = std::time::Instant::now();
            let payloads: Vec<&[u8]> = deliveries.iter().map(|d| d.payload.as_slice()).collect();
            let results = handle_batch(&payloads);
            assert_eq!(results.len(), deliveries.len(), "a batch handler answers for every message");
            let duration_ms = started.elapsed().as_secs_f64() * 1000.0 / deliveries.len() as f64;
            for (d, result) in deliveries.iter().zip(&results) {
                on_record(&Record { delivery: d, result, duration_ms, now_ms: began_ms });
                match result {
                    Ok(_) => settlement.acked.push(d.entry.clone()),
                    Err(f @ Failure::Malformed(_)) => settlement.dead.push((d.entry.clone(), f.to_string())),
                    Err(f @ Failure::Store { .. }) => settlement.failed.push((d.entry.clone(), f.to_string())),
                }
            }
        }
        // Nothing handled and something failed: the store is likely down (malformed
        // messages beside the failures do not change that).
        let all_failed = settlement.acked.is_empty() && !settlement.failed.is_empty();
        let short = deliveries.len() < limits.batch && !claimed.more;
        if short && !all_failed && limits.linger_ms > 0 {
            let left = limits.max_ms.saturating_sub(clock.now_ms().saturating_sub(started_ms));
            clock.sleep_ms(limits.linger_ms.min(left));
        }
        let out_of_budget =
            report.batches >= limits.max_batches || clock.now_ms().saturating_sub(started_ms) >= limits.max_ms;
        next = if all_failed {
            Next::Stop(Stop::Pause)
        } else if out_of_budget {
            Next::Stop(Stop::Limit)
        } else {
            Next::Claim(limits.batch)
        };
    }
    Ok(report)
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
    use crate::envelope::tests::TestClock;
    use std::cell::RefCell;

    /// A queue over a list: claims in order, records settlements and how drains ended.
    /// Entries with payload 255 are skipped by the queue itself (as a redrive meant
    /// for another group is), so a batch can come back short with more behind it.
    #[derive(Default)]
    struct ListQueue {
        pending: RefCell<Vec<Delivery>>,
        settled: RefCell<Vec<Settlement>>,
        stops: RefCell<Vec<Next>>,
    }

    impl ListQueue {
        fn of(payloads: impl IntoIterator<Item = u8>) -> ListQueue {
            let pending = payloads
                .into_iter()
                .enumerate()
                .map(|(i, p)| Delivery { entry: format!("{i}-0"), deliveries: 1, payload: vec![p] })
                .collect();
            ListQueue { pending: RefCell::new(pending), ..ListQueue::default() }
        }
    }

    impl Queue for ListQueue {
        fn exchange(&self, s: &Settlement, next: Next) -> Result<Claimed, PortError> {
            if *s != Settlement::default() {
                self.settled.borrow_mut().push(s.clone());
            }
            let mut p = self.pending.borrow_mut();
            let mut deliveries = Vec::new();
            if let Next::Claim(max) = next {
                let n = max.min(p.len());
                deliveries = p.drain(..n).filter(|d| d.payload[0] != 255).collect();
            } else {
                self.stops.borrow_mut().push(next);
            }
            let more = !p.is_empty();
            Ok(Claimed { deliveries, more, check_clock: false, rang: matches!(next, Next::Stop(Stop::Limit)) && more })
        }
        fn check_clock(&self) -> Result<(), String> {
            Ok(())
        }
    }

    fn ok(batch: &[&[u8]]) -> Vec<Result<Handled, Failure>> {
        batch
            .iter()
            .map(|_| Ok(Handled { meta: MessageMeta::default(), outcome: "stored", detail: String::new() }))
            .collect()
    }

    fn limits(batch: usize, max_batches: usize) -> Limits {
        Limits { batch, max_batches, max_ms: 60_000, linger_ms: 0 }
    }

    #[test]
    fn drains_in_batches_until_the_queue_says_nothing_is_left() {
        let q = ListQueue::of(0..25);
        let r = drain(&q, &TestClock::at(0), limits(10, 100), ok, |_| {}).unwrap();
        assert_eq!(r, Report { handled: 25, batches: 3, ended: Ended::CaughtUp, ..Report::default() });
        assert_eq!(q.settled.borrow().iter().map(|s| s.acked.len()).collect::<Vec<_>>(), vec![10, 10, 5]);
        assert!(q.stops.borrow().is_empty(), "caught up: the last exchange claimed nothing and ended it");
    }

    #[test]
    fn a_short_batch_is_not_the_end_when_more_is_waiting() {
        // Batches shortened by skipped entries (a redrive for another group) in front
        // of the backlog: the drain goes on while the queue says more is waiting.
        let q = ListQueue::of([255; 25].into_iter().chain(1..=7));
        let r = drain(&q, &TestClock::at(0), limits(10, 100), ok, |_| {}).unwrap();
        assert_eq!((r.handled, r.ended), (7, Ended::CaughtUp));
        assert!(q.pending.borrow().is_empty());
    }

    #[test]
    fn a_backlog_past_the_limit_hands_over_by_ringing() {
        let q = ListQueue::of(0..35);
        let r = drain(&q, &TestClock::at(0), limits(10, 2), ok, |_| {}).unwrap();
        assert_eq!(r, Report { handled: 20, batches: 2, ended: Ended::Limit { rang: true }, ..Report::default() });
        assert_eq!(*q.stops.borrow(), vec![Next::Stop(Stop::Limit)]);
        let r = drain(&q, &TestClock::at(0), limits(10, 2), ok, |_| {}).unwrap();
        assert_eq!((r.handled, r.ended), (15, Ended::Limit { rang: false }), "the rest; nothing left, so no ring");
    }

    #[test]
    fn the_time_budget_ends_a_drain_too() {
        let q = ListQueue::of(0..50);
        let clock = TestClock::at(0);
        let slow = |b: &[&[u8]]| {
            clock.now_ms.set(clock.now_ms.get() + 40);
            ok(b)
        };
        let r =
            drain(&q, &clock, Limits { batch: 10, max_batches: 100, max_ms: 100, linger_ms: 0 }, slow, |_| {}).unwrap();
        assert_eq!((r.handled, r.ended), (30, Ended::Limit { rang: true }));
    }

    #[test]
    fn a_short_batch_lingers_for_the_next_within_the_budget() {
        let lim = Limits { batch: 10, max_batches: 100, max_ms: 100, linger_ms: 30 };
        let q = ListQueue::of(0..5);
        let clock = TestClock::at(0);
        let r = drain(&q, &clock, lim, ok, |_| {}).unwrap();
        assert_eq!((r.handled, r.ended), (5, Ended::CaughtUp));
        assert_eq!(clock.now_ms.get(), 30, "one linger after the short batch, then the empty claim ended it");
        let q = ListQueue::of(0..30);
        let r = drain(&q, &clock, lim, ok, |_| {}).unwrap();
        assert_eq!((r.handled, clock.now_ms.get()), (30, 30), "full batches do not linger");
    }

    fn poison(p: u8) -> impl Fn(&[&[u8]]) -> Vec<Result<Handled, Failure>> {
        move |batch: &[&[u8]]| {
            batch
                .iter()
                .map(|m| match m[0] {
                    3 => Err(Failure::Malformed("not JSON".into())),
                    x if x == p || p == 0 => {
                        Err(Failure::Store { meta: MessageMeta::default(), error: PortError("throttled".into()) })
                    }
                    _ => ok(&[m]).remove(0),
                })
                .collect()
        }
    }

    #[test]
    fn one_failing_message_stays_pending_and_the_rest_goes_on() {
        let q = ListQueue::of(1..=30);
        let mut lines = Vec::new();
        let r = drain(&q, &TestClock::at(0), limits(10, 100), poison(4), |rec| {
            lines.push(crate::log::message_line("order-writer", rec))
        })
        .unwrap();
        assert_eq!((r.handled, r.failed, r.dead_lettered, r.ended), (28, 1, 1, Ended::CaughtUp));
        let s = &q.settled.borrow()[0];
        assert!(!s.acked.contains(&"3-0".to_owned()) && !s.acked.contains(&"2-0".to_owned()));
        assert_eq!(s.failed, vec![("3-0".to_owned(), "store failed: throttled".to_owned())]);
        assert_eq!(s.dead, vec![("2-0".to_owned(), "malformed message: not JSON".to_owned())]);
        let line: serde_json::Value = serde_json::from_str(&lines[3]).unwrap();
        assert_eq!(line["outcome"], "will-retry");
        assert_eq!(line["reason"], "store failed: throttled");
        assert_eq!(line["component"], "order-writer");
    }

    #[test]
    fn a_batch_that_fails_whole_pauses_the_drain() {
        let q = ListQueue::of(10..40);
        let r = drain(&q, &TestClock::at(0), limits(10, 100), poison(0), |_| {}).unwrap();
        assert_eq!((r.handled, r.failed, r.batches, r.ended), (0, 10, 1, Ended::Paused));
        assert_eq!(*q.stops.borrow(), vec![Next::Stop(Stop::Pause)], "the queue is told, so it releases the bell");
        assert_eq!(q.pending.borrow().len(), 20, "the backlog behind it is not burnt through");
    }

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
