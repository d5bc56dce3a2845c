//! invoice-writer: drains its consumer group of the orders topic into the invoice
//! store, one invoice document per accepted order: in the `invoices` key-value store, or
//! as an object in an S3-compatible bucket (`invoice_store = "s3"`), its index entries
//! in `invoices` either way. Woken by a doorbell naming its group or by its retry clock
//! (the Redis trigger), or, where no Redis trigger runs, by a call of
//! `POST /drain/invoice-writer`. One JSON log line per message.

use order_core::delivery::handled::{Failure, Handled};
use order_core::handlers::write_invoice;
use order_core::ports::ObjectStore;
use spin_ports::{objects, store::Store};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::{http_component, redis_component};

const GROUP: &str = "invoice-writer";

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    spin_ports::consumer::run(&message, GROUP, "invoices", write)
}

#[http_component]
async fn on_drain_request(req: IncomingRequest, out: ResponseOutparam) {
    spin_ports::consumer::serve_drain(req, out, GROUP, "invoices", write).await
}

fn write(payloads: &[&[u8]], invoices: &Store) -> Vec<Result<Handled, Failure>> {
    match objects::open() {
        Ok(objects) => {
            write_invoice::handle_batch_with(payloads, invoices, objects.as_ref().map(|o| o as &dyn ObjectStore))
        }
        Err(e) => write_invoice::fail_batch(payloads, &e),
    }
}
