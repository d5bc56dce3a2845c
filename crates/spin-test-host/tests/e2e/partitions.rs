//! The orders topic over three Redis primaries (`partition_addresses`), each with a
//! password: orders go to their account's partition, the consumers drain every
//! partition, and one partition's Redis killed mid-burst costs only its own accounts.

use std::collections::BTreeMap;
use std::io::Write;

use order_core::model::partition::partition_of;
use spin_test_host::redis_trigger::RedisTrigger;

use super::*;

const PASS: &str = "partition-pass-0123";

/// `n` servers, each with a password, as managed primaries are.
fn servers(n: usize) -> Vec<RedisServer> {
    (0..n).map(|_| RedisServer::start_with(&["--requirepass", PASS])).collect()
}

/// The app (`spin.toml`) with its topic over the first `partitions` of `servers`,
/// and `stores` (to go on with the stores of an app before it).
fn partitioned(
    servers: &[RedisServer],
    partitions: usize,
    stores: Option<Arc<spin_test_host::kv::KvStores>>,
) -> Arc<App> {
    let urls: Vec<String> = servers.iter().map(|s| s.url_as("default", PASS)).collect();
    let mut variables = vars(&servers[0], &[("visibility_timeout_ms", "1000")]);
    variables.insert("redis_address".into(), urls[0].clone());
    variables.insert("partition_addresses".into(), urls[1..partitions].join(","));
    for (i, s) in servers.iter().enumerate().take(partitions).skip(1) {
        variables.insert(format!("partition{i}_host"), s.host());
    }
    load(Options { variables, stores, ..Options::default() })
}

fn connection(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url_as("default", PASS)).unwrap().get_connection().unwrap()
}

/// Orders appended to the partition on `server` (the topic's `accepted` counter).
fn appended(server: &RedisServer) -> u64 {
    let n: Option<u64> =
        redis::cmd("HGET").arg("orders:stream:stats").arg("accepted").query(&mut connection(server)).unwrap();
    n.unwrap_or(0)
}

/// Order `i` of account `account`, with `quantity`.
fn order_of(account: &str, i: usize, quantity: u32) -> serde_json::Value {
    let mut body = order_body(i);
    body["order"]["accountid"] = account.into();
    body["order"]["details"]["quantity"] = quantity.into();
    body
}

/// Posts every body, 8 at a time, and returns each one's status, in order.
async fn post_all(app: &Arc<App>, bodies: Vec<serde_json::Value>) -> Vec<u16> {
    let mut statuses = vec![0; bodies.len()];
    for (chunk_start, chunk) in bodies.chunks(8).enumerate().map(|(c, b)| (c * 8, b.to_vec())) {
        let tasks: Vec<_> = chunk
            .into_iter()
            .map(|body| {
                let app = app.clone();
                tokio::spawn(async move { post_order(&app, &body).await.status })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            statuses[chunk_start + i] = t.await.unwrap();
        }
    }
    statuses
}

const GROUPS: [&str; 2] = ["order-writer", "invoice-writer"];

/// The accounts `acct0`, `acct1`, ... that the rule puts on partition `p` of `n`.
fn accounts_on(p: u32, n: u32) -> impl Iterator<Item = String> {
    (0..).map(|i| format!("acct{i}")).filter(move |a| partition_of(a, n) == p)
}

/// What `group`'s wake key holds on `server`: `bell`, `timer`, or nothing.
fn wake_key(server: &RedisServer, group: &str) -> Option<String> {
    redis::cmd("GET").arg(format!("orders:stream:wake:{group}")).query(&mut connection(server)).unwrap()
}

fn message_lines(app: &App, component: &str) -> usize {
    log_lines(app, component).iter().filter(|l| l["event"] == "message").count()
}

async fn started(app: &Arc<App>) -> RedisTrigger {
    app.start_redis_trigger().await.unwrap()
}

/// 3,000 orders from 3,000 accounts over three partitions: each partition holds its
/// accounts' orders (as the written rule computes them), none more than 40 % of all,
/// and both consumers store every order once, waking for the other partitions through
/// partition 0's channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_spread_over_three_partitions_and_each_is_stored_once() {
    let servers = servers(3);
    let app = partitioned(&servers, 3, None);
    let _trigger = started(&app).await;
    let bodies: Vec<_> = (0..3_000).map(|i| order_of(&format!("acct{i}"), i, 3)).collect();
    let statuses = post_all(&app, bodies).await;
    assert!(statuses.iter().all(|s| *s == 202), "every order is accepted");

    let mut expected = [0u64; 3];
    for i in 0..3_000 {
        expected[partition_of(&format!("acct{i}"), 3) as usize] += 1;
    }
    let counts: Vec<u64> = servers.iter().map(appended).collect();
    assert_eq!(counts, expected, "each order is on its account's partition");
    assert!(counts.iter().all(|c| *c <= 1_200), "none with more than 40 %: {counts:?}");

    eventually(Duration::from_secs(60), "both stores to hold all 3,000 orders, and both consumers to log them", || {
        store_count(&app, "orders", "") == 3_000
            && invoice_documents(&app) == 3_000
            && message_lines(&app, "order-writer") >= 3_000
            && message_lines(&app, "invoice-writer") >= 3_000
    })
    .await;
    let status = get(&app, "/pipeline").await.json();
    let partitions = status["partitions"].as_array().unwrap();
    assert_eq!(partitions.iter().map(|p| p["orders_accepted"].as_u64().unwrap()).collect::<Vec<_>>(), counts);
    assert_eq!(status["orders_accepted"], 3_000, "the totals: {status}");
    for g in status["groups"].as_array().unwrap() {
        assert_eq!(
            (g["acked"].as_u64(), g["lag"].as_u64(), g["pending"].as_u64()),
            (Some(3_000), Some(0), Some(0)),
            "{g}"
        );
    }
    assert_eq!(message_lines(&app, "order-writer"), 3_000, "each order handled once by order-writer");
    assert_eq!(message_lines(&app, "invoice-writer"), 3_000, "each order handled once by invoice-writer");
}

/// One account's orders all go to one partition, the one the rule names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_accounts_orders_all_land_on_its_partition() {
    let servers = servers(3);
    let app = partitioned(&servers, 3, None);
    let bodies: Vec<_> = (0..30).map(|i| order_of("acct-42", i, 3)).collect();
    assert!(post_all(&app, bodies).await.iter().all(|s| *s == 202));
    let mut counts = [0u64; 3];
    counts[partition_of("acct-42", 3) as usize] = 30;
    assert_eq!(servers.iter().map(appended).collect::<Vec<_>>(), counts);
}

/// Partition 1's Redis is killed (SIGKILL) with a backlog the consumers have not
/// reached, in the middle of a burst, and started again: its accounts' `POST`s answer
/// `503` meanwhile, every other account sees no `503`, and every order answered `202`
/// is stored, the killed partition's backlog with no further traffic (partition 0's
/// timer wakes the consumers for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_partition_killed_mid_burst_costs_only_its_accounts_and_loses_nothing() {
    let mut servers = servers(3);
    let app = partitioned(&servers, 3, None);
    let account = |i: usize| format!("acct{i}");
    // A backlog on every partition, the consumers not yet running.
    let first: Vec<_> = (0..600).map(|i| order_of(&account(i), i, 3)).collect();
    let mut statuses = post_all(&app, first).await;
    servers[1].kill();
    // The consumers start, and the platform clock's tick rings them, as it does for
    // work that waited while no consumer listened.
    let _trigger = started(&app).await;
    assert_eq!(call(&app, "GET", "/pipeline/tick", &[], Bytes::new()).await.status, 200);
    let second: Vec<_> = (600..1_200).map(|i| order_of(&account(i), i, 3)).collect();
    statuses.extend(post_all(&app, second).await);
    let backlog = (0..600).filter(|i| partition_of(&account(*i), 3) == 1).count();
    let elsewhere = statuses.iter().filter(|s| **s == 202).count() - backlog;
    eventually(Duration::from_secs(30), "every accepted order but partition 1's backlog stored", || {
        store_count(&app, "orders", "") == elsewhere
    })
    .await;
    // And the consumers idle: no bell out on the partitions that are up (a drain that
    // stopped at its budget rings for itself, and would come back on its own).
    eventually(Duration::from_secs(30), "no bell out on partitions 0 and 2", || {
        [&servers[0], &servers[2]].iter().all(|s| GROUPS.iter().all(|g| wake_key(s, g).as_deref() != Some("bell")))
    })
    .await;
    let down = get(&app, "/pipeline").await;
    assert_eq!(down.status, 200, "a partition down is not the status's 503");
    let down = down.json();
    assert!(down["partitions"][1]["unavailable"].is_string(), "{down}");
    assert!(
        down["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("partition 1 is unavailable")),
        "{down}"
    );
    let metrics = call(&app, "GET", "/pipeline/metrics", &[], Bytes::new()).await.text();
    assert!(metrics.contains("coffee_orders_partition_up{partition=\"1\"} 0\n"), "{metrics}");
    assert!(metrics.contains("coffee_orders_partition_up{partition=\"2\"} 1\n"), "{metrics}");
    servers[1].restart();

    let mut by_partition: BTreeMap<(u32, u16), usize> = BTreeMap::new();
    for (i, s) in statuses.iter().enumerate() {
        *by_partition.entry((partition_of(&account(i), 3), *s)).or_default() += 1;
    }
    let others_not_accepted: usize =
        by_partition.iter().filter(|((p, s), _)| *p != 1 && *s != 202).map(|(_, n)| n).sum();
    assert_eq!(others_not_accepted, 0, "the other partitions' accounts are unaffected: {by_partition:?}");
    assert_eq!(
        by_partition.get(&(1, 202)),
        Some(&backlog),
        "partition 1 accepted its backlog before it was killed: {by_partition:?}"
    );
    assert!(by_partition.get(&(1, 503)).copied().unwrap_or(0) > 0, "partition 1's accounts got 503s: {by_partition:?}");
    assert!(statuses.iter().all(|s| *s == 202 || *s == 503), "{by_partition:?}");

    let accepted: Vec<usize> = (0..statuses.len()).filter(|i| statuses[*i] == 202).collect();
    eventually(Duration::from_secs(30), "every accepted order stored, with no further traffic", || {
        accepted.iter().all(|i| stored(&app, "orders", &format!("{}#v{i}", account(*i))).is_some())
    })
    .await;
    assert_eq!(store_count(&app, "orders", ""), accepted.len(), "no order refused was stored");
}

/// Partition 1's Redis is paused (SIGSTOP: it takes connections and answers nothing,
/// as a hung or black-holed primary) and resumed. Meanwhile every other account's
/// `POST` is answered `202`, and a `POST` for partition 1's accounts waits: the
/// platform's outbound Redis has no timeout (docs/scaling.md). After the resume, that
/// `POST` is answered `202` and every order is stored, with no further traffic. How
/// long the other partitions' orders waited is printed, not asserted: the consumers'
/// trigger hands over one wake at a time, so a drain held by partition 1 holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_partition_paused_delays_its_accounts_and_loses_nothing() {
    let servers = servers(3);
    let app = partitioned(&servers, 3, None);
    let _trigger = started(&app).await;
    let account = |i: usize| format!("acct{i}");
    let on = |p: u32| (0..).filter(move |i| partition_of(&account(*i), 3) == p);
    let warm: Vec<_> = on(1).take(20).map(|i| order_of(&account(i), i, 3)).collect();
    assert!(post_all(&app, warm).await.iter().all(|s| *s == 202));
    eventually(Duration::from_secs(30), "the first 20 orders stored", || store_count(&app, "orders", "") == 20).await;

    servers[1].pause(true);
    let paused = std::time::Instant::now();
    let waiting_index = on(1).nth(20).unwrap();
    let waiting = tokio::spawn({
        let (app, body) = (app.clone(), order_of(&account(waiting_index), waiting_index, 3));
        async move { post_order(&app, &body).await.status }
    });
    let others: Vec<usize> = on(0).take(100).chain(on(2).take(100)).collect();
    let statuses = post_all(&app, others.iter().map(|i| order_of(&account(*i), *i, 3)).collect()).await;
    assert!(statuses.iter().all(|s| *s == 202), "the other partitions' accounts are answered: {statuses:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!waiting.is_finished(), "a POST for the paused partition's account waits for it");
    let stored_while_paused = store_count(&app, "orders", "") - 20;
    servers[1].pause(false);
    let resumed = std::time::Instant::now();

    assert_eq!(waiting.await.unwrap(), 202, "answered once its partition answers");
    let all = 20 + others.len() + 1;
    eventually(Duration::from_secs(30), "every order stored after the resume, with no further traffic", || {
        store_count(&app, "orders", "") == all && invoice_documents(&app) == all
    })
    .await;
    for i in others.iter().chain([&waiting_index]) {
        assert!(stored(&app, "orders", &format!("{}#v{i}", account(*i))).is_some(), "order {i} is stored");
    }
    let _ = writeln!(
        std::io::stderr(),
        "partition 1 paused {:?}: {stored_while_paused} of the other partitions' {} orders stored meanwhile, \
         all {all} stored {:?} after the resume",
        resumed - paused,
        others.len(),
        resumed.elapsed()
    );
}

/// `GET /pipeline` checks every partition's server, not only partition 0's: partition
/// 1 without its append-only file (so order-api refuses its accounts' orders at the
/// default level) and partition 2 set to evict any key are each named in a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_warns_of_each_partitions_server() {
    let servers = vec![
        RedisServer::start_with(&["--requirepass", PASS]),
        RedisServer::start_with(&["--requirepass", PASS, "--appendonly", "no"]),
        RedisServer::start_with(&["--requirepass", PASS, "--maxmemory-policy", "allkeys-lru"]),
    ];
    let app = partitioned(&servers, 3, None);
    let first_on = |p: u32| accounts_on(p, 3).next().unwrap();
    let refused = post_order(&app, &order_of(&first_on(1), 1, 3)).await;
    assert_problem(&refused, 503, None, "a POST for partition 1's account");
    let why = refused.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains("`appendonly no`"), "{why}");
    for p in [0, 2] {
        assert_eq!(post_order(&app, &order_of(&first_on(p), 2, 3)).await.status, 202, "partition {p}'s account");
    }
    let status = get(&app, "/pipeline").await.json();
    let warnings: Vec<&str> = status["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("partition 1: order-api refuses its accounts' orders (503)")
                && w.contains("appendonly")),
        "{warnings:?}"
    );
    assert!(warnings.iter().any(|w| w.starts_with("partition 2: ") && w.contains("allkeys-lru")), "{warnings:?}");
    assert_eq!(warnings.len(), 2, "partition 0's server puts nothing at risk: {warnings:?}");
    assert_eq!(status["durability"]["confirmed_by"], "settings", "the level shown is partition 0's: {status}");
}

/// The stores will not open while the only work is on partitions 1 and 2, and the bells
/// their orders took have expired unheard (no consumer was listening): the consumers a
/// doorbell wakes fail, partition 0 has nothing to pause, and still partition 0's timer
/// for the others was set, so once the stores open again every order is stored with no
/// further traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_that_will_not_open_leave_the_other_partitions_followed() {
    let servers = servers(3);
    let app = partitioned(&servers, 3, None);
    let accounts: Vec<String> = accounts_on(1, 3).take(10).chain(accounts_on(2, 3).take(10)).collect();
    let bodies = accounts.iter().enumerate().map(|(i, a)| order_of(a, i, 3)).collect();
    assert!(post_all(&app, bodies).await.iter().all(|s| *s == 202));
    // The timer those orders' forwarded rings kept expires while no consumer listens.
    tokio::time::sleep(Duration::from_millis(order_core::delivery::wake::BELL_LEASE_MS + 500)).await;
    app.kv.fail_opens("orders");
    app.kv.fail_opens("invoices");
    let _trigger = started(&app).await;
    ring(&app).await;
    eventually(Duration::from_secs(10), "both consumers to fail", || {
        app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed) >= 2
    })
    .await;
    app.kv.heal();
    // No order posted, no tick and no doorbell from here on.
    eventually(Duration::from_secs(15), "all 20 stored, order and invoice, with no further traffic", || {
        store_count(&app, "orders", "") == 20 && invoice_documents(&app) == 20
    })
    .await;
}

/// Two replicas of the consumers (two apps on the same partitions and stores, each with
/// its own Redis trigger: both hear every wake, so their drains of partition 0 run at
/// once) and an order on partition 1 whose first two writes fail (a delivery, or two):
/// with no traffic after the burst, it is retried on partition 0's timer for the others
/// and stored, whichever replica's drain ends last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_draining_at_once_keep_the_timer_for_the_other_partitions() {
    let servers = servers(3);
    let first = partitioned(&servers, 3, None);
    let second = partitioned(&servers, 3, Some(first.kv.clone()));
    let one = accounts_on(1, 3).next().unwrap();
    first.kv.poison_keys_times("orders", &format!("{one}#"), 2);
    let _replicas = (started(&first).await, started(&second).await);
    let mut bodies: Vec<_> = accounts_on(0, 3).take(60).enumerate().map(|(i, a)| order_of(&a, i, 3)).collect();
    bodies.insert(30, order_of(&one, 99, 3));
    assert!(post_all(&first, bodies).await.iter().all(|s| *s == 202));
    // No order posted, no tick and no doorbell from here on.
    eventually(Duration::from_secs(20), "partition 1's order stored after its two failed writes", || {
        stored(&first, "orders", &format!("{one}#v99")).is_some() && store_count(&first, "orders", "") == 61
    })
    .await;
    let handled = message_lines(&first, "order-writer") + message_lines(&second, "order-writer");
    assert!(handled > 61, "61 orders and at least one failed delivery, retried: {handled} message lines");
    assert!(message_lines(&second, "order-writer") > 0, "the second replica drained too");
}

/// The partitions go from 2 to 3 between two bursts of the same keys, the first not yet
/// drained: a third of the accounts move, so their newer orders may be stored before
/// their older ones, and still the newest wins for every key, and every order of both
/// bursts is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_from_two_partitions_to_three_keeps_the_newest_order_of_each_key() {
    let servers = servers(3);
    let before = partitioned(&servers, 2, None);
    let older: Vec<_> = (0..300).map(|i| order_of(&format!("acct{i}"), i, 1)).collect();
    assert!(post_all(&before, older).await.iter().all(|s| *s == 202));
    let moved =
        (0..300).filter(|i| partition_of(&format!("acct{i}"), 2) != partition_of(&format!("acct{i}"), 3)).count();
    assert!(moved > 50, "some accounts move: {moved}");

    let after = partitioned(&servers, 3, Some(before.kv.clone()));
    let _trigger = started(&after).await;
    let newer: Vec<_> = (0..300).map(|i| order_of(&format!("acct{i}"), i, 2)).collect();
    assert!(post_all(&after, newer).await.iter().all(|s| *s == 202));

    eventually(Duration::from_secs(60), "both bursts handled", || message_lines(&after, "order-writer") == 600).await;
    for i in 0..300 {
        let stored: serde_json::Value =
            serde_json::from_slice(&stored(&after, "orders", &format!("acct{i}#v{i}")).unwrap()).unwrap();
        assert_eq!(stored["order"]["details"]["quantity"], 2, "acct{i}: the newer order wins: {stored}");
    }
}

/// A message that fails on partitions 1 and 2 is dead-lettered on its own partition:
/// `GET /pipeline` counts each there and in the total, the listing names the partition,
/// and one redrive moves both back, each onto its own partition, where they are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_redrive_cover_every_partition() {
    let servers = servers(3);
    let app = partitioned(&servers, 3, None);
    let on = |p: u32| accounts_on(p, 3).next().unwrap();
    let (one, two) = (on(1), on(2));
    app.kv.poison_keys("orders", &format!("{one}#"));
    app.kv.poison_keys("orders", &format!("{two}#"));
    let _trigger = started(&app).await;
    let bodies = vec![order_of(&one, 1, 3), order_of(&two, 2, 3), order_of(&on(0), 3, 3)];
    assert!(post_all(&app, bodies).await.iter().all(|s| *s == 202));

    let dead = |status: &serde_json::Value, p: usize| status["partitions"][p]["groups"][0]["dead_letters"].clone();
    let status = settled_when(&app, Duration::from_secs(60), "both failures dead-lettered", |g| {
        g["group"] != "order-writer" || g["dead_letters"] == 2
    })
    .await;
    assert_eq!([dead(&status, 0), dead(&status, 1), dead(&status, 2)], [0, 1, 1], "{status}");

    let auth = format!("Bearer {ADMIN}");
    let listing =
        call(&app, "GET", "/pipeline/dead-letters?group=order-writer", &[("authorization", &auth)], Bytes::new())
            .await
            .json();
    assert_eq!(listing["total"], 2, "{listing}");
    let mut shown: Vec<(u64, String)> = listing["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["partition"].as_u64().unwrap(), l["accountid"].as_str().unwrap().to_owned()))
        .collect();
    shown.sort();
    assert_eq!(shown, vec![(1, one.clone()), (2, two.clone())]);

    app.kv.heal();
    let r = call(&app, "POST", "/pipeline/redrive?group=order-writer", &[("authorization", &auth)], Bytes::new()).await;
    assert_eq!((r.status, r.json()["redriven"].as_u64()), (200, Some(2)), "{}", r.text());
    eventually(Duration::from_secs(30), "both redriven orders stored", || {
        stored(&app, "orders", &format!("{one}#v1")).is_some() && stored(&app, "orders", &format!("{two}#v2")).is_some()
    })
    .await;
    assert_eq!(servers.iter().map(appended).collect::<Vec<_>>(), vec![1, 1, 1], "each stayed on its partition");
}

/// The hosted wiring (no Redis trigger: the consumers are woken by calls of their drain
/// endpoints) over three partitions: order-api calls a group's drain endpoint after an
/// order that took a bell on any partition, and each drain covers every partition, so
/// every order is stored with no scheduler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_wiring_drains_every_partition() {
    let servers = servers(3);
    let urls: Vec<String> = servers.iter().map(|s| s.url_as("default", PASS)).collect();
    let partitions = urls[1..].join(",");
    let (host1, host2) = (servers[1].host(), servers[2].host());
    let app = super::hosted::hosted_app(
        &servers[0],
        &[
            ("redis_address", &urls[0]),
            ("partition_addresses", &partitions),
            ("partition1_host", &host1),
            ("partition2_host", &host2),
        ],
    );
    let (_addr, _listener) = app.listen(0).await.unwrap();
    let bodies: Vec<_> = (0..300).map(|i| order_of(&format!("acct{i}"), i, 3)).collect();
    assert!(post_all(&app, bodies).await.iter().all(|s| *s == 202));
    assert!(servers.iter().all(|s| appended(s) > 50), "every partition took orders");
    eventually(Duration::from_secs(60), "all 300 orders and invoices stored", || {
        store_count(&app, "orders", "") == 300 && invoice_documents(&app) == 300
    })
    .await;
}

/// `partition_addresses` set without its `partition1_host`: Spin refuses the host, so
/// that partition's accounts get a `503` that names both variables (and no password),
/// while partition 0's accounts are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_whose_host_is_not_allowed_is_a_503_naming_its_variables() {
    let servers = servers(2);
    let mut variables = vars(&servers[0], &[]);
    variables.insert("redis_address".into(), servers[0].url_as("default", PASS));
    variables.insert("partition_addresses".into(), servers[1].url_as("default", PASS));
    let app = load(Options { variables, ..Options::default() });
    let on = |p: u32| accounts_on(p, 2).next().unwrap();
    assert_eq!(post_order(&app, &order_of(&on(0), 0, 3)).await.status, 202);
    let refused = post_order(&app, &order_of(&on(1), 1, 3)).await;
    assert_problem(&refused, 503, None, "partition 1's host is not allowed");
    let detail = refused.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("`partition_addresses`") && detail.contains("`partition1_host`"), "{detail}");
    assert!(!detail.contains(PASS), "{detail}");
}
