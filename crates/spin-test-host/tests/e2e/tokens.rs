//! Download-token abuse through the real invoice-api: tampered, expired, foreign,
//! and replay across a key rotation.

use super::*;
use order_core::access::signing::{GrantKind, SigningKeys};

async fn invoice_url(app: &Arc<App>) -> String {
    let url = get(app, "/invoice?accountid=a0").await.json()["url"].as_str().unwrap().to_owned();
    url.trim_start_matches("http://127.0.0.1:3000").to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_abuse_is_one_403() {
    let redis = RedisServer::start();
    let app = app(&redis);
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "the invoice", || invoice_documents(&app) == 1).await;
    let good = invoice_url(&app).await;
    assert_eq!(get(&app, &good).await.status, 200);
    let token = good.split("token=").nth(1).unwrap().to_owned();
    let key = app.kv.get("invoices", "latest-by-account/a0").unwrap().unwrap();
    let key = String::from_utf8(key).unwrap();

    let mut forged = Vec::new();
    // Every single-character change of the token.
    for i in 0..token.len() {
        let mut t = token.clone().into_bytes();
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        forged.push(String::from_utf8(t).unwrap());
    }
    // Expired, though correctly signed.
    let download = GrantKind::DownloadInvoice;
    forged.push(SigningKeys::parse(KEYS).unwrap().sign(download, &key, now() - 1));
    // Signed with a key the app does not hold, under the same key id.
    forged.push(SigningKeys::parse("k1:ffffffffffffffffffffffffffffffff").unwrap().sign(download, &key, now() + 60));
    // Signed for something that is not an invoice document.
    forged.push(SigningKeys::parse(KEYS).unwrap().sign(download, "latest-by-account/a0", now() + 60));
    // Correctly signed for this very invoice, but to read the order, or as the order's
    // capability for its invoice: a grant of another kind is no download.
    forged.push(SigningKeys::parse(KEYS).unwrap().sign(GrantKind::ReadOrder, &key, now() + 60));
    forged.push(SigningKeys::parse(KEYS).unwrap().sign(GrantKind::ReadInvoice, &key, now() + 60));
    forged.push(String::new());
    for t in forged {
        if t == token {
            continue;
        }
        let a = get(&app, &format!("/invoice/download?token={t}")).await;
        assert_problem(&a, 403, None, &t);
        assert_eq!(a.json()["detail"], "the token is not valid for this download (tampered, expired or revoked)");
    }
    assert_no_secrets(&app, &[&token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_old_urls_during_the_overlap_only() {
    let redis = RedisServer::start();
    let app1 = app(&redis);
    let _trigger = app1.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app1, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "the invoice", || invoice_documents(&app1) == 1).await;
    let old_url = invoice_url(&app1).await;
    const K2: &str = "k2:fedcba9876543210fedcba9876543210";

    // New key first, old key kept: old URLs still work, new ones are signed with k2.
    let overlap = format!("{K2},{KEYS}");
    let app2 = load(Options {
        variables: vars(&redis, &[("url_signing_keys", &overlap)]),
        stores: Some(app1.kv.clone()),
        ..Options::default()
    });
    assert_eq!(get(&app2, &old_url).await.status, 200);
    let new_url = invoice_url(&app2).await;
    assert!(new_url.contains("token=v2.k2."), "{new_url}");

    // Old key retired: its URLs are refused, the new ones still work.
    let app3 = load(Options {
        variables: vars(&redis, &[("url_signing_keys", K2)]),
        stores: Some(app1.kv.clone()),
        ..Options::default()
    });
    assert_problem(&get(&app3, &old_url).await, 403, None, "old key retired");
    assert_eq!(get(&app3, &new_url).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifetime_is_configurable_and_bad_settings_are_503() {
    let redis = RedisServer::start();
    let app = load(Options { variables: vars(&redis, &[("invoice_url_ttl_seconds", "60")]), ..Options::default() });
    let _trigger = app.start_redis_trigger().await.unwrap();
    assert_eq!(post_order(&app, &order_body(0)).await.status, 202);
    eventually(Duration::from_secs(10), "the invoice", || invoice_documents(&app) == 1).await;
    let issued = get(&app, "/invoice?accountid=a0").await.json();
    let exp = issued["url"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .split('.')
        .nth(2)
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!((now() + 58..=now() + 61).contains(&exp), "expiry {exp} is not in a minute");

    for (name, value) in [("invoice_url_ttl_seconds", "604801"), ("url_signing_keys", "k1:tooshort")] {
        let bad = load(Options {
            variables: vars(&redis, &[(name, value)]),
            stores: Some(app.kv.clone()),
            ..Options::default()
        });
        let a = get(&bad, "/invoice?accountid=a0").await;
        assert_problem(&a, 503, None, name);
        assert!(a.json()["detail"].as_str().unwrap().contains(name));
        assert!(!a.text().contains("tooshort"), "a secret leaked into an answer");
    }
}
