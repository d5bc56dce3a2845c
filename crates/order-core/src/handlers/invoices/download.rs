//! `GET /invoice/download?token=` (invoice-api): the invoice document itself, for a
//! token `GET /invoice` signed. Any token that does not verify (tampered, expired, signed
//! by a retired key, of another kind, not a token) gets the same 403; a valid token whose
//! document is gone gets 404. With an object store, 404: the downloads go to the store.

use crate::access::signing::GrantKind;
use crate::handlers::invoices::config::Config;
use crate::handlers::invoices::issue::get;
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::model::invoice;
use crate::ports::key_value::KeyValue;

pub fn answer(req: &Request, invoices: &impl KeyValue, config: &Config, now_ms: u64) -> Result<Response, Problem> {
    let query = req.query_params()?;
    let token = query.get("token").ok_or_else(|| Problem::invalid("token", "query parameter `token` is required"))?;
    let grant = config
        .keys
        .verify(token, GrantKind::DownloadInvoice, now_ms / 1000)
        .ok()
        .filter(|g| g.subject.starts_with("invoice/"))
        .ok_or_else(|| Problem::forbidden("the token is not valid for this download (tampered, expired or revoked)"))?;
    let document = get(invoices, &grant.subject)?
        .ok_or_else(|| Problem::not_found("the invoice this URL names no longer exists"))?;
    let disposition = invoice::content_disposition(&grant.subject);
    Ok(Response::new(200, "application/json", document)
        .with_header("content-disposition", disposition)
        .with_header("cache-control", "private, no-store"))
}
