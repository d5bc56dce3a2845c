//! Several replicas of the app (`deploy/kubernetes/spin.toml`: the stores on Redis) on
//! one Redis with a password: each replica has its own HTTP listener, its own Redis
//! trigger and its own instances, as separate `spin up` processes or SpinKube pods do.

use std::collections::{BTreeMap, BTreeSet};

use order_cli::{post, Client};

use super::*;

const PASS: &str = "replica-pass-0123";

fn replica(redis: &RedisServer) -> Arc<App> {
    let url = redis.url_as("default", PASS);
    load(Options {
        variables: vars(redis, &[("redis_address", &url), ("visibility_timeout_ms", "1000")]),
        manifest: Some(spin_test_host::workspace_root().join("deploy/kubernetes/spin.toml")),
        ..Options::default()
    })
}

async fn post_many(addr: std::net::SocketAddr, n: usize, prefix: &str) -> post::Report {
    let client = Client::new(&format!("http://{addr}"), Duration::from_secs(10));
    let opts = post::Options {
        path: "/order".into(),
        count: n,
        concurrency: 16,
        prefix: prefix.into(),
        verify: false,
        deadline: Duration::ZERO,
        progress: false,
    };
    tokio::task::spawn_blocking(move || post::run(&client, &opts)).await.unwrap()
}

/// The orders `apps` accepted (a `202` logged by order-api): key -> message id.
fn accepted(apps: &[&Arc<App>]) -> BTreeMap<String, String> {
    apps.iter()
        .flat_map(|a| log_lines(a, "order-api"))
        .filter(|l| l["status"] == 202)
        .map(|l| {
            let key = format!("{}#{}", l["accountid"].as_str().unwrap(), l["vendorid"].as_str().unwrap());
            (key, l["message_id"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn stored_message_id(app: &App, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&stored(app, "orders", key)?).unwrap();
    v["message_id"].as_str().map(str::to_owned)
}

/// 10,000 orders posted across two replicas; one replica is killed mid-burst (its
/// listener and its consumers, in the middle of their batches) and started again. Every
/// order any replica accepted is in the order store once, with its own message, and has
/// its invoice: what the killed replica had claimed came back to the others after the
/// visibility timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_work_and_one_killed_mid_burst_loses_nothing() {
    let redis = RedisServer::start_with(&["--requirepass", PASS]);
    let (a, b) = (replica(&redis), replica(&redis));
    let trigger_a = a.start_redis_trigger().await.unwrap();
    let trigger_b = b.start_redis_trigger().await.unwrap();
    let (addr_a, _listener_a) = a.listen(0).await.unwrap();
    let (addr_b, listener_b) = b.listen(0).await.unwrap();

    let posting_a = tokio::spawn(post_many(addr_a, 5_000, "ra-"));
    let posting_b = tokio::spawn(post_many(addr_b, 5_000, "rb-"));
    eventually(Duration::from_secs(60), "replica b to store 1,000 orders", || messages(&b, "order-writer") >= 1_000)
        .await;
    // Killed: its consumers stop mid-batch, its listener goes away under the load.
    trigger_b.stop().await.unwrap();
    drop(listener_b);
    let report_b = posting_b.await.unwrap();
    let report_a = posting_a.await.unwrap();
    assert_eq!(report_a.accepted, 5_000, "{report_a}");
    assert!(report_b.accepted < 5_000, "replica b was killed before the end of its share: {report_b}");

    // Started again, as Kubernetes restarts a pod.
    let b2 = replica(&redis);
    let _trigger_b2 = b2.start_redis_trigger().await.unwrap();
    let accepted = accepted(&[&a, &b, &b2]);
    assert!(accepted.len() >= 5_000 + report_b.accepted, "every 202 a client saw is in a log");
    eventually(Duration::from_secs(60), "every accepted order in both stores", || {
        store_count(&a, "orders", "") == accepted.len() && invoice_documents(&a) == accepted.len()
    })
    .await;
    let keys: BTreeSet<String> = store_keys(&a, "orders").into_iter().collect();
    assert_eq!(keys, accepted.keys().cloned().collect(), "exactly the accepted orders, each once");
    for (key, id) in &accepted {
        assert_eq!(stored_message_id(&a, key).as_deref(), Some(id.as_str()), "{key}");
    }
    assert!(trigger_a.is_running());
    // Both replicas' pages and scrapes count the same accepted orders: the counter is in Redis.
    for replica in [&a, &b2] {
        let status = get(replica, "/pipeline").await.json();
        assert_eq!(status["orders_accepted"], accepted.len(), "{status}");
        let metrics = get(replica, "/pipeline/metrics").await.text();
        assert!(metrics.contains(&format!("\ncoffee_orders_accepted_total {}\n", accepted.len())), "{metrics}");
    }
}

/// The same keys posted through both replicas at once, several times each: on every key
/// the newest accepted order wins, whichever replica's consumer wrote last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_order_wins_on_every_key_across_replicas() {
    let redis = RedisServer::start_with(&["--requirepass", PASS]);
    let (a, b) = (replica(&redis), replica(&redis));
    let _ta = a.start_redis_trigger().await.unwrap();
    let _tb = b.start_redis_trigger().await.unwrap();
    let mut posts = Vec::new();
    for round in 0..4 {
        for i in 0..100 {
            let app = if (i + round) % 2 == 0 { a.clone() } else { b.clone() };
            posts.push(tokio::spawn(async move { post_order(&app, &order_body(i)).await }));
        }
    }
    let mut newest: BTreeMap<String, String> = BTreeMap::new();
    for p in posts {
        let answer = p.await.unwrap();
        assert_eq!(answer.status, 202, "{}", answer.text());
        let v = answer.json();
        let key = format!("{}#{}", v["accountid"].as_str().unwrap(), v["vendorid"].as_str().unwrap());
        let id = v["message_id"].as_str().unwrap().to_owned();
        let slot = newest.entry(key).or_default();
        if id > *slot {
            *slot = id;
        }
    }
    eventually(Duration::from_secs(30), "all 400 orders handled by the order writers", || {
        messages(&a, "order-writer") + messages(&b, "order-writer") >= 400
    })
    .await;
    for (key, id) in &newest {
        assert_eq!(stored_message_id(&a, key).as_deref(), Some(id.as_str()), "{key}: the newest order");
    }
    // The invoice writers run beside the order writers, not after them.
    eventually(Duration::from_secs(30), "400 invoice documents", || invoice_documents(&a) >= 400).await;
    assert_eq!(invoice_documents(&a), 400, "an invoice per message");
}

fn messages(app: &App, component: &str) -> usize {
    log_lines(app, component).iter().filter(|l| l["event"] == "message").count()
}

/// The shared stores are on Redis: while it is down, reads answer `503` (nothing is
/// lost, and no `500`); once it is back, they answer again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_503_while_the_shared_store_is_down() {
    let mut redis = RedisServer::start_with(&["--requirepass", PASS, "--appendonly", "yes"]);
    let a = replica(&redis);
    let _trigger = a.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&a, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "the order and its invoice", || {
        stored(&a, "orders", "a0#v0").is_some() && invoice_documents(&a) == 1
    })
    .await;
    redis.kill();
    for path in ["/order?accountid=a0&vendorid=v0", "/invoice?accountid=a0&vendorid=v0"] {
        let answer = get(&a, path).await;
        assert_problem(&answer, 503, None, path);
        assert!(!answer.text().contains(PASS), "no password in the answer");
    }
    redis.restart();
    let answer = get(&a, "/order?accountid=a0&vendorid=v0").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

/// With its store on the topic's Redis, a consumer invocation opens one connection, its
/// queue's, and the store shares it: Redis sees half the connections a pod would
/// otherwise open per wake-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_on_the_redis_store_opens_one_connection_per_invocation() {
    let redis = RedisServer::start_with(&["--requirepass", PASS]);
    let app = replica(&redis);
    for i in 0..20 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let (connections, invocations, requests) =
        (count(&app.stats.redis_connections), count(&app.stats.invocations), count(&app.stats.http_requests));
    let _trigger = app.start_redis_trigger().await.unwrap();
    ring(&app).await;
    eventually(Duration::from_secs(10), "both stores", || {
        store_count(&app, "orders", "") == 20 && invoice_documents(&app) == 20
    })
    .await;
    settled_when(&app, Duration::from_secs(10), "both groups acknowledging all 20", |g| g["acked"] == 20).await;
    // Every request since (the ring, the status reads) is pipeline-api's, one connection each.
    let requests = count(&app.stats.http_requests) - requests;
    let consumed = count(&app.stats.invocations) - invocations - requests;
    assert!(consumed >= 2, "both consumers ran: {consumed} invocations");
    assert_eq!(
        count(&app.stats.redis_connections) - connections - requests,
        consumed,
        "one connection per consumer invocation"
    );
}
