//! The small traits through which the domain reaches storage, messaging and time.
//!
//! Spin's key-value stores and outbound Redis implement them in the components; the
//! tests implement them in memory and over a real Redis server.

use std::fmt;

use crate::envelope::MessageId;

/// [`KeyValue::put_newest`] for several groups of puts, `puts` in a row, the groups'
/// lengths in `lens`: all of them in one call; if that fails, each group in its own, so a
/// write the store refuses (one poison message) fails alone rather than taking its
/// batch-mates with it. One result per group.
pub fn put_newest_isolating(
    store: &impl KeyValue,
    puts: &[Put],
    lens: &[usize],
    version_of: VersionOf,
) -> Vec<Result<Vec<Kept>, PortError>> {
    debug_assert_eq!(lens.iter().sum::<usize>(), puts.len(), "the groups cover the puts");
    let first = if puts.is_empty() { Ok(Vec::new()) } else { store.put_newest(puts, version_of) };
    match first {
        Ok(mut kept) => lens.iter().map(|&n| Ok(kept.drain(..n).collect())).collect(),
        // Alone already: trying it again alone would only repeat the failure.
        Err(e) if lens.len() == 1 => vec![Err(e)],
        Err(_) => {
            let mut rest = puts;
            lens.iter()
                .map(|&n| {
                    let (group, after) = rest.split_at(n);
                    rest = after;
                    store.put_newest(group, version_of)
                })
                .collect()
        }
    }
}

/// A write that must never replace a newer one: `value` under `key`, made by the message
/// `version`. Message ids order messages in time ([`MessageId`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub key: String,
    pub value: Vec<u8>,
    pub version: MessageId,
}

/// What a key holds after a [`Put`]: the put's own version (written now, or the same
/// version rewritten: a duplicate changes nothing), or a newer one, left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Written,
    Newer(MessageId),
}

/// Reads the version of a stored value (`key`, value), for stores that keep no version
/// of their own; `None` for a value that is not ours (it is then replaced).
pub type VersionOf = fn(&str, &[u8]) -> Option<MessageId>;

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

    /// Newest wins: each put is written unless its key holds a newer version, in order
    /// (a later put to the same key sees an earlier one). One [`Kept`] per put; an `Err`
    /// may have written part of the puts (each written one the newest), never an older
    /// version over a newer one, so the same puts again finish the work.
    ///
    /// This default reads each key (`get`; never `get_many`, which Spin's Redis
    /// key-value provider answers with the `KEYS` command), compares, and writes what is
    /// newer in one `set_many`, each key once. Between the read and the write another
    /// writer could slip in, so it is for a store with **one writer at a time**: Spin's
    /// SQLite store under one `spin up`, whose Redis trigger runs one drain of a group at
    /// a time. A store several replicas share decides newest-wins atomically instead (the
    /// Redis store in `spin-ports`); [`contract`] holds the tests every implementation
    /// passes.
    fn put_newest(&self, puts: &[Put], version_of: VersionOf) -> Result<Vec<Kept>, PortError> {
        // Per key: the newest version so far (stored, or put earlier in this call), and
        // where its one write is. A key twice in one batch call is refused by DynamoDB
        // (Spin's `aws_dynamo` provider sends `set_many` as one call).
        let mut keys: std::collections::HashMap<&str, (Option<MessageId>, Option<usize>)> =
            std::collections::HashMap::new();
        for p in puts {
            if !keys.contains_key(p.key.as_str()) {
                let current = self.get(&p.key)?.and_then(|v| version_of(&p.key, &v));
                keys.insert(&p.key, (current, None));
            }
        }
        let (mut writes, mut kept) = (Vec::<(String, Vec<u8>)>::new(), Vec::new());
        for p in puts {
            let (newest, at) = keys.get_mut(p.key.as_str()).expect("read above");
            match newest {
                Some(v) if *v > p.version => kept.push(Kept::Newer(v.clone())),
                _ => {
                    match at {
                        Some(i) => writes[*i].1 = p.value.clone(),
                        None => {
                            *at = Some(writes.len());
                            writes.push((p.key.clone(), p.value.clone()));
                        }
                    }
                    *newest = Some(p.version.clone());
                    kept.push(Kept::Written);
                }
            }
        }
        if !writes.is_empty() {
            self.set_many(&writes)?;
        }
        Ok(kept)
    }
}

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

    /// Atomic: the read, the compare and the write hold the store's lock, so it is safe
    /// with any number of writers.
    fn put_newest(&self, puts: &[Put], version_of: VersionOf) -> Result<Vec<Kept>, PortError> {
        self.check()?;
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.lock().unwrap();
        Ok(puts
            .iter()
            .map(|p| match entries.get(&p.key).and_then(|v| version_of(&p.key, v)) {
                Some(v) if v > p.version => Kept::Newer(v),
                _ => {
                    entries.insert(p.key.clone(), p.value.clone());
                    Kept::Written
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
            Some(reason) => Err(PortError(reason.clone())),
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

/// The contract every [`KeyValue`] implementation passes, as functions a test calls
/// with a fresh store (the core's, and `spin-test-host`'s over a real Redis with the
/// very scripts the components run). Values are `<version>:<text>`, so
/// [`version_in_value`] reads the version back.
pub mod contract {
    use super::*;

    /// The version of a contract test's value (`<version>:<text>`).
    pub fn version_in_value(_key: &str, value: &[u8]) -> Option<MessageId> {
        let text = std::str::from_utf8(value).ok()?;
        Some(MessageId::from(text.split_once(':')?.0))
    }

    fn put(key: &str, version: &str, text: &str) -> Put {
        Put { key: key.into(), value: format!("{version}:{text}").into_bytes(), version: MessageId::from(version) }
    }

    fn text(store: &impl KeyValue, key: &str) -> Option<String> {
        store.get(key).unwrap().map(|v| String::from_utf8(v).unwrap())
    }

    /// Reads, writes, and newest-wins with one writer.
    pub fn one_writer(store: &impl KeyValue) {
        assert_eq!(store.get("a#b").unwrap(), None);
        store.set("plain", b"x").unwrap();
        assert_eq!(text(store, "plain").as_deref(), Some("x"));
        store.set_many(&[("m1".into(), b"1".to_vec()), ("m2".into(), b"2".to_vec())]).unwrap();
        assert_eq!(
            store.get_many(&["m2".into(), "none".into(), "m1".into()]).unwrap(),
            [Some(b"2".to_vec()), None, Some(b"1".to_vec())]
        );

        let v5 = MessageId::from("0005");
        assert_eq!(store.put_newest(&[put("a#b", "0005", "five")], version_in_value).unwrap(), [Kept::Written]);
        assert_eq!(text(store, "a#b").as_deref(), Some("0005:five"));
        // A duplicate rewrites the same bytes; an older one is refused and named.
        assert_eq!(store.put_newest(&[put("a#b", "0005", "five")], version_in_value).unwrap(), [Kept::Written]);
        assert_eq!(
            store.put_newest(&[put("a#b", "0003", "three")], version_in_value).unwrap(),
            [Kept::Newer(v5.clone())]
        );
        assert_eq!(text(store, "a#b").as_deref(), Some("0005:five"));
        // In one call, in order: a later put to a key sees an earlier one.
        let kept = store
            .put_newest(
                &[put("c#d", "0007", "seven"), put("c#d", "0006", "six"), put("a#b", "0009", "nine")],
                version_in_value,
            )
            .unwrap();
        assert_eq!(kept, [Kept::Written, Kept::Newer(MessageId::from("0007")), Kept::Written]);
        assert_eq!(text(store, "c#d").as_deref(), Some("0007:seven"));
        assert_eq!(text(store, "a#b").as_deref(), Some("0009:nine"));
        // A plain write replaces whatever a key holds; a value that is not ours has no
        // version, so the next put replaces it in turn.
        store.set("a#b", b"plain").unwrap();
        assert_eq!(text(store, "a#b").as_deref(), Some("plain"));
        store.set("junk", b"not versioned").unwrap();
        assert_eq!(store.put_newest(&[put("junk", "0001", "one")], version_in_value).unwrap(), [Kept::Written]);
        assert_eq!(store.put_newest(&[], version_in_value).unwrap(), []);
    }

    /// Several writers at once, each putting increasing and decreasing versions of the
    /// same keys: an older write never overwrites a newer one, and each key ends at the
    /// newest version anyone wrote. `stores` gives each writer its own handle (its own
    /// connection) to the one shared store.
    pub fn concurrent_writers<S: KeyValue + Send + 'static>(stores: Vec<S>) {
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(w, store)| {
                std::thread::spawn(move || {
                    let mut newest = std::collections::BTreeMap::<String, String>::new();
                    for round in 0..200u32 {
                        // Writer w puts versions in its own interleaving, some going down.
                        let n = if (round + w as u32) % 3 == 0 { 1000 - round } else { round * 7 + w as u32 };
                        let version = format!("{n:08}");
                        let key = format!("k{}", round % 4);
                        let kept =
                            store.put_newest(&[put(&key, &version, &format!("w{w}"))], version_in_value).unwrap();
                        if let Kept::Newer(v) = &kept[0] {
                            assert!(v.as_str() > version.as_str(), "refused for an older version {v}");
                        }
                        let now = store.get(&key).unwrap().and_then(|v| version_in_value(&key, &v)).unwrap();
                        assert!(now.as_str() >= version.as_str(), "{key} went back from {version} to {now}");
                        let slot = newest.entry(key).or_default();
                        if version > *slot {
                            *slot = version;
                        }
                    }
                    (store, newest)
                })
            })
            .collect();
        let mut newest = std::collections::BTreeMap::<String, String>::new();
        let mut last = None;
        for h in handles {
            let (store, theirs) = h.join().expect("a writer");
            for (k, v) in theirs {
                let slot = newest.entry(k).or_default();
                if v > *slot {
                    *slot = v;
                }
            }
            last = Some(store);
        }
        let store = last.expect("at least one writer");
        for (key, version) in newest {
            let held = store.get(&key).unwrap().and_then(|v| version_in_value(&key, &v)).unwrap();
            assert_eq!(held.as_str(), version, "{key} holds the newest version any writer put");
        }
    }
}

impl<T: KeyValue + ?Sized> KeyValue for std::sync::Arc<T> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        (**self).get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        (**self).set(key, value)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        (**self).get_many(keys)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        (**self).set_many(entries)
    }

    fn put_newest(&self, puts: &[Put], version_of: VersionOf) -> Result<Vec<Kept>, PortError> {
        (**self).put_newest(puts, version_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with only reads and writes: it runs the default `put_newest`, as Spin's
    /// key-value stores do in the components.
    struct ReadsAndWrites(MemoryStore);

    impl KeyValue for ReadsAndWrites {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
            self.0.get(key)
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
            self.0.set(key, value)
        }
    }

    #[test]
    fn the_default_put_newest_keeps_the_contract_with_one_writer() {
        contract::one_writer(&ReadsAndWrites(MemoryStore::default()));
    }

    #[test]
    fn the_memory_store_keeps_the_contract_with_any_number_of_writers() {
        contract::one_writer(&MemoryStore::default());
        let shared = std::sync::Arc::new(MemoryStore::default());
        contract::concurrent_writers((0..4).map(|_| shared.clone()).collect());
    }

    /// A store that keeps every `set_many` call's keys, as DynamoDB sees its batches.
    #[derive(Default)]
    struct BatchCalls(MemoryStore, std::sync::Mutex<Vec<Vec<String>>>);

    impl KeyValue for BatchCalls {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
            self.0.get(key)
        }

        fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
            self.0.set(key, value)
        }

        fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
            self.1.lock().unwrap().push(entries.iter().map(|(k, _)| k.clone()).collect());
            self.0.set_many(entries)
        }
    }

    #[test]
    fn the_default_put_newest_writes_each_key_once_with_its_newest_value() {
        let s = BatchCalls::default();
        let put = |k: &str, v: &str| Put { key: k.into(), value: format!("{v}:x").into(), version: MessageId::from(v) };
        let puts = [put("a", "1"), put("b", "1"), put("a", "3"), put("a", "2"), put("b", "4")];
        let kept = s.put_newest(&puts, contract::version_in_value).unwrap();
        assert_eq!(
            kept,
            [Kept::Written, Kept::Written, Kept::Written, Kept::Newer(MessageId::from("3")), Kept::Written]
        );
        assert_eq!(*s.1.lock().unwrap(), [vec!["a".to_owned(), "b".to_owned()]], "one call, each key once");
        assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"3:x"[..]));
        assert_eq!(s.get("b").unwrap().as_deref(), Some(&b"4:x"[..]));
    }

    #[test]
    fn one_call_for_every_group_and_each_group_gets_its_own_results() {
        let s = MemoryStore::default();
        let put = |k: &str, v: &str| Put { key: k.into(), value: format!("{v}:x").into(), version: MessageId::from(v) };
        let puts = [put("a", "1"), put("b", "2"), put("b", "1")];
        let kept = put_newest_isolating(&s, &puts, &[1, 2], contract::version_in_value);
        assert_eq!(kept, vec![Ok(vec![Kept::Written]), Ok(vec![Kept::Written, Kept::Newer(MessageId::from("2"))])]);
    }
}
