//! Invoices in an S3-compatible bucket (`invoice_store = "s3"`): each invoice one object,
//! downloaded through the bucket's own presigned URL, against an S3 API that checks
//! signatures and expiry itself (`spin_test_host::s3_server`).

use super::*;
use spin_test_host::s3_server::{self, download, S3Server, SECRET_ACCESS_KEY};

fn app_on(redis: &RedisServer, s3: &S3Server, extra: &[(&str, &str)]) -> Arc<App> {
    let s3_vars = s3.variables();
    let mut all: Vec<(&str, &str)> = s3_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    load(Options { variables: vars(redis, &all), ..Options::default() })
}

/// A presigned URL with one character of its signature changed.
fn tampered(url: &str) -> String {
    let mut url = url.to_owned();
    let last = url.pop().unwrap();
    url.push(if last == '0' { '1' } else { '0' });
    url
}

async fn fetch(url: &str) -> (u16, String, String, Vec<u8>) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || download(&url)).await.unwrap()
}

/// Posts order `i`, waits until invoice-writer has dead-lettered it, and returns the
/// dead letter's reason.
async fn dead_lettered_invoice(app: &Arc<App>, redis: &RedisServer, i: usize) -> String {
    assert_eq!(post_order(app, &order_body(i)).await.status, 202);
    settled_when(app, Duration::from_secs(15), "the dead letter", |g| {
        g["group"] != "invoice-writer" || g["dead_letters"] == 1
    })
    .await;
    let mut conn = redis.client().get_multiplexed_async_connection().await.unwrap();
    let dead: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut conn, "orders:stream:dead:invoice-writer").await.unwrap();
    dead.ids[0].get("reason").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_with_invoices_in_a_bucket() {
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let app = app_on(&redis, &s3, &[]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let accepted = post_order(&app, &order_body(0)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let id = accepted.json()["message_id"].as_str().unwrap().to_owned();
    let object_key = format!("invoices/a0/v0/{id}.json");
    eventually(Duration::from_secs(10), "the invoice object", || s3.keys("invoices/") == [object_key.clone()]).await;
    // The index entries are in the key-value store, the document is not.
    eventually(Duration::from_secs(5), "the index entry", || {
        stored(&app, "invoices", "latest-by-order/a0#v0").is_some()
    })
    .await;
    assert_eq!(invoice_documents(&app), 0, "{:?}", store_keys(&app, "invoices"));
    // The message's log line names the object.
    eventually(Duration::from_secs(5), "invoice-writer's line", || {
        log_lines(&app, "invoice-writer")
            .iter()
            .any(|l| l["outcome"] == "invoiced" && l["detail"] == object_key.as_str())
    })
    .await;

    for query in ["accountid=a0&vendorid=v0", "accountid=a0"] {
        let issued = get(&app, &format!("/invoice?{query}")).await;
        assert_eq!(issued.status, 200, "{}", issued.text());
        let body = issued.json();
        let url = body["url"].as_str().unwrap();
        let prefix = format!("{}/{}/{object_key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&", s3.endpoint(), s3_server::BUCKET);
        assert!(url.starts_with(&prefix), "{url}");
        assert!(url.contains("X-Amz-Expires=3600"), "{url}");
        assert!(!url.contains(SECRET_ACCESS_KEY));
        assert_eq!(body["invoice"], format!("INV-{}", id.replace('-', "").to_ascii_uppercase()));
        // The download goes to the bucket, with the object's own headers.
        let (status, content_type, disposition, bytes) = fetch(url).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(content_type, "application/json");
        assert_eq!(disposition, format!("attachment; filename=\"invoice-a0-v0-{id}.json\""));
        let invoice: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((invoice["total"].as_str(), invoice["accountid"].as_str()), (Some("14.85"), Some("a0")));
        // Without its signature, or with one character changed: the bucket refuses it.
        assert_eq!(fetch(url.split('?').next().unwrap()).await.0, 403, "the bucket is not public");
        let (status, _, _, refusal) = fetch(&tampered(url)).await;
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&refusal));
        assert!(String::from_utf8_lossy(&refusal).contains("SignatureDoesNotMatch"));
    }
    // The app's own download endpoint serves nothing: the downloads go to the bucket.
    assert_problem(&get(&app, "/invoice/download?token=x").await, 404, None, "download with an object store");
    assert_no_secrets(&app, &[SECRET_ACCESS_KEY, "X-Amz-Signature"]);
}

/// The URL's lifetime is `invoice_url_ttl_seconds`, enforced by the bucket itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_url_expires_at_the_bucket() {
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let app = app_on(&redis, &s3, &[("invoice_url_ttl_seconds", "1")]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(1)).await.status, 202);
    eventually(Duration::from_secs(10), "the invoice object", || s3.keys("invoices/").len() == 1).await;
    eventually(Duration::from_secs(5), "the index", || stored(&app, "invoices", "latest-by-account/a1").is_some())
        .await;
    let issued = get(&app, "/invoice?accountid=a1").await.json();
    let url = issued["url"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&url).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, _, refusal) = fetch(&url).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&refusal));
    assert!(String::from_utf8_lossy(&refusal).contains("Request has expired"), "{}", String::from_utf8_lossy(&refusal));
}

/// The bucket down: `GET /invoice` is a 503 naming it; an invoice written meanwhile
/// waits on the retry clock and lands once the bucket is back, with no new order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_down_is_a_503_and_its_invoices_land_when_it_is_back() {
    let (redis, mut s3) = (RedisServer::start(), S3Server::start());
    let app = app_on(&redis, &s3, &[("visibility_timeout_ms", "300")]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(2)).await.status, 202);
    eventually(Duration::from_secs(10), "the first invoice", || s3.keys("invoices/").len() == 1).await;
    eventually(Duration::from_secs(5), "the index", || stored(&app, "invoices", "latest-by-account/a2").is_some())
        .await;

    s3.stop();
    let down = get(&app, "/invoice?accountid=a2").await;
    assert_problem(&down, 503, None, "GET /invoice with the bucket down");
    let detail = down.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(&format!("object store {}/invoices", s3.endpoint())), "{detail}");
    assert_eq!(post_order(&app, &order_body(3)).await.status, 202);
    eventually(Duration::from_secs(10), "invoice-writer failing on the bucket", || {
        log_lines(&app, "invoice-writer").iter().any(|l| l["outcome"] == "will-retry")
    })
    .await;
    s3.restart();
    let back = Instant::now();
    eventually(Duration::from_secs(15), "the second invoice, with no new order", || s3.keys("invoices/").len() == 2)
        .await;
    eprintln!("the invoice landed {:?} after the bucket came back", back.elapsed());
    // The object is written before the index that names it, so wait for the index.
    eventually(Duration::from_secs(5), "the index", || stored(&app, "invoices", "latest-by-order/a3#v3").is_some())
        .await;
    assert_eq!(get(&app, "/invoice?accountid=a3&vendorid=v3").await.status, 200);
}

/// Wrong credentials: every delivery is refused with the bucket's own words, then the
/// message is dead-lettered with them; no secret in a log line or a dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_dead_letter_with_the_buckets_message() {
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let wrong = "not-the-secret-0123456789abcdef";
    let app = app_on(
        &redis,
        &s3,
        &[("s3_secret_access_key", wrong), ("max_deliveries", "2"), ("visibility_timeout_ms", "200")],
    );
    let _trigger = app.start_redis_trigger().await.unwrap();
    let reason = dead_lettered_invoice(&app, &redis, 4).await;
    assert!(reason.contains("answered 403 SignatureDoesNotMatch"), "{reason}");
    assert!(reason.contains(&format!("object store {}/invoices", s3.endpoint())), "{reason}");
    assert!(s3.keys("").is_empty());
    assert!(stored(&app, "orders", "a4#v4").is_some(), "order-writer is not held up");
    assert_no_secrets(&app, &[wrong, SECRET_ACCESS_KEY, "X-Amz-Signature"]);
    assert!(!reason.contains(wrong) && !reason.contains("X-Amz-Signature"));
}

/// Least privilege: a bucket host the manifest does not list is denied to
/// invoice-writer, and no other component may reach it at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_listed_host_is_reached() {
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let app = app_on(&redis, &s3, &[("s3_allowed_host", "http://127.0.0.1:1"), ("visibility_timeout_ms", "60000")]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(5)).await.status, 202);
    eventually(Duration::from_secs(10), "invoice-writer denied", || {
        app.stats.denials.lock().unwrap().iter().any(|d| d.contains("invoice-writer") && d.contains(&s3.endpoint()))
    })
    .await;
    assert!(s3.keys("").is_empty());
    for (id, c) in &app.manifest.components {
        let lists = c.allowed_outbound_hosts.iter().any(|h| h == "http://127.0.0.1:1");
        assert_eq!(lists, id == "invoice-writer" || id == "invoice-api", "{id}: {:?}", c.allowed_outbound_hosts);
    }
}

/// A bucket that does not exist: dead-lettered with the store's `NoSuchBucket`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_bucket_dead_letters_with_the_stores_message() {
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let app = app_on(
        &redis,
        &s3,
        &[("s3_bucket", "no-such-bucket"), ("max_deliveries", "2"), ("visibility_timeout_ms", "200")],
    );
    let _trigger = app.start_redis_trigger().await.unwrap();
    let reason = dead_lettered_invoice(&app, &redis, 6).await;
    assert!(reason.contains("answered 404 NoSuchBucket"), "{reason}");
}

/// A bucket that accepts connections and never answers: each request gives up after
/// 10 s, so the invocation ends, and the message is retried, not stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_never_answers_is_given_up_on() {
    let redis = RedisServer::start();
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", hole.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = hole.incoming().collect();
        drop(held);
    });
    let app = load(Options {
        variables: vars(
            &redis,
            &[
                ("invoice_store", "s3"),
                ("s3_endpoint", &endpoint),
                ("s3_allowed_host", &endpoint),
                ("s3_access_key_id", "k"),
                ("s3_secret_access_key", "s"),
            ],
        ),
        ..Options::default()
    });
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(7)).await.status, 202);
    let posted = Instant::now();
    eventually(Duration::from_secs(20), "invoice-writer giving up", || {
        log_lines(&app, "invoice-writer").iter().any(|l| l["outcome"] == "will-retry")
    })
    .await;
    let waited = posted.elapsed();
    let line = log_lines(&app, "invoice-writer").into_iter().find(|l| l["outcome"] == "will-retry").unwrap();
    assert!(line["reason"].as_str().unwrap().contains("no answer within 10 s"), "{line}");
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(15), "{waited:?}");
}

/// The notebook's 10,000 orders with the invoices in the bucket: `orders post --verify`
/// reports none missing, and the bucket holds one object per order, the key-value
/// store none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_invoices_each_one_object() {
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let app = app_on(&redis, &s3, &[]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    let (addr, _listener) = app.listen(0).await.unwrap();
    let report = super::burst::post_all(addr, super::burst::ORDERS, true).await;
    eprintln!("orders post -n {} --verify, invoices in the bucket:\n{report}", super::burst::ORDERS);
    assert!(report.complete(), "{report}");
    let mut keys = s3.keys("invoices/");
    keys.iter_mut().for_each(|k| *k = k.rsplit_once('/').unwrap().0.to_owned());
    keys.sort();
    let mut expected: Vec<String> = (0..super::burst::ORDERS).map(|i| format!("invoices/b-a{i}/b-v{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected, "one object per order");
    assert_eq!(invoice_documents(&app), 0);
    assert_eq!(app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// The bucket throttling (`503 SlowDown`): the invoice is retried on the retry clock,
/// with the bucket's words in the log, and lands once the throttling ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_bucket_is_retried_until_it_takes_the_invoice() {
    let (redis, s3) = (RedisServer::start(), S3Server::start());
    let app = app_on(&redis, &s3, &[("visibility_timeout_ms", "300")]);
    let _trigger = app.start_redis_trigger().await.unwrap();
    s3.throttle(true);
    assert_eq!(post_order(&app, &order_body(8)).await.status, 202);
    eventually(Duration::from_secs(10), "invoice-writer refused twice", || {
        let lines = log_lines(&app, "invoice-writer");
        let refused: Vec<_> = lines.iter().filter(|l| l["outcome"] == "will-retry").collect();
        refused.len() >= 2 && refused.iter().all(|l| l["reason"].as_str().unwrap().contains("answered 503 SlowDown"))
    })
    .await;
    assert!(s3.keys("").is_empty());
    s3.throttle(false);
    eventually(Duration::from_secs(10), "the invoice, with no new order", || s3.keys("invoices/a8/").len() == 1).await;
}
