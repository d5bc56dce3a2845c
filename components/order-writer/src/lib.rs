//! order-writer: drains its consumer group of the orders topic into the `orders`
//! key-value store, each order under `accountid#vendorid` (newer wins, duplicates are
//! harmless). Any message on the doorbell channel wakes it; what it handles is what
//! its group has not yet acknowledged. One JSON log line per message.

use order_core::delivery::drain;
use order_core::ports::SystemClock;
use order_core::store_order;
use spin_ports::{topic, BatchStore};
use spin_sdk::redis_component;

const GROUP: &str = "order-writer";
/// Batches per invocation at most, so one doorbell cannot hold the trigger for long.
const MAX_BATCHES: usize = 50;

#[redis_component]
fn on_message(_doorbell: Vec<u8>) -> anyhow::Result<()> {
    let store = BatchStore::open("orders")?;
    let (queue, batch) = topic::open_group(GROUP).map_err(anyhow::Error::msg)?;
    let handle = |batch: &[&[u8]]| store_order::handle_batch(batch, &store);
    drain(&queue, &SystemClock, batch, MAX_BATCHES, handle, |r| spin_ports::log(&r.log_line(GROUP)))?;
    Ok(())
}
