#![cfg(not(target_family = "wasm"))]
//! The real-Spin tier: the built `.wasm` files under the real `spin up`, with a real
//! `redis-server`, driven over HTTP as users drive them, in every documented wiring
//! (`scripts/run`, plain `spin up` with the runtime config, the hosted manifest, replicas
//! of the Kubernetes manifest) and on every key-value provider the README offers.
//!
//! The CLI is `$SPIN_CLI`, else `spin` on `PATH`. Without one, the tier prints one line
//! saying it was skipped and why, and its tests pass; under `CI=true` a missing CLI
//! fails them. The tests run one at a time ([`serial`]), but for one that mostly
//! waits, which may run beside them ([`waiting_lane`]).

mod clocks;
mod contract;
mod docs;
mod durability;
mod faults;
mod invoices_in_s3;
mod partitions;
mod providers;
mod tracing;
mod walkthrough;
mod wirings;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use order_cli::Client;
use spin_test_host::openapi::{self, Exchange};
pub use spin_test_host::redis_server::RedisServer;
use spin_test_host::spin_cli;
pub use spin_test_host::spin_cli::{free_port, kill_group, SpinUp, Up};
use spin_test_host::workspace_root;

pub const KEYS: &str = "k1:0123456789abcdef0123456789abcdef";
pub const ADMIN: &str = "admin-0123456789abcdef";
pub const READ_KEY: &str = "read-0123456789abcdef-key";
pub const DRAIN: &str = "drain-0123456789abcdef";

/// The Spin CLI under test.
pub struct Spin {
    pub path: PathBuf,
}

/// The Spin CLI the tier runs, or `None` (with one line on stderr saying why) when
/// there is none. Under `CI=true` a missing CLI is a failure, not a skip.
pub fn spin() -> Option<&'static Spin> {
    static SPIN: OnceLock<Option<Spin>> = OnceLock::new();
    SPIN.get_or_init(|| {
        let Some(path) = spin_cli::find() else {
            let why = "no Spin CLI: set SPIN_CLI to its path or put `spin` on PATH";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "the real-Spin tier cannot run under CI: {why}");
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            let _ = writeln!(std::io::stderr(), "real-Spin tier skipped: {why}");
            return None;
        };
        let version = spin_cli::version(&path).unwrap_or_else(|| panic!("{} is not a Spin CLI", path.display()));
        let _ = writeln!(std::io::stderr(), "real-Spin tier: {} ({version})", path.display());
        // The components `spin up` runs, built as `spin build` builds them.
        spin_test_host::build_components();
        Some(Spin { path })
    })
    .as_ref()
}

/// One test at a time: each runs `spin up` processes, Redis servers and a load on a
/// 2-core machine, and a test that shares the CPU with another measures neither.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Beside the one-at-a-time tests, one test at a time that spends its time waiting for
/// something outside it (Spin's own retry of a provider), with a load too small to
/// disturb the test it runs beside.
pub fn waiting_lane() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The tier's CLI and the serial guard (or, with `waiting`, the [`waiting_lane`]'s), or
/// return from the test (it printed why).
#[macro_export]
macro_rules! spin_or_skip {
    () => {
        match $crate::spin() {
            Some(spin) => (spin, $crate::serial()),
            None => return,
        }
    };
    (waiting) => {
        match $crate::spin() {
            Some(spin) => (spin, $crate::waiting_lane()),
            None => return,
        }
    };
}

/// A fresh directory for one test's files (runtime config, state, logs, SQLite files).
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "spin-cli-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The variables every wiring requires, for `redis`'s address (`address`, which may
/// carry credentials).
pub fn required_vars(redis: &RedisServer, address: &str) -> Vec<(String, String)> {
    [
        ("redis_address", address),
        ("redis_host", &redis.host()),
        ("url_signing_keys", KEYS),
        ("admin_token", ADMIN),
        ("read_api_keys", &format!("tests:{READ_KEY}")),
        ("drain_token", DRAIN),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `spin.toml` on `redis` with the tests' variables, ready once its consumers listen.
pub fn local_app(redis: &RedisServer, dir: &Path) -> Up {
    Up::new("spin.toml", dir, required_vars(redis, &redis.url())).subscribed(&redis.url(), "orders", 1)
}

/// The hosted manifest (HTTP triggers only) on `redis` with the tests' variables.
pub fn hosted_app(redis: &RedisServer, dir: &Path) -> Up {
    Up::new("deploy/fermyon-cloud/spin.toml", dir, required_vars(redis, &redis.url()))
}

/// `client`, every answer it receives checked against the API's OpenAPI document
/// (`docs/openapi.json`, which the app serves): one that breaks it panics, naming how.
pub fn checked(client: Client) -> Client {
    client.observed_by(Arc::new(|method: &str, url: &str, a: &order_cli::Answer| {
        let x = Exchange { method, target: url, status: a.status, headers: &a.headers, body: &a.body };
        if let Err(broken) = openapi::contract().check(&x) {
            panic!("{broken}");
        }
    }))
}

/// A raw answer, read and checked as [`checked`] checks a client's: its status and body.
pub fn checked_answer(method: &str, url: &str, mut resp: ureq::http::Response<ureq::Body>) -> (u16, Vec<u8>) {
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().unwrap();
    let x = Exchange { method, target: url, status, headers: &headers, body: &body };
    if let Err(broken) = openapi::contract().check(&x) {
        panic!("{broken}");
    }
    (status, body)
}

/// A client of `app` with the tests' API key.
pub trait ClientOf {
    fn client(&self) -> Client;
}

impl ClientOf for SpinUp {
    fn client(&self) -> Client {
        checked(Client::new(&self.base(), Duration::from_secs(30)).with_api_key(Some(READ_KEY.to_owned())))
    }
}

/// A burst of the notebook's random orders, posted from `threads` threads as
/// `scripts/orders post` does; the indices each `202` accepted are kept.
pub struct Burst {
    accepted: Arc<Mutex<Vec<usize>>>,
    handle: Option<JoinHandle<()>>,
}

impl Burst {
    pub fn start(bases: &[String], prefix: &str, n: usize, threads: usize) -> Burst {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(AtomicUsize::new(0));
        let clients: Vec<Client> = bases.iter().map(|b| checked(Client::new(b, Duration::from_secs(30)))).collect();
        let handle = std::thread::spawn({
            let (accepted, prefix) = (accepted.clone(), prefix.to_owned());
            move || {
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let client = &clients[t % clients.len()];
                        let (accepted, next, prefix) = (&accepted, &next, &prefix);
                        s.spawn(move || loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                return;
                            }
                            let body = order_cli::post::order(prefix, i, &mut rand::rng());
                            // Anything but a 202 (a 503 while Redis is away, no answer
                            // from a killed process) is an order not accepted.
                            let answer = client.post_json("/order", &serde_json::to_vec(&body).unwrap());
                            if answer.is_ok_and(|a| a.status == 202) {
                                accepted.lock().unwrap().push(i);
                            }
                        });
                    }
                })
            }
        });
        Burst { accepted, handle: Some(handle) }
    }

    pub fn accepted_count(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// Waits until `n` orders were accepted, for at most `limit`.
    pub fn wait_accepted(&self, n: usize, limit: Duration) {
        eventually(limit, &format!("{n} orders accepted"), || self.accepted_count() >= n);
    }

    /// Waits for the burst's end; returns the accepted indices, sorted.
    pub fn finish(mut self) -> Vec<usize> {
        self.handle.take().unwrap().join().expect("the burst's threads");
        let mut v = self.accepted.lock().unwrap().clone();
        v.sort();
        v
    }
}

/// Waits until `done` holds, or fails after `limit`.
pub fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /pipeline`.
pub fn pipeline(client: &Client) -> serde_json::Value {
    let a = client.get("/pipeline").expect("GET /pipeline");
    assert_eq!(a.status, 200, "GET /pipeline: {}", String::from_utf8_lossy(&a.body));
    serde_json::from_slice(&a.body).unwrap()
}

/// Waits until every group of `GET /pipeline` has nothing left to deliver and nothing
/// pending, and has acknowledged at least `acked` messages; returns the status and the
/// time it took.
pub fn settled(client: &Client, acked: u64, limit: Duration) -> (serde_json::Value, Duration) {
    let start = Instant::now();
    loop {
        let status = pipeline(client);
        let groups = status["groups"].as_array().unwrap();
        if !groups.is_empty()
            && groups.iter().all(|g| g["lag"] == 0 && g["pending"] == 0 && g["acked"].as_u64() >= Some(acked))
        {
            return (status, start.elapsed());
        }
        assert!(start.elapsed() < limit, "the pipeline did not settle in {limit:?}: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The accepted orders of `prefix` that `GET /order` or `GET /invoice` cannot read.
pub fn missing(client: &Client, prefix: &str, accepted: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let orders = Mutex::new(vec![]);
    let invoices = Mutex::new(vec![]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = accepted.get(k) else { return };
                let (a, v) = order_cli::post::ids(prefix, i);
                let order = client.get(&format!("/order?accountid={a}&vendorid={v}")).unwrap();
                if order.status != 200 {
                    orders.lock().unwrap().push(i);
                }
                let invoice = client.get(&format!("/invoice?accountid={a}&vendorid={v}")).unwrap();
                if invoice.status != 200 {
                    invoices.lock().unwrap().push(i);
                }
            });
        }
    });
    let (mut o, mut i) = (orders.into_inner().unwrap(), invoices.into_inner().unwrap());
    o.sort();
    i.sort();
    (o, i)
}

/// Asserts every accepted order of the burst is readable, with its invoice.
pub fn assert_all_stored(client: &Client, prefix: &str, accepted: &[usize]) {
    let (orders, invoices) = missing(client, prefix, accepted);
    assert!(
        orders.is_empty() && invoices.is_empty(),
        "of {} accepted, {} orders and {} invoices were not stored (first: {:?} / {:?})",
        accepted.len(),
        orders.len(),
        invoices.len(),
        orders.first(),
        invoices.first()
    );
}

/// A runtime config in `dir` with the order and invoice stores as `store` declares them
/// for each label (`type = "spin"` and a path, `type = "redis"` and a URL, ...).
pub fn runtime_config(dir: &Path, store: impl Fn(&str) -> String) -> PathBuf {
    let text: String =
        ["orders", "invoices"].iter().map(|label| format!("[key_value_store.{label}]\n{}\n", store(label))).collect();
    let path = dir.join("runtime-config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The repository's own `runtime-config.toml`, copied into `dir` (its SQLite paths are
/// relative to the file, so the stores land in `dir`).
pub fn repo_runtime_config(dir: &Path) -> PathBuf {
    let path = dir.join("runtime-config.toml");
    std::fs::copy(workspace_root().join("runtime-config.toml"), &path).unwrap();
    path
}
