//! Work left behind, found again with no traffic: consumers that come back after every
//! bell and timer they missed has fired, and stores that are down when a consumer
//! starts. Each wiring's clock runs as its files declare it
//! ([`spin_test_host::clocks`]): the path, the period, never faster.

use std::sync::atomic::AtomicBool;

use spin_test_host::clocks::{self, PlatformClock};

use super::*;

/// The front's components, as the SpinApp and the systemd unit list them.
const KUBERNETES_FRONT: &[&str] = &["order-api", "invoice-api", "pipeline-api"];
const SYSTEMD_FRONT: &[&str] = &["order-api", "order-reader", "invoice-api", "pipeline-api"];
const CONSUMERS: &[&str] = &["order-writer", "invoice-writer"];

/// A platform's clock calling `base` in a thread until dropped, with the kubelet's
/// one-second timeout; each answer's status kept (0: no answer in time).
struct Ticking {
    stop: Arc<AtomicBool>,
    statuses: Arc<Mutex<Vec<u16>>>,
    handle: Option<JoinHandle<()>>,
}

impl Ticking {
    fn start(clock: &PlatformClock, base: &str) -> Ticking {
        let stop = Arc::new(AtomicBool::new(false));
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let client = checked(Client::new(base, Duration::from_secs(1)));
        let handle = std::thread::spawn({
            let (stop, statuses, clock) = (stop.clone(), statuses.clone(), clock.clone());
            move || loop {
                let next = Instant::now() + clock.period;
                while Instant::now() < next {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let status = client.get(&clock.path).map_or(0, |a| a.status);
                statuses.lock().unwrap().push(status);
            }
        });
        Ticking { stop, statuses, handle: Some(handle) }
    }

    fn statuses(&self) -> Vec<u16> {
        self.statuses.lock().unwrap().clone()
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.take().map(JoinHandle::join);
    }
}

/// Front and consumers as two `spin up -c` processes (`manifest`, `config`), a burst,
/// the consumers SIGKILLed 1,000 orders in and started again 15 s after the burst
/// (longer than the bell's lease and the visibility timeout), then nothing but
/// `clock`: every accepted order is stored within the visibility timeout plus one
/// period of the consumers' return. Returns the front, for more checks.
fn consumers_back_late(
    spin: &Spin,
    clock: PlatformClock,
    redis: &RedisServer,
    address: &str,
    manifest: &str,
    front: &[&str],
    config: Option<PathBuf>,
) -> SpinUp {
    const V: Duration = Duration::from_secs(5);
    let dir = scratch("late");
    let vars = required_vars(redis, address);
    let up = |part: &str, ids: &[&str]| {
        let dir = dir.join(part);
        std::fs::create_dir_all(&dir).unwrap();
        let up = Up::new(manifest, &dir, vars.clone()).components(ids).var("visibility_timeout_ms", "5000");
        match &config {
            Some(c) => up.runtime_config(c.clone()),
            None => up,
        }
    };
    let front = up("front", front).start(&spin.path);
    let mut consumers = up("consumers", CONSUMERS).consumers_only().subscribed(address, "orders", 1).start(&spin.path);

    let burst = Burst::start(&[front.base()], "late-", 3_000, 16);
    burst.wait_accepted(1_000, Duration::from_secs(60));
    consumers.kill();
    let accepted = burst.finish();
    std::thread::sleep(Duration::from_secs(15));
    consumers.restart();
    let back = Instant::now();
    let client = front.client();
    let status = pipeline(&client);
    let waiting: u64 = status["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["lag"].as_u64().unwrap() + g["pending"].as_u64().unwrap())
        .sum();
    assert!(waiting > 0, "{}: the consumers left nothing behind: the test shows nothing: {status}", clock.wiring);

    let ticking = Ticking::start(&clock, &front.base());
    // The backlog itself takes a few seconds to drain once rung (about 4,000 messages).
    let (_, took) = settled(&client, accepted.len() as u64, V + clock.period + Duration::from_secs(10));
    assert_all_stored(&client, "late-", &accepted);
    assert!(ticking.statuses().iter().all(|s| *s == 200), "{}: {:?}", clock.wiring, ticking.statuses());
    let _ = writeln!(
        std::io::stderr(),
        "{}: {} accepted, {waiting} left behind, all stored {:?} after the consumers came back",
        clock.wiring,
        accepted.len(),
        back.elapsed().max(took)
    );
    front
}

/// SpinKube: `deploy/kubernetes/spin.toml` on a managed-like Redis (a password, and
/// `CONFIG` refused, so keyspace notifications stay off): the consumers' pod is back
/// after a crash-loop backoff, and the readiness probe drains what it left. The
/// consumers log the documented message and `GET /pipeline` says the clock is off.
#[test]
fn spinkube_consumers_back_late_drain_on_the_readiness_probe_with_config_refused() {
    let (spin, _one) = spin_or_skip!();
    let pass = "late-pass-0123";
    let redis = RedisServer::start_with(&["--save", "", "--requirepass", pass, "--rename-command", "CONFIG", ""]);
    let address = redis.url_as("default", pass);
    let front = consumers_back_late(
        spin,
        clocks::kubernetes(),
        &redis,
        &address,
        "deploy/kubernetes/spin.toml",
        KUBERNETES_FRONT,
        None,
    );
    let status = pipeline(&front.client());
    assert_eq!(status["retry_clock"]["state"], "off", "{status}");
    let detail = status["retry_clock"]["detail"].as_str().unwrap();
    assert!(detail.contains("notify-keyspace-events Kx") && detail.contains("GET /pipeline/tick"), "{detail}");
}

/// systemd: `spin.toml` with the repository's runtime config (SQLite), as the units
/// run it; the timer drains what the killed consumers left.
#[test]
fn systemd_consumers_back_late_drain_on_the_timer() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let config = repo_runtime_config(&scratch("systemd-config"));
    consumers_back_late(spin, clocks::systemd(), &redis, &redis.url(), "spin.toml", SYSTEMD_FRONT, Some(config));
}

/// The stores on Spin's `redis` provider, on a second Redis that is down while orders
/// are accepted (the consumers' first store open finds it down) and back 2 s later;
/// then no traffic. Spin's provider (redis-rs 0.32's `ConnectionManager`, whose retry
/// factor of 100 meets backon's exponential backoff: about 1 s, then about 100 s) holds
/// the invocation that first opened the store until a retry connects, and the Redis
/// trigger waits for it: the consumers can work again about 100 s after that first
/// open, whatever the guest does. From then every order is stored within a period of
/// the clock.
#[test]
fn stores_on_a_redis_that_was_down_drain_once_spins_provider_reconnects() {
    // About 100 s of waiting for Spin's provider, beside the other tests.
    let (spin, _waiting) = spin_or_skip!(waiting);
    let redis = RedisServer::start();
    let mut stores = RedisServer::start();
    let dir = scratch("stores-down");
    let config = runtime_config(&dir, |_| format!("type = \"redis\"\nurl = \"{}\"", stores.url()));
    stores.kill();
    let app = local_app(&redis, &dir).runtime_config(config).start(&spin.path);
    let first_open = Instant::now();
    let accepted = Burst::start(&[app.base()], "sd-", 300, 8).finish();
    assert_eq!(accepted.len(), 300, "the topic is up: every order is accepted");
    std::thread::sleep(Duration::from_secs(2));
    stores.restart();
    let back = Instant::now();
    let clock = clocks::systemd();
    let _ticking = Ticking::start(&clock, &app.base());
    let client = app.client();
    let providers_retry = Duration::from_secs(110);
    let limit = providers_retry.saturating_sub(first_open.elapsed()) + clock.period + Duration::from_secs(5);
    settled(&client, 300, limit);
    assert_all_stored(&client, "sd-", &accepted);
    let _ = writeln!(
        std::io::stderr(),
        "stores down: 300 accepted, all stored {:?} after the stores came back ({:?} after the first open)",
        back.elapsed(),
        first_open.elapsed()
    );
}

/// The stores on Spin's `aws_dynamo` provider (the original's DynamoDB, here a local
/// DynamoDB API) down while orders are accepted and back 2 s later, then no traffic:
/// the consumers' writes are refused, the group pauses rather than burn its delivery
/// limit, and every order is stored within the visibility timeout plus one period of
/// the clock.
#[test]
fn stores_on_a_dynamodb_that_was_down_drain_on_the_clock() {
    let (spin, _one) = spin_or_skip!();
    let Some(mut dynamo) = super::providers::LocalDynamo::start(&["coffee-orders", "coffee-invoices"]) else { return };
    let redis = RedisServer::start();
    let app = dynamo.app(&redis, &scratch("dynamo-down")).var("visibility_timeout_ms", "5000").start(&spin.path);
    dynamo.kill();
    let accepted = Burst::start(&[app.base()], "dd-", 300, 8).finish();
    assert_eq!(accepted.len(), 300, "the topic is up: every order is accepted");
    std::thread::sleep(Duration::from_secs(2));
    let client = app.client();
    // A sample: each read of a store that is down waits out the AWS SDK's retries.
    let (orders, _) = missing(&client, "dd-", &accepted[..5]);
    assert!(!orders.is_empty(), "the outage held no write back: the test shows nothing");
    dynamo.restart();
    let back = Instant::now();
    let clock = clocks::systemd();
    let _ticking = Ticking::start(&clock, &app.base());
    let (status, _) = settled(&client, 300, Duration::from_secs(5) + clock.period + Duration::from_secs(10));
    assert_all_stored(&client, "dd-", &accepted);
    assert!(status["groups"].as_array().unwrap().iter().all(|g| g["dead_letters"] == 0), "{status}");
    let _ = writeln!(
        std::io::stderr(),
        "DynamoDB down: {} of a sample of 5 were waiting, all 300 stored {:?} after it came back",
        orders.len(),
        back.elapsed()
    );
}

/// The order store's SQLite file locked by another process (a backup, a `sqlite3`
/// shell) while orders are accepted: its writes fail and are retried; unlocked, with
/// no traffic, every order is stored within the visibility timeout plus one period.
#[test]
fn a_sqlite_store_locked_by_another_process_drains_on_the_clock() {
    let (spin, _one) = spin_or_skip!();
    let redis = RedisServer::start();
    let dir = scratch("sqlite-locked");
    let config = repo_runtime_config(&dir);
    let app = local_app(&redis, &dir).runtime_config(config).var("visibility_timeout_ms", "5000").start(&spin.path);
    // Spin creates the file at start; one order makes sure its table is there.
    Burst::start(&[app.base()], "warm-", 1, 1).finish();
    settled(&app.client(), 1, Duration::from_secs(20));
    let db = dir.join(".spin/orders.db");
    assert!(db.exists(), "{}", db.display());
    let mut locker = Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); \
              c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()",
        )
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(locker.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "locked");

    let accepted = Burst::start(&[app.base()], "lk-", 300, 8).finish();
    assert_eq!(accepted.len(), 300);
    let client = app.client();
    std::thread::sleep(Duration::from_secs(2));
    // What order-writer has not acknowledged, as GET /pipeline (on Redis) counts it: a
    // read of each order would wait out SQLite's busy timeout on the lock, one by one.
    let status = pipeline(&client);
    let held = status["groups"].as_array().unwrap().iter().find(|g| g["group"] == "order-writer").unwrap();
    let waiting = held["lag"].as_u64().unwrap() + held["pending"].as_u64().unwrap();
    assert!(waiting > 0, "the lock held no write back: the test shows nothing: {held}");
    drop(locker.stdin.take());
    locker.wait().unwrap();
    let unlocked = Instant::now();
    let clock = clocks::systemd();
    let _ticking = Ticking::start(&clock, &app.base());
    settled(&client, 301, Duration::from_secs(5) + clock.period + Duration::from_secs(5));
    assert_all_stored(&client, "lk-", &accepted);
    let _ = writeln!(
        std::io::stderr(),
        "SQLite locked: {waiting} of 300 were waiting, all stored {:?} after the unlock",
        unlocked.elapsed()
    );
}
