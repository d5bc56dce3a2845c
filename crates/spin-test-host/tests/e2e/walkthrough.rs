//! The notebook's walkthrough through the real components: post, read, invoice, download.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_through_every_component() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    // Before the first order there is no stream yet: an empty status, not an error.
    let empty = get(&app, "/pipeline").await;
    assert_eq!((empty.status, empty.json()["stream_length"].as_u64()), (200, Some(0)), "{}", empty.text());

    let accepted = post_order(&app, &order_body(0)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    assert_eq!(accepted.header("location"), Some("/order?accountid=a0&vendorid=v0"));
    let body = accepted.json();
    let message_id = body["message_id"].as_str().unwrap().to_owned();
    assert_eq!(accepted.header("x-trace-id"), body["trace_id"].as_str());

    eventually(Duration::from_secs(10), "both consumers", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some() && invoice_documents(&app) == 1
    })
    .await;

    // GET /order reaches order-reader through order-api by service chaining.
    let order = get(&app, "/order?accountid=a0&vendorid=v0").await;
    assert_eq!(order.status, 200, "{}", order.text());
    let o = order.json();
    assert_eq!(o["message_id"], message_id.as_str());
    assert_eq!(o["order"]["details"]["unitprice"], "4.50");
    assert_eq!(o["order"]["details"]["quantity"], 3);
    assert_eq!(o["order"]["city"], "Perth");

    for query in ["accountid=a0&vendorid=v0", "accountid=a0"] {
        let issued = get(&app, &format!("/invoice?{query}")).await;
        assert_eq!(issued.status, 200, "{}", issued.text());
        let url = issued.json()["url"].as_str().unwrap().to_owned();
        // Relative: `public_base_url` is empty, and the request's Host is never used.
        assert!(url.starts_with("/invoice/download?token="), "{url}");
        let invoice = get(&app, &url).await;
        assert_eq!(invoice.status, 200, "{}", invoice.text());
        assert_eq!(invoice.header("content-type"), Some("application/json"));
        assert!(invoice.header("content-disposition").unwrap().starts_with("attachment; filename=\"invoice-a0-v0-"));
        let inv = invoice.json();
        assert_eq!(
            (inv["subtotal"].as_str(), inv["gst"].as_str(), inv["total"].as_str()),
            (Some("13.50"), Some("1.35"), Some("14.85"))
        );
        assert_eq!(inv["message_id"], message_id.as_str());
    }

    // Absent things are 404 problems.
    assert_problem(&get(&app, "/order?accountid=a1&vendorid=v1").await, 404, None, "missing order");
    assert_problem(&get(&app, "/invoice?accountid=a1").await, 404, None, "missing invoice");
    assert_eq!(app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// A second order of the same account gets its own invoice; the first stays downloadable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_invoice_is_overwritten() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let mut second = order_body(0);
    second["order"]["vendorid"] = "v1".into();
    second["order"]["details"]["quantity"] = 1.into();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "first invoice", || invoice_documents(&app) == 1).await;
    let first_url = get(&app, "/invoice?accountid=a0&vendorid=v0").await.json()["url"].as_str().unwrap().to_owned();
    assert_eq!(post_order(&app, &second).await.status, 202);
    eventually(Duration::from_secs(10), "second invoice", || invoice_documents(&app) == 2).await;

    let first = get(&app, first_url.trim_start_matches("http://127.0.0.1:3000")).await;
    assert_eq!(first.json()["total"], "14.85");
    let latest = get(&app, "/invoice?accountid=a0").await.json()["url"].as_str().unwrap().to_owned();
    let latest = get(&app, latest.trim_start_matches("http://127.0.0.1:3000")).await;
    assert_eq!(latest.json()["vendorid"], "v1", "the account's newest invoice");
    assert_eq!(latest.json()["total"], "4.95");
}

/// Redis unreachable: 503, and nothing is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_503() {
    let redis = RedisServer::start();
    let url = redis.url();
    let app = load(Options { variables: vars(&redis, &[]), ..Options::default() });
    drop(redis);
    let a = post_order(&app, &order_body(0)).await;
    assert_problem(&a, 503, None, &format!("redis at {url} is gone"));
    assert!(a.json()["detail"].as_str().unwrap().contains("nothing was accepted"));
    // The operations endpoints say so too, rather than failing.
    assert_problem(&get(&app, "/pipeline").await, 503, None, "status without redis");
    let auth = format!("Bearer {ADMIN}");
    assert_problem(
        &call(&app, "POST", "/pipeline/doorbell", &[("authorization", &auth)], Bytes::new()).await,
        503,
        None,
        "doorbell without redis",
    );
}

/// `redis_address` and `redis_host` (the host `allowed_outbound_hosts` names) set to
/// different hosts: the connection is refused, and the `503` says which two variables
/// disagree (read then, not on every request), never the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_host_unlike_redis_address_is_a_503_that_says_so() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    let address = redis.url_as("default", "s3cret-pass");
    let variables = vars(&redis, &[("redis_address", &address), ("redis_host", "127.0.0.1:1")]);
    let app = load(Options { variables, ..Options::default() });
    let a = post_order(&app, &order_body(0)).await;
    assert_problem(&a, 503, None, "another redis_host");
    let detail = a.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("`redis_host`") && detail.contains("`127.0.0.1:1`"), "{detail}");
    assert!(detail.contains("set both to the same host and port"), "{detail}");
    assert!(!detail.contains("s3cret-pass"), "{detail}");
    assert_problem(&get(&app, "/pipeline").await, 503, None, "status with another redis_host");
}
