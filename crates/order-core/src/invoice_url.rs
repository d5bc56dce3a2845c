//! `GET /invoice` and `GET /invoice/download` (invoice-api): hand out signed, expiring
//! URLs for invoices, and honour them.
//!
//! - `GET /invoice?accountid=&vendorid=`: the newest invoice of that order;
//!   `GET /invoice?accountid=` alone (the original's call): the account's newest.
//!   200 `{"url", "expires_at", "invoice"}` or 404 when there is no invoice. The URL is
//!   signed only for a document that exists (the original signed blindly), and starts
//!   with `public_base_url` (relative when that is empty; never the request's `Host`).
//!   Needs a read credential ([`crate::read_access`]): `401` without, `403` when it does
//!   not grant this order (the account-wide call takes an API key only).
//!   With the invoices in an object store, the URL is the store's own presigned `GET`
//!   (SigV4, expiring with the same lifetime), checked with a `HEAD` first; `503`
//!   naming the store while it is unreachable.
//! - `GET /invoice/download?token=`: the invoice document itself. Any token that does not
//!   verify (tampered, expired, signed by a retired key, not a token) gets the same 403;
//!   a valid token whose document is gone gets 404. With an object store, 404: the
//!   downloads go to the store.

use serde::Serialize;

use crate::envelope::rfc3339_ms;
use crate::http::{respond, Request, Response};
use crate::ids::{ids_from_query, Id};
use crate::invoice;
use crate::ports::{KeyValue, ObjectStore};
use crate::problem::Problem;
use crate::read_access::{Access, ReadAccess, Resource};
use crate::token::{self, SigningKeys, DOWNLOAD_PATH};

/// What invoice-api needs from its variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub keys: SigningKeys,
    pub ttl_seconds: u64,
    pub access: ReadAccess,
}

impl Config {
    /// From the `url_signing_keys`, `invoice_url_ttl_seconds`, `read_api_keys`,
    /// `read_url_ttl_seconds` and `public_base_url` variables. The error names the
    /// variable, never its value.
    pub fn from_variables(
        keys: &str,
        ttl: &str,
        api_keys: &str,
        read_ttl: &str,
        base_url: &str,
    ) -> Result<Config, String> {
        Ok(Config {
            keys: SigningKeys::parse(keys).map_err(|e| format!("url_signing_keys: {e}"))?,
            ttl_seconds: token::parse_ttl(ttl).map_err(|e| format!("invoice_url_ttl_seconds: {e}"))?,
            access: ReadAccess::from_variables(api_keys, keys, read_ttl, base_url)?,
        })
    }
}

#[derive(Serialize)]
struct Issued<'a> {
    url: String,
    expires_at: String,
    invoice: &'a str,
}

/// `now_ms` is the current time; `config` is `Err` when the variables are unusable;
/// `objects` is the object store the documents are in, if they are not in `invoices`.
pub fn handle(
    req: &Request,
    invoices: &impl KeyValue,
    objects: Option<&dyn ObjectStore>,
    config: Result<Config, String>,
    now_ms: u64,
) -> Response {
    respond(route(req, invoices, objects, config, now_ms))
}

fn route(
    req: &Request,
    invoices: &impl KeyValue,
    objects: Option<&dyn ObjectStore>,
    config: Result<Config, String>,
    now_ms: u64,
) -> Result<Response, Problem> {
    req.check_limits()?;
    if req.method != "GET" {
        return Err(Problem::method_not_allowed(&req.method, &["GET"]));
    }
    let config = config.map_err(|e| Problem::unavailable(format!("invoice URLs are not configured: {e}")))?;
    match req.path_info.trim_end_matches('/') {
        "" => issue(req, invoices, objects, &config, now_ms),
        "/download" if objects.is_some() => Err(Problem::not_found(
            "invoices are kept in the object store: GET /invoice gives a URL that downloads from it",
        )),
        "/download" => download(req, invoices, &config, now_ms),
        other => Err(Problem::not_found(format!("no such resource `/invoice{other}`"))),
    }
}

fn issue(
    req: &Request,
    invoices: &impl KeyValue,
    objects: Option<&dyn ObjectStore>,
    config: &Config,
    now_ms: u64,
) -> Result<Response, Problem> {
    let (accountid, vendorid) = ids_from_query(&req.query_params()?, false)?;
    let access = config.access.check(req, Resource::Invoice(&accountid, vendorid.as_ref()), now_ms)?;
    let not_found = || Problem::not_found(no_invoice(&accountid, vendorid.as_ref()));
    let document_key = match (access, &vendorid) {
        // A capability: its own message's invoice, not the newest for the ids.
        (Access::Message(id), Some(v)) => invoice::document_key(&accountid, v, &id),
        (_, v) => {
            let index = match v {
                Some(v) => invoice::latest_for_order_key(&accountid, v),
                None => invoice::latest_for_account_key(&accountid),
            };
            let key = get(invoices, &index)?.ok_or_else(not_found)?;
            String::from_utf8(key).map_err(|_| not_found())?
        }
    };
    let expires_at = now_ms / 1000 + config.ttl_seconds;
    let url = match objects {
        Some(objects) => {
            let object_key = invoice::object_key(&document_key);
            let exists = objects
                .exists(&object_key)
                .map_err(|e| Problem::unavailable(format!("the invoice object store is unavailable: {e}")))?;
            if !exists {
                return Err(not_found());
            }
            objects.presigned_get(&object_key, config.ttl_seconds, now_ms)
        }
        None => {
            if get(invoices, &document_key)?.is_none() {
                return Err(not_found());
            }
            let token = config.keys.sign(&document_key, expires_at);
            format!("{}{DOWNLOAD_PATH}?token={token}", config.access.capabilities.base_url())
        }
    };
    let body = Issued {
        url,
        expires_at: rfc3339_ms(expires_at * 1000),
        invoice: &invoice::invoice_number(&invoice::message_id_of(&document_key)),
    };
    Ok(Response::json(200, &body).with_header("cache-control", "no-store"))
}

fn download(req: &Request, invoices: &impl KeyValue, config: &Config, now_ms: u64) -> Result<Response, Problem> {
    let query = req.query_params()?;
    let token = query.get("token").ok_or_else(|| Problem::invalid("token", "query parameter `token` is required"))?;
    let grant =
        config.keys.verify(token, now_ms / 1000).ok().filter(|g| g.document_key.starts_with("invoice/")).ok_or_else(
            || Problem::forbidden("the token is not valid for this download (tampered, expired or revoked)"),
        )?;
    let document = get(invoices, &grant.document_key)?
        .ok_or_else(|| Problem::not_found("the invoice this URL names no longer exists"))?;
    let disposition = invoice::content_disposition(&grant.document_key);
    Ok(Response::new(200, "application/json", document)
        .with_header("content-disposition", disposition)
        .with_header("cache-control", "private, no-store"))
}

fn get(invoices: &impl KeyValue, key: &str) -> Result<Option<Vec<u8>>, Problem> {
    invoices.get(key).map_err(|e| Problem::unavailable(format!("the invoice store is unavailable: {e}")))
}

fn no_invoice(accountid: &Id, vendorid: Option<&Id>) -> String {
    match vendorid {
        Some(v) => format!("no invoice for accountid `{accountid}` and vendorid `{v}`"),
        None => format!("no invoice for accountid `{accountid}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::{order, TestClock};
    use crate::envelope::Envelope;
    use crate::ports::MemoryStore;

    const KEYS: &str = "k1:0123456789abcdef0123456789abcdef";

    const API_KEY: &str = "read-key-0123456789abcdef";

    fn config() -> Result<Config, String> {
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
        crate::write_invoice::handle(&e.to_bytes(), &s).unwrap();
        let now = 1_764_288_000_000;
        for q in ["accountid=a0&vendorid=v0", "accountid=a0"] {
            let r = handle(&get_req("", q), &s, None, config(), now);
            assert_eq!(r.status, 200, "{q}");
            let body = json(&r);
            let url = body["url"].as_str().unwrap();
            assert!(url.starts_with("http://127.0.0.1:3000/invoice/download?token=v1.k1."), "{url}");
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
        let t = keys.sign("invoice/a9#v9#gone", 10);
        assert_eq!(handle(&get_req("/download", &format!("token={t}")), &s, None, config(), 0).status, 404);
        // A valid token for something that is not an invoice document is refused.
        s.set("latest-by-account/a0", b"invoice/a0#v0#x").unwrap();
        let t = keys.sign("latest-by-account/a0", 10);
        assert_eq!(handle(&get_req("/download", &format!("token={t}")), &s, None, config(), 0).status, 403);
        // The index names a document that is gone: 404, never a URL to nothing.
        assert_eq!(handle(&get_req("", "accountid=a0"), &s, None, config(), 0).status, 404);
    }

    /// A download URL for the longest ids, key id and expiry fits the query cap with room
    /// to spare, and is answered (404: no such document), never 414.
    #[test]
    fn the_longest_download_query_fits_the_query_cap() {
        let id = "x".repeat(crate::ids::MAX_ID_LEN);
        let (a, v) = (Id::parse("a", &id).unwrap(), Id::parse("v", &id).unwrap());
        let document_key = invoice::document_key(&a, &v, &crate::envelope::MessageId::v7(u64::MAX, [0xff; 10]));
        let kid = "k".repeat(16);
        let keys = SigningKeys::parse(&format!("{kid}:0123456789abcdef0123456789abcdef")).unwrap();
        let query = format!("token={}", keys.sign(&document_key, u64::MAX));
        assert!(2 * query.len() <= crate::http::MAX_QUERY_BYTES, "{} bytes", query.len());
        let access = config().unwrap().access;
        let longest = Config { keys, ttl_seconds: 3600, access };
        let r = handle(&get_req("/download", &query), &MemoryStore::default(), None, Ok(longest), 0);
        assert_eq!(r.status, 404);
        // Past the cap: 414, as problem+json.
        let long = format!("{query}&pad={}", "p".repeat(crate::http::MAX_QUERY_BYTES));
        let r = handle(&get_req("/download", &long), &MemoryStore::default(), None, config(), 0);
        assert_eq!((r.status, r.header("content-type")), (414, Some("application/problem+json")));
    }

    #[test]
    fn issuing_needs_a_credential_for_the_order_and_the_account_call_an_api_key() {
        let s = MemoryStore::default();
        let e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
        crate::write_invoice::handle(&e.to_bytes(), &s).unwrap();
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
        // Another message's capability for the same ids (a stranger's order for them)
        // does not reach this invoice: only its own, which does not exist.
        let stranger = crate::envelope::MessageId::from("019ac7a2-0000-7000-8000-00000000beef");
        let (_, theirs, _) = caps.urls_for(&a0, &v0, &stranger, 0);
        assert_eq!(handle(&anonymous(theirs.split_once('?').unwrap().1), &s, None, config(), 0).status, 404);
        let account_wide = q.replace("&vendorid=v0", "");
        assert_eq!(
            handle(&anonymous(&account_wide), &s, None, config(), 0).status,
            403,
            "a capability is for one order"
        );
        let mut wrong = get_req("", "accountid=a0");
        wrong.headers[1].1 = "bearer read-key-0123456789abcdeX".into();
        assert_eq!(handle(&wrong, &s, None, config(), 0).status, 403);
    }

    /// With an object store: the URL is the store's own, for an object that exists,
    /// with the same lifetime; the store down is a 503 naming it; the app's own
    /// download endpoint serves nothing.
    #[test]
    fn with_an_object_store_the_url_is_the_stores() {
        let (s, objects) = (MemoryStore::default(), crate::ports::MemoryObjects::default());
        let e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
        let p = e.to_bytes();
        crate::write_invoice::handle_batch_with(&[&p], &s, Some(&objects)).remove(0).unwrap();
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
        let gone = crate::ports::MemoryObjects::default();
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
}
