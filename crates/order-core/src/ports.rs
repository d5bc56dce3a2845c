//! The small traits through which the domain reaches storage, messaging and time.
//!
//! Spin's key-value stores and outbound Redis implement them in the components; the
//! tests implement them in memory and over a real Redis server.

use std::fmt;

/// Writes `groups` in one `set_many`; if that fails, each group in its own, so a
/// write the store refuses (one poison message) fails alone rather than taking its
/// batch-mates with it. One result per group.
pub fn set_many_isolating(store: &impl KeyValue, groups: &[Vec<(String, Vec<u8>)>]) -> Vec<Result<(), PortError>> {
    let all: Vec<(String, Vec<u8>)> = groups.iter().flatten().cloned().collect();
    let first = if all.is_empty() { Ok(()) } else { store.set_many(&all) };
    match first {
        Ok(()) => groups.iter().map(|_| Ok(())).collect(),
        // Alone already: trying it again alone would only repeat the failure.
        Err(e) if groups.len() == 1 => vec![Err(e)],
        Err(_) => groups.iter().map(|g| store.set_many(g)).collect(),
    }
}

/// A storage or messaging failure, with the backend's own words. Never shown raw to a
/// client beyond a 503's detail, and never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError(pub String);

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PortError {}

/// A key-value store: the order store and the invoice (blob) store are both one of these.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError>;

    /// The values of `keys`, in order. A backend with a batch read answers in one call.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Writes every entry; a backend with batch writes does it in one call (Spin's
    /// SQLite store: one transaction, so all or none).
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        entries.iter().try_for_each(|(k, v)| self.set(k, v))
    }
}

/// The orders topic. `publish` returns `Ok` only once the message is durably on the
/// topic (so every consumer group will see it, whether or not it is running), and then
/// rings the consumers' doorbell. With an [`Idempotency`] record, the topic decides in
/// the same atomic step whether the request was seen before.
pub trait Publisher {
    fn publish(&self, payload: &[u8], idempotency: Option<&Idempotency>) -> Result<Published, PortError>;
}

/// How long an `Idempotency-Key` is remembered: 24 hours.
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 3600 * 1000;

/// What the topic keeps for an `Idempotency-Key`: the key (as a digest, so any text a
/// client sends makes a safe Redis key), the request body's fingerprint, and the answer
/// to give a repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// SHA-256 of the key, hex.
    pub key_digest: String,
    /// SHA-256 of the request body, hex.
    pub fingerprint: String,
    /// The `202` body given the first time.
    pub answer: Vec<u8>,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Appended now.
    Appended,
    /// The key was seen with the same body: nothing appended; the first answer.
    Replay(Vec<u8>),
    /// The key was seen with another body: nothing appended.
    Mismatch,
}

/// Time and randomness, injected so the domain is deterministic under test.
pub trait Clock {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Fresh random bytes (ids, trace ids). An `Err` when the platform cannot give any:
    /// never zeros or other predictable bytes in their place.
    fn random(&self) -> Result<[u8; 16], PortError>;
    /// Waits `ms` milliseconds (a consumer lingering for a fuller batch).
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// The real clock: the system time and the platform's random source (WASI's
/// `wasi:random` under Spin).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    fn random(&self) -> Result<[u8; 16], PortError> {
        let mut buf = [0u8; 16];
        // It does not fail on WASI or any tier-1 host; if it ever does, ids and trace
        // ids made of zeros would collide across instances and be guessable, so the
        // failure is reported (a 503 on `POST /order`) instead.
        getrandom::fill(&mut buf).map_err(|e| PortError(format!("the platform's random source failed: {e}")))?;
        Ok(buf)
    }
}

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
            Some(reason) => Err(PortError(reason.clone())),
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
}
