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

use std::time::Instant;

use serde::Serialize;

use crate::envelope::rfc3339_ms;
use crate::ports::{Clock, PortError};

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

/// One consumer group's view of the topic.
pub trait Queue {
    /// Settles the previous batch, then claims up to `max` messages (none when `max`
    /// is 0), in one round trip: first those pending past the visibility timeout
    /// (redeliveries), then new ones. Messages past the delivery limit are moved to the
    /// dead-letter log by the queue itself and not returned.
    fn exchange(&self, settle: &Settlement, max: usize) -> Result<Vec<Delivery>, PortError>;
    /// Asks for another invocation soon (rings the doorbell): used when a drain stops
    /// at its batch limit with work left.
    fn wake(&self) -> Result<(), PortError>;
}

/// The ids a log line carries for a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageMeta {
    pub message_id: String,
    pub trace_id: String,
    pub accountid: String,
    pub vendorid: String,
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
    pub fn store(e: &crate::envelope::Envelope, error: PortError) -> Failure {
        Failure::Store { meta: e.meta(), error }
    }
}

/// Reads a batch's payloads; an unreadable one is `Malformed`, in its place.
pub fn envelopes(payloads: &[&[u8]]) -> Vec<Result<crate::envelope::Envelope, Failure>> {
    payloads.iter().map(|p| crate::envelope::Envelope::from_bytes(p).map_err(Failure::Malformed)).collect()
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Malformed(why) => write!(f, "malformed message: {why}"),
            Failure::Store { error, .. } => write!(f, "store failed: {error}"),
        }
    }
}

/// One message's handling, for the log.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub delivery: &'a Delivery,
    pub result: &'a Result<Handled, Failure>,
    /// The batch's handling time, shared out evenly.
    pub duration_ms: f64,
    /// When the batch's handling began (the line's time stamp).
    pub now_ms: u64,
}

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub handled: usize,
    pub failed: usize,
    pub dead_lettered: usize,
    pub batches: usize,
    /// Stopped at the batch limit with work left, and asked to be woken again.
    pub woke: bool,
}

/// Drains up to `max_batches` batches of `batch` messages, one round trip to the queue
/// per batch (settle the last, claim the next): handles each, and stops early when a batch comes back short (the group is caught up) or
/// has a failure (the store is likely down: let the visibility timeout pace retries).
/// Stopped by the limit with work left, it wakes the queue, so a backlog drains in
/// consecutive invocations without holding the trigger in one.
/// `on_record` sees every message's handling (for the log).
pub fn drain(
    queue: &impl Queue,
    clock: &impl Clock,
    batch: usize,
    max_batches: usize,
    mut handle_batch: impl FnMut(&[&[u8]]) -> Vec<Result<Handled, Failure>>,
    mut on_record: impl FnMut(&Record),
) -> Result<Report, PortError> {
    let mut report = Report::default();
    let mut settlement = Settlement::default();
    let mut more = true;
    loop {
        let want = if more && report.batches < max_batches { batch } else { 0 };
        let deliveries = queue.exchange(&settlement, want)?;
        report.handled += settlement.acked.len();
        report.failed += settlement.failed.len();
        report.dead_lettered += settlement.dead.len();
        settlement = Settlement::default();
        if deliveries.is_empty() {
            break;
        }
        report.batches += 1;
        let started = Instant::now();
        let began_ms = clock.now_ms();
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
        more = deliveries.len() == batch && settlement.failed.is_empty();
    }
    if more && report.batches == max_batches {
        queue.wake()?;
        report.woke = true;
    }
    Ok(report)
}

impl Record<'_> {
    /// The structured log line for this message: one JSON object.
    pub fn log_line(&self, component: &str) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            ts: String,
            component: &'a str,
            event: &'static str,
            outcome: &'a str,
            #[serde(flatten)]
            meta: Option<&'a MessageMeta>,
            entry: &'a str,
            deliveries: u32,
            duration_ms: f64,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<String>,
        }
        let (outcome, meta, detail, reason) = match self.result {
            Ok(h) => (h.outcome, Some(&h.meta), Some(h.detail.as_str()), None),
            Err(f @ Failure::Malformed(_)) => ("dead-lettered", None, None, Some(f.to_string())),
            Err(f @ Failure::Store { meta, .. }) => ("will-retry", Some(meta), None, Some(f.to_string())),
        };
        serde_json::to_string(&Line {
            ts: rfc3339_ms(self.now_ms),
            component,
            event: "message",
            outcome,
            meta,
            entry: &self.delivery.entry,
            deliveries: self.delivery.deliveries,
            duration_ms: (self.duration_ms * 1000.0).round() / 1000.0,
            detail,
            reason,
        })
        .expect("a log line serializes")
    }
}

/// Settings of a consumer group, from the component's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub batch: usize,
    pub visibility_timeout_ms: u64,
    pub max_deliveries: u32,
}

impl GroupConfig {
    /// Batch 1-100, visibility timeout 1 ms to 1 hour, delivery limit 1-100. The error
    /// names the variable.
    pub fn from_variables(batch: &str, visibility_ms: &str, max_deliveries: &str) -> Result<GroupConfig, String> {
        fn num<T: std::str::FromStr + PartialOrd>(name: &str, v: &str, lo: T, hi: T) -> Result<T, String> {
            match v.trim().parse::<T>() {
                Ok(n) if n >= lo && n <= hi => Ok(n),
                _ => Err(format!("variable `{name}` must be a whole number in range, not `{v}`")),
            }
        }
        Ok(GroupConfig {
            batch: num("batch_size", batch, 1, 100)?,
            visibility_timeout_ms: num("visibility_timeout_ms", visibility_ms, 1, 3_600_000)?,
            max_deliveries: num("max_deliveries", max_deliveries, 1, 100)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::TestClock;
    use std::cell::RefCell;

    /// A queue over a list: claims in order, records settlements.
    struct ListQueue {
        pending: RefCell<Vec<Delivery>>,
        settled: RefCell<Vec<Settlement>>,
        woken: std::cell::Cell<u32>,
    }

    impl ListQueue {
        fn of(n: usize) -> ListQueue {
            let pending =
                (0..n).map(|i| Delivery { entry: format!("{i}-0"), deliveries: 1, payload: vec![i as u8] }).collect();
            ListQueue { pending: RefCell::new(pending), settled: RefCell::default(), woken: Default::default() }
        }
    }

    impl Queue for ListQueue {
        fn exchange(&self, s: &Settlement, max: usize) -> Result<Vec<Delivery>, PortError> {
            if *s != Settlement::default() {
                self.settled.borrow_mut().push(s.clone());
            }
            let mut p = self.pending.borrow_mut();
            let n = max.min(p.len());
            Ok(p.drain(..n).collect())
        }
        fn wake(&self) -> Result<(), PortError> {
            self.woken.set(self.woken.get() + 1);
            Ok(())
        }
    }

    fn ok(batch: &[&[u8]]) -> Vec<Result<Handled, Failure>> {
        batch
            .iter()
            .map(|_| Ok(Handled { meta: MessageMeta::default(), outcome: "stored", detail: String::new() }))
            .collect()
    }

    #[test]
    fn drains_in_batches_until_caught_up() {
        let q = ListQueue::of(25);
        let r = drain(&q, &TestClock::at(0), 10, 100, ok, |_| {}).unwrap();
        assert_eq!(r, Report { handled: 25, batches: 3, ..Report::default() });
        assert_eq!(q.woken.get(), 0, "caught up: no need to be woken");
        assert_eq!(q.settled.borrow().iter().map(|s| s.acked.len()).collect::<Vec<_>>(), vec![10, 10, 5]);
    }

    #[test]
    fn a_backlog_past_the_batch_limit_wakes_the_next_invocation() {
        let q = ListQueue::of(35);
        let r = drain(&q, &TestClock::at(0), 10, 2, ok, |_| {}).unwrap();
        assert_eq!(r, Report { handled: 20, batches: 2, woke: true, ..Report::default() });
        assert_eq!(q.woken.get(), 1);
        let r = drain(&q, &TestClock::at(0), 10, 2, ok, |_| {}).unwrap();
        assert_eq!((r.handled, r.woke), (15, false), "the rest, then caught up");
    }

    #[test]
    fn failures_stay_pending_malformed_is_dead_and_draining_pauses() {
        let q = ListQueue::of(30);
        let handle = |batch: &[&[u8]]| {
            batch
                .iter()
                .map(|p| match p[0] {
                    3 => Err(Failure::Malformed("not JSON".into())),
                    4 => Err(Failure::Store { meta: MessageMeta::default(), error: PortError("throttled".into()) }),
                    _ => ok(&[p]).remove(0),
                })
                .collect()
        };
        let mut lines = Vec::new();
        let r = drain(&q, &TestClock::at(0), 10, 100, handle, |rec| lines.push(rec.log_line("order-writer"))).unwrap();
        assert_eq!(
            r,
            Report { handled: 8, failed: 1, dead_lettered: 1, batches: 1, woke: false },
            "pauses when failing"
        );
        assert_eq!(q.woken.get(), 0, "a failing batch does not wake: the visibility timeout paces retries");
        let s = &q.settled.borrow()[0];
        assert!(!s.acked.contains(&"4-0".to_owned()) && !s.acked.contains(&"3-0".to_owned()));
        assert_eq!(s.failed, vec![("4-0".to_owned(), "store failed: throttled".to_owned())]);
        assert_eq!(s.dead, vec![("3-0".to_owned(), "malformed message: not JSON".to_owned())]);
        let line: serde_json::Value = serde_json::from_str(&lines[4]).unwrap();
        assert_eq!(line["outcome"], "will-retry");
        assert_eq!(line["reason"], "store failed: throttled");
        assert_eq!(line["component"], "order-writer");
    }

    #[test]
    fn config_bounds_name_the_variable() {
        assert_eq!(
            GroupConfig::from_variables("10", "30000", "5"),
            Ok(GroupConfig { batch: 10, visibility_timeout_ms: 30_000, max_deliveries: 5 })
        );
        assert!(GroupConfig::from_variables("0", "30000", "5").unwrap_err().contains("batch_size"));
        assert!(GroupConfig::from_variables("10", "x", "5").unwrap_err().contains("visibility_timeout_ms"));
        assert!(GroupConfig::from_variables("10", "1", "101").unwrap_err().contains("max_deliveries"));
    }
}
