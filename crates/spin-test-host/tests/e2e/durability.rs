//! What a `202` survives: order-api answers it only once the deployment's durability
//! level (`durability`) holds for the order, on Redis servers set up as users run them:
//! the shipped append-only file, one without it, `appendfsync always`, a Valkey with
//! `WAITAOF`, a replica, a Redis that refuses `CONFIG`.

use redis::Commands;

use super::*;

fn with(redis: &RedisServer, extra: &[(&str, &str)]) -> Arc<App> {
    load(Options { variables: vars(redis, extra), ..Options::default() })
}

fn stream_length(redis: &RedisServer) -> u64 {
    redis.client().get_connection().unwrap().xlen("orders:stream").unwrap()
}

fn detail(a: &Answer) -> String {
    a.json()["detail"].as_str().unwrap_or_default().to_owned()
}

async fn post_keyed(app: &Arc<App>, body: &serde_json::Value, key: &str) -> Answer {
    let headers = [("content-type", "application/json"), ("idempotency-key", key)];
    call(app, "POST", "/order", &headers, serde_json::to_vec(body).unwrap()).await
}

/// The default level, `process`, on a Redis without its append-only file: every POST is
/// a `503` naming the setting and what the server lacks, nothing is appended, and
/// `GET /pipeline` says so. The consumers go on: an order another deployment appended
/// at the `memory` level is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_the_server_cannot_give_is_a_503_and_appends_nothing() {
    let redis = RedisServer::start_with(&["--appendonly", "no"]);
    let app = with(&redis, &[]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    for i in 0..3 {
        let a = post_order(&app, &order_body(i)).await;
        assert_problem(&a, 503, None, "POST at `process` with appendonly no");
        let d = detail(&a);
        assert!(d.contains("nothing was appended") && d.contains("durability `process`"), "{d}");
        assert!(d.contains("`appendonly no`") && d.contains("set `appendonly yes`"), "{d}");
    }
    assert_eq!(stream_length(&redis), 0, "nothing appended");
    let status = get(&app, "/pipeline").await.json();
    let durability = &status["durability"];
    assert_eq!((durability["level"].as_str(), durability["confirmed_by"].as_str()), (Some("process"), Some("refused")));
    assert_eq!(durability["server"]["appendonly"], "no", "{status}");
    let warned =
        status["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("refuses every order"));
    assert!(warned, "{status}");

    let unchecked = with(&redis, &[("durability", "memory")]);
    assert_eq!(post_order(&unchecked, &order_body(7)).await.status, 202, "`memory` checks nothing");
    eventually(Duration::from_secs(10), "the consumers to store the order appended at `memory`", || {
        app.kv.get("orders", "a7#v7").unwrap().is_some() && invoice_documents(&app) == 1
    })
    .await;
    let status = get(&unchecked, "/pipeline").await.json();
    assert_eq!(status["durability"]["confirmed_by"], "unchecked", "{status}");
}

/// `process` on the shipped setting (AOF, fsync every second) is confirmed by the
/// settings alone; `machine` there, on a Redis 7.0 (no `WAITAOF`), is refused naming
/// `appendfsync` and the way out; with `appendfsync always` it is confirmed by the settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_needs_every_write_fsynced_and_says_how_to_get_it() {
    let everysec = RedisServer::start();
    let process = with(&everysec, &[]);
    assert_eq!(post_order(&process, &order_body(0)).await.status, 202);
    let status = get(&process, "/pipeline").await.json();
    assert_eq!(status["durability"]["confirmed_by"], "settings", "{status}");
    assert_eq!(status["durability"]["server"]["appendfsync"], "everysec", "{status}");

    let machine = with(&everysec, &[("durability", "machine")]);
    let a = post_order(&machine, &order_body(1)).await;
    assert_problem(&a, 503, None, "`machine` on appendfsync everysec without WAITAOF");
    let d = detail(&a);
    assert!(d.contains("`appendfsync everysec` and no WAITAOF") && d.contains("set `appendfsync always`"), "{d}");
    assert_eq!(stream_length(&everysec), 1, "only the `process` order");

    let always = RedisServer::start_with(&["--appendfsync", "always"]);
    let machine = with(&always, &[("durability", "machine")]);
    assert_eq!(post_order(&machine, &order_body(2)).await.status, 202);
    let status = get(&machine, "/pipeline").await.json();
    assert_eq!(status["durability"]["confirmed_by"], "settings", "{status}");
}

/// On a Valkey (Redis 7.2's `WAITAOF`), `machine` with an fsync a second is confirmed by
/// `WAITAOF` after each append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_on_a_server_with_waitaof_waits_for_the_fsync() {
    let Some(valkey) = RedisServer::valkey_with(&[]) else { return };
    let app = with(&valkey, &[("durability", "machine")]);
    let started = Instant::now();
    for i in 0..3 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    eprintln!("3 orders at `machine` by WAITAOF (fsync every second) in {:?}", started.elapsed());
    let status = get(&app, "/pipeline").await.json();
    assert_eq!(status["durability"]["confirmed_by"], "waitaof", "{status}");
    assert_eq!(status["durability"]["server"]["waitaof"], true, "{status}");
}

/// A managed Redis that refuses `CONFIG` and has no `WAITAOF` cannot tell: `machine` is
/// refused until the operator declares what the provider gives, and `GET /pipeline` then
/// warns that it rests on the declaration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_server_cannot_tell_the_operator_declares_and_is_warned() {
    let redis = RedisServer::start_with(&["--appendfsync", "always", "--rename-command", "CONFIG", ""]);
    let undeclared = with(&redis, &[("durability", "machine")]);
    let a = post_order(&undeclared, &order_body(0)).await;
    assert_problem(&a, 503, None, "`machine` where CONFIG is refused");
    let d = detail(&a);
    assert!(d.contains("refuses CONFIG and has no WAITAOF") && d.contains("`redis_durability`"), "{d}");

    let declared = with(&redis, &[("durability", "machine"), ("redis_durability", "machine")]);
    assert_eq!(post_order(&declared, &order_body(1)).await.status, 202);
    let status = get(&declared, "/pipeline").await.json();
    assert_eq!(status["durability"]["confirmed_by"], "declared", "{status}");
    let warned = status["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("rests on"));
    assert!(warned, "{status}");
    // `process` needs no declaration: INFO tells that the append-only file is on.
    assert_eq!(post_order(&with(&redis, &[]), &order_body(2)).await.status, 202);
}

/// `replicas:1`: with the replica stopped (SIGSTOP), a POST is a `503` within the
/// timeout that says the order may have been accepted; the same `Idempotency-Key` once
/// the replica is back answers `202`, and the order is stored once, with one invoice.
/// Then the primary is SIGKILLed and the replica promoted: every order answered `202`
/// is on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_confirm_each_order_or_the_answer_says_it_may_be_accepted() {
    let primary = RedisServer::start_with(&["--appendfsync", "always"]);
    let replica = primary.replica(&[]);
    const TIMEOUT_MS: u64 = 500;
    let app = with(&primary, &[("durability", "replicas:1"), ("durability_timeout_ms", "500")]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let mut accepted = Vec::new();
    for i in 0..20 {
        let a = post_order(&app, &order_body(i)).await;
        assert_eq!(a.status, 202, "{}", a.text());
        accepted.push(a.json()["message_id"].as_str().unwrap().to_owned());
    }

    replica.pause(true);
    let started = Instant::now();
    let a = post_keyed(&app, &order_body(100), "retry-me").await;
    let took = started.elapsed();
    assert_problem(&a, 503, None, "a POST while the replica hangs");
    assert_eq!(a.header("retry-after"), Some("1"));
    let d = detail(&a);
    assert!(d.starts_with("the order may have been accepted (message "), "{d}");
    assert!(d.contains("0 of the 1 replicas it needs acknowledged it within 500 ms"), "{d}");
    assert!(d.contains("with the same idempotency-key"), "{d}");
    assert!(took >= Duration::from_millis(TIMEOUT_MS) && took < Duration::from_millis(TIMEOUT_MS + 1500), "{took:?}");

    replica.pause(false);
    let again = post_keyed(&app, &order_body(100), "retry-me").await;
    assert_eq!((again.status, again.header("idempotent-replayed")), (202, Some("true")), "{}", again.text());
    accepted.push(again.json()["message_id"].as_str().unwrap().to_owned());
    eventually(Duration::from_secs(10), "the retried order stored, with its invoice", || {
        app.kv.get("orders", "a100#v100").unwrap().is_some() && invoice_documents(&app) == 21
    })
    .await;
    assert_eq!(store_count(&app, "invoices", "invoice/a100#v100#"), 1, "one invoice for the order retried");
    let stored = |key: &str| -> String {
        let order: serde_json::Value = serde_json::from_slice(&app.kv.get("orders", key).unwrap().unwrap()).unwrap();
        order["message_id"].as_str().unwrap().to_owned()
    };
    let mut held: Vec<String> = (0..20).map(|i| stored(&format!("a{i}#v{i}"))).collect();
    held.push(stored("a100#v100"));
    assert_eq!(held, accepted, "each order stored is the one its 202 named");
    let appended: u64 = primary.client().get_connection().unwrap().hget("orders:stream:stats", "accepted").unwrap();
    assert_eq!(appended, 21, "one append for the 503 and its retry");

    // The primary lost, the replica promoted: it has every order answered 202 (the
    // count of appends is kept in the same script as each append) and the retried key.
    let mut primary = primary;
    primary.kill();
    let mut promoted = replica.client().get_connection().unwrap();
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut promoted).unwrap();
    let appended: u64 = promoted.hget("orders:stream:stats", "accepted").unwrap();
    assert_eq!(appended, 21, "every append the primary confirmed is on the promoted replica");
    let records: Vec<String> = promoted.keys("orders:stream:idem:*").unwrap();
    assert_eq!(records.len(), 1, "the idempotency record of the retried order");
}

/// The stores on the topic's Redis (`deploy/kubernetes/spin.toml`), with the append-only
/// file `deploy/kubernetes/redis.yaml` ships: Redis SIGKILLed while the consumers drain a
/// backlog, and started again from its files. A consumer acknowledges an entry only after
/// its store took the write, on the same server, so what a crash keeps of the
/// acknowledgements it keeps of the writes before them: every order is stored, with its
/// invoice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_on_redis_lose_nothing_when_it_is_killed_mid_drain() {
    const N: usize = 400;
    let mut redis = RedisServer::start_with(&["--requirepass", "pass-0123456789"]);
    let url = redis.url_as("default", "pass-0123456789");
    let app = load(Options {
        variables: vars(&redis, &[("redis_address", &url), ("visibility_timeout_ms", "1000")]),
        manifest: Some(spin_test_host::workspace_root().join("deploy/kubernetes/spin.toml")),
        ..Options::default()
    });
    for i in 0..N {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let supervisor = app.supervise_redis_trigger().await;
    eventually(Duration::from_secs(30), "the consumers to be draining", || store_count(&app, "orders", "") >= 50).await;
    let stored_at_kill = store_count(&app, "orders", "");
    redis.kill();
    redis.restart();
    eventually(Duration::from_secs(60), "every order and invoice stored after the crash", || {
        store_count(&app, "orders", "") == N && invoice_documents(&app) == N
    })
    .await;
    eprintln!("stores on Redis: killed with {stored_at_kill} of {N} orders stored; all {N} stored after it");
    supervisor.stop().await;
}

/// A `durability` or `durability_timeout_ms` that names no level is a `503` naming the
/// variable and what it takes, nothing is appended, and `GET /pipeline` says order-api
/// refuses every order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durability_variable_that_names_no_level_is_a_503_that_names_it() {
    let redis = RedisServer::start();
    for (name, value, says) in [
        ("durability", "disk", "memory, process, machine or replicas:N"),
        ("durability", "replicas:0", "memory, process, machine or replicas:N"),
        ("durability_timeout_ms", "0", "is not 1 to 60000"),
        ("redis_durability", "yes", "memory, process, machine or replicas:N"),
    ] {
        let app = with(&redis, &[(name, value)]);
        let a = post_order(&app, &order_body(0)).await;
        assert_problem(&a, 503, None, name);
        let d = detail(&a);
        assert!(d.contains(&format!("variable `{name}`")) && d.contains(says), "{name}={value}: {d}");
        let status = get(&app, "/pipeline").await.json();
        assert_eq!(status["durability"]["confirmed_by"], "refused", "{status}");
        assert!(status["durability"]["detail"].as_str().unwrap().contains(&format!("variable `{name}`")), "{status}");
    }
    assert_eq!(stream_length(&redis), 0, "nothing appended");
}
