//! S3-compatible object storage, sans-I/O: the requests the invoice consumers and
//! invoice-api send to a bucket (AWS S3, Akamai/Linode Object Storage, Cloudflare R2,
//! MinIO, Garage), signed with SigV4 by `rusty-s3`, and what the store's answers mean.
//! The caller sends them (Spin's outbound HTTP in the components).
//!
//! Every request is query-signed (a presigned URL), so the signature never travels in a
//! header and the same code makes the URLs handed to clients. A signed header is part of
//! the signature: a request that changes it is refused by the store.

use std::time::Duration;

use rusty_s3::actions::S3Action;
use rusty_s3::{Bucket, Credentials, UrlStyle};

/// The longest a presigned URL may live: SigV4's own limit, 7 days.
pub const MAX_URL_SECONDS: u64 = 7 * 24 * 3600;

/// How long the URL of one of our own requests (a `PUT`, a `HEAD`) stays valid: enough
/// for a slow store and a skewed clock, short enough that a logged URL is soon useless.
const REQUEST_SECONDS: u64 = 300;

/// A bucket and the credentials to reach it.
#[derive(Clone)]
pub struct ObjectStore {
    bucket: Bucket,
    credentials: Credentials,
}

/// The secret access key is never printed.
impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStore({})", self.shown())
    }
}

/// One request to send: `method` to `url` with `headers` (and, for a `PUT`, the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
}

impl ObjectStore {
    /// From the settings: `endpoint` (`https://s3.eu-central-1.amazonaws.com`,
    /// `http://127.0.0.1:9000`), `region`, the `bucket`'s name, the key pair, and
    /// `url_style`, `path` (`<endpoint>/<bucket>/<key>`) or `virtual`
    /// (`<bucket>.<endpoint host>/<key>`). The error names the setting, never a secret.
    pub fn new(
        endpoint: &str,
        region: &str,
        bucket: &str,
        access_key_id: &str,
        secret_access_key: &str,
        url_style: &str,
    ) -> Result<ObjectStore, String> {
        let endpoint: url::Url =
            endpoint.trim().parse().map_err(|e| format!("s3_endpoint: not a URL (`{endpoint}`): {e}"))?;
        let style = match url_style.trim() {
            "path" => UrlStyle::Path,
            "virtual" => UrlStyle::VirtualHost,
            other => return Err(format!("s3_url_style: `path` or `virtual`, not `{other}`")),
        };
        if region.trim().is_empty() {
            return Err("s3_region: empty".into());
        }
        if bucket.trim().is_empty() {
            return Err("s3_bucket: empty".into());
        }
        if access_key_id.trim().is_empty() || secret_access_key.trim().is_empty() {
            return Err("s3_access_key_id and s3_secret_access_key: both are needed".into());
        }
        let bucket = Bucket::new(endpoint, style, bucket.trim().to_owned(), region.trim().to_owned())
            .map_err(|e| format!("s3_endpoint: {e} (an http:// or https:// URL with a host)"))?;
        Ok(ObjectStore { bucket, credentials: Credentials::new(access_key_id.trim(), secret_access_key.trim()) })
    }

    /// The bucket as log lines and errors name it: its URL, no credentials.
    pub fn shown(&self) -> String {
        self.bucket.base_url().as_str().trim_end_matches('/').to_owned()
    }

    /// `PUT` of one object. The body is the caller's; `content_type` and
    /// `content_disposition` are signed, so the object is stored with exactly these.
    pub fn put(&self, key: &str, content_type: &str, content_disposition: &str, now_s: u64) -> Request {
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        action.headers_mut().insert("content-type", content_type.to_owned());
        action.headers_mut().insert("content-disposition", content_disposition.to_owned());
        Request {
            method: "PUT",
            url: action.sign_with_time(Duration::from_secs(REQUEST_SECONDS), &timestamp(now_s)).into(),
            headers: vec![
                ("content-type", content_type.to_owned()),
                ("content-disposition", content_disposition.to_owned()),
            ],
        }
    }

    /// `HEAD` of one object: does it exist.
    pub fn head(&self, key: &str, now_s: u64) -> Request {
        let action = self.bucket.head_object(Some(&self.credentials), key);
        Request {
            method: "HEAD",
            url: action.sign_with_time(Duration::from_secs(REQUEST_SECONDS), &timestamp(now_s)).into(),
            headers: Vec::new(),
        }
    }

    /// A URL anyone holding it may `GET` the object with, until `ttl_seconds` after
    /// `now_s` (at most [`MAX_URL_SECONDS`]); the store refuses it after that, or once
    /// any character of it is changed.
    pub fn presigned_get(&self, key: &str, ttl_seconds: u64, now_s: u64) -> String {
        let action = self.bucket.get_object(Some(&self.credentials), key);
        let ttl = Duration::from_secs(ttl_seconds.min(MAX_URL_SECONDS));
        action.sign_with_time(ttl, &timestamp(now_s)).into()
    }
}

fn timestamp(now_s: u64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now_s.min(i64::MAX as u64) as i64).unwrap_or(jiff::Timestamp::MAX)
}

/// What a store's answer to a `PUT` means: `Ok` for 2xx; otherwise the store's own
/// error code and message (from its XML error document), never the request's URL.
pub fn put_outcome(status: u16, body: &[u8]) -> Result<(), String> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(refusal(status, body))
}

/// What a store's answer to a `HEAD` means: `Ok(true)` it exists, `Ok(false)` it does
/// not (404); anything else is a failure (a `HEAD` answer has no body to explain it).
pub fn head_outcome(status: u16) -> Result<bool, String> {
    match status {
        200..=299 => Ok(true),
        404 => Ok(false),
        other => Err(refusal(other, b"")),
    }
}

/// `answered 403 SignatureDoesNotMatch: The request signature we calculated does not
/// match ...`: the status, then the `<Code>` and `<Message>` of an S3 error document.
fn refusal(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].chars().take(300).collect::<String>())
    };
    match (element("Code"), element("Message")) {
        (Some(code), Some(message)) => format!("answered {status} {code}: {message}"),
        (Some(code), None) => format!("answered {status} {code}"),
        _ => format!("answered {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(style: &str) -> ObjectStore {
        ObjectStore::new("https://s3.amazonaws.com", "us-east-1", "examplebucket", "AKIDEXAMPLE", "SECRET/KEY", style)
            .unwrap()
    }

    #[test]
    fn requests_are_presigned_and_name_their_signed_headers() {
        let s = store("path");
        let put = s.put("invoices/a0/v0/m.json", "application/json", "attachment; filename=\"i.json\"", 1_369_353_600);
        assert_eq!(put.method, "PUT");
        assert!(put.url.starts_with("https://s3.amazonaws.com/examplebucket/invoices/a0/v0/m.json?"), "{}", put.url);
        assert!(put.url.contains("X-Amz-Date=20130524T000000Z&X-Amz-Expires=300"), "{}", put.url);
        assert!(put.url.contains("X-Amz-SignedHeaders=content-disposition%3Bcontent-type%3Bhost"), "{}", put.url);
        assert!(!put.url.contains("SECRET"), "{}", put.url);
        let get = store("virtual").presigned_get("invoices/a0/v0/m.json", 3600, 1_369_353_600);
        assert!(get.starts_with("https://examplebucket.s3.amazonaws.com/invoices/a0/v0/m.json?"), "{get}");
        assert!(get.contains("X-Amz-Expires=3600"), "{get}");
        // The URL lifetime is capped at SigV4's 7 days.
        assert!(s.presigned_get("k", u64::MAX, 0).contains("X-Amz-Expires=604800"));
        assert_eq!(s.head("k", 0).method, "HEAD");
    }

    #[test]
    fn settings_are_checked_and_errors_never_show_the_secret() {
        let bad = [
            ("not a url", "us-east-1", "b", "k", "s", "path"),
            ("ftp://h", "us-east-1", "b", "k", "s", "path"),
            ("http://h:9000", "", "b", "k", "s", "path"),
            ("http://h:9000", "r", "", "k", "s", "path"),
            ("http://h:9000", "r", "b", "", "s3cr3t", "path"),
            ("http://h:9000", "r", "b", "k", "s3cr3t", "sideways"),
        ];
        for (e, r, b, k, s, u) in bad {
            let err = ObjectStore::new(e, r, b, k, s, u).unwrap_err();
            assert!(err.starts_with("s3_"), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
        let s = ObjectStore::new("http://127.0.0.1:9000", "r", "bucket", "k", "s3cr3t", "path").unwrap();
        assert_eq!(s.shown(), "http://127.0.0.1:9000/bucket");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn answers() {
        assert_eq!(put_outcome(200, b""), Ok(()));
        let xml = b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><AWSAccessKeyId>AKID</AWSAccessKeyId></Error>";
        assert_eq!(put_outcome(404, xml), Err("answered 404 NoSuchBucket: The specified bucket does not exist".into()));
        assert_eq!(put_outcome(503, b"busy"), Err("answered 503".into()));
        assert_eq!(head_outcome(200), Ok(true));
        assert_eq!(head_outcome(404), Ok(false));
        assert_eq!(head_outcome(403), Err("answered 403".into()));
    }
}
