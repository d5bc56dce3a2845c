//! In-memory ports for tests: a key-value store and an object store that can be told to
//! fail, as a store under throttling or outage would.

use crate::ports::error::PortError;
use crate::ports::key_value::{KeyValue, Put, PutOutcome, VersionOf};
use crate::ports::object_store::{Object, ObjectStore};

/// An in-memory [`KeyValue`], for tests: it can be told to fail, as a store under
/// throttling or outage would.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
    failure: std::sync::Mutex<Option<String>>,
    /// Calls that wrote (`set` or `set_many`): how many round trips a backend would see.
    pub writes: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    /// Every later call fails with `reason`.
    pub fn fail_with(&self, reason: &str) {
        *self.failure.lock().unwrap() = Some(reason.to_owned());
    }

    pub fn keys(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().cloned().collect()
    }

    fn check(&self) -> Result<(), PortError> {
        match &*self.failure.lock().unwrap() {
            Some(reason) => Err(PortError::unavailable(reason.clone())),
            None => Ok(()),
        }
    }
}

impl KeyValue for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.check()?;
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.set_many(&[(key.to_owned(), value.to_vec())])
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        self.check()?;
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.entries.lock().unwrap().extend(entries.iter().cloned());
        Ok(())
    }

    /// Atomic: the read, the compare and the write hold the store's lock, so it is safe
    /// with any number of writers.
    fn put_newest(&self, puts: &[Put], version_of: VersionOf) -> Result<Vec<PutOutcome>, PortError> {
        self.check()?;
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.lock().unwrap();
        Ok(puts
            .iter()
            .map(|p| match entries.get(&p.key).and_then(|v| version_of(&p.key, v)) {
                Some(v) if v.newer_than(&p.version) => PutOutcome::NewerKept(v),
                _ => {
                    entries.insert(p.key.clone(), p.value.clone());
                    PutOutcome::Written
                }
            })
            .collect())
    }
}

/// An in-memory [`ObjectStore`], for tests: it can be told to fail, and its URLs are
/// `memory://<key>?expires=<s>`.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    objects: std::sync::Mutex<std::collections::BTreeMap<String, Object>>,
    failure: std::sync::Mutex<Option<String>>,
}

impl MemoryObjects {
    /// Every later call fails with `reason`; `None` heals.
    pub fn fail_with(&self, reason: Option<&str>) {
        *self.failure.lock().unwrap() = reason.map(str::to_owned);
    }

    pub fn get(&self, key: &str) -> Option<Object> {
        self.objects.lock().unwrap().get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }

    fn check(&self) -> Result<(), PortError> {
        match &*self.failure.lock().unwrap() {
            Some(reason) => Err(PortError::unavailable(reason.clone())),
            None => Ok(()),
        }
    }
}

impl ObjectStore for MemoryObjects {
    fn put_objects(&self, objects: &[Object]) -> Vec<Result<(), PortError>> {
        objects
            .iter()
            .map(|o| {
                self.check()?;
                self.objects.lock().unwrap().insert(o.key.clone(), o.clone());
                Ok(())
            })
            .collect()
    }

    fn exists(&self, key: &str) -> Result<bool, PortError> {
        self.check()?;
        Ok(self.objects.lock().unwrap().contains_key(key))
    }

    fn presigned_get(&self, key: &str, ttl_seconds: u64, now_ms: u64) -> String {
        format!("memory://{key}?expires={}", now_ms / 1000 + ttl_seconds)
    }
}
