//! invoice-api's two endpoints through their router, on in-memory stores.

use super::handle;
use crate::access::signing::{GrantKind, SigningKeys};
use crate::handlers::invoices::config::Config;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::envelope::Envelope;
use crate::model::ids::Id;
use crate::model::invoice;
use crate::ports::key_value::KeyValue;
use crate::ports::settings::Misconfigured;
use crate::testing::clock::TestClock;
use crate::testing::fixtures::order;
use crate::testing::memory::MemoryStore;

const KEYS: &str = "k1:0123456789abcdef0123456789abcdef";

const API_KEY: &str = "read-key-0123456789abcdef";

fn config() -> Result<Config, Misconfigured> {
    Config::from_variables(KEYS, "3600", &format!("t:{API_KEY}"), "60", "http://127.0.0.1:3000")
}

fn get_req(path_info: &str, query: &str) -> Request {
    Request {
        method: "GET".into(),
        path_info: path_info.into(),
        query: query.into(),
        headers: vec![
            // Never used for URLs: `public_base_url` is.
            ("spin-full-url".into(), "http://evil.example/invoice".into()),
            ("authorization".into(), format!("Bearer {API_KEY}")),
        ],
        ..Request::default()
    }
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn token_of(url: &str) -> String {
    url.split("token=").nth(1).unwrap().to_owned()
}

#[test]
fn issue_then_download() {
    let s = MemoryStore::default();
    let e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
    crate::handlers::write_invoice::handle(&e.to_bytes(), &s).unwrap();
    let now = 1_764_288_000_000;
    for q in ["accountid=a0&vendorid=v0", "accountid=a0"] {
        let r = handle(&get_req("", q), &s, None, config(), now);
        assert_eq!(r.status, 200, "{q}");
        let body = json(&r);
        let url = body["url"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:3000/invoice/download?token=v2.k1."), "{url}");
        assert_eq!(body["expires_at"], "2025-11-28T01:00:00.000Z");
        let d = handle(&get_req("/download", &format!("token={}", token_of(url))), &s, None, config(), now);
        assert_eq!(d.status, 200);
        assert_eq!(json(&d)["total"], "14.85", "the document itself, not a JSON string of it");
        assert!(d.header("content-disposition").unwrap().contains("invoice-a0-v0-"));
        // An hour later the same URL is refused.
        let late =
            handle(&get_req("/download", &format!("token={}", token_of(url))), &s, None, config(), now + 3_600_000);
        assert_eq!(late.status, 403);
    }
}

#[test]
fn not_found_and_refusals() {
    let s = MemoryStore::default();
    assert_eq!(handle(&get_req("", "accountid=a0"), &s, None, config(), 0).status, 404);
    assert_eq!(handle(&get_req("", "accountid=a0&vendorid=v0"), &s, None, config(), 0).status, 404);
    assert_eq!(handle(&get_req("", ""), &s, None, config(), 0).status, 400);
    assert_eq!(handle(&get_req("/other", ""), &s, None, config(), 0).status, 404);
    assert_eq!(handle(&get_req("/download", ""), &s, None, config(), 0).status, 400);
    for t in ["x", "v1.k1.1.aw.aw", &"A".repeat(1500)] {
        let r = handle(&get_req("/download", &format!("token={t}")), &s, None, config(), 0);
        assert_eq!(r.status, 403);
        assert_eq!(json(&r)["detail"], "the token is not valid for this download (tampered, expired or revoked)");
    }
    // A valid token for a document that is gone is a 404.
    let keys = SigningKeys::parse(KEYS).unwrap();
    let t = keys.sign(GrantKind::DownloadInvoice, "invoice/a9#v9#gone", 10);
    assert_eq!(handle(&get_req("/download", &format!("token={t}")), &s, None, config(), 0).status, 404);
    // A valid token for something that is not an invoice document is refused.
    s.set("latest-by-account/a0", b"invoice/a0#v0#x").unwrap();
    let t = keys.sign(GrantKind::DownloadInvoice, "latest-by-account/a0", 10);
    assert_eq!(handle(&get_req("/download", &format!("token={t}")), &s, None, config(), 0).status, 403);
    // The index names a document that is gone: 404, never a URL to nothing.
    assert_eq!(handle(&get_req("", "accountid=a0"), &s, None, config(), 0).status, 404);
}

/// A download URL for the longest ids, key id and expiry fits the query cap with room
/// to spare, and is answered (404: no such document), never 414.
#[test]
fn the_longest_download_query_fits_the_query_cap() {
    let id = "x".repeat(crate::model::ids::MAX_ID_LEN);
    let (a, v) = (Id::parse("a", &id).unwrap(), Id::parse("v", &id).unwrap());
    let document_key = invoice::document_key(&a, &v, &crate::model::message_id::MessageId::v7(u64::MAX, [0xff; 10]));
    let kid = "k".repeat(16);
    let keys = SigningKeys::parse(&format!("{kid}:0123456789abcdef0123456789abcdef")).unwrap();
    let query = format!("token={}", keys.sign(GrantKind::DownloadInvoice, &document_key, u64::MAX));
    assert!(2 * query.len() <= crate::http::request::MAX_QUERY_BYTES, "{} bytes", query.len());
    let access = config().unwrap().access;
    let longest = Config { keys, ttl_seconds: 3600, access };
    let r = handle(&get_req("/download", &query), &MemoryStore::default(), None, Ok(longest), 0);
    assert_eq!(r.status, 404);
    // Past the cap: 414, as problem+json.
    let long = format!("{query}&pad={}", "p".repeat(crate::http::request::MAX_QUERY_BYTES));
    let r = handle(&get_req("/download", &long), &MemoryStore::default(), None, config(), 0);
    assert_eq!((r.status, r.header("content-type")), (414, Some("application/problem+json")));
}

#[test]
fn issuing_needs_a_credential_for_the_order_and_the_account_call_an_api_key() {
    let s = MemoryStore::default();
    let e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
    crate::handlers::write_invoice::handle(&e.to_bytes(), &s).unwrap();
    let anonymous = |q: &str| {
        let mut r = get_req("", q);
        r.headers.retain(|(k, _)| k != "authorization");
        r
    };
    let r = handle(&anonymous("accountid=a0&vendorid=v0"), &s, None, config(), 0);
    assert_eq!((r.status, r.header("www-authenticate").is_some()), (401, true));
    let caps = config().unwrap().access.capabilities;
    let (a0, v0) = (Id::parse("a", "a0").unwrap(), Id::parse("v", "v0").unwrap());
    let (_, invoice_url, _) = caps.urls_for(&a0, &v0, &e.id, 0);
    let q = invoice_url.split_once('?').unwrap().1;
    assert_eq!(handle(&anonymous(q), &s, None, config(), 0).status, 200, "the capability URL from the 202");
    // Its token as a bearer credential, out of the URL, reads the same.
    let token = q.rsplit_once("token=").unwrap().1;
    let mut bearer = get_req("", "accountid=a0&vendorid=v0");
    bearer.headers[1].1 = format!("Bearer {token}");
    assert_eq!(handle(&bearer, &s, None, config(), 0).status, 200, "the capability token as Authorization: Bearer");
    // Another message's capability for the same ids (a stranger's order for them)
    // does not reach this invoice: only its own, which does not exist.
    let stranger = crate::model::message_id::MessageId::from("019ac7a2-0000-7000-8000-00000000beef");
    let (_, theirs, _) = caps.urls_for(&a0, &v0, &stranger, 0);
    assert_eq!(handle(&anonymous(theirs.split_once('?').unwrap().1), &s, None, config(), 0).status, 404);
    let account_wide = q.replace("&vendorid=v0", "");
    assert_eq!(handle(&anonymous(&account_wide), &s, None, config(), 0).status, 403, "a capability is for one order");
    let mut wrong = get_req("", "accountid=a0");
    wrong.headers[1].1 = "bearer read-key-0123456789abcdeX".into();
    assert_eq!(handle(&wrong, &s, None, config(), 0).status, 403);
}

/// With an object store: the URL is the store's own, for an object that exists,
/// with the same lifetime; the store down is a 503 naming it; the app's own
/// download endpoint serves nothing.
#[test]
fn with_an_object_store_the_url_is_the_stores() {
    let (s, objects) = (MemoryStore::default(), crate::testing::memory::MemoryObjects::default());
    let e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
    let p = e.to_bytes();
    crate::handlers::write_invoice::handle_batch_with(&[&p], &s, Some(&objects)).remove(0).unwrap();
    let now = 1_764_288_000_000;
    let r = handle(&get_req("", "accountid=a0&vendorid=v0"), &s, Some(&objects), config(), now);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let body = json(&r);
    assert_eq!(body["url"], format!("memory://invoices/a0/v0/{}.json?expires=1764291600", e.id));
    assert_eq!(body["expires_at"], "2025-11-28T01:00:00.000Z");
    assert_eq!(body["invoice"], invoice::invoice_number(&e.id));
    let d = handle(&get_req("/download", "token=x"), &s, Some(&objects), config(), now);
    assert_eq!(d.status, 404);
    // The index names an object that is gone: 404, never a URL to nothing.
    let gone = crate::testing::memory::MemoryObjects::default();
    assert_eq!(handle(&get_req("", "accountid=a0"), &s, Some(&gone), config(), now).status, 404);
    objects.fail_with(Some("object store http://127.0.0.1:9/invoices: connection refused"));
    let r = handle(&get_req("", "accountid=a0"), &s, Some(&objects), config(), now);
    assert_eq!(r.status, 503);
    assert_eq!(
        json(&r)["detail"],
        "the invoice object store is unavailable: object store http://127.0.0.1:9/invoices: connection refused"
    );
}

#[test]
fn misconfiguration_is_503_without_secrets() {
    let s = MemoryStore::default();
    let r = handle(
        &get_req("", "accountid=a0"),
        &s,
        None,
        Config::from_variables("k1:short", "3600", "t:read-key-0123456789abcdef", "60", ""),
        0,
    );
    assert_eq!(r.status, 503);
    let r = handle(
        &get_req("", "accountid=a0"),
        &s,
        None,
        Config::from_variables(KEYS, "9999999", "t:read-key-0123456789abcdef", "60", ""),
        0,
    );
    assert_eq!(r.status, 503);
    assert!(!String::from_utf8_lossy(&r.body).contains("0123456789abcdef"));
    let mut post = get_req("", "accountid=a0");
    post.method = "POST".into();
    assert_eq!(handle(&post, &s, None, config(), 0).header("allow"), Some("GET"));
}
