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
//! Handlers must therefore be idempotent, and they are: `handlers::store_order` and
//! `handlers::write_invoice` rewrite the same bytes for a duplicate and never let an
//! older message overwrite a newer one.
//!

use crate::delivery::handled::{Failure, Handled};
use crate::delivery::spans::Tracing;
use crate::model::clock::Clock;
use crate::ports::error::PortError;
use crate::ports::queue::{ClockCheck, Contact, Delivery, Next, Queue, Settlement, Stop};
use crate::ports::tracer::Tracer;

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

impl Limits {
    /// Each one's share where `n` drains split one invocation's budget (one per
    /// partition of the topic): the batches and the time, at least one batch and 1 ms.
    pub fn shared(self, n: usize) -> Limits {
        let n = n.max(1);
        Limits { max_batches: (self.max_batches / n).max(1), max_ms: (self.max_ms / n as u64).max(1), ..self }
    }
}

/// One message's handling, for the log (`log::message_line`).
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
    pub check_clock: Option<ClockCheck>,
    /// The drain ended with entries pending and set the retry clock: it fires in this
    /// many ms ([`Claimed::timer_ms`](crate::ports::queue::Claimed::timer_ms)).
    pub timer_ms: Option<u64>,
}

/// What a drain hands its batches to: it handles each batch, and hears how each message
/// went (for the log), after its batch is handled and before the next one is.
pub trait Handler {
    /// One result per payload, in order.
    fn handle_batch(&mut self, payloads: &[&[u8]]) -> Vec<Result<Handled, Failure>>;
    /// One message's handling.
    fn record(&mut self, record: &Record);
}

/// A batch handler and a record listener, as two closures (the tests' handlers).
#[cfg(test)]
impl<H, R> Handler for (H, R)
where
    H: FnMut(&[&[u8]]) -> Vec<Result<Handled, Failure>>,
    R: FnMut(&Record),
{
    fn handle_batch(&mut self, payloads: &[&[u8]]) -> Vec<Result<Handled, Failure>> {
        (self.0)(payloads)
    }
    fn record(&mut self, record: &Record) {
        (self.1)(record)
    }
}

/// Drains the group: one round trip to the queue per batch (settle the last, claim the
/// next), handling each batch with `handle_batch`, until the queue says nothing more
/// is claimable, or a limit is reached, or a whole batch fails (the store is likely
/// down: pause, and let the retry clock pace the retries; a batch where only some
/// messages fail goes on, so one poison message does not hold back the rest).
/// `handler` hears every message's handling (for the log); `tracing` records it as
/// spans ([`crate::delivery::spans`]).
pub fn drain(
    queue: &impl Queue,
    clock: &impl Clock,
    limits: Limits,
    tracing: &Tracing<impl Tracer>,
    handler: &mut impl Handler,
) -> Result<Report, PortError> {
    let started_ms = clock.now_ms();
    let invocation = tracing.tracer.invocation();
    let mut report = Report::default();
    let mut settlement = Settlement::default();
    let mut next = Next::Claim(limits.batch);
    let mut contact = Contact::First;
    loop {
        let claimed = queue.exchange(&settlement, next, contact)?;
        contact = Contact::Again;
        report.handled += settlement.acked.len();
        report.failed += settlement.failed.len();
        report.dead_lettered += settlement.dead.len();
        report.check_clock = claimed.check_clock.or(report.check_clock);
        report.timer_ms = claimed.timer_ms;
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
            let spans = tracing.begin(invocation.as_ref(), clock, &deliveries);
            let results = handler.handle_batch(&payloads);
            assert_eq!(results.len(), deliveries.len(), "a batch handler answers for every message");
            if let Some(spans) = spans {
                tracing.finish(spans, clock, &deliveries, &results);
            }
            let duration_ms = started.elapsed().as_secs_f64() * 1000.0 / deliveries.len() as f64;
            for (d, result) in deliveries.iter().zip(&results) {
                handler.record(&Record { delivery: d, result, duration_ms, now_ms: began_ms });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::handled::MessageMeta;
    use crate::delivery::spans::OFF;
    use crate::ports::queue::Claimed;
    use crate::testing::clock::TestClock;
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
        fn exchange(&self, s: &Settlement, next: Next, _: Contact) -> Result<Claimed, PortError> {
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
            Ok(Claimed {
                deliveries,
                more,
                check_clock: None,
                rang: matches!(next, Next::Stop(Stop::Limit)) && more,
                timer_ms: None,
            })
        }
        fn check_clock(&self, _: &ClockCheck) -> Result<(), String> {
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
        let r = drain(&q, &TestClock::at(0), limits(10, 100), &OFF, &mut (ok, |_: &Record| {})).unwrap();
        assert_eq!(r, Report { handled: 25, batches: 3, ended: Ended::CaughtUp, ..Report::default() });
        assert_eq!(q.settled.borrow().iter().map(|s| s.acked.len()).collect::<Vec<_>>(), vec![10, 10, 5]);
        assert!(q.stops.borrow().is_empty(), "caught up: the last exchange claimed nothing and ended it");
    }

    #[test]
    fn a_short_batch_is_not_the_end_when_more_is_waiting() {
        // Batches shortened by skipped entries (a redrive for another group) in front
        // of the backlog: the drain goes on while the queue says more is waiting.
        let q = ListQueue::of([255; 25].into_iter().chain(1..=7));
        let r = drain(&q, &TestClock::at(0), limits(10, 100), &OFF, &mut (ok, |_: &Record| {})).unwrap();
        assert_eq!((r.handled, r.ended), (7, Ended::CaughtUp));
        assert!(q.pending.borrow().is_empty());
    }

    #[test]
    fn a_backlog_past_the_limit_hands_over_by_ringing() {
        let q = ListQueue::of(0..35);
        let r = drain(&q, &TestClock::at(0), limits(10, 2), &OFF, &mut (ok, |_: &Record| {})).unwrap();
        assert_eq!(r, Report { handled: 20, batches: 2, ended: Ended::Limit { rang: true }, ..Report::default() });
        assert_eq!(*q.stops.borrow(), vec![Next::Stop(Stop::Limit)]);
        let r = drain(&q, &TestClock::at(0), limits(10, 2), &OFF, &mut (ok, |_: &Record| {})).unwrap();
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
        let r = drain(
            &q,
            &clock,
            Limits { batch: 10, max_batches: 100, max_ms: 100, linger_ms: 0 },
            &OFF,
            &mut (slow, |_: &Record| {}),
        )
        .unwrap();
        assert_eq!((r.handled, r.ended), (30, Ended::Limit { rang: true }));
    }

    #[test]
    fn a_short_batch_lingers_for_the_next_within_the_budget() {
        let lim = Limits { batch: 10, max_batches: 100, max_ms: 100, linger_ms: 30 };
        let q = ListQueue::of(0..5);
        let clock = TestClock::at(0);
        let r = drain(&q, &clock, lim, &OFF, &mut (ok, |_: &Record| {})).unwrap();
        assert_eq!((r.handled, r.ended), (5, Ended::CaughtUp));
        assert_eq!(clock.now_ms.get(), 30, "one linger after the short batch, then the empty claim ended it");
        let q = ListQueue::of(0..30);
        let r = drain(&q, &clock, lim, &OFF, &mut (ok, |_: &Record| {})).unwrap();
        assert_eq!((r.handled, clock.now_ms.get()), (30, 30), "full batches do not linger");
    }

    fn poison(p: u8) -> impl Fn(&[&[u8]]) -> Vec<Result<Handled, Failure>> {
        move |batch: &[&[u8]]| {
            batch
                .iter()
                .map(|m| match m[0] {
                    3 => Err(Failure::Malformed("not JSON".into())),
                    x if x == p || p == 0 => {
                        Err(Failure::Store { meta: MessageMeta::default(), error: PortError::unavailable("throttled") })
                    }
                    _ => ok(&[m]).remove(0),
                })
                .collect()
        }
    }

    #[test]
    fn one_failing_message_stays_pending_and_the_rest_goes_on() {
        let q = ListQueue::of(1..=30);
        let mut seen = Vec::new();
        let r = drain(
            &q,
            &TestClock::at(0),
            limits(10, 100),
            &OFF,
            &mut (poison(4), |rec: &Record| seen.push((rec.delivery.entry.clone(), rec.result.clone()))),
        )
        .unwrap();
        assert_eq!((r.handled, r.failed, r.dead_lettered, r.ended), (28, 1, 1, Ended::CaughtUp));
        let s = &q.settled.borrow()[0];
        assert!(!s.acked.contains(&"3-0".to_owned()) && !s.acked.contains(&"2-0".to_owned()));
        assert_eq!(s.failed, vec![("3-0".to_owned(), "store failed: throttled".to_owned())]);
        assert_eq!(s.dead, vec![("2-0".to_owned(), "malformed message: not JSON".to_owned())]);
        assert_eq!(seen.len(), 30, "every message's handling is seen, for the log");
        assert!(matches!(&seen[3], (entry, Err(Failure::Store { .. })) if entry == "3-0"), "{:?}", seen[3]);
    }

    #[test]
    fn partitions_share_one_budget() {
        let whole = Limits { batch: 100, max_batches: 40, max_ms: 250, linger_ms: 20 };
        assert_eq!(whole.shared(1), whole);
        assert_eq!(whole.shared(3), Limits { batch: 100, max_batches: 13, max_ms: 83, linger_ms: 20 });
        assert_eq!(
            Limits { max_batches: 1, max_ms: 1, ..whole }.shared(4),
            Limits { max_batches: 1, max_ms: 1, ..whole }
        );
    }

    #[test]
    fn a_batch_that_fails_whole_pauses_the_drain() {
        let q = ListQueue::of(10..40);
        let r = drain(&q, &TestClock::at(0), limits(10, 100), &OFF, &mut (poison(0), |_: &Record| {})).unwrap();
        assert_eq!((r.handled, r.failed, r.batches, r.ended), (0, 10, 1, Ended::Paused));
        assert_eq!(*q.stops.borrow(), vec![Next::Stop(Stop::Pause)], "the queue is told, so it releases the bell");
        assert_eq!(q.pending.borrow().len(), 20, "the backlog behind it is not burnt through");
    }

    #[test]
    fn every_message_of_every_batch_is_traced_when_a_tracer_exports() {
        use crate::delivery::spans::Tracing;
        use crate::model::envelope::Envelope;
        use crate::testing::fixtures::order;
        use crate::testing::tracer::RecordingTracer;
        let clock = TestClock::at(0);
        let pending = (0..3)
            .map(|i| Delivery {
                entry: format!("{i}-0"),
                deliveries: 1,
                payload: Envelope::new(order(), &clock, None).unwrap().to_bytes(),
            })
            .collect();
        let q = ListQueue { pending: RefCell::new(pending), ..ListQueue::default() };
        let tracer = RecordingTracer::exporting();
        let tracing = Tracing {
            tracer: &tracer,
            group: "order-writer",
            system: crate::testing::tracer::TEST_SYSTEM,
            max_deliveries: 5,
        };
        let r = drain(&q, &clock, limits(2, 100), &tracing, &mut (ok, |_: &Record| {})).unwrap();
        assert_eq!(r.handled, 3);
        let names: Vec<_> = tracer.spans().iter().map(|s| s.name.clone()).collect();
        assert_eq!(
            names,
            ["order-writer process", "order-writer process", "order-writer batch", "order-writer process"]
        );
        assert!(tracer.unended().is_empty());
    }
}
