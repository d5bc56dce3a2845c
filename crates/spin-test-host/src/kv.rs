//! Key-value stores as Spin's default provider keeps them: one SQLite file, table
//! `spin_key_value (store, key, value)`, a `set` in its own transaction, `set_many` in
//! one transaction, `get_many` in one query answering only the keys it found. SQLite's
//! defaults (rollback journal, `synchronous = FULL`) stay, so a write costs what it costs
//! under `spin up`: that is the cost the consumers' batching is designed around.
//!
//! A label the runtime config puts on Spin's Redis provider (`type = "redis"`) is kept
//! as that provider keeps it (`crates/key-value-redis/src/store.rs`, Spin 3.6.3): raw
//! keys in the URL's database, whatever the label; `set_many` is `MSET`; and
//! `get_many` sends `KEYS k1 k2 …`: Redis refuses more than one pattern, and for one key
//! that exists Spin's provider panics decoding the answer (redis-rs reads KEYS' one name
//! as a key-value pair and reaches `unreachable!()`); the test host fails the call
//! instead. The components never call it.
//!
//! A label on Spin's DynamoDB provider (`type = "aws_dynamo"`) is kept in SQLite, with
//! the limits DynamoDB puts on the calls that provider makes
//! (`crates/key-value-aws/src/store.rs`): `set_many` is one `BatchWriteItem`, unchunked,
//! which DynamoDB refuses for more than 25 items or a key twice; `get_many` one
//! `BatchGetItem`, refused for more than 100 keys or a key twice. (A local DynamoDB API
//! such as `moto_server` checks the duplicates and the 100, not the 25: the real-Spin
//! tier runs against it, this host holds the components to DynamoDB's own limits.)
//!
//! A store can be told to fail, as a throttled or unavailable backend would.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

/// A key and its value, as `wasi:keyvalue/batch` answers `get-many`.
pub type Entry = (String, Option<Vec<u8>>);

pub struct KvStores {
    labels: Vec<String>,
    redis: std::collections::HashMap<String, redis::Client>,
    dynamo: Vec<String>,
    refused_batches: std::sync::atomic::AtomicUsize,
    /// Transactions committed on the SQLite stores, per label.
    commits: Mutex<std::collections::HashMap<String, usize>>,
    conn: Mutex<Connection>,
    path: PathBuf,
    poisoned_keys: Mutex<Vec<(String, String, usize)>>,
    trapping_writes: Mutex<Vec<String>>,
    /// Labels whose opens fail (injected), until healed.
    failing_opens: Mutex<Vec<String>>,
}

impl std::fmt::Debug for KvStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KvStores({:?} at {})", self.labels, self.path.display())
    }
}

impl Drop for KvStores {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl KvStores {
    /// A fresh SQLite file under `target/spin-test-host/` (on disk, like `.spin/`).
    pub fn new(labels: &[String]) -> KvStores {
        let dir = crate::workspace_root().join("target/spin-test-host");
        std::fs::create_dir_all(&dir).expect("target/spin-test-host");
        let path = dir.join(format!("kv-{}-{}.db", std::process::id(), crate::next_id()));
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).expect("a SQLite file");
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))",
            [],
        )
        .expect("the key-value table");
        KvStores {
            labels: labels.to_vec(),
            redis: Default::default(),
            dynamo: Vec::new(),
            refused_batches: Default::default(),
            commits: Mutex::default(),
            conn: Mutex::new(conn),
            path,
            poisoned_keys: Mutex::default(),
            trapping_writes: Mutex::default(),
            failing_opens: Mutex::default(),
        }
    }

    /// Keeps these labels on Redis, as Spin's Redis provider does (label -> `url`).
    pub fn with_redis(mut self, labels: &std::collections::BTreeMap<String, String>) -> KvStores {
        for (label, url) in labels {
            self.redis.insert(
                label.clone(),
                redis::Client::open(url.as_str()).expect("a Redis URL (checked when the runtime config is read)"),
            );
        }
        self
    }

    /// Holds these labels' batch calls to DynamoDB's limits, as Spin's `aws_dynamo`
    /// provider meets them.
    pub fn with_dynamo_limits(mut self, labels: &[String]) -> KvStores {
        self.dynamo = labels.to_vec();
        self
    }

    /// What DynamoDB answers a batch of `keys` on a label of Spin's `aws_dynamo`
    /// provider: more than `limit` keys, or one key twice, is refused whole.
    fn check_dynamo_batch<'k>(
        &self,
        label: &str,
        call: &str,
        limit: usize,
        keys: impl ExactSizeIterator<Item = &'k str>,
    ) -> Result<(), String> {
        if !self.dynamo.iter().any(|l| l == label) {
            return Ok(());
        }
        let refused = |why: String| {
            self.refused_batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(why)
        };
        let n = keys.len();
        if n > limit {
            return refused(format!(
                "ValidationException: Too many items requested for the {call} call ({n}; DynamoDB takes {limit})"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for k in keys {
            if !seen.insert(k) {
                return refused(format!(
                    "ValidationException: Provided list of item keys contains duplicates ({call})"
                ));
            }
        }
        Ok(())
    }

    /// How many batch calls DynamoDB's limits refused (see [`Self::with_dynamo_limits`]).
    pub fn refused_batches(&self) -> usize {
        self.refused_batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn redis(&self, label: &str) -> Option<Result<redis::Connection, String>> {
        self.redis.get(label).map(|c| c.get_connection().map_err(|e| e.to_string()))
    }

    pub fn has(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }

    pub fn get(&self, label: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        if let Some(conn) = self.redis(label) {
            return redis::cmd("GET").arg(key).query(&mut conn?).map_err(|e| e.to_string());
        }
        self.conn
            .lock()
            .unwrap()
            .prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")
            .and_then(|mut s| s.query_row(params![label, key], |r| r.get(0)).optional())
            .map_err(|e| e.to_string())
    }

    pub fn set(&self, label: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        self.set_many(label, vec![(key.to_owned(), value)])
    }

    /// All in one transaction, as Spin's `set_many`.
    pub fn set_many(&self, label: &str, entries: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        self.check_failures(label, &entries)?;
        self.check_dynamo_batch(label, "BatchWriteItem", 25, entries.iter().map(|(k, _)| k.as_str()))?;
        if let Some(conn) = self.redis(label) {
            let mut cmd = redis::cmd("MSET");
            for (k, v) in &entries {
                cmd.arg(k).arg(v);
            }
            return cmd.query(&mut conn?).map_err(|e| e.to_string());
        }
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        for (k, v) in entries {
            tx.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT(store, key) DO UPDATE SET value=$3",
            )
            .and_then(|mut s| s.execute(params![label, k, v]))
            .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        *self.commits.lock().unwrap().entry(label.to_owned()).or_default() += 1;
        Ok(())
    }

    /// How many transactions the SQLite store `label` has committed (each `set`, each
    /// `set_many`), as Spin's SQLite provider commits them: each one a journal and an
    /// `fsync` under `spin up`.
    pub fn commits(&self, label: &str) -> usize {
        self.commits.lock().unwrap().get(label).copied().unwrap_or(0)
    }

    /// Only the keys found, as Spin's `get_many`.
    pub fn get_many(&self, label: &str, keys: &[String]) -> Result<Vec<Entry>, String> {
        self.check_dynamo_batch(label, "BatchGetItem", 100, keys.iter().map(String::as_str))?;
        if let Some(conn) = self.redis(label) {
            // Spin's Redis provider: `KEYS` with the keys as its arguments.
            let mut cmd = redis::cmd("KEYS");
            for k in keys {
                cmd.arg(k);
            }
            let names: Vec<String> = cmd.query(&mut conn?).map_err(|e| e.to_string())?;
            return match names.len() {
                0 => Ok(Vec::new()),
                // Spin's provider panics here (see the module's comment).
                _ => Err("get_many: Spin's Redis provider panics decoding KEYS' answer for a key that exists".into()),
            };
        }
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for k in keys {
            if let Some(v) = stmt.query_row(params![label, k], |r| r.get(0)).optional().map_err(|e| e.to_string())? {
                out.push((k.clone(), Some(v)));
            }
        }
        Ok(out)
    }

    pub fn delete(&self, label: &str, key: &str) -> Result<(), String> {
        if let Some(conn) = self.redis(label) {
            return redis::cmd("DEL").arg(key).query(&mut conn?).map_err(|e| e.to_string());
        }
        self.conn
            .lock()
            .unwrap()
            .execute("DELETE FROM spin_key_value WHERE store=$1 AND key=$2", params![label, key])
            .map(drop)
            .map_err(|e| e.to_string())
    }

    pub fn keys(&self, label: &str) -> Vec<String> {
        if let Some(conn) = self.redis(label) {
            return redis::cmd("KEYS").arg("*").query(&mut conn.unwrap()).unwrap();
        }
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn.prepare_cached("SELECT key FROM spin_key_value WHERE store=$1").unwrap();
        stmt.query_map([label], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    /// How many keys of `label` start with `prefix`.
    pub fn count(&self, label: &str, prefix: &str) -> usize {
        if self.redis.contains_key(label) {
            return self.keys(label).iter().filter(|k| k.starts_with(prefix)).count();
        }
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare_cached("SELECT COUNT(*) FROM spin_key_value WHERE store=$1 AND substr(key, 1, length($2)) = $2")
            .unwrap();
        stmt.query_row(params![label, prefix], |r| r.get::<_, i64>(0)).unwrap() as usize
    }

    /// Every write to `label` of a key containing `pattern` fails, until [`Self::heal`].
    pub fn poison_keys(&self, label: &str, pattern: &str) {
        self.poisoned_keys.lock().unwrap().push((label.to_owned(), pattern.to_owned(), usize::MAX));
    }

    /// The next `times` writes to `label` of a key containing `pattern` fail; later ones
    /// succeed (a store that recovers by itself).
    pub fn poison_keys_times(&self, label: &str, pattern: &str, times: usize) {
        self.poisoned_keys.lock().unwrap().push((label.to_owned(), pattern.to_owned(), times));
    }

    /// Whether any failure is injected (so a Redis command need not be looked at).
    pub(crate) fn any_poison(&self) -> bool {
        !self.poisoned_keys.lock().unwrap().is_empty()
    }

    /// Every open of `label` fails, until [`Self::heal`]: a provider that cannot reach its
    /// backend when a store is opened.
    pub fn fail_opens(&self, label: &str) {
        self.failing_opens.lock().unwrap().push(label.to_owned());
    }

    /// Whether `label` opens (see [`Self::fail_opens`]).
    pub(crate) fn check_open(&self, label: &str) -> Result<(), String> {
        match self.failing_opens.lock().unwrap().iter().any(|l| l == label) {
            true => Err(format!("store `{label}` cannot reach its backend (injected failure)")),
            false => Ok(()),
        }
    }

    /// Every write to `label` traps the component that makes it, until [`Self::heal`]:
    /// a guest killed in the middle of its work (a trap, an out-of-memory, a host that
    /// gives up), with nothing after it run.
    pub fn trap_writes(&self, label: &str) {
        self.trapping_writes.lock().unwrap().push(label.to_owned());
    }

    /// A trap for a write to `label`, if one is injected (see [`Self::trap_writes`]).
    pub(crate) fn check_trap(&self, label: &str) -> wasmtime::Result<()> {
        match self.trapping_writes.lock().unwrap().iter().any(|l| l == label) {
            true => Err(wasmtime::Error::msg(format!("a write to `{label}` trapped (injected)"))),
            false => Ok(()),
        }
    }

    /// Ends every injected failure.
    pub fn heal(&self) {
        self.poisoned_keys.lock().unwrap().clear();
        self.failing_opens.lock().unwrap().clear();
        self.trapping_writes.lock().unwrap().clear();
    }

    /// The injected failures also hit the stores the components keep on Redis
    /// (`spin-adapters/src/store.rs`: keys `kv:<label>:<key>`): a write script (`EVAL` of
    /// `store_put.lua`) whose keys a poison matches fails, as a Redis refusing writes
    /// would.
    pub(crate) fn check_redis_store_write(&self, keys: &[String]) -> Result<(), String> {
        for key in keys {
            if let Some((label, key)) = key.strip_prefix("kv:").and_then(|k| k.split_once(':')) {
                self.check_failures(label, &[(key.to_owned(), Vec::new())])?;
            }
        }
        Ok(())
    }

    fn check_failures(&self, label: &str, entries: &[(String, Vec<u8>)]) -> Result<(), String> {
        let mut poisoned = self.poisoned_keys.lock().unwrap();
        for (k, _) in entries {
            if let Some(p) = poisoned.iter_mut().find(|(l, p, left)| l == label && *left > 0 && k.contains(p.as_str()))
            {
                p.2 -= 1;
                return Err(format!("store `{label}` refuses `{k}` (injected failure)"));
            }
        }
        Ok(())
    }
}
