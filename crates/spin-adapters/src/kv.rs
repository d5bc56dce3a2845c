//! Spin's key-value stores, through `wasi:keyvalue` (Spin 3 and later), for their batch
//! write: on Spin's SQLite store `set_many` is one transaction, where
//! `fermyon:spin/key-value` costs a transaction per key. Same labels, same
//! `key_value_stores` capability.

use order_core::ports::{KeyValue, PortError};

const ACCESS_DENIED: &str = "access denied (the component does not list it in key_value_stores)";
const NO_SUCH_STORE: &str = "no such store";

fn open_error(label: &str, e: kv::store::Error) -> PortError {
    match e {
        kv::store::Error::AccessDenied => PortError::denied(format!("key-value store `{label}`: {ACCESS_DENIED}")),
        kv::store::Error::NoSuchStore => PortError::denied(format!("key-value store `{label}`: {NO_SUCH_STORE}")),
        kv::store::Error::Other(o) => PortError::unavailable(format!("key-value store `{label}`: {o}")),
    }
}

/// A store opened through `wasi:keyvalue` (Spin 3 and later), for its batch write: on
/// Spin's SQLite store `set_many` is one transaction, where `fermyon:spin/key-value`
/// costs a transaction per key. Same labels, same `key_value_stores` capability. Reads
/// are single `get`s: `get_many` is never called, since Spin's Redis provider answers
/// it with `KEYS` (see [`crate::store`]).
pub struct BatchStore {
    bucket: kv::store::Bucket,
    /// DynamoDB refused a batch of more than [`SET_MANY_LIMIT`]: write in chunks.
    chunked: std::cell::Cell<bool>,
}

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
    fn of(bucket: kv::store::Bucket) -> BatchStore {
        BatchStore { bucket, chunked: Default::default() }
    }

    /// Opens `label`: the component must list it in its `key_value_stores`, or this
    /// fails with `AccessDenied` (answered as 503).
    pub fn open(label: &str) -> Result<BatchStore, PortError> {
        kv::store::open(label).map(BatchStore::of).map_err(|e| open_error(label, e))
    }

    /// Opens `label` if the manifest grants it to this component (`Ok(None)` if not).
    pub fn open_granted(label: &str) -> Result<Option<BatchStore>, PortError> {
        match kv::store::open(label) {
            Ok(bucket) => Ok(Some(BatchStore::of(bucket))),
            Err(kv::store::Error::AccessDenied) => Ok(None),
            Err(e) => Err(open_error(label, e)),
        }
    }
}

fn kv_error(e: kv::store::Error) -> PortError {
    match e {
        kv::store::Error::Other(o) => PortError::unavailable(o),
        other => PortError::denied(format!("{other:?}")),
    }
}

/// The most entries DynamoDB's `BatchWriteItem` takes, and so one `set_many` on Spin's
/// `aws_dynamo` provider, which sends each call as one `BatchWriteItem`, unchunked.
pub const SET_MANY_LIMIT: usize = 25;

impl KeyValue for BatchStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.bucket.get(key).map_err(kv_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.bucket.set(key, value).map_err(kv_error)
    }

    /// In one call: one transaction on Spin's SQLite store, one `MSET` on its Redis
    /// provider. DynamoDB refuses a `BatchWriteItem` of more than [`SET_MANY_LIMIT`]
    /// items (a `ValidationException`, which no other provider raises): then, and from
    /// then on for this store's life (one invocation), the entries go in calls of at most
    /// that many. Each such call is a write of its own, so a failure can leave earlier
    /// calls written: the message is delivered again and writes the same versions again.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        let chunked = |entries: &[(String, Vec<u8>)]| {
            entries.chunks(SET_MANY_LIMIT).try_for_each(|c| kv::batch::set_many(&self.bucket, c).map_err(kv_error))
        };
        if self.chunked.get() {
            return chunked(entries);
        }
        match kv::batch::set_many(&self.bucket, entries).map_err(kv_error) {
            Err(e) if entries.len() > SET_MANY_LIMIT && e.detail.contains("ValidationException") => {
                self.chunked.set(true);
                chunked(entries)
            }
            result => result,
        }
    }
}
