//! order-writer: every message on the orders channel is stored in the `orders`
//! key-value store under `accountid#vendorid` (newer wins, duplicates are harmless).
//!
//! A malformed message is logged and dropped: retrying cannot mend it. A store failure
//! is returned as an error, which Spin logs.

use order_core::store_order::{self, Failure, Outcome};
use spin_ports::SpinStore;
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let store = SpinStore::open("orders")?;
    match store_order::handle(&message, &store) {
        Ok(Outcome::Stored { key }) => println!("order-writer: stored {key}"),
        Ok(Outcome::Superseded { key, stored_id }) => {
            println!("order-writer: {key} already holds newer message {stored_id}; skipped")
        }
        Err(Failure::Malformed(why)) => eprintln!("order-writer: dropped malformed message: {why}"),
        Err(failure) => anyhow::bail!("order-writer: {failure}"),
    }
    Ok(())
}
