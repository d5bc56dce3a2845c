//! order-writer: drains its consumer group of the orders topic into the `orders`
//! key-value store, each order under `accountid#vendorid` (newer wins, duplicates are
//! harmless). Woken by a doorbell naming its group, or by its retry clock. One JSON log
//! line per message.

use order_core::store_order;
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    spin_ports::consumer::run(&message, "order-writer", "orders", store_order::handle_batch)
}
