//! order-writer: drains its consumer group of the orders topic into the `orders`
//! key-value store, each order under `accountid#vendorid` (newer wins, duplicates are
//! harmless). Woken by a doorbell naming its group or by its retry clock (the Redis
//! trigger), or, where no Redis trigger runs, by a call of `POST /drain/order-writer`.
//! One JSON log line per message.

use order_core::handlers::store_order;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::{http_component, redis_component};

const GROUP: &str = "order-writer";

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    spin_adapters::consumer::run(&message, GROUP, "orders", store_order::handle_batch)
}

#[http_component]
async fn on_drain_request(req: IncomingRequest, out: ResponseOutparam) {
    spin_adapters::consumer::serve_drain(req, out, GROUP, "orders", store_order::handle_batch).await
}
