//! Spin's key-value stores, through `wasi:keyvalue` (Spin 3 and later), for their batch
//! write: on Spin's SQLite store `set_many` is one transaction, where
//! `fermyon:spin/key-value` costs a transaction per key. Same labels, same
//! `key_value_stores` capability.

use order_core::ports::{KeyValue, PortError};

const ACCESS_DENIED: &str = "access denied (the component does not list it in key_value_stores)";
const NO_SUCH_STORE: &str = "no such store";

fn open_error(label: &str, why: String) -> PortError {
    PortError(format!("key-value store `{label}`: {why}"))
}

/// A store opened through `wasi:keyvalue` (Spin 3 and later), for its batch write: on
/// Spin's SQLite store `set_many` is one transaction, where `fermyon:spin/key-value`
/// costs a transaction per key. Same labels, same `key_value_stores` capability. Reads
/// are single `get`s: `get_many` is never called, since Spin's Redis provider answers
/// it with `KEYS` (see [`crate::store`]).
pub struct BatchStore(kv::store::Bucket);

/// `wasi:keyvalue` (store, batch), bound from this repository's own `wit/` (world
/// `keyvalue-client`), so `wit/` is the contract and no private SDK module is used.
mod bindings {
    spin_sdk::wit_bindgen::generate!({
        world: "coffee-orders:components/keyvalue-client",
        path: "../../wit",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::wasi::keyvalue as kv;

impl BatchStore {
    /// Opens `label`: the component must list it in its `key_value_stores`, or this
    /// fails with `AccessDenied` (answered as 503).
    pub fn open(label: &str) -> Result<BatchStore, PortError> {
        kv::store::open(label).map(BatchStore).map_err(|e| kv_open_error(label, e))
    }

    /// Opens `label` if the manifest grants it to this component (`Ok(None)` if not).
    pub fn open_granted(label: &str) -> Result<Option<BatchStore>, PortError> {
        match kv::store::open(label) {
            Ok(bucket) => Ok(Some(BatchStore(bucket))),
            Err(kv::store::Error::AccessDenied) => Ok(None),
            Err(e) => Err(kv_open_error(label, e)),
        }
    }
}

fn kv_open_error(label: &str, e: kv::store::Error) -> PortError {
    open_error(
        label,
        match e {
            kv::store::Error::AccessDenied => ACCESS_DENIED.to_owned(),
            kv::store::Error::NoSuchStore => NO_SUCH_STORE.to_owned(),
            kv::store::Error::Other(o) => o,
        },
    )
}

fn kv_error(e: kv::store::Error) -> PortError {
    PortError(match e {
        kv::store::Error::Other(o) => o,
        other => format!("{other:?}"),
    })
}

/// The most entries one `set_many` passes to Spin: DynamoDB's `BatchWriteItem` limit.
pub const SET_MANY_LIMIT: usize = 25;

impl KeyValue for BatchStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.0.get(key).map_err(kv_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.0.set(key, value).map_err(kv_error)
    }

    /// In calls of at most [`SET_MANY_LIMIT`] entries: Spin's DynamoDB provider sends
    /// each call as one `BatchWriteItem`, which DynamoDB refuses beyond 25 items. On
    /// SQLite each call is one transaction, so a failure can leave earlier calls
    /// written: the message is delivered again and writes the same versions again.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        entries.chunks(SET_MANY_LIMIT).try_for_each(|c| kv::batch::set_many(&self.0, c).map_err(kv_error))
    }
}
