//! invoice-writer: drains its consumer group of the orders topic into the invoice
//! store, one invoice document per accepted order: in the `invoices` key-value store, or
//! as an object in an S3-compatible bucket (`invoice_store = "s3"`), its index entries
//! in `invoices` either way. Woken by a doorbell naming its group or by its retry clock
//! (the Redis trigger), or, where no Redis trigger runs, by a call of
//! `POST /drain/invoice-writer`. One JSON log line per message.

use order_core::delivery::handled::{Failure, Handled};
use order_core::handlers::write_invoice;
use std::cell::OnceCell;

use order_core::ports::{ObjectStore, PortError};
use spin_adapters::{objects, store::Store};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::{http_component, redis_component};

const GROUP: &str = "invoice-writer";

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let bucket = OnceCell::new();
    spin_adapters::consumer::run(&message, GROUP, "invoices", |p: &[&[u8]], s: &Store| write(p, s, &bucket))
}

#[http_component]
async fn on_drain_request(req: IncomingRequest, out: ResponseOutparam) {
    let bucket = OnceCell::new();
    spin_adapters::consumer::serve_drain(req, out, GROUP, "invoices", |p: &[&[u8]], s: &Store| write(p, s, &bucket))
        .await
}

/// The bucket, if any: opened (its variables read) once per invocation, on the first
/// batch, not once per batch.
type Bucket = OnceCell<Result<Option<objects::S3Objects>, PortError>>;

fn write(payloads: &[&[u8]], invoices: &Store, bucket: &Bucket) -> Vec<Result<Handled, Failure>> {
    match bucket.get_or_init(objects::open) {
        Ok(objects) => {
            write_invoice::handle_batch_with(payloads, invoices, objects.as_ref().map(|o| o as &dyn ObjectStore))
        }
        Err(e) => write_invoice::fail_batch(payloads, e),
    }
}
