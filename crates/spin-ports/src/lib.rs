//! The domain's ports on Spin, shared by every component: each component is then only
//! "read the trigger's input, call the core, answer".

pub mod address;
pub mod consumer;
pub mod doorbell;
pub mod objects;
pub mod store;
pub mod topic;

use futures::StreamExt;
use order_core::http::{self, MAX_BODY_BYTES};
use order_core::{KeyValue, PortError, Problem};
use spin_sdk::http::{IncomingRequest, Response, ResponseOutparam};

const ACCESS_DENIED: &str = "access denied (the component does not list it in key_value_stores)";
const NO_SUCH_STORE: &str = "no such store";

fn open_error(label: &str, why: String) -> PortError {
    PortError(format!("key-value store `{label}`: {why}"))
}

/// A store opened through `wasi:keyvalue` (Spin 3 and later), for its batch write: on
/// Spin's SQLite store `set_many` is one transaction, where `fermyon:spin/key-value`
/// costs a transaction per key. Same labels, same `key_value_stores` capability. Reads
/// are single `get`s: `get_many` is never called, since Spin's Redis provider answers
/// it with `KEYS` (see [`crate::store`]).
pub struct BatchStore(kv::store::Bucket);

/// `wasi:keyvalue` (store, batch), bound from this repository's own `wit/` (world
/// `keyvalue-client`), so `wit/` is the contract and no private SDK module is used.
mod bindings {
    spin_sdk::wit_bindgen::generate!({
        world: "coffee-orders:components/keyvalue-client",
        path: "../../wit",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::wasi::keyvalue as kv;

impl BatchStore {
    /// Opens `label`: the component must list it in its `key_value_stores`, or this
    /// fails with `AccessDenied` (answered as 503).
    pub fn open(label: &str) -> Result<BatchStore, PortError> {
        kv::store::open(label).map(BatchStore).map_err(|e| kv_open_error(label, e))
    }

    /// Opens `label` if the manifest grants it to this component (`Ok(None)` if not).
    pub fn open_granted(label: &str) -> Result<Option<BatchStore>, PortError> {
        match kv::store::open(label) {
            Ok(bucket) => Ok(Some(BatchStore(bucket))),
            Err(kv::store::Error::AccessDenied) => Ok(None),
            Err(e) => Err(kv_open_error(label, e)),
        }
    }
}

fn kv_open_error(label: &str, e: kv::store::Error) -> PortError {
    open_error(
        label,
        match e {
            kv::store::Error::AccessDenied => ACCESS_DENIED.to_owned(),
            kv::store::Error::NoSuchStore => NO_SUCH_STORE.to_owned(),
            kv::store::Error::Other(o) => o,
        },
    )
}

fn kv_error(e: kv::store::Error) -> PortError {
    PortError(match e {
        kv::store::Error::Other(o) => o,
        other => format!("{other:?}"),
    })
}

/// The most entries one `set_many` passes to Spin: DynamoDB's `BatchWriteItem` limit.
pub const SET_MANY_LIMIT: usize = 25;

impl KeyValue for BatchStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.0.get(key).map_err(kv_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.0.set(key, value).map_err(kv_error)
    }

    /// In calls of at most [`SET_MANY_LIMIT`] entries: Spin's DynamoDB provider sends
    /// each call as one `BatchWriteItem`, which DynamoDB refuses beyond 25 items. On
    /// SQLite each call is one transaction, so a failure can leave earlier calls
    /// written: the message is delivered again and writes the same versions again.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        entries.chunks(SET_MANY_LIMIT).try_for_each(|c| kv::batch::set_many(&self.0, c).map_err(kv_error))
    }
}

/// Writes one log line to stdout (Spin keeps it in `.spin/logs/<component>_stdout.txt`).
/// A failing stdout is ignored: a log line must never fail the work it reports.
pub fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// A component variable, or a problem naming it.
pub fn variable(name: &str) -> Result<String, String> {
    spin_sdk::variables::get(name).map_err(|e| format!("variable `{name}`: {e}"))
}

/// The read credentials (`GET /order`, `GET /invoice`), from the variables
/// `read_api_keys`, `url_signing_keys`, `read_url_ttl_seconds` and `public_base_url`.
pub fn read_access() -> Result<order_core::read_access::ReadAccess, String> {
    order_core::read_access::ReadAccess::from_variables(
        &variable("read_api_keys")?,
        &variable("url_signing_keys")?,
        &variable("read_url_ttl_seconds")?,
        &variable("public_base_url")?,
    )
}

/// Reads Spin's request into the core's, stopping at the body limit: a body larger
/// than 64 KiB is answered 413 without being read to its end.
pub async fn read_request(req: IncomingRequest) -> Result<http::Request, Problem> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let method = req.method().to_string();
    let path_with_query = req.path_with_query().unwrap_or_default();
    let query = path_with_query.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
    let mut core = http::Request { method, path_info: String::new(), query, headers, body: Vec::new() };
    core.path_info = core.header("spin-path-info").unwrap_or_default().to_owned();
    let declared: Option<usize> = core.header("content-length").and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(http::too_large());
    }
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Problem::bad_request(format!("the request body could not be read: {e:?}")))?;
        core.body.extend_from_slice(&chunk);
        if core.body.len() > MAX_BODY_BYTES {
            return Err(http::too_large());
        }
    }
    Ok(core)
}

/// The whole life of an HTTP request in a component: read it (413 past the body
/// limit), let `handle` answer it, log the line, answer. The line's path is the one the
/// client asked for (a chained request keeps the caller's: `GET /order` reaches
/// order-reader as `/order`, whatever route matched).
pub async fn serve(
    req: IncomingRequest,
    component: &str,
    handle: impl FnOnce(&http::Request) -> http::Response,
) -> Response {
    let started = std::time::Instant::now();
    let path_with_query = req.path_with_query().unwrap_or_default();
    let path = path_with_query.split('?').next().unwrap_or_default().to_owned();
    match read_request(req).await {
        Ok(req) => {
            let resp = handle(&req);
            answer(component, &path, &req, resp, started)
        }
        Err(problem) => to_spin(problem.into_response()),
    }
}

/// Logs the request's line (see `order_core::log`) and answers it.
pub fn answer(
    component: &str,
    path: &str,
    req: &http::Request,
    resp: http::Response,
    started: std::time::Instant,
) -> Response {
    use order_core::ports::{Clock, SystemClock};
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // The line's time stamp is when the request began.
    let began = SystemClock.now_ms().saturating_sub(ms.ceil() as u64);
    log(&order_core::log::request_line(component, path, req, &resp, ms, began));
    to_spin(resp)
}

/// Sends `resp` as the answer, body and all, and returns: what the handler does after
/// this is not waited for by the client (Spin runs a handler on after its response).
pub async fn answer_then(out: ResponseOutparam, resp: Response) {
    let mut resp = resp;
    let body = std::mem::take(resp.body_mut());
    match spin_sdk::http::OutgoingResponse::try_from(resp) {
        Ok(outgoing) => {
            if let Err(e) = out.set_with_body(outgoing, body).await {
                eprintln!("the answer could not be sent: {e}");
            }
        }
        Err(e) => eprintln!("the answer could not be built: {e}"),
    }
}

/// The core's answer as Spin's.
pub fn to_spin(r: http::Response) -> Response {
    Response::builder().status(r.status).headers(r.headers).body(r.body).build()
}
