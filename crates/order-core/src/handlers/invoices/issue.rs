//! `GET /invoice` (invoice-api): hands out signed, expiring URLs for invoices.
//!
//! - `GET /invoice?accountid=&vendorid=`: the newest invoice of that order;
//!   `GET /invoice?accountid=` alone (the original's call): the account's newest.
//!   200 `{"url", "expires_at", "invoice"}` or 404 when there is no invoice. The URL is
//!   signed only for a document that exists (the original signed blindly), and starts
//!   with `public_base_url` (relative when that is empty; never the request's `Host`).
//!   Needs a read credential ([`crate::access::read_access`]): `401` without, `403` when it does
//!   not grant this order (the account-wide call takes an API key only).
//!   With the invoices in an object store, the URL is the store's own presigned `GET`
//!   (SigV4, expiring with the same lifetime), checked with a `HEAD` first; `503`
//!   naming the store while it is unreachable.

use serde::Serialize;

use crate::access::capabilities::{Access, Resource};
use crate::access::signing::GrantKind;
use crate::handlers::invoices::config::Config;
use crate::http::problem::Problem;
use crate::http::request::ids_from_query;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::ids::Id;
use crate::model::invoice;
use crate::model::time::rfc3339_ms;
use crate::ports::key_value::KeyValue;
use crate::ports::object_store::ObjectStore;

/// Where `GET /invoice/download` is, below the app's origin.
pub const DOWNLOAD_PATH: &str = "/invoice/download";

#[derive(Serialize)]
struct Issued<'a> {
    url: String,
    expires_at: String,
    invoice: &'a str,
}

pub fn answer(
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
            let token = config.keys.sign(GrantKind::DownloadInvoice, &document_key, expires_at);
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

pub fn get(invoices: &impl KeyValue, key: &str) -> Result<Option<Vec<u8>>, Problem> {
    invoices.get(key).map_err(|e| Problem::unavailable(format!("the invoice store is unavailable: {e}")))
}

fn no_invoice(accountid: &Id, vendorid: Option<&Id>) -> String {
    match vendorid {
        Some(v) => format!("no invoice for accountid `{accountid}` and vendorid `{v}`"),
        None => format!("no invoice for accountid `{accountid}`"),
    }
}
