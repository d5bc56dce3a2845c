//! Closed reads: `GET /order` and `GET /invoice` need an API key or the capability URL
//! the order's `202` handed out. `401` without a credential, one `403` for any wrong one
//! (tampered, swapped between orders or resources, expired, retired key), and nothing a
//! client sends shows up in a log line.

use super::*;

async fn anonymous(app: &Arc<App>, path: &str) -> Answer {
    call(app, "GET", path, &[], Bytes::new()).await
}

/// `GET /order?accountid=a0&vendorid=v0` with `Authorization: Bearer <key>` (an API key,
/// or a capability token).
async fn read_a0_with(app: &Arc<App>, key: &str) -> Answer {
    let auth = format!("Bearer {key}");
    call(app, "GET", "/order?accountid=a0&vendorid=v0", &[("authorization", &auth)], Bytes::new()).await
}

fn with_key_sets(redis: &RedisServer, signing: &str, api: &str, ttl: &str) -> Arc<App> {
    load(Options {
        variables: vars(redis, &[("url_signing_keys", signing), ("read_api_keys", api), ("read_url_ttl_seconds", ttl)]),
        ..Options::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_need_a_credential_and_the_202_hands_one_out() {
    let redis = RedisServer::start();
    let app = app(&redis);
    // Consumers stopped: the invoice does not exist yet.
    let accepted = post_order(&app, &order_body(0)).await.json();
    let order_url = accepted["order_url"].as_str().unwrap().to_owned();
    let invoice_url = accepted["invoice_url"].as_str().unwrap().to_owned();
    assert!(order_url.starts_with("/order?accountid=a0&vendorid=v0&token="), "{accepted}");

    for path in ["/order?accountid=a0&vendorid=v0", "/invoice?accountid=a0&vendorid=v0", "/invoice?accountid=a0"] {
        let a = anonymous(&app, path).await;
        assert_problem(&a, 401, None, path);
        assert_eq!(a.header("www-authenticate"), Some("Bearer realm=\"orders\""), "{path}");
    }
    assert_problem(&anonymous(&app, &invoice_url).await, 404, None, "the invoice URL before the invoice exists");
    assert_problem(&anonymous(&app, &order_url).await, 404, None, "the order URL before the order is stored");

    // The consumers start under their supervisor, which rings once.
    let _consumers = app.supervise_redis_trigger().await;
    eventually(Duration::from_secs(10), "the order and its invoice", || {
        app.kv.get("orders", "a0#v0").unwrap().is_some() && invoice_documents(&app) == 1
    })
    .await;
    let order = anonymous(&app, &order_url).await;
    assert_eq!((order.status, order.json()["order"]["accountid"].as_str()), (200, Some("a0")), "{}", order.text());
    // The order's token as a bearer credential reads the same, through order-api and
    // order-reader (which order-api passes the read on to, the token in a header).
    let token = order_url.rsplit_once("token=").unwrap().1.to_owned();
    let bearer = read_a0_with(&app, &token).await;
    assert_eq!((bearer.status, bearer.json()["order"]["accountid"].as_str()), (200, Some("a0")), "{}", bearer.text());
    let issued = anonymous(&app, &invoice_url).await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let download = anonymous(&app, issued.json()["url"].as_str().unwrap()).await;
    assert_eq!((download.status, download.json()["total"].as_str()), (200, Some("14.85")));

    // The same answer for every wrong credential.
    let other = post_order(&app, &order_body(1)).await.json();
    let other_token = other["order_url"].as_str().unwrap().rsplit_once("token=").unwrap().1.to_owned();
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let invoice_token = invoice_url.rsplit_once("token=").unwrap().1.to_owned();
    let wrong = [
        format!("/order?accountid=a0&vendorid=v0&token={other_token}"),
        format!("/order?accountid=a0&vendorid=v0&token={tampered}"),
        format!("/order?accountid=a0&vendorid=v0&token={invoice_token}"),
        format!("/invoice?accountid=a0&vendorid=v0&token={token}"),
        format!("/invoice?accountid=a0&token={invoice_token}"),
        "/order?accountid=a0&vendorid=v0&token=not-a-token".to_owned(),
    ];
    let mut details = std::collections::BTreeSet::new();
    for path in &wrong {
        let a = anonymous(&app, path).await;
        assert_problem(&a, 403, None, path);
        details.insert(a.json()["detail"].as_str().unwrap().to_owned());
    }
    let bad_key = read_a0_with(&app, "read-0123456789abcdef-kez").await;
    assert_problem(&bad_key, 403, None, "a wrong API key");
    details.insert(bad_key.json()["detail"].as_str().unwrap().to_owned());
    assert_eq!(details.len(), 1, "one answer whatever was wrong: {details:?}");
    // API key, any case of the scheme.
    let lower = call(
        &app,
        "GET",
        "/order?accountid=a0&vendorid=v0",
        &[("authorization", &format!("bearer {READ_KEY}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(lower.status, 200);
    // Anyone may post for any ids: a second order for a0/v0 (a stranger's, say) gets
    // URLs that read only its own message. The first URL no longer reads the stored
    // order, which is not its; each invoice URL keeps naming its own invoice.
    let mut theirs = order_body(0);
    theirs["order"]["details"]["quantity"] = 1.into();
    let second = post_order(&app, &theirs).await.json();
    eventually(Duration::from_secs(10), "the second invoice", || invoice_documents(&app) == 3).await;
    eventually(Duration::from_secs(10), "the second order stored", || {
        app.kv
            .get("orders", "a0#v0")
            .unwrap()
            .is_some_and(|o| String::from_utf8_lossy(&o).contains(second["message_id"].as_str().unwrap()))
    })
    .await;
    let old = anonymous(&app, &order_url).await;
    assert_problem(&old, 404, None, "the first order's URL after a newer order for the same ids");
    assert!(old.json()["detail"].as_str().unwrap().contains("newer"), "{}", old.text());
    let new = anonymous(&app, second["order_url"].as_str().unwrap()).await;
    assert_eq!(new.json()["order"]["details"]["quantity"], 1);
    let first_invoice = anonymous(&app, &invoice_url).await.json();
    let second_invoice = anonymous(&app, second["invoice_url"].as_str().unwrap()).await.json();
    assert_ne!(first_invoice["invoice"], second_invoice["invoice"], "each URL names its own invoice");
    assert_no_secrets(&app, &[&token, &other_token]);
    assert_eq!(app.stats.handler_failures.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_urls_expire_and_keys_rotate() {
    let redis = RedisServer::start();
    let (k1, k2) = ("k1:0123456789abcdef0123456789abcdef", "k2:fedcba9876543210fedcba9876543210");
    let (old, new) = ("old:read-old-0123456789abcdef", "new:read-new-0123456789abcdef");
    let app = with_key_sets(&redis, k1, old, "2");
    let _trigger = app.start_redis_trigger().await.unwrap();
    let accepted = post_order(&app, &order_body(0)).await.json();
    let order_url = accepted["order_url"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(10), "the order", || app.kv.get("orders", "a0#v0").unwrap().is_some()).await;
    assert_eq!(anonymous(&app, &order_url).await.status, 200);

    // Rotation: a new signing key first, the old one kept, so the URL still works; and
    // both API keys read. The same stores, a new configuration, as a restart would.
    let rotated = load(Options {
        variables: vars(
            &redis,
            &[
                ("url_signing_keys", &format!("{k2},{k1}")),
                ("read_api_keys", &format!("{new},{old}")),
                ("read_url_ttl_seconds", "1"),
            ],
        ),
        stores: Some(app.kv.clone()),
        ..Options::default()
    });
    assert_eq!(anonymous(&rotated, &order_url).await.status, 200, "signed by the kept old key");
    for key in ["read-old-0123456789abcdef", "read-new-0123456789abcdef"] {
        let a = read_a0_with(&rotated, key).await;
        assert_eq!(a.status, 200, "{key}");
    }
    // Once the old key is dropped its URLs and its API key stop working.
    let retired = load(Options {
        variables: vars(&redis, &[("url_signing_keys", k2), ("read_api_keys", new)]),
        stores: Some(app.kv.clone()),
        ..Options::default()
    });
    assert_problem(&anonymous(&retired, &order_url).await, 403, None, "a URL signed by a retired key");
    let a = read_a0_with(&retired, "read-old-0123456789abcdef").await;
    assert_problem(&a, 403, None, "a retired API key");
    // And a URL past its lifetime (2 s here, at most 1 s of it gone by now) is refused
    // like any other.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_problem(&anonymous(&app, &order_url).await, 403, None, "an expired URL");
}

/// `Idempotency-Key` through the real publish script, across two replicas of the app
/// on one Redis: a retried POST appends nothing and gets the first answer back; the same
/// key with another body is a 422; without the header, every POST is a new order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_post_with_an_idempotency_key_is_one_order() {
    let redis = RedisServer::start();
    let (one, two) = (app(&redis), app(&redis));
    let body = serde_json::to_vec(&order_body(0)).unwrap();
    let post_with = |app: &Arc<App>, key: &'static str, body: Vec<u8>| {
        let app = app.clone();
        async move {
            call(&app, "POST", "/order", &[("content-type", "application/json"), ("idempotency-key", key)], body).await
        }
    };
    let first = post_with(&one, "\"order-0-attempt\"", body.clone()).await;
    let retry = post_with(&two, "\"order-0-attempt\"", body.clone()).await;
    assert_eq!((first.status, retry.status), (202, 202), "{}", retry.text());
    assert_eq!(first.json(), retry.json(), "the same message id and URLs");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let mut other = order_body(0);
    other["order"]["details"]["quantity"] = 9.into();
    let mismatch = post_with(&one, "\"order-0-attempt\"", serde_json::to_vec(&other).unwrap()).await;
    assert_problem(&mismatch, 422, Some("idempotency-key"), "the same key with another body");
    let status = get(&one, "/pipeline").await.json();
    assert_eq!(status["stream_length"], 1, "one entry for the key: {status}");
    assert_eq!(post_order(&two, &order_body(0)).await.status, 202);
    assert_eq!(get(&one, "/pipeline").await.json()["stream_length"], 2, "without the header, a new order");
}
