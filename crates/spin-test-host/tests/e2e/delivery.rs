//! At-least-once delivery through the real components: retries, catch-up after an
//! outage, dead letters and redrive, duplicates, and a burst with a restart.

use super::*;
use redis::AsyncCommands;
use std::sync::atomic::Ordering;

/// A short visibility timeout, so retries come quickly in tests.
fn fast(redis: &RedisServer) -> Arc<App> {
    load(Options { variables: vars(redis, &[("visibility_timeout_ms", "50")]), ..Options::default() })
}

fn pipeline_group(status: &serde_json::Value, group: &str) -> serde_json::Value {
    status["groups"].as_array().unwrap().iter().find(|g| g["group"] == group).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_delays_but_never_loses_an_order() {
    let redis = RedisServer::start();
    let app = fast(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    const K: u64 = 3;
    // The order store refuses this order's writes for its first K deliveries.
    app.kv.poison_keys("orders", "a0#v0");
    let accepted = post_order(&app, &order_body(0)).await;
    assert_eq!(accepted.status, 202);
    let id = accepted.json()["message_id"].as_str().unwrap().to_owned();
    let lines_of = |c| log_lines(&app, c).into_iter().filter(|l| l["message_id"] == id.as_str()).collect::<Vec<_>>();
    ring_until(&app, Duration::from_secs(10), "K failed deliveries", || lines_of("order-writer").len() as u64 == K)
        .await;
    app.kv.heal();
    ring_until(&app, Duration::from_secs(10), "the order after K failures", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some()
    })
    .await;
    eventually(Duration::from_secs(5), "the log lines", || {
        lines_of("order-writer").len() == 4 && lines_of("invoice-writer").len() == 1
    })
    .await;
    let lines = lines_of("order-writer");
    let outcomes: Vec<_> =
        lines.iter().map(|l| (l["outcome"].as_str().unwrap(), l["deliveries"].as_u64().unwrap())).collect();
    assert_eq!(outcomes, vec![("will-retry", 1), ("will-retry", 2), ("will-retry", 3), ("stored", K + 1)]);
    assert!(lines[0]["reason"].as_str().unwrap().contains("injected failure"));
    // The invoice writer is a separate group: it was never held back.
    let status = get(&app, "/pipeline").await.json();
    assert_eq!(pipeline_group(&status, "order-writer")["pending"], 0);
    assert_eq!(pipeline_group(&status, "order-writer")["acked"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_posted_while_consumers_are_down_are_stored_when_they_return() {
    let redis = RedisServer::start();
    let app = fast(&redis);
    for i in 0..50 {
        assert_eq!(post_order(&app, &order_body(i)).await.status, 202);
    }
    let status = get(&app, "/pipeline").await.json();
    assert_eq!(status["stream_length"], 50);
    assert_eq!(pipeline_group(&status, "order-writer")["lag"], 50, "{status}");
    assert!(app.kv.keys("orders").is_empty());

    // The consumers come back; nothing happens until the doorbell rings.
    let _trigger = app.start_redis_trigger().await.unwrap();
    ring(&app).await;
    eventually(Duration::from_secs(10), "the backlog in both stores", || {
        app.kv.count("orders", "") == 50 && invoice_documents(&app) == 50
    })
    .await;
    let status = get(&app, "/pipeline").await.json();
    for g in ["order-writer", "invoice-writer"] {
        let s = pipeline_group(&status, g);
        assert_eq!(
            (s["lag"].as_u64(), s["pending"].as_u64(), s["acked"].as_u64()),
            (Some(0), Some(0), Some(50)),
            "{g}: {s}"
        );
    }
    assert!(status["stream_length"].as_u64().unwrap() <= 1, "acknowledged entries are trimmed: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_then_redriven() {
    let redis = RedisServer::start();
    let app = fast(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    app.kv.poison_keys("orders", "a13#");
    assert_eq!(post_order(&app, &order_body(13)).await.status, 202);
    assert_eq!(post_order(&app, &order_body(14)).await.status, 202);
    ring_until(&app, Duration::from_secs(10), "the poison message in the dead-letter log", || {
        log_lines(&app, "order-writer").iter().filter(|l| l["accountid"] == "a13").count() == 5
    })
    .await;
    // One more doorbell past the visibility timeout moves it.
    let mut status;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        ring(&app).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        status = get(&app, "/pipeline").await.json();
        if pipeline_group(&status, "order-writer")["dead_letters"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never dead-lettered: {status}");
    }
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

    // Redrive needs the admin token.
    let redrive = "/pipeline/redrive?group=order-writer";
    assert_problem(&call(&app, "POST", redrive, &[], Bytes::new()).await, 401, None, "no token");
    assert_problem(
        &call(&app, "POST", redrive, &[("authorization", "Bearer wrong-token-0000000")], Bytes::new()).await,
        403,
        None,
        "wrong token",
    );
    // Fixed, redriven: stored, and only the failing group saw it again.
    app.kv.heal();
    let auth = format!("Bearer {ADMIN}");
    let r = call(&app, "POST", redrive, &[("authorization", &auth)], Bytes::new()).await;
    assert_eq!((r.status, r.json()["redriven"].as_u64()), (200, Some(1)), "{}", r.text());
    eventually(Duration::from_secs(10), "the redriven order", || app.kv.get("orders", "a13#v13").unwrap().is_some())
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
    let app = fast(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let mut newer = order_body(0);
    newer["order"]["details"]["quantity"] = 7.into();
    assert_eq!(post_order(&app, &newer).await.status, 202);
    eventually(Duration::from_secs(10), "the order", || invoice_documents(&app) == 1).await;
    let stored = app.kv.get("orders", "a0#v0").unwrap().unwrap();
    let stored_json: serde_json::Value = serde_json::from_slice(&stored).unwrap();

    // The same message twice more, and an older one for the same key, straight onto the topic.
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
    eventually(Duration::from_secs(10), "three more deliveries", || {
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
    let app = load(Options { variables: vars(&redis, &[("visibility_timeout_ms", "1000")]), ..Options::default() });
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

    ring_until(&app, Duration::from_secs(300), "every order in both stores", || {
        app.kv.count("orders", "") == super::burst::ORDERS && invoice_documents(&app) == super::burst::ORDERS
    })
    .await;
    let drain = start.elapsed();
    assert!(trigger.is_running());
    let deliveries = log_lines(&app, "order-writer").len() + log_lines(&app, "invoice-writer").len();
    let status = get(&app, "/pipeline").await.json();
    for g in ["order-writer", "invoice-writer"] {
        let s = pipeline_group(&status, g);
        assert_eq!((s["pending"].as_u64(), s["dead_letters"].as_u64()), (Some(0), Some(0)), "{g}: {s}");
    }
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
