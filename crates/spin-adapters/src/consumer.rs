//! The whole life of a consumer invocation, shared by order-writer and invoice-writer:
//! a message on the Redis trigger (a doorbell naming the group, or the group's retry
//! clock expiring), or a call of the group's drain endpoint on the HTTP-only platforms,
//! drains the group into one key-value store.

use order_core::delivery::drain::{Handler, Record, Report};
use order_core::delivery::handled::{Failure, Handled};
use order_core::delivery::partitions::{drain_partitions, follow_others, Partition, PartitionHandler};
use order_core::delivery::spans::Tracing;
use order_core::handlers::drain_request;
use order_core::http::respond;
use order_core::log::{message_line, retry_clock_line, server_warning_line};
use order_core::model::clock::{Clock, SystemClock};
use order_core::ports::drain_calls::DrainCalls;
use order_core::ports::queue::{ClockCheck, Contact, Next, Queue, Settlement, Stop};
use order_core::ports::PortError;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

use crate::http::{answer, answer_then, read_request, to_spin};
use crate::store::{self, Store};
use crate::topic::queue::{open_group, GroupQueue};
use crate::wake::{self, Doorbell};
use crate::{log, log_lines, variable};

/// A batch handler: one result per payload, in order.
pub trait HandleBatch: Fn(&[&[u8]], &Store) -> Vec<Result<Handled, Failure>> {}
impl<F: Fn(&[&[u8]], &Store) -> Vec<Result<Handled, Failure>>> HandleBatch for F {}

/// Drains `group` into the store `label` with `handle_batch`, if `message` is for this
/// group (anything else returns at once, without opening Redis). One JSON log line per
/// message, and one when the retry clock was checked. An `Err` (Redis or the store
/// cannot be opened, a variable is unusable) is Spin's "handler failed": what was
/// claimed stays pending and comes back on the retry clock. A store that will not open
/// pauses the group first, so the clock is set even when this wake was its last tick.
pub fn run(message: &[u8], group: &str, label: &str, handle_batch: impl HandleBatch) -> anyhow::Result<()> {
    if !crate::wake::reason(message).wakes(group) {
        return Ok(());
    }
    drain_group(group, label, handle_batch).map(drop)
}

/// `POST /drain/<group>` (see `order_core::handlers::drain_request`): answers `202` (or
/// the refusal) first, then drains as [`run`] does. A drain that stops at its budget with
/// work left calls the endpoint again for a fresh invocation, when the doorbell is on
/// HTTP. A failure after the answer goes to stderr, as Spin logs a failed handler.
pub async fn serve_drain(
    req: IncomingRequest,
    out: ResponseOutparam,
    group: &str,
    label: &str,
    handle_batch: impl HandleBatch,
) {
    let started = std::time::Instant::now();
    let req = match read_request(req).await {
        Ok(req) => req,
        Err(problem) => return answer_then(out, to_spin(problem.into_response())).await,
    };
    let resp = respond(drain_request::handle(&req, group, variable("drain_token")));
    let accepted = resp.status == 202;
    answer_then(out, answer(group, &drain_request::path(group), &req, resp, started)).await;
    if !accepted {
        return;
    }
    match drain_group(group, label, handle_batch) {
        Ok(drain_calls) => {
            wake::ring(group, &drain_calls).await;
        }
        Err(e) => eprintln!("{e}"),
    }
}

/// Drains the group on every partition of the topic
/// ([`order_core::delivery::partitions`]). Returns the group itself to ring when a drain
/// stopped at its limit with work left and took the bell for the next invocation, where
/// the doorbell is on HTTP (on Redis the script has rung, or, on a partition other than
/// 0, partition 0's channel has had the ring forwarded). A partition other than 0 that
/// cannot be reached is logged; partition 0 unreachable is the invocation's failure.
fn drain_group(group: &str, label: &str, handle_batch: impl HandleBatch) -> anyhow::Result<DrainCalls> {
    let (queues, config) = open_group(group).map_err(anyhow::Error::msg)?;
    let control = &queues[0];
    let store = match store::open_beside(label, control.redis().clone()) {
        Ok(store) => store,
        Err(e) => {
            // The pause arms the retry clock. On a Redis no consumer has met yet it is
            // also the first contact, so the clock's notifications are turned on here,
            // or its timer would expire unheard. The other partitions, whose work may
            // be what woke this, are followed by partition 0's timer for them.
            if let Ok(claimed) = control.exchange(&Settlement::default(), Next::Stop(Stop::Pause), Contact::First) {
                check_clock(control, group, claimed.check_clock);
            }
            if let Err(timer) = follow_others(&queues, config.visibility_timeout_ms) {
                eprintln!("{group}: partition 0's timer for the other partitions failed: {timer}");
            }
            return Err(e.into());
        }
    };
    let tracer = crate::tracer();
    let tracing =
        Tracing { tracer: &tracer, group, system: crate::topic::MESSAGING, max_deliveries: config.max_deliveries };
    let mut handler = Logged { group, store: &store, handle_batch, lines: String::new() };
    let drained =
        drain_partitions(&queues, config.visibility_timeout_ms, &SystemClock, config.limits(), &tracing, &mut handler);
    for e in &drained.timer_failures {
        eprintln!("{group}: partition 0's timer (and ring) for the other partitions failed: {e}");
    }
    if let Some(e) = drained.control_failure {
        return Err(e.into());
    }
    Ok(control.doorbell().drain_calls(if drained.handed_over { vec![group.to_owned()] } else { vec![] }))
}

/// The consumer's batch handler, logging each message. A batch's log lines (one per
/// message) go out in one write, before the next batch is handled and when the drain
/// ends: Spin hands each write to a thread of its own.
struct Logged<'a, H> {
    group: &'a str,
    store: &'a Store,
    handle_batch: H,
    lines: String,
}

impl<H: HandleBatch> Logged<'_, H> {
    fn flush(&mut self) {
        if !self.lines.is_empty() {
            log_lines(&self.lines);
            self.lines.clear();
        }
    }
}

impl<H: HandleBatch> Handler for Logged<'_, H> {
    fn handle_batch(&mut self, payloads: &[&[u8]]) -> Vec<Result<Handled, Failure>> {
        self.flush();
        (self.handle_batch)(payloads, self.store)
    }

    fn record(&mut self, record: &Record) {
        self.lines.push_str(&message_line(self.group, record));
        self.lines.push('\n');
    }
}

/// After each partition's drain: its log lines out, its retry clock checked when it
/// asked, and a partition other than 0 that could not be reached logged (partition 0's
/// failure is the invocation's, returned by [`drain_group`]).
impl<H: HandleBatch> PartitionHandler<GroupQueue> for Logged<'_, H> {
    fn drained(&mut self, queue: &GroupQueue, result: &Result<Report, PortError>) {
        self.flush();
        match result {
            Ok(report) => check_clock(queue, self.group, report.check_clock.clone()),
            Err(e) if queue.index() != 0 => {
                eprintln!("{}: partition {} was not drained: {e}", self.group, queue.index())
            }
            Err(_) => {}
        }
    }
}

/// When the queue asked (`wanted`: its first contact with this run of Redis, or the
/// clock armed, at most once a minute), checks that the retry clock can fire, turning on
/// what it needs, and logs the outcome (only the Redis trigger hears the clock, and only
/// on partition 0); and logs a warning when Redis may evict what the pipeline keeps.
fn check_clock(queue: &GroupQueue, group: &str, wanted: Option<ClockCheck>) {
    let Some(check) = wanted else {
        return;
    };
    if queue.doorbell() == Doorbell::Redis && queue.index() == 0 {
        log(&retry_clock_line(group, SystemClock.now_ms(), &queue.check_clock(&check)));
    } else if queue.index() != 0 {
        let _ = queue.record_clock_forwarded(&check);
    }
    if let Some(warning) = queue.eviction_warning() {
        log(&server_warning_line(group, SystemClock.now_ms(), crate::topic::MESSAGING, &warning));
    }
}
