//! invoice-writer: every message on the orders channel becomes an invoice document in
//! the `invoices` store, one per accepted order.
//!
//! A malformed message is logged and dropped: retrying cannot mend it. A store failure
//! is returned as an error, which Spin logs.

use order_core::store_order::Failure;
use order_core::write_invoice;
use spin_ports::SpinStore;
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let store = SpinStore::open("invoices")?;
    match write_invoice::handle(&message, &store) {
        Ok(w) => println!(
            "invoice-writer: wrote {} as {}",
            w.invoice_number, w.document_key
        ),
        Err(Failure::Malformed(why)) => {
            eprintln!("invoice-writer: dropped malformed message: {why}")
        }
        Err(failure) => anyhow::bail!("invoice-writer: {failure}"),
    }
    Ok(())
}
