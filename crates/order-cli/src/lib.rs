//! The original notebook's walkthrough as commands, against any base URL (a local
//! `spin up`, SpinKube, a cloud deployment): post N random orders and verify they all
//! arrived, pretty-print an order, fetch an invoice through its signed URL.
//!
//! Every failure is a message, never a panic: an unreachable URL, a timeout, an answer
//! that is not JSON.
#![cfg(not(target_family = "wasm"))]

pub mod post;
pub mod trace;

use std::time::Duration;

use anyhow::{anyhow, Result};

/// An HTTP answer, body read.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, or an error saying what came instead.
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|_| {
            let text = String::from_utf8_lossy(&self.body);
            let shown: String = text.chars().take(200).collect();
            anyhow!("{what} answered {} with {} that is not JSON: {shown:?}", self.status, self.content_type)
        })
    }
}

/// What sees every answer a [`Client`] receives: the request's method and URL, and the
/// answer (the tests check each against the API's OpenAPI document).
pub type Observer = std::sync::Arc<dyn Fn(&str, &str, &Answer) + Send + Sync>;

/// A client for one deployment.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
    /// Sent as `Authorization: Bearer` on reads (`GET /order`, `GET /invoice`).
    api_key: Option<String>,
    observer: Option<Observer>,
}

impl Client {
    pub fn new(base: &str, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(256)
            .max_idle_connections(256)
            .build()
            .into();
        Client { agent, base: base.trim_end_matches('/').to_owned(), api_key: None, observer: None }
    }

    /// Hands every answer to `observer` before returning it.
    pub fn observed_by(mut self, observer: Observer) -> Client {
        self.observer = Some(observer);
        self
    }

    /// Reads with this API key (one of the app's `read_api_keys`).
    pub fn with_api_key(mut self, key: Option<String>) -> Client {
        self.api_key = key.filter(|k| !k.is_empty());
        self
    }

    /// `path` is appended to the base URL unless it is a full URL itself.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// A GET; with the client's API key, unless the URL carries its own `token`.
    pub fn get(&self, path: &str) -> Result<Answer> {
        let url = self.url(path);
        let mut req = self.agent.get(&url);
        // The key goes to the app only: never to a URL that carries its own credential,
        // nor to another origin (a bucket's presigned URL, which would refuse it).
        let own = url.strip_prefix(&self.base).is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        if let Some(key) = self.api_key.as_ref().filter(|_| own && !url.contains("token=")) {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        let resp = req.call().map_err(|e| explain(&url, e))?;
        self.observed("GET", &url, read(&url, resp)?)
    }

    pub fn post_json(&self, path: &str, body: &[u8]) -> Result<Answer> {
        let url = self.url(path);
        let resp = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| explain(&url, e))?;
        self.observed("POST", &url, read(&url, resp)?)
    }

    fn observed(&self, method: &str, url: &str, answer: Answer) -> Result<Answer> {
        if let Some(observe) = &self.observer {
            observe(method, url, &answer);
        }
        Ok(answer)
    }
}

fn read(url: &str, mut resp: ureq::http::Response<ureq::Body>) -> Result<Answer> {
    let status = resp.status().as_u16();
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("no content type").to_owned();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = resp.body_mut().with_config().limit(16 * 1024 * 1024).read_to_vec().map_err(|e| explain(url, e))?;
    Ok(Answer { status, content_type, headers, body })
}

fn explain(url: &str, e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Timeout(_) => anyhow!("no answer from {url} in time"),
        ureq::Error::Io(io) => anyhow!("cannot reach {url}: {io}"),
        ureq::Error::HostNotFound => anyhow!("cannot reach {url}: host not found"),
        other => anyhow!("request to {url} failed: {other}"),
    }
}

/// `GET /order`: the stored order, or an error with the API's own problem detail.
pub fn get_order(client: &Client, accountid: &str, vendorid: &str) -> Result<serde_json::Value> {
    let path = format!("/order?accountid={}&vendorid={}", enc(accountid), enc(vendorid));
    expect_ok(client.get(&path)?, "GET /order")
}

/// `GET /invoice`: `{"url", "expires_at", "invoice"}` for the order's (or, without a
/// vendor, the account's) newest invoice.
pub fn get_invoice(client: &Client, accountid: &str, vendorid: Option<&str>) -> Result<serde_json::Value> {
    let mut path = format!("/invoice?accountid={}", enc(accountid));
    if let Some(v) = vendorid {
        path.push_str(&format!("&vendorid={}", enc(v)));
    }
    expect_ok(client.get(&path)?, "GET /invoice")
}

/// Downloads the invoice a signed URL names.
pub fn download(client: &Client, url: &str) -> Result<serde_json::Value> {
    expect_ok(client.get(url)?, "the invoice download")
}

fn expect_ok(answer: Answer, what: &str) -> Result<serde_json::Value> {
    let json = answer.json(what)?;
    if answer.status == 200 {
        Ok(json)
    } else {
        let detail = json["detail"].as_str().unwrap_or("no detail");
        Err(anyhow!("{what} answered {}: {detail}", answer.status))
    }
}

/// Percent-encodes a query value (ids are plain, but a user may type anything).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Pretty, coloured JSON (when the terminal takes colour), as the notebook's renderer.
pub fn pretty(value: &serde_json::Value) -> String {
    colored_json::to_colored_json_auto(value)
        .unwrap_or_else(|_| serde_json::to_string_pretty(value).unwrap_or_default())
}
