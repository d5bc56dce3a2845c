//! invoice-writer: drains its consumer group of the orders topic into the `invoices`
//! store, one invoice document per accepted order. Any message on the doorbell channel
//! wakes it; what it handles is what its group has not yet acknowledged. One JSON log
//! line per message.

use order_core::delivery::drain;
use order_core::ports::SystemClock;
use order_core::write_invoice;
use spin_ports::{topic, BatchStore};
use spin_sdk::redis_component;

const GROUP: &str = "invoice-writer";
/// Batches per invocation at most, so one doorbell cannot hold the trigger for long.
const MAX_BATCHES: usize = 50;

#[redis_component]
fn on_message(_doorbell: Vec<u8>) -> anyhow::Result<()> {
    let store = BatchStore::open("invoices")?;
    let (queue, batch) = topic::open_group(GROUP).map_err(anyhow::Error::msg)?;
    let handle = |batch: &[&[u8]]| write_invoice::handle_batch(batch, &store);
    drain(&queue, &SystemClock, batch, MAX_BATCHES, handle, |r| spin_ports::log(&r.log_line(GROUP)))?;
    Ok(())
}
