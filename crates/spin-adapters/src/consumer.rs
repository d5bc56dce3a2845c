//! The whole life of a consumer invocation, shared by order-writer and invoice-writer:
//! a message on the Redis trigger (a doorbell naming the group, or the group's retry
//! clock expiring), or a call of the group's drain endpoint on the HTTP-only platforms,
//! drains the group into one key-value store.

use order_core::delivery::drain::{drain, Ended, Handler, Record};
use order_core::delivery::handled::{Failure, Handled};
use order_core::delivery::spans::Tracing;
use order_core::delivery::wake::BELL_LEASE_MS;
use order_core::handlers::drain_request;
use order_core::http::respond;
use order_core::log::{message_line, retry_clock_line, server_warning_line};
use order_core::model::clock::{Clock, SystemClock};
use order_core::ports::drain_calls::DrainCalls;
use order_core::ports::queue::{ClockCheck, Contact, Next, Queue, Settlement, Stop};
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

/// Drains the group on every partition of the topic. Returns the group itself to ring
/// when a drain stopped at its limit with work left and took the bell for the next
/// invocation, where the doorbell is on HTTP (on Redis the script has rung, or, on a
/// partition other than 0, this forwards the ring to partition 0's channel).
///
/// With several partitions each gets an equal share of the drain's budget, partition 0
/// last. The other partitions' retry clocks and bell leases expire unheard (only
/// partition 0's keyspace is heard), so partition 0 keeps a timer for them, a key of
/// its own that no script of partition 0 touches (`<stream>:wake-others:<group>`,
/// [`keep_clock_for_partitions`]): one visibility timeout away before the drain (so a
/// consumer that dies mid-drain is followed by another), and after it when the soonest
/// of the other partitions' own timers expires. A ring forwarded from them keeps it
/// within the bell's lease. A partition that cannot be reached is logged and left to
/// that timer; the others drain as usual.
fn drain_group(group: &str, label: &str, handle_batch: impl HandleBatch) -> anyhow::Result<DrainCalls> {
    let (queues, config) = open_group(group).map_err(anyhow::Error::msg)?;
    let control = &queues[0];
    if queues.len() > 1 {
        // Before anything: a consumer that dies in this drain is followed by another.
        keep_clock_for_partitions(control, group, config.visibility_timeout_ms, false);
    }
    let store = match store::open_beside(label, control.redis().clone()) {
        Ok(store) => store,
        Err(e) => {
            // The pause arms the retry clock. On a Redis no consumer has met yet it is
            // also the first contact, so the clock's notifications are turned on here,
            // or its timer would expire unheard.
            if let Ok(claimed) = control.exchange(&Settlement::default(), Next::Stop(Stop::Pause), Contact::First) {
                check_clock(control, group, claimed.check_clock);
            }
            return Err(e.into());
        }
    };
    let tracer = crate::tracer();
    let tracing =
        Tracing { tracer: &tracer, group, system: crate::topic::MESSAGING, max_deliveries: config.max_deliveries };
    let mut handler = Logged { group, store: &store, handle_batch, lines: String::new() };
    let limits = config.limits().shared(queues.len());
    let mut handed_over = false;
    // Partitions other than 0 that stopped at their limit and took their bell get one
    // ring on partition 0's channel for all of them, unless partition 0's own drain rang.
    let (mut forward, mut control_rang) = (false, false);
    // When the other partitions' retry clocks expire, the soonest: partition 0's
    // `wake-others` timer is kept to it.
    let mut clock_ms: Option<u64> = None;
    let mut want_clock = |ms: u64| clock_ms = Some(clock_ms.map_or(ms, |c| c.min(ms)));
    // Partition 0 last; each has its own share of the budget, so the order starves none.
    for queue in queues.iter().skip(1).chain(std::iter::once(control)) {
        let drained = drain(queue, &SystemClock, limits, &tracing, &mut handler);
        handler.flush();
        let report = match drained {
            Ok(report) => report,
            Err(e) if queues.len() > 1 && queue.partition() != 0 => {
                eprintln!("{group}: partition {} was not drained: {e}", queue.partition());
                want_clock(config.visibility_timeout_ms);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        check_clock(queue, group, report.check_clock);
        // A drain that stopped at its limit with work left took its own bell to ring again.
        if report.ended == (Ended::Limit { rang: true }) {
            handed_over = true;
            control_rang |= queue.partition() == 0;
            forward |= queue.forwards_rings();
        }
        if queue.partition() != 0 {
            match queue.own_timer_ms() {
                Ok(Some(ms)) => want_clock(ms),
                Ok(None) => {}
                Err(_) => want_clock(config.visibility_timeout_ms),
            }
        }
    }
    // A forwarded ring keeps the timer within the bell's lease, as a ring lost on its way
    // would be followed by its bell's expiry.
    let ring = forward && !control_rang;
    let ms = if ring { Some(clock_ms.map_or(BELL_LEASE_MS, |ms| ms.min(BELL_LEASE_MS))) } else { clock_ms };
    if let Some(ms) = ms {
        keep_clock_for_partitions(control, group, ms, ring);
    }
    Ok(control.doorbell().drain_calls(if handed_over { vec![group.to_owned()] } else { vec![] }))
}

/// Keeps partition 0's timer for the group's other partitions within `ms`, and with
/// `ring` rings the group on partition 0's channel ([`GroupQueue::keep_others_timer`]):
/// the timer's expiry drains every partition. Nothing where the doorbell is on HTTP,
/// where no timer is heard and the caller calls the drain endpoint instead.
fn keep_clock_for_partitions(control: &GroupQueue, group: &str, ms: u64, ring: bool) {
    if control.doorbell() != Doorbell::Redis {
        return;
    }
    if let Err(e) = control.keep_others_timer(ms, ring) {
        eprintln!("{group}: partition 0's timer (and ring) for the other partitions failed: {e}");
    }
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

/// When the queue asked (`wanted`: its first contact with this run of Redis, or the
/// clock armed, at most once a minute), checks that the retry clock can fire, turning on
/// what it needs, and logs the outcome (only the Redis trigger hears the clock, and only
/// on partition 0); and logs a warning when Redis may evict what the pipeline keeps.
fn check_clock(queue: &GroupQueue, group: &str, wanted: Option<ClockCheck>) {
    let Some(check) = wanted else {
        return;
    };
    if queue.doorbell() == Doorbell::Redis && queue.partition() == 0 {
        log(&retry_clock_line(group, SystemClock.now_ms(), &queue.check_clock(&check)));
    } else if queue.partition() != 0 {
        let _ = queue.record_clock_forwarded(&check);
    }
    if let Some(warning) = queue.eviction_warning() {
        log(&server_warning_line(group, SystemClock.now_ms(), crate::topic::MESSAGING, &warning));
    }
}
