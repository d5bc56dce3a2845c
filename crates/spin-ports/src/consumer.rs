//! The whole life of a consumer invocation, shared by order-writer and invoice-writer:
//! a message on the trigger (a doorbell naming the group, or the group's retry clock
//! expiring) drains the group into one key-value store.

use order_core::delivery::{drain, wakes, Failure, Handled, Next, Queue, Settlement, Stop};
use order_core::log::{message_line, retry_clock_line};
use order_core::ports::{Clock, SystemClock};

use crate::{log, topic, BatchStore};

/// Drains `group` into the store `label` with `handle_batch`, if `message` is for this
/// group (anything else returns at once, without opening Redis). One JSON log line per
/// message, and one when the retry clock was checked. An `Err` (Redis or the store
/// cannot be opened, a variable is unusable) is Spin's "handler failed": what was
/// claimed stays pending and comes back on the retry clock. A store that will not open
/// pauses the group first, so the clock is set even when this wake was its last tick.
pub fn run(
    message: &[u8],
    group: &str,
    label: &str,
    handle_batch: impl Fn(&[&[u8]], &BatchStore) -> Vec<Result<Handled, Failure>>,
) -> anyhow::Result<()> {
    if !wakes(message, group) {
        return Ok(());
    }
    let (queue, config) = topic::open_group(group).map_err(anyhow::Error::msg)?;
    let store = match BatchStore::open(label) {
        Ok(store) => store,
        Err(e) => {
            let _ = queue.exchange(&Settlement::default(), Next::Stop(Stop::Pause));
            return Err(e.into());
        }
    };
    let report = drain(
        &queue,
        &SystemClock,
        config.limits(),
        |batch| handle_batch(batch, &store),
        |r| log(&message_line(group, r)),
    )?;
    if report.check_clock {
        log(&retry_clock_line(group, SystemClock.now_ms(), &queue.check_clock()));
    }
    Ok(())
}
