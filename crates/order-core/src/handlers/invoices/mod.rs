//! `GET /invoice` and `GET /invoice/download` (invoice-api): hand out signed, expiring
//! URLs for invoices ([`issue`]), and honour them ([`download`]).

pub mod config;
pub mod download;
pub mod issue;
#[cfg(test)]
mod tests;

use crate::handlers::invoices::config::Config;
use crate::http::problem::{respond, Problem};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::ports::key_value::KeyValue;
use crate::ports::object_store::ObjectStore;
use crate::ports::settings::Misconfigured;

/// `now_ms` is the current time; `config` is `Err` when the variables are unusable;
/// `objects` is the object store the documents are in, if they are not in `invoices`.
pub fn handle(
    req: &Request,
    invoices: &impl KeyValue,
    objects: Option<&dyn ObjectStore>,
    config: Result<Config, Misconfigured>,
    now_ms: u64,
) -> Response {
    respond(route(req, invoices, objects, config, now_ms))
}

fn route(
    req: &Request,
    invoices: &impl KeyValue,
    objects: Option<&dyn ObjectStore>,
    config: Result<Config, Misconfigured>,
    now_ms: u64,
) -> Result<Response, Problem> {
    req.check_limits()?;
    if req.method != "GET" {
        return Err(Problem::method_not_allowed(&req.method, &["GET"]));
    }
    let config = config.map_err(|e| Problem::unavailable(format!("invoice URLs are not configured: {e}")))?;
    match req.path_info.trim_end_matches('/') {
        "" => issue::answer(req, invoices, objects, &config, now_ms),
        "/download" if objects.is_some() => Err(Problem::not_found(
            "invoices are kept in the object store: GET /invoice gives a URL that downloads from it",
        )),
        "/download" => download::answer(req, invoices, &config, now_ms),
        other => Err(Problem::not_found(format!("no such resource `/invoice{other}`"))),
    }
}
