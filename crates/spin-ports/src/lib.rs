//! The domain's ports on Spin, shared by every component: each component is then only
//! "read the trigger's input, call the core, answer".

pub mod topic;

use futures::StreamExt;
use order_core::http::{self, MAX_BODY_BYTES};
use order_core::{KeyValue, PortError, Problem};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::key_value::Store;

/// A Spin key-value store, opened by label. The component must list the label in its
/// `key_value_stores`, or opening fails with `AccessDenied` (answered as 503).
pub struct SpinStore(Store);

impl SpinStore {
    pub fn open(label: &str) -> Result<SpinStore, PortError> {
        Store::open(label).map(SpinStore).map_err(|e| {
            let why = match e {
                spin_sdk::key_value::Error::AccessDenied => {
                    "access denied (the component does not list it in key_value_stores)".to_owned()
                }
                spin_sdk::key_value::Error::NoSuchStore => "no such store".to_owned(),
                other => other.to_string(),
            };
            PortError(format!("key-value store `{label}`: {why}"))
        })
    }
}

impl KeyValue for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.0.get(key).map_err(|e| PortError(e.to_string()))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.0.set(key, value).map_err(|e| PortError(e.to_string()))
    }
}

/// A component variable, or a problem naming it.
pub fn variable(name: &str) -> Result<String, String> {
    spin_sdk::variables::get(name).map_err(|e| format!("variable `{name}`: {e}"))
}

/// Reads Spin's request into the core's, stopping at the body limit: a body larger
/// than 64 KiB is answered 413 without being read to its end.
pub async fn read_request(req: IncomingRequest) -> Result<http::Request, Problem> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let method = req.method().to_string();
    let path_with_query = req.path_with_query().unwrap_or_default();
    let query = path_with_query
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    let mut core = http::Request {
        method,
        path_info: String::new(),
        query,
        headers,
        body: Vec::new(),
    };
    core.path_info = core.header("spin-path-info").unwrap_or_default().to_owned();
    let declared: Option<usize> = core
        .header("content-length")
        .and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(http::too_large());
    }
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Problem::bad_request(format!("the request body could not be read: {e:?}"))
        })?;
        core.body.extend_from_slice(&chunk);
        if core.body.len() > MAX_BODY_BYTES {
            return Err(http::too_large());
        }
    }
    Ok(core)
}

/// The core's answer as Spin's.
pub fn to_spin(r: http::Response) -> Response {
    Response::builder()
        .status(r.status)
        .headers(r.headers)
        .body(r.body)
        .build()
}
