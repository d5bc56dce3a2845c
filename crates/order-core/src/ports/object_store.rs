//! The object-store port: where invoice documents go when they are not kept in the
//! invoice key-value store (an S3-compatible bucket).

use crate::ports::error::PortError;

/// One object to write: `body` under `key`, stored with these two headers, which a
/// download gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub content_disposition: String,
}

/// An object store (an S3-compatible bucket): where invoice documents go when they are
/// not kept in the invoice key-value store. Writing an object again replaces it, so a
/// redelivered message rewrites the same bytes.
pub trait ObjectStore {
    /// Writes each object (a backend may send them at once); one result per object, so
    /// one the store refuses fails alone.
    fn put_objects(&self, objects: &[Object]) -> Vec<Result<(), PortError>>;
    /// Whether `key` exists.
    fn exists(&self, key: &str) -> Result<bool, PortError>;
    /// A URL that downloads `key` from the store itself until `ttl_seconds` after
    /// `now_ms`, refused by the store once expired or altered.
    fn presigned_get(&self, key: &str, ttl_seconds: u64, now_ms: u64) -> String;
}
