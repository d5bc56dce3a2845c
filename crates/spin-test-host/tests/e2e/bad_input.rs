//! Every bad input of the table, through the real components: each gets its precise
//! problem answer, never a 500, and nothing already stored changes.

use super::*;
use redis::AsyncCommands;

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

/// method, path, headers, body, expected status, the field at fault.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Vec<u8>, u16, Option<&'a str>);

fn with(mutate: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut b = order_body(0);
    mutate(&mut b);
    serde_json::to_vec(&b).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_precise_problems_and_damage_nothing() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "the first order", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some() && invoice_documents(&app) == 1
    })
    .await;
    let stored_order = app.kv.get("orders", "a0#v0").unwrap();
    let invoices_before = app.kv.keys("invoices");

    let huge_id = "x".repeat(70_000);
    // Hostile sizes and shapes: each has its own status, checked before any work.
    let long_query = format!("/order?accountid=a0&vendorid=v0&pad={}", "p".repeat(2100));
    let many_params =
        format!("/invoice?accountid=a0&{}", (0..16).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&"));
    let repeated = format!("/order?accountid=a0&vendorid=v0{}", "&vendorid=v0".repeat(10));
    let long_auth = format!("Bearer {}", "k".repeat(5000));
    let long_ctype = format!("application/{}", "x".repeat(300));
    let long_key = "i".repeat(256);
    let auth_headers = [("authorization", long_auth.as_str())];
    let ctype_headers = [("content-type", long_ctype.as_str())];
    let key_headers = [("content-type", "application/json"), ("idempotency-key", long_key.as_str())];
    let deep = format!("{{\"order\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    let cases: Vec<Case> = vec![
        ("GET", long_query.as_str(), &[], vec![], 414, None),
        ("GET", many_params.as_str(), &[], vec![], 400, None),
        ("GET", repeated.as_str(), &[], vec![], 400, Some("vendorid")),
        ("GET", "/order?accountid=a0&vendorid=v0", &auth_headers, vec![], 431, Some("authorization")),
        ("POST", "/order", &ctype_headers, with(|_| {}), 431, Some("content-type")),
        ("POST", "/order", &key_headers, with(|_| {}), 400, Some("idempotency-key")),
        (
            "POST",
            "/order",
            &[("content-type", "application/json"), ("idempotency-key", "two words")],
            with(|_| {}),
            400,
            Some("idempotency-key"),
        ),
        ("POST", "/order", JSON, deep.clone().into_bytes(), 400, None),
        ("POST", "/order", JSON, b"{".to_vec(), 400, None),
        ("POST", "/order", JSON, b"".to_vec(), 400, None),
        ("POST", "/order", JSON, b"\xff\xfe\x00".to_vec(), 400, None),
        ("POST", "/order", JSON, "[".repeat(50_000).into_bytes(), 400, None),
        ("POST", "/order", JSON, b"[1,2,3]".to_vec(), 400, Some("body")),
        ("POST", "/order", JSON, b"{\"orders\":{}}".to_vec(), 400, Some("order")),
        ("POST", "/order", JSON, with(|b| b["order"]["accountid"] = huge_id.clone().into()), 413, None),
        ("POST", "/order", JSON, vec![b' '; 64 * 1024 + 1], 413, None),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["accountid"] = "x".repeat(65).into()),
            400,
            Some("order.accountid"),
        ),
        ("POST", "/order", JSON, with(|b| b["order"]["accountid"] = "a0#v1".into()), 400, Some("order.accountid")),
        ("POST", "/order", JSON, with(|b| b["order"]["vendorid"] = "v/0".into()), 400, Some("order.vendorid")),
        ("POST", "/order", JSON, with(|b| b["order"]["accountid"] = "cafés".into()), 400, Some("order.accountid")),
        ("POST", "/order", JSON, with(|b| b["order"]["accountid"] = "a0\u{202e}".into()), 400, Some("order.accountid")),
        ("POST", "/order", JSON, with(|b| b["order"]["accountid"] = 0.into()), 400, Some("order.accountid")),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["vendorid"] = serde_json::Value::Null),
            400,
            Some("order.vendorid"),
        ),
        ("POST", "/order", JSON, with(|b| b["order"]["orderdate"] = "tomorrow".into()), 400, Some("order.orderdate")),
        ("POST", "/order", JSON, with(|b| b["order"]["city"] = "".into()), 400, Some("order.city")),
        ("POST", "/order", JSON, with(|b| b["order"]["details"] = "latte".into()), 400, Some("order.details")),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["quantity"] = (-1).into()),
            400,
            Some("order.details.quantity"),
        ),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["quantity"] = 1_000_000_000.into()),
            400,
            Some("order.details.quantity"),
        ),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["quantity"] = "3".into()),
            400,
            Some("order.details.quantity"),
        ),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["quantity"] = 2.5.into()),
            400,
            Some("order.details.quantity"),
        ),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["unitprice"] = "-4.50".into()),
            400,
            Some("order.details.unitprice"),
        ),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["unitprice"] = "4.505".into()),
            400,
            Some("order.details.unitprice"),
        ),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["unitprice"] = 1e300.into()),
            400,
            Some("order.details.unitprice"),
        ),
        (
            "POST",
            "/order",
            JSON,
            with(|b| b["order"]["details"]["unitprice"] = serde_json::json!({"$gt": 0})),
            400,
            Some("order.details.unitprice"),
        ),
        ("POST", "/order", JSON, with(|b| b["order"]["eventtype"] = "new_order".into()), 400, Some("order.eventtype")),
        ("POST", "/order", &[("content-type", "text/plain")], with(|_| {}), 415, None),
        ("POST", "/order", &[("content-type", "multipart/form-data; boundary=x")], with(|_| {}), 415, None),
        ("PUT", "/order", JSON, with(|_| {}), 405, None),
        ("DELETE", "/order?accountid=a0&vendorid=v0", &[], vec![], 405, None),
        ("GET", "/order", &[], vec![], 400, Some("accountid")),
        ("GET", "/order?accountid=a0", &[], vec![], 400, Some("vendorid")),
        ("GET", "/order?accountid=a%230&vendorid=v0", &[], vec![], 400, Some("accountid")),
        ("GET", "/order?accountid=a0&vendorid=..%2Fv0", &[], vec![], 400, Some("vendorid")),
        ("GET", "/order?accountid=a0&accountid=a1&vendorid=v0", &[], vec![], 400, Some("accountid")),
        ("GET", "/invoice", &[], vec![], 400, Some("accountid")),
        ("GET", "/invoice?accountid=%00", &[], vec![], 400, Some("accountid")),
        ("GET", "/invoice/download", &[], vec![], 400, Some("token")),
        ("GET", "/invoice/elsewhere", &[], vec![], 404, None),
        ("POST", "/invoice?accountid=a0", JSON, vec![], 405, None),
    ];
    for (method, path, headers, body, status, field) in cases {
        let context = format!("{method} {path} {}", String::from_utf8_lossy(&body[..body.len().min(80)]));
        let a = call(&app, method, path, headers, body).await;
        assert_problem(&a, status, field, &context);
        if status == 405 {
            assert!(a.header("allow").is_some(), "{context}: 405 without Allow");
        }
    }

    // No route at all is Spin's own 404.
    assert_eq!(get(&app, "/nothing-here").await.status, 404);

    // Without a Content-Type, and with curl -d's form type, the body is read as JSON.
    let plain = with(|b| b["order"]["vendorid"] = "v-plain".into());
    assert_eq!(call(&app, "POST", "/order", &[], plain).await.status, 202);
    let form = with(|b| b["order"]["vendorid"] = "v-form".into());
    assert_eq!(
        call(&app, "POST", "/order", &[("content-type", "application/x-www-form-urlencoded")], form).await.status,
        202
    );
    eventually(Duration::from_secs(10), "the two accepted orders", || invoice_documents(&app) == 3).await;

    assert_eq!(app.kv.get("orders", "a0#v0").unwrap(), stored_order, "a rejected request changed the stored order");
    let invoices_after = app.kv.keys("invoices");
    assert!(invoices_before.iter().all(|k| invoices_after.contains(k)));
    assert_eq!(app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed), 0, "no component failed");
    assert_no_secrets(&app, &[]);
}

/// Hostile entries straight onto the topic: each is dead-lettered at once with its
/// reason (a retry cannot mend it), none fails the trigger or writes anything, and the
/// orders around them are still handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_dead_letter_malformed_entries() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(1)).await.status, 202);
    let mut conn = redis.client().get_multiplexed_async_connection().await.unwrap();
    let mut bad_order = serde_json::json!({
        "version": 1, "id": "0193", "published_at": "x", "traceparent": "",
        "order": order_body(0)["order"].clone()
    });
    bad_order["order"]["accountid"] = "a#b".into();
    let junk: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"".to_vec(),
        b"{}".to_vec(),
        b"{\"version\":2}".to_vec(),
        vec![b'['; 1_000_000],
        vec![0xff; 100],
        serde_json::to_vec(&bad_order).unwrap(),
    ];
    for j in &junk {
        let _: String = conn.xadd("orders:stream", "*", &[("e", j.clone())]).await.unwrap();
    }
    let _: String = conn.xadd("orders:stream", "*", &[("not-an-envelope", "1")]).await.unwrap();
    assert_eq!(post_order(&app, &order_body(7)).await.status, 202);
    eventually(Duration::from_secs(10), "the good orders around the junk", || {
        app.kv.count("orders", "") == 2 && invoice_documents(&app) == 2
    })
    .await;
    assert!(trigger.is_running());
    let mut stored = app.kv.keys("orders");
    stored.sort();
    assert_eq!(stored, vec!["a1#v1".to_owned(), "a7#v7".to_owned()], "junk wrote nothing");
    for c in ["order-writer", "invoice-writer"] {
        // Output is recorded when an invocation ends, which may be after its writes.
        let dead_lines = || log_lines(&app, c).into_iter().filter(|l| l["outcome"] == "dead-lettered").count();
        eventually(Duration::from_secs(10), "the log lines", || dead_lines() == junk.len()).await;
        let dead: Vec<_> = log_lines(&app, c).into_iter().filter(|l| l["outcome"] == "dead-lettered").collect();
        assert_eq!(dead.len(), junk.len(), "{c}");
        assert!(dead.iter().all(|l| l["reason"].as_str().unwrap().starts_with("malformed message")), "{c}: {dead:?}");
        let dlq: usize = conn.xlen(format!("orders:stream:dead:{c}")).await.unwrap();
        assert_eq!(dlq, junk.len() + 1, "{c}: every bad entry, the one without an envelope too");
    }
    assert_eq!(app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// An order whose amounts overflow, injected straight onto the topic (order-api would
/// refuse it): invoice-writer dead-letters it with the reason, nothing traps, and the
/// order behind it is invoiced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_invoice_is_a_dead_letter_not_a_trap() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let mut envelope = serde_json::json!({
        "version": 1, "id": "01900000-0000-7000-8000-000000000001", "published_at": "2026-11-28T00:00:00.000Z",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "order": order_body(7)["order"].clone()
    });
    envelope["order"]["details"]["unitprice"] = "184467440737095516.15".into(); // u64::MAX cents
    envelope["order"]["details"]["quantity"] = 65_535.into();
    let mut conn = redis.client().get_multiplexed_async_connection().await.unwrap();
    let _: String = conn.xadd("orders:stream", "*", &[("e", serde_json::to_vec(&envelope).unwrap())]).await.unwrap();
    assert_eq!(post_order(&app, &order_body(8)).await.status, 202, "an order behind it rings");
    eventually(Duration::from_secs(10), "the order behind it invoiced", || {
        app.kv.get("invoices", "latest-by-order/a8#v8").unwrap().is_some()
    })
    .await;
    let dead = || {
        log_lines(&app, "invoice-writer").into_iter().filter(|l| l["outcome"] == "dead-lettered").collect::<Vec<_>>()
    };
    eventually(Duration::from_secs(10), "the dead letter's log line", || dead().len() == 1).await;
    let reason = dead()[0]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("overflow"), "{reason}");
    assert_eq!(app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed), 0, "nothing trapped");
    assert!(app.kv.get("invoices", "latest-by-order/a7#v7").unwrap().is_none());
}
