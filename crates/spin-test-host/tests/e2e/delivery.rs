//! At-least-once delivery through the real components: retries on their own clock,
//! catch-up after an outage, dead letters and redrive, duplicates, coalesced doorbells,
//! a burst with a restart, and a Redis restart. No test here rings the doorbell in a
//! loop: each rings at most once, as an operator would, and then waits for a named
//! condition.

use super::*;
use redis::AsyncCommands;
use std::sync::atomic::Ordering;

/// The app with these visibility timeout and extra variables.
fn with(redis: &RedisServer, visibility_ms: &str, extra: &[(&str, &str)]) -> Arc<App> {
    let mut v = vec![("visibility_timeout_ms", visibility_ms)];
    v.extend_from_slice(extra);
    load(Options { variables: vars(redis, &v), ..Options::default() })
}

fn pipeline_group(status: &serde_json::Value, group: &str) -> serde_json::Value {
    status["groups"].as_array().unwrap().iter().find(|g| g["group"] == group).unwrap().clone()
}

/// Waits until `GET /pipeline` shows every group with nothing pending, and returns it.
async fn settled(app: &Arc<App>, limit: Duration) -> serde_json::Value {
    settled_when(app, limit, "every group to settle", |g| g["pending"] == 0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_comes_back_on_the_retry_clock_with_no_traffic() {
    const V: u64 = 1000;
    let redis = RedisServer::start();
    let app = with(&redis, &V.to_string(), &[]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    // The order store refuses this order's first two writes, then recovers by itself.
    app.kv.poison_keys_times("orders", "a0#v0", 2);
    let posted = Instant::now();
    let accepted = post_order(&app, &order_body(0)).await;
    assert_eq!(accepted.status, 202);
    let id = accepted.json()["message_id"].as_str().unwrap().to_owned();
    // No order posted and no doorbell rung from here on.
    eventually(Duration::from_millis(3 * V), "the order, within three visibility timeouts", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some()
    })
    .await;
    let took = posted.elapsed();
    let lines_of = |c| log_lines(&app, c).into_iter().filter(|l| l["message_id"] == id.as_str()).collect::<Vec<_>>();
    eventually(Duration::from_secs(5), "order-writer's three log lines", || lines_of("order-writer").len() == 3).await;
    let lines = lines_of("order-writer");
    let outcomes: Vec<_> =
        lines.iter().map(|l| (l["outcome"].as_str().unwrap(), l["deliveries"].as_u64().unwrap())).collect();
    assert_eq!(outcomes, vec![("will-retry", 1), ("will-retry", 2), ("stored", 3)]);
    assert!(lines[0]["reason"].as_str().unwrap().contains("injected failure"));
    // Each retry came about one visibility timeout after the failure before it.
    assert!(took >= Duration::from_millis(2 * V), "retried before the visibility timeout: {took:?}");
    eprintln!("stored {took:?} after the post, with two failures and a visibility timeout of {V} ms");
    let status = settled(&app, Duration::from_secs(5)).await;
    assert_eq!(status["retry_clock"]["state"], "on", "{status}");
    assert_eq!(pipeline_group(&status, "order-writer")["pending"], 0);
    // The consumer turned on the keyspace notifications the clock needs, keeping the rest.
    let mut conn = redis.client().get_multiplexed_async_connection().await.unwrap();
    let flags: Vec<String> =
        redis::cmd("CONFIG").arg("GET").arg("notify-keyspace-events").query_async(&mut conn).await.unwrap();
    assert!(flags[1].contains('K') && (flags[1].contains('x') || flags[1].contains('A')), "{flags:?}");
    assert_eq!(lines_of("invoice-writer").len(), 1, "the invoice writer is a group of its own: never held back");
}

/// Both stores will not open (a provider that cannot reach its backend fails the open)
/// on a fresh Redis, whose keyspace notifications are off: no consumer ever claims a
/// message, yet each failed invocation pauses its group, which arms the retry clock, and
/// turns on the notifications the clock is heard by. The stores come back; with no
/// further order and no doorbell, every order is stored within about a visibility
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_that_will_not_open_leave_the_retry_clock_armed_and_heard() {
    const V: u64 = 1000;
    let redis = RedisServer::start();
    let app = with(&redis, &V.to_string(), &[]);
    app.kv.fail_opens("orders");
    app.kv.fail_opens("invoices");
    // Accepted while no consumer listens, then one ring (as scripts/run's supervisor
    // rings after a start): one invocation per consumer, and nothing else queued.
    for i in 0..20 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let _trigger = app.start_redis_trigger().await.unwrap();
    ring(&app).await;
    // Both fail (Spin's "handler failed"): their stores will not open.
    eventually(Duration::from_secs(10), "both consumers to fail", || {
        app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed) >= 2
    })
    .await;
    app.kv.heal();
    let healed = Instant::now();
    // No order posted and no doorbell rung from here on.
    let status =
        settled_when(&app, Duration::from_millis(5 * V), "all 20 acknowledged by both groups", |g| g["acked"] == 20)
            .await;
    eprintln!("stored {:?} after the stores opened again", healed.elapsed());
    assert_eq!(status["retry_clock"]["state"], "on", "{status}");
    assert_eq!(app.kv.count("orders", "a"), 20);
    assert_eq!(invoice_documents(&app), 20);
}

/// A consumer that traps in the middle of its batch (its store write kills it, so none
/// of its own code runs after) leaves its messages claimed and its bell taken. With no
/// further order and no ring, the bell's lease expires and is heard, and every order is
/// stored within the lease and a visibility timeout of the store's recovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_traps_mid_batch_leaves_its_group_woken_again() {
    const V: u64 = 1000;
    let redis = RedisServer::start();
    let app = with(&redis, &V.to_string(), &[]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    app.kv.trap_writes("orders");
    for i in 0..20 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    eventually(Duration::from_secs(10), "order-writer to trap", || {
        app.stats.handler_failures.load(Ordering::Relaxed) >= 1
    })
    .await;
    let status = get(&app, "/pipeline").await.json();
    assert!(pipeline_group(&status, "order-writer")["pending"].as_u64() > Some(0), "claimed, not settled: {status}");
    app.kv.heal();
    let healed = Instant::now();
    // No order posted and no doorbell rung from here on.
    let limit = Duration::from_millis(order_core::delivery::wake::BELL_LEASE_MS + 2 * V) + Duration::from_secs(2);
    eventually(limit, "every order stored after the trap", || app.kv.count("orders", "") == 20).await;
    eprintln!("stored {:?} after the store stopped trapping", healed.elapsed());
    assert_eq!(invoice_documents(&app), 20, "the other group never waited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_refuses_config_gets_a_clear_message() {
    let redis = RedisServer::start_with(&["--save", "", "--appendonly", "yes", "--rename-command", "CONFIG", ""]);
    const V: u64 = 50;
    let app = with(&redis, &V.to_string(), &[]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    app.kv.poison_keys_times("orders", "a0#v0", 1);
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    let clock_line = || all_log_lines(&app, "order-writer").into_iter().find(|l| l["event"] == "retry-clock");
    eventually(Duration::from_secs(10), "the retry-clock line", || clock_line().is_some()).await;
    let line = clock_line().unwrap();
    assert_eq!(line["outcome"], "off", "{line}");
    let reason = line["reason"].as_str().unwrap();
    assert!(
        reason.contains("notify-keyspace-events Kx") && reason.contains("GET /pipeline/tick"),
        "the documented message: {reason}"
    );
    let status = get(&app, "/pipeline").await.json();
    assert_eq!(status["retry_clock"]["state"], "off", "{status}");
    assert!(status["retry_clock"]["detail"].as_str().unwrap().contains("notify-keyspace-events"), "{status}");
    assert!(app.kv.get("orders", "a0#v0").unwrap().is_none());
    // Retries still happen on the next ring past the visibility timeout: nothing is
    // lost, only later.
    tokio::time::sleep(Duration::from_millis(4 * V)).await;
    assert!(app.kv.get("orders", "a0#v0").unwrap().is_none(), "no keyspace clock, no retry by itself");
    // The platform's clock still drains it, within a period.
    let clock = spin_test_host::clocks::kubernetes();
    let _ticking = clock.run(&app);
    eventually(clock.period + Duration::from_secs(2), "the order at the platform clock's first tick", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_posted_while_consumers_are_down_are_stored_when_they_return() {
    let redis = RedisServer::start();
    let app = with(&redis, "50", &[]);
    for i in 0..50 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let status = get(&app, "/pipeline").await.json();
    assert_eq!(status["stream_length"], 50);
    assert_eq!(pipeline_group(&status, "order-writer")["lag"], 50, "{status}");
    assert!(app.kv.keys("orders").is_empty());

    // The consumers come back under their supervisor, which rings once.
    let supervisor = app.supervise_redis_trigger().await;
    eventually(Duration::from_secs(10), "the backlog in both stores", || {
        app.kv.count("orders", "") == 50 && invoice_documents(&app) == 50
    })
    .await;
    let status = settled(&app, Duration::from_secs(5)).await;
    for g in ["order-writer", "invoice-writer"] {
        let s = pipeline_group(&status, g);
        assert_eq!(
            (s["lag"].as_u64(), s["pending"].as_u64(), s["acked"].as_u64()),
            (Some(0), Some(0), Some(50)),
            "{g}: {s}"
        );
    }
    assert!(status["stream_length"].as_u64().unwrap() <= 1, "acknowledged entries are trimmed: {status}");
    supervisor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_bigger_than_one_invocation_drains_after_one_ring() {
    let redis = RedisServer::start();
    // Batches of 10 and a 1 ms budget: every invocation hands over after one batch.
    let app = with(
        &redis,
        "30000",
        &[("order_writer_batch_size", "10"), ("invoice_writer_batch_size", "10"), ("drain_budget_ms", "1")],
    );
    for i in 0..300 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let _trigger = app.start_redis_trigger().await.unwrap();
    ring(&app).await;
    eventually(Duration::from_secs(30), "300 orders and 300 invoices", || {
        app.kv.count("orders", "") == 300 && invoice_documents(&app) == 300
    })
    .await;
    let wakes = app.stats.redis_messages.load(Ordering::Relaxed);
    assert!(wakes >= 30, "the backlog took one invocation per batch, each ringing for the next: {wakes} messages");
    eprintln!("300 orders drained in batches of 10 after one ring: {wakes} doorbells in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_then_redriven_with_a_backlog_behind_it() {
    let redis = RedisServer::start();
    let app = with(&redis, "100", &[("max_deliveries", "3")]);
    let trigger = app.start_redis_trigger().await.unwrap();
    app.kv.poison_keys("orders", "a13#");
    assert_eq!(post_order(&app, &order_body(13)).await.status, 202);
    assert_eq!(post_order(&app, &order_body(14)).await.status, 202);
    // Three deliveries on the retry clock, then the dead-letter log: no ring needed.
    let dead_letters = |app: &Arc<App>| {
        let app = app.clone();
        async move { pipeline_group(&get(&app, "/pipeline").await.json(), "order-writer")["dead_letters"].clone() }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while dead_letters(&app).await != 1 {
        assert!(Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = settled(&app, Duration::from_secs(5)).await;
    let ow = pipeline_group(&status, "order-writer");
    assert_eq!((ow["pending"].as_u64(), ow["acked"].as_u64()), (Some(0), Some(1)), "{ow}");
    let iw = pipeline_group(&status, "invoice-writer");
    assert_eq!((iw["dead_letters"].as_u64(), iw["acked"].as_u64()), (Some(0), Some(2)), "{iw}");
    assert!(app.kv.get("orders", "a14#v14").unwrap().is_some(), "the order behind it was not held up");
    assert!(app.kv.get("orders", "a13#v13").unwrap().is_none());
    let mut conn = redis.client().get_multiplexed_async_connection().await.unwrap();
    let dead: redis::streams::StreamRangeReply = conn.xrange_all("orders:stream:dead:order-writer").await.unwrap();
    let reason: String = dead.ids[0].get("reason").unwrap();
    assert!(reason.contains("injected failure"), "{reason}");
    // An operator sees it, with its reason, through the API (admin token only).
    let listing = "/pipeline/dead-letters?group=order-writer";
    assert_problem(&get(&app, listing).await, 403, None, "a read key is not the admin token");
    let shown = call(&app, "GET", listing, &[("authorization", &format!("Bearer {ADMIN}"))], Bytes::new()).await.json();
    assert_eq!(shown["total"], 1, "{shown}");
    let letter = &shown["dead_letters"][0];
    assert_eq!((letter["accountid"].as_str(), letter["deliveries"].as_u64()), (Some("a13"), Some(3)), "{shown}");
    assert_eq!(letter["reason"].as_str(), Some(reason.as_str()));

    // Redrive needs the admin token.
    let redrive = "/pipeline/redrive?group=order-writer";
    assert_problem(&call(&app, "POST", redrive, &[], Bytes::new()).await, 401, None, "no token");
    assert_problem(
        &call(&app, "POST", redrive, &[("authorization", "Bearer wrong-token-0000000")], Bytes::new()).await,
        403,
        None,
        "wrong token",
    );
    // With the consumers down: the fix, the redrive, and a backlog of 100 behind it.
    trigger.stop().await.unwrap();
    app.kv.heal();
    let auth = format!("Bearer {ADMIN}");
    let r = call(&app, "POST", redrive, &[("authorization", &auth)], Bytes::new()).await;
    assert_eq!((r.status, r.json()["redriven"].as_u64()), (200, Some(1)), "{}", r.text());
    for i in 100..200 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let _supervisor = app.supervise_redis_trigger().await;
    eventually(Duration::from_secs(10), "the redriven order and the backlog in both stores", || {
        app.kv.get("orders", "a13#v13").unwrap().is_some()
            && app.kv.count("orders", "") == 102
            && invoice_documents(&app) == 102
    })
    .await;
    let status = get(&app, "/pipeline").await.json();
    assert_eq!(pipeline_group(&status, "order-writer")["dead_letters"], 0);
    assert_no_secrets(&app, &["wrong-token-0000000"]);
    assert_eq!(
        log_lines(&app, "invoice-writer").iter().filter(|l| l["accountid"] == "a13").count(),
        1,
        "the invoice writer did not get the redrive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_late_redeliveries_change_nothing() {
    let redis = RedisServer::start();
    let app = with(&redis, "50", &[]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let mut newer = order_body(0);
    newer["order"]["details"]["quantity"] = 7.into();
    assert_eq!(post_order(&app, &newer).await.status, 202);
    eventually(Duration::from_secs(10), "the order and its invoice", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some() && invoice_documents(&app) == 1
    })
    .await;
    let stored = app.kv.get("orders", "a0#v0").unwrap().unwrap();
    let stored_json: serde_json::Value = serde_json::from_slice(&stored).unwrap();

    // The same message twice more, and an older one for the same key, straight onto
    // the topic; then one ring, as an operator would after such a repair.
    let same = serde_json::json!({"version": 1, "id": stored_json["message_id"], "published_at": stored_json["published_at"],
        "traceparent": stored_json["traceparent"], "order": stored_json["order"]});
    let mut older = same.clone();
    older["id"] = "00000000-0000-7000-8000-000000000000".into();
    older["order"]["details"]["quantity"] = 1.into();
    let mut conn = redis.client().get_multiplexed_async_connection().await.unwrap();
    for e in [&same, &same, &older] {
        let _: String = conn.xadd("orders:stream", "*", &[("e", serde_json::to_vec(e).unwrap())]).await.unwrap();
    }
    ring(&app).await;
    eventually(Duration::from_secs(10), "three more log lines from each consumer", || {
        log_lines(&app, "order-writer").len() == 4 && log_lines(&app, "invoice-writer").len() == 4
    })
    .await;
    assert_eq!(app.kv.get("orders", "a0#v0").unwrap().unwrap(), stored, "the stored order is unchanged");
    let outcomes: Vec<_> =
        log_lines(&app, "order-writer").iter().map(|l| l["outcome"].as_str().unwrap().to_owned()).collect();
    assert_eq!(outcomes, vec!["stored", "stored", "stored", "superseded"]);
    // The duplicate rewrote its own invoice; the older message got its own, and the
    // index still names the newest.
    assert_eq!(invoice_documents(&app), 2);
    let latest = String::from_utf8(app.kv.get("invoices", "latest-by-order/a0#v0").unwrap().unwrap()).unwrap();
    assert!(latest.ends_with(stored_json["message_id"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_with_a_consumer_restart_loses_nothing() {
    let redis = RedisServer::start();
    let app = with(&redis, "1000", &[]);
    let trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    let start = Instant::now();
    let poster = tokio::spawn(super::burst::post_all(addr, super::burst::ORDERS, false));

    // Stop the consumers mid-burst (an invocation in flight is cut off, as a crash
    // would), keep posting, then start them again.
    eventually(Duration::from_secs(60), "a third of the orders stored", || {
        app.kv.count("orders", "") > super::burst::ORDERS / 3
    })
    .await;
    trigger.stop().await.unwrap();
    let stored_at_stop = app.kv.count("orders", "");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let trigger = app.start_redis_trigger().await.unwrap();
    let report = poster.await.unwrap();
    let ingest = start.elapsed();
    assert!(report.complete(), "{report}");

    // The batches cut off at the stop come back on the retry clock; the rest on the
    // doorbells of the orders posted after the restart.
    eventually(Duration::from_secs(120), "every order in both stores", || {
        app.kv.count("orders", "") == super::burst::ORDERS && invoice_documents(&app) == super::burst::ORDERS
    })
    .await;
    let drain = start.elapsed();
    assert!(trigger.is_running());
    let status = settled(&app, Duration::from_secs(10)).await;
    for g in ["order-writer", "invoice-writer"] {
        let s = pipeline_group(&status, g);
        assert_eq!((s["pending"].as_u64(), s["dead_letters"].as_u64()), (Some(0), Some(0)), "{g}: {s}");
    }
    let deliveries = log_lines(&app, "order-writer").len() + log_lines(&app, "invoice-writer").len();
    eprintln!(
        "burst with restart: {} orders posted (ingest {:.2} s), consumers stopped at {stored_at_stop} stored and restarted; \
         {} orders and {} invoices stored, {deliveries} deliveries, drained after {:.2} s; handler failures {}",
        report.posted,
        ingest.as_secs_f64(),
        app.kv.count("orders", ""),
        invoice_documents(&app),
        drain.as_secs_f64(),
        app.stats.handler_failures.load(Ordering::Relaxed)
    );
}

/// Consumers stopped mid-burst (batches cut off, claimed and not acknowledged) and
/// back only after their bell's lease and every retry timer expired unheard, as a
/// kubelet restarts a crashed pod: with no order, no operator and no ring, what they
/// left is stored within the visibility timeout plus one period of the platform's
/// clock, as each wiring's files declare it (SpinKube's probe, the systemd timer,
/// `scripts/run`'s loop). Without the clock it would wait for the next order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_back_after_every_lease_drain_on_each_wiring_s_clock() {
    use spin_test_host::clocks;
    let runs = [clocks::kubernetes(), clocks::systemd(), clocks::scripts_run()].map(|clock| async move {
        const V: u64 = 2_000;
        const N: usize = 600;
        let redis = RedisServer::start();
        let app = with(&redis, &V.to_string(), &[]);
        let trigger = app.start_redis_trigger().await.unwrap();
        let poster = {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..N {
                    assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
                }
            })
        };
        eventually(Duration::from_secs(60), "some orders stored", || app.kv.count("orders", "") > 50).await;
        trigger.stop().await.unwrap();
        poster.await.unwrap();
        // Down for longer than every lease: the bells and timers expire with no one
        // listening.
        tokio::time::sleep(Duration::from_millis(delivery_lease_ms() + V + 500)).await;
        let _trigger = app.start_redis_trigger().await.unwrap();
        let back = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let left = N - app.kv.count("orders", "");
        assert!(left > 0, "{}: nothing was left to drain: the test shows nothing", clock.wiring);
        let ticking = clock.run(&app);
        let limit = Duration::from_millis(V) + clock.period + Duration::from_secs(3);
        eventually(limit, &format!("{}: every order in both stores", clock.wiring), || {
            app.kv.count("orders", "") == N && invoice_documents(&app) == N
        })
        .await;
        let took = back.elapsed();
        assert!(ticking.statuses.lock().unwrap().iter().all(|s| *s == 200), "{}", clock.wiring);
        eprintln!(
            "{}: {left} orders left by the stopped consumers, all stored {took:?} after they came back",
            clock.wiring
        );
    });
    futures::future::join_all(runs).await;
}

/// `GET /pipeline/tick`, as a probe calls it: `200` at once, with or without work,
/// with Redis up or down; it rings only groups with work waiting, once per second
/// however many replicas call it, and says so in one log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tick_answers_200_always_and_rings_only_groups_with_work() {
    let mut redis = RedisServer::start();
    let app = with(&redis, "1000", &[]);
    let tick = || async { call(&app, "GET", "/pipeline/tick", &[], Bytes::new()).await };
    let ticks = || all_log_lines(&app, "pipeline-api").into_iter().filter(|l| l["event"] == "tick").collect::<Vec<_>>();
    assert_eq!(tick().await.status, 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(ticks().is_empty(), "nothing waits on a fresh topic: no ring");

    for i in 0..3 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Two replicas probed at once: one ring.
    let (a, b) = tokio::join!(tick(), tick());
    assert_eq!((a.status, b.status), (200, 200));
    eventually(Duration::from_secs(5), "the tick's log line", || !ticks().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = ticks();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["rung"], serde_json::json!(["order-writer", "invoice-writer"]), "{lines:?}");
    assert_eq!(lines[0]["subscribers"], 0, "no consumer listens: the next tick rings again");

    redis.kill();
    let started = Instant::now();
    let down = tick().await;
    assert_eq!(down.status, 200, "a probe must not fail while Redis is down: {}", down.text());
    assert!(started.elapsed() < Duration::from_secs(1), "the probe's 1 s timeout: {:?}", started.elapsed());
}

/// A Redis that evicts any key when full (`allkeys-*`) can drop the stream or a wake
/// key: `GET /pipeline` and the consumers' log say so, with the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_may_evict_the_stream_is_warned_of() {
    let redis = RedisServer::start_with(&["--save", "", "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"]);
    let app = with(&redis, "1000", &[]);
    let status = get(&app, "/pipeline").await.json();
    let warning = status["warnings"][0].as_str().unwrap_or_else(|| panic!("no warning: {status}"));
    assert!(warning.contains("allkeys-lru") && warning.contains("noeviction") && warning.contains("volatile-"));
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    let warned = || all_log_lines(&app, "order-writer").into_iter().find(|l| l["event"] == "redis-warning");
    eventually(Duration::from_secs(5), "order-writer's warning", || warned().is_some()).await;
    assert_eq!(warned().unwrap()["detail"], warning);

    let quiet = RedisServer::start();
    let status = get(&with(&quiet, "1000", &[]), "/pipeline").await.json();
    assert!(status.get("warnings").is_none(), "noeviction, the default, is not warned of: {status}");
}

fn delivery_lease_ms() -> u64 {
    order_core::delivery::wake::BELL_LEASE_MS
}

/// 100,000 orders appended in one burst through the publish script: the doorbells are
/// coalesced (a handful, not one per order), so the subscriber is never disconnected
/// for a full output buffer, and every order reaches both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_orders_in_one_burst_ring_a_handful_of_doorbells() {
    const N: usize = 100_000;
    let redis = RedisServer::start();
    let app = with(&redis, "30000", &[]);
    let trigger = app.start_redis_trigger().await.unwrap();
    let doorbells = redis.count_published("orders").await.unwrap();
    let mut conn = redis.client().get_multiplexed_async_connection().await.unwrap();
    let source = spin_adapters::topic::PUBLISH;
    let script = redis::Script::new(source);
    let _: String = redis::cmd("SCRIPT").arg("LOAD").arg(source).query_async(&mut conn).await.unwrap();
    let clock = order_core::model::clock::SystemClock;
    let started = Instant::now();
    for chunk in (0..N).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            let order =
                order_core::model::order::Order::from_body(&serde_json::to_vec(&order_body(i)).unwrap()).unwrap();
            let e = order_core::model::envelope::Envelope::new(order, &clock, None).expect("randomness");
            pipe.invoke_script(
                script
                    .key("orders:stream")
                    .key("orders:stream:stats")
                    .key("orders:stream:wake:order-writer")
                    .key("orders:stream:wake:invoice-writer")
                    .arg(e.to_bytes())
                    .arg("orders")
                    .arg(order_core::delivery::wake::BELL_LEASE_MS)
                    .arg(2)
                    // No durability check: this burst is about the doorbells.
                    .arg("orders:stream:durability")
                    .arg("")
                    .arg("order-writer")
                    .arg("invoice-writer"),
            );
        }
        let _: Vec<redis::Value> = pipe.query_async(&mut conn).await.unwrap();
    }
    let appended = started.elapsed();
    eventually(Duration::from_secs(300), "100,000 orders in both stores", || {
        app.kv.count("orders", "") == N && invoice_documents(&app) == N
    })
    .await;
    let drained = started.elapsed();
    assert!(trigger.is_running(), "the subscriber was never disconnected");
    let rung = doorbells.load(Ordering::Relaxed);
    eprintln!(
        "{N} orders appended in {:.1} s, in both stores after {:.1} s; {rung} doorbells published \
         (order-api's and the consumers' own), {} messages reached the trigger",
        appended.as_secs_f64(),
        drained.as_secs_f64(),
        app.stats.redis_messages.load(Ordering::Relaxed)
    );
    assert!(rung <= (N / 100) as u64, "{rung} doorbells for {N} orders: not coalesced");
}

/// Redis restarted mid-burst (with its append-only file): the HTTP front answers `503`
/// while it is away and `202` after, and the consumers, restarted by their supervisor,
/// catch up on everything accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_takes_nothing_down_for_good() {
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""]);
    let app = with(&redis, "1000", &[]);
    let supervisor = app.supervise_redis_trigger().await;
    let mut accepted = Vec::new();
    for i in 0..100 {
        let a = post_order(&app, &order_body(i)).await;
        assert_eq!(a.status, 202);
        accepted.push(i);
    }
    redis.kill();
    let a = post_order(&app, &order_body(100)).await;
    assert_problem(&a, 503, None, "POST while Redis is away");
    assert_eq!(get(&app, "/pipeline").await.status, 503);
    eventually(Duration::from_secs(5), "the trigger to notice", || supervisor.starts.load(Ordering::Relaxed) >= 2)
        .await;
    redis.restart();
    // A client retries its 503 until it is accepted, as a real one would.
    post_until_accepted(&app, &order_body(100)).await;
    accepted.push(100);
    for i in 101..150 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
        accepted.push(i);
    }
    eventually(Duration::from_secs(30), "every accepted order in both stores", || {
        accepted.iter().all(|i| app.kv.get("orders", &format!("a{i}#v{i}")).unwrap().is_some())
            && invoice_documents(&app) == accepted.len()
    })
    .await;
    let starts = supervisor.starts.load(Ordering::Relaxed);
    assert!(starts >= 2, "the consumers were restarted: {starts} starts");
    eprintln!(
        "Redis restart: {} orders accepted around it, all stored; the trigger started {starts} times",
        accepted.len()
    );
    supervisor.stop().await;
}
