#![cfg(not(target_family = "wasm"))]
//! End-to-end tests: the built `.wasm` components, wired by `spin.toml`, on the test
//! host with a real `redis-server`. One test binary, so wasmtime is linked once.

mod bad_input;
mod burst;
mod capabilities;
mod credentials;
mod delivery;
mod docs;
mod durability;
mod hosted;
mod invoices_in_s3;
mod kubernetes;
mod live_page;
mod metrics;
mod native_redis;
mod openapi;
mod partitions;
mod readme;
mod reads;
mod replicas;
mod scripts;
mod stores;
mod systemd;
mod tokens;
mod topic;
mod tracing;
mod walkthrough;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use spin_test_host::http_trigger::{request, Answer};
use spin_test_host::redis_server::RedisServer;
use spin_test_host::{App, Options};

pub const KEYS: &str = "k1:0123456789abcdef0123456789abcdef";
pub const ADMIN: &str = "admin-0123456789abcdef";
/// The API key tests read with (`read_api_keys` = `tests:<key>`).
pub const READ_KEY: &str = "read-0123456789abcdef-key";

/// The notebook's order `i`, as `requests.post(url, json=...)` sends it.
pub fn order_body(i: usize) -> serde_json::Value {
    serde_json::json!({"order": {
        "accountid": format!("a{i}"), "orderdate": "2026-11-27 23:06:44.123456", "vendorid": format!("v{i}"),
        "city": "Perth",
        "details": {"coffeetype": "Latte", "coffeesize": "Large", "unitprice": "4.5", "quantity": 3},
        "eventtype": ["new_order"]
    }})
}

pub fn vars(redis: &RedisServer, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut v = HashMap::from([
        ("redis_address".to_owned(), redis.url()),
        ("redis_host".to_owned(), redis.host()),
        ("url_signing_keys".to_owned(), KEYS.to_owned()),
        ("admin_token".to_owned(), ADMIN.to_owned()),
        ("read_api_keys".to_owned(), format!("tests:{READ_KEY}")),
    ]);
    v.extend(extra.iter().map(|(k, val)| (k.to_string(), val.to_string())));
    v
}

pub fn load(options: Options) -> Arc<App> {
    spin_test_host::build_components();
    App::load(options).expect("the app loads")
}

pub fn app(redis: &RedisServer) -> Arc<App> {
    load(Options { variables: vars(redis, &[]), ..Options::default() })
}

pub async fn call(
    app: &Arc<App>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let mut b = request(method, path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.call(b.body(Full::new(body.into())).unwrap()).await.unwrap()
}

/// A GET with the tests' API key, as a client with one reads.
pub async fn get(app: &Arc<App>, path: &str) -> Answer {
    call(app, "GET", path, &[("authorization", &format!("Bearer {READ_KEY}"))], Bytes::new()).await
}

pub async fn post_order(app: &Arc<App>, body: &serde_json::Value) -> Answer {
    call(app, "POST", "/order", &[("content-type", "application/json")], serde_json::to_vec(body).unwrap()).await
}

/// Posts `body` until it is accepted, as a real client retries a `503` (every answer
/// before the `202` must be a 503 problem), for at most 10 s; returns the `202`.
pub async fn post_until_accepted(app: &Arc<App>, body: &serde_json::Value) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = post_order(app, body).await;
        if a.status == 202 {
            return a;
        }
        assert_problem(&a, 503, None, "POST while Redis is away");
        assert!(Instant::now() < deadline, "POST never answered 202 again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rings the consumers' doorbell once, as an operator does: `POST /pipeline/doorbell`
/// with the admin token.
pub async fn ring(app: &Arc<App>) {
    let auth = format!("Bearer {ADMIN}");
    let a = call(app, "POST", "/pipeline/doorbell", &[("authorization", &auth)], Bytes::new()).await;
    assert_eq!(a.status, 202, "{}", a.text());
}

/// The JSON log lines `component` wrote for requests and messages, one per event.
pub fn log_lines(app: &App, component: &str) -> Vec<serde_json::Value> {
    all_log_lines(app, component).into_iter().filter(|l| l["event"] == "request" || l["event"] == "message").collect()
}

/// Every JSON log line `component` wrote (the retry-clock checks too).
pub fn all_log_lines(app: &App, component: &str) -> Vec<serde_json::Value> {
    app.logs(component)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{component} wrote a log line that is not JSON ({e}): {l}"))
        })
        .collect()
}

/// Asserts no component's output holds a secret: the signing key, the admin token, a
/// download token, or any of `also`.
pub fn assert_no_secrets(app: &App, also: &[&str]) {
    let secret = KEYS.split_once(':').unwrap().1;
    for c in app.manifest.components.keys() {
        let logs = app.logs(c);
        for s in [secret, ADMIN, READ_KEY, "token=", "v1.k1.", "v1.k2.", "v2.k1.", "v2.k2."].iter().chain(also) {
            assert!(!logs.contains(s), "{c}'s log holds `{s}`");
        }
    }
}

/// Waits until `GET /pipeline` shows every group as `done` says (a stored batch is
/// acknowledged with the next claim, so a moment after it is readable), and returns it.
pub async fn settled_when(
    app: &Arc<App>,
    limit: Duration,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let status = get(app, "/pipeline").await.json();
        if status["groups"].as_array().unwrap().iter().all(&done) {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}: {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `done` holds, or fails after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Number of invoice documents (not index entries) in the invoice store.
pub fn invoice_documents(app: &App) -> usize {
    store_count(app, "invoices", "invoice/")
}

/// The Redis the app keeps its stores on, when its manifest says `stores = "redis"`
/// (`spin-adapters/src/store.rs`: a hash `kv:<label>:<key>` per entry, the value in `d`).
fn redis_stores(app: &App) -> Option<redis::Connection> {
    let c = app.manifest.components.values().find(|c| c.variables.contains_key("stores"))?;
    if c.variables["stores"] != "redis" {
        return None;
    }
    let url = &c.variables["redis_address"];
    Some(redis::Client::open(url.as_str()).unwrap().get_connection().unwrap())
}

/// A value of the store `label`, wherever the app keeps it.
pub fn stored(app: &App, label: &str, key: &str) -> Option<Vec<u8>> {
    match redis_stores(app) {
        Some(mut conn) => redis::cmd("HGET").arg(format!("kv:{label}:{key}")).arg("d").query(&mut conn).unwrap(),
        None => app.kv.get(label, key).unwrap(),
    }
}

/// The keys of the store `label`, wherever the app keeps it.
pub fn store_keys(app: &App, label: &str) -> Vec<String> {
    match redis_stores(app) {
        Some(mut conn) => {
            let prefix = format!("kv:{label}:");
            let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut conn).unwrap();
            keys.into_iter().map(|k| k[prefix.len()..].to_owned()).collect()
        }
        None => app.kv.keys(label),
    }
}

/// How many keys of the store `label` start with `prefix`.
pub fn store_count(app: &App, label: &str, prefix: &str) -> usize {
    store_keys(app, label).iter().filter(|k| k.starts_with(prefix)).count()
}

/// Asserts an RFC 9457 problem with `status` (and the field at fault, when given).
pub fn assert_problem(a: &Answer, status: u16, field: Option<&str>, context: &str) {
    assert_eq!(a.status, status, "{context}: {}", a.text());
    assert_eq!(a.header("content-type"), Some("application/problem+json"), "{context}");
    let p = a.json();
    assert_eq!(p["status"], status, "{context}");
    assert!(p["title"].is_string() && p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{context}: {p}");
    if let Some(field) = field {
        assert_eq!(p["field"], field, "{context}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(field.rsplit('.').next().unwrap()), "{context}: {p}");
    }
}
