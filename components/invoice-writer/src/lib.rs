//! invoice-writer: drains its consumer group of the orders topic into the `invoices`
//! store, one invoice document per accepted order. Woken by a doorbell naming its
//! group, or by its retry clock. One JSON log line per message.

use order_core::write_invoice;
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    spin_ports::consumer::run(&message, "invoice-writer", "invoices", write_invoice::handle_batch)
}
