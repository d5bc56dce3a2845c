//! Capability URLs: issued in the `202` of `POST /order` (`order_url`, `invoice_url`), and
//! verified when a read presents one.
//!
//! Its `?token=` is signed for one accepted message. A token grants one resource of
//! that one message until it expires: its order (`GET /order`, and only while the
//! stored order is still that message's: a newer order for the same ids is not its to
//! read) or its own invoice (`GET /invoice`). Since anyone may post an order for any
//! ids, a capability bound to the ids alone would let a stranger read the ids' owner's
//! orders; bound to the message, it reads only what its holder posted. It is a
//! [`crate::access::signing`] grant of kind `read-order` or `read-invoice` on
//! `<accountid>#<vendorid>#<message id>`: the kind is signed, so a capability never
//! works as a download token, nor the other way round. The token may also be sent as
//! `Authorization: Bearer <token>`, which keeps it out of URLs (and so out of access
//! logs and the platform's request spans, which record the query).

use crate::access::signing::{parse_ttl, GrantKind, SigningKeys};
use crate::model::ids::{order_key, Id};
use crate::model::message_id::MessageId;
use crate::ports::settings::Misconfigured;

/// What a read asks for.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// `GET /order?accountid=&vendorid=`.
    Order(&'a Id, &'a Id),
    /// `GET /invoice?accountid=&vendorid=` (`None`: the account's newest, API key only).
    Invoice(&'a Id, Option<&'a Id>),
}

impl Resource<'_> {
    /// The capability kind that grants this resource, and what its subject starts with
    /// (the message id follows), if a capability can grant it.
    fn grant(&self) -> Option<(GrantKind, String)> {
        match self {
            Resource::Order(a, v) => Some((GrantKind::ReadOrder, format!("{}#", order_key(a, v)))),
            Resource::Invoice(a, Some(v)) => Some((GrantKind::ReadInvoice, format!("{}#", order_key(a, v)))),
            Resource::Invoice(_, None) => None,
        }
    }
}

/// What a read's credential allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// An API key: every order, its newest invoice, the account's newest.
    ApiKey,
    /// A capability: only what this message brought (its order while it is the stored
    /// one, its own invoice).
    Message(MessageId),
}

/// What signs and checks capability URLs, from the `url_signing_keys`,
/// `read_url_ttl_seconds` and `public_base_url` variables. order-api holds only this (it
/// hands the URLs out); the readers hold an `access::read_access::ReadAccess`.
#[derive(Debug, Clone)]
pub struct Capabilities {
    signing: SigningKeys,
    ttl_seconds: u64,
    /// `public_base_url`, without a trailing slash; empty for relative URLs.
    base_url: String,
}

impl Capabilities {
    /// Errors name the variable, never a secret.
    pub fn from_variables(signing_keys: &str, ttl: &str, base_url: &str) -> Result<Capabilities, Misconfigured> {
        Ok(Capabilities {
            signing: SigningKeys::parse(signing_keys).map_err(|e| Misconfigured(format!("url_signing_keys: {e}")))?,
            ttl_seconds: parse_ttl(ttl).map_err(|e| Misconfigured(format!("read_url_ttl_seconds: {e}")))?,
            base_url: public_base_url(base_url).map_err(|e| Misconfigured(format!("public_base_url: {e}")))?,
        })
    }

    /// The capability URLs for one accepted message, and when they expire (Unix seconds).
    pub fn urls_for(&self, accountid: &Id, vendorid: &Id, message: &MessageId, now_ms: u64) -> (String, String, u64) {
        let expires_at = now_ms / 1000 + self.ttl_seconds;
        let (order_url, invoice_url) = self.urls_until(accountid, vendorid, message, expires_at);
        (order_url, invoice_url, expires_at)
    }

    /// The capability URLs for one accepted message, expiring at `expires_at` (Unix
    /// seconds): the same URLs again for the same arguments and signing key.
    pub fn urls_until(&self, accountid: &Id, vendorid: &Id, message: &MessageId, expires_at: u64) -> (String, String) {
        let url = |path: &str, r: Resource| {
            let (kind, prefix) = r.grant().expect("an order's resources take tokens");
            let token = self.signing.sign(kind, &format!("{prefix}{message}"), expires_at);
            format!("{}{path}?accountid={accountid}&vendorid={vendorid}&token={token}", self.base_url)
        };
        (
            url("/order", Resource::Order(accountid, vendorid)),
            url("/invoice", Resource::Invoice(accountid, Some(vendorid))),
        )
    }

    /// The message whose `resource` `token` grants, if it does.
    pub fn grants(&self, token: &str, resource: Resource, now_ms: u64) -> Option<Access> {
        // The subject is authentic once the mac verifies: comparing it is not secret.
        let (kind, prefix) = resource.grant()?;
        let grant = self.signing.verify(token, kind, now_ms / 1000).ok()?;
        let id = grant.subject.strip_prefix(&prefix)?;
        (!id.is_empty() && !id.contains('#')).then(|| Access::Message(MessageId::from(id)))
    }

    /// How long the URLs handed out are good for (`read_url_ttl_seconds`).
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// The base for URLs this app hands out (`public_base_url`), or "" for relative ones.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// `public_base_url`: empty (URLs are relative), or an `http(s)://host[:port][/path]`
/// without query or fragment; returned without a trailing slash.
pub fn public_base_url(v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    if v.is_empty() {
        return Ok(String::new());
    }
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(['?', '#', ' ', '@']) => Ok(v.to_owned()),
        _ => Err(format!("must be empty or an http(s) URL without query, fragment or user info, not `{v}`")),
    }
}
