//! Who may read an order or its invoice (`GET /order`, `GET /invoice`).
//!
//! Reads are closed: a request needs one of two credentials.
//! - An **API key**: `Authorization: Bearer <key>`, one of the `read_api_keys` variable's
//!   `name:key[,name:key...]` (a [`SecretList`]: each key at least 16 bytes). Any listed key
//!   reads everything, which is how keys rotate: add the new one, move the clients, drop
//!   the old one. The scheme is matched without regard to case (RFC 9110 §11.1), the key
//!   in constant time.
//! - A **capability URL**: `?token=` signed for one accepted message, handed out in the
//!   `202` of `POST /order` (`order_url`, `invoice_url`). A token grants one resource of
//!   that one message until it expires: its order (`GET /order`, and only while the
//!   stored order is still that message's: a newer order for the same ids is not its to
//!   read) or its own invoice (`GET /invoice`). Since anyone may post an order for any
//!   ids, a capability bound to the ids alone would let a stranger read the ids' owner's
//!   orders; bound to the message, it reads only what its holder posted. It is a
//!   [`crate::access::signing`] grant of kind `read-order` or `read-invoice` on
//!   `<accountid>#<vendorid>#<message id>`: the kind is signed, so a capability never
//!   works as a download token, nor the other way round. The token may also be sent as
//!   `Authorization: Bearer <token>`, which keeps it out of URLs (and so out of access
//!   logs and the platform's request spans, which record the query).
//!
//! No credential: `401` with `WWW-Authenticate: Bearer`. Any credential that does not
//! grant the resource (an unknown key, a tampered, expired, retired or another order's
//! token): one `403`, whatever was wrong. The account-wide `GET /invoice?accountid=`
//! takes an API key only.

use crate::access::credentials::{bearer_token, unauthorized, ListForm, SecretList};
use crate::access::signing::{parse_ttl, GrantKind, SigningKeys};
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::model::ids::{order_key, Id};
use crate::model::message_id::MessageId;

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
/// hands the URLs out); the readers hold a [`ReadAccess`].
#[derive(Debug, Clone)]
pub struct Capabilities {
    signing: SigningKeys,
    ttl_seconds: u64,
    /// `public_base_url`, without a trailing slash; empty for relative URLs.
    base_url: String,
}

impl Capabilities {
    /// Errors name the variable, never a secret.
    pub fn from_variables(signing_keys: &str, ttl: &str, base_url: &str) -> Result<Capabilities, String> {
        Ok(Capabilities {
            signing: SigningKeys::parse(signing_keys).map_err(|e| format!("url_signing_keys: {e}"))?,
            ttl_seconds: parse_ttl(ttl).map_err(|e| format!("read_url_ttl_seconds: {e}"))?,
            base_url: public_base_url(base_url).map_err(|e| format!("public_base_url: {e}"))?,
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

    /// How long the URLs handed out are good for (`read_url_ttl_seconds`).
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// The base for URLs this app hands out (`public_base_url`), or "" for relative ones.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// The read credentials a reader accepts: API keys (`read_api_keys`) and capability URLs.
#[derive(Clone)]
pub struct ReadAccess {
    api_keys: SecretList,
    pub capabilities: Capabilities,
}

impl std::fmt::Debug for ReadAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadAccess(api keys {:?}, {:?})", self.api_keys.names(), self.capabilities)
    }
}

impl ReadAccess {
    /// From the `read_api_keys` variable and the [`Capabilities`] ones. Errors name the
    /// variable, never a secret.
    pub fn from_variables(api_keys: &str, signing_keys: &str, ttl: &str, base_url: &str) -> Result<ReadAccess, String> {
        const FORM: ListForm = ListForm {
            entry: "read_api_keys: key",
            pair: "name:key",
            name_rule: "the name must be of",
            max_name_len: None,
            unique_names: false,
        };
        let keys = SecretList::parse(api_keys, &FORM)?;
        Ok(ReadAccess { api_keys: keys, capabilities: Capabilities::from_variables(signing_keys, ttl, base_url)? })
    }

    /// Whether `req` may read `resource` at `now_ms`, and with what.
    pub fn check(&self, req: &Request, resource: Resource, now_ms: u64) -> Result<Access, Problem> {
        if let Some(auth) = req.header("authorization") {
            let credential = bearer_token(auth).ok_or_else(no_credential)?;
            if self.api_keys.matches(credential.as_bytes()) {
                return Ok(Access::ApiKey);
            }
            return self.granted(credential, resource, now_ms).ok_or_else(refused);
        }
        let query = req.query_params()?;
        let Some(token) = query.get("token") else {
            return Err(no_credential());
        };
        self.granted(token, resource, now_ms).ok_or_else(refused)
    }

    /// The message whose `resource` `token` grants, if it does.
    fn granted(&self, token: &str, resource: Resource, now_ms: u64) -> Option<Access> {
        // The subject is authentic once the mac verifies: comparing it is not secret.
        let (kind, prefix) = resource.grant()?;
        let grant = self.capabilities.signing.verify(token, kind, now_ms / 1000).ok()?;
        let id = grant.subject.strip_prefix(&prefix)?;
        (!id.is_empty() && !id.contains('#')).then(|| Access::Message(MessageId::from(id)))
    }
}

/// A read as it is passed on to another component (order-api's `GET /order` to
/// order-reader): the query without its `token`, and the credential as an
/// `Authorization` value (the request's own, else `Bearer <token>`), which the reader
/// checks as [`ReadAccess::check`] would have. The token never goes into the URL of a
/// request the platform makes, and so never into its span for it. A request the reader
/// would refuse for its form (its limits, a repeated parameter) is refused here, with
/// the reader's answer; so is a token no header can carry (empty, or not visible ASCII),
/// with the `403` any token that does not verify gets.
pub fn passed_on(req: &Request) -> Result<(String, Option<String>), Problem> {
    req.check_limits()?;
    let query = req.query_params()?;
    let token = query.get("token");
    let auth = match (req.header("authorization"), token) {
        (Some(auth), _) => Some(auth.to_owned()),
        (None, Some(t)) if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) => return Err(refused()),
        (None, t) => t.map(|t| format!("Bearer {t}")),
    };
    Ok((query.without("token"), auth))
}

/// The one `403` of a credential that does not grant the read.
fn refused() -> Problem {
    Problem::forbidden("the credential does not grant this read (unknown, expired or for another order)")
}

fn no_credential() -> Problem {
    unauthorized(
        "Bearer realm=\"orders\"",
        "reads need `Authorization: Bearer <API key>`, or the signed URL the order's 202 answer gave (with its `token`, \
         in the URL or as `Authorization: Bearer <token>`)",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNING: &str = "k1:0123456789abcdef0123456789abcdef";
    const API: &str = "ci:read-key-0123456789abcdef,old:read-key-fedcba9876543210";

    fn access(base: &str) -> ReadAccess {
        ReadAccess::from_variables(API, SIGNING, "3600", base).unwrap()
    }

    fn ids() -> (Id, Id) {
        (Id::parse("accountid", "a0").unwrap(), Id::parse("vendorid", "v0").unwrap())
    }

    fn req(query: &str, auth: Option<&str>) -> Request {
        Request {
            method: "GET".into(),
            query: query.into(),
            headers: auth.map(|a| vec![("authorization".to_owned(), a.to_owned())]).unwrap_or_default(),
            ..Request::default()
        }
    }

    fn query_of(url: &str) -> String {
        url.split_once('?').unwrap().1.to_owned()
    }

    #[test]
    fn api_keys_read_everything_and_rotate() {
        let a = access("");
        let (acc, ven) = ids();
        for key in ["read-key-0123456789abcdef", "read-key-fedcba9876543210"] {
            for scheme in ["Bearer", "bearer", "BEARER"] {
                let r = req("", Some(&format!("{scheme}  {key}")));
                assert!(a.check(&r, Resource::Order(&acc, &ven), 0).is_ok(), "{scheme} {key}");
                assert!(a.check(&r, Resource::Invoice(&acc, None), 0).is_ok());
            }
        }
        let wrong = a.check(&req("", Some("Bearer read-key-0123456789abcdeX")), Resource::Order(&acc, &ven), 0);
        assert_eq!(wrong.unwrap_err().status, 403);
        let basic = a.check(&req("", Some("Basic abc")), Resource::Order(&acc, &ven), 0).unwrap_err();
        assert_eq!(basic.status, 401);
    }

    #[test]
    fn capability_urls_grant_one_resource_of_one_order_until_they_expire() {
        let a = access("https://orders.example.com/");
        let (acc, ven) = ids();
        let m = MessageId::from("019ac7a2-0000-7000-8000-000000000001");
        let (order_url, invoice_url, expires_at) = a.capabilities.urls_for(&acc, &ven, &m, 1_000_000);
        assert!(order_url.starts_with("https://orders.example.com/order?accountid=a0&vendorid=v0&token="));
        assert!(invoice_url.starts_with("https://orders.example.com/invoice?accountid=a0&vendorid=v0&token="));
        let (oq, iq) = (query_of(&order_url), query_of(&invoice_url));
        assert_eq!(a.check(&req(&oq, None), Resource::Order(&acc, &ven), 1_000_000), Ok(Access::Message(m.clone())));
        assert_eq!(a.check(&req(&iq, None), Resource::Invoice(&acc, Some(&ven)), 1_000_000), Ok(Access::Message(m)));
        // Swapped between resources or orders, used for the account, or expired: 403.
        let other = Id::parse("vendorid", "v1").unwrap();
        for (q, r) in [
            (&oq, Resource::Invoice(&acc, Some(&ven))),
            (&iq, Resource::Order(&acc, &ven)),
            (&oq, Resource::Order(&acc, &other)),
            (&iq, Resource::Invoice(&acc, None)),
        ] {
            assert_eq!(a.check(&req(q, None), r, 1_000_000).unwrap_err().status, 403, "{q} for {r:?}");
        }
        assert_eq!(
            a.check(&req(&oq, None), Resource::Order(&acc, &ven), expires_at * 1000).unwrap_err().status,
            403,
            "expired"
        );
        let none = a.check(&req("accountid=a0&vendorid=v0", None), Resource::Order(&acc, &ven), 0).unwrap_err();
        assert_eq!(none.status, 401);
        assert!(none.headers.iter().any(|(k, v)| k == "www-authenticate" && v.starts_with("Bearer")));
    }

    #[test]
    fn a_capability_is_never_a_download_token() {
        let a = access("");
        let (acc, ven) = ids();
        let (order_url, invoice_url, _) = a.capabilities.urls_for(&acc, &ven, &MessageId::from("m1"), 0);
        let keys = SigningKeys::parse(SIGNING).unwrap();
        for url in [order_url, invoice_url] {
            let token = query_of(&url).rsplit_once("token=").unwrap().1.to_owned();
            let refused = keys.verify(&token, GrantKind::DownloadInvoice, 0);
            assert_eq!(refused, Err(crate::access::signing::Rejected::OtherKind), "{url}");
        }
        // Nor is a download token a capability.
        let download = keys.sign(GrantKind::DownloadInvoice, "a0#v0#m1", 1);
        let r = a.check(&req(&format!("token={download}"), None), Resource::Order(&acc, &ven), 0);
        assert_eq!(r.unwrap_err().status, 403);
    }

    #[test]
    fn configuration_errors_name_the_variable_not_the_secret() {
        let e = ReadAccess::from_variables("ci:tiny-key", SIGNING, "3600", "").unwrap_err();
        assert!(e.contains("read_api_keys") && !e.contains("tiny-key"), "{e}");
        assert!(ReadAccess::from_variables(API, SIGNING, "0", "").unwrap_err().contains("read_url_ttl_seconds"));
        assert!(ReadAccess::from_variables(API, SIGNING, "60", "ftp://x").unwrap_err().contains("public_base_url"));
        assert!(!format!("{:?}", access("")).contains("read-key"));
        assert_eq!(public_base_url("http://127.0.0.1:3000/").unwrap(), "http://127.0.0.1:3000");
    }

    #[test]
    fn a_capability_token_works_as_a_bearer_credential_too() {
        let a = access("");
        let (acc, ven) = ids();
        let m = MessageId::from("019ac7a2-0000-7000-8000-000000000001");
        let (order_url, _, _) = a.capabilities.urls_for(&acc, &ven, &m, 1_000_000);
        let token = order_url.rsplit_once("token=").unwrap().1;
        let r = req("accountid=a0&vendorid=v0", Some(&format!("Bearer {token}")));
        assert_eq!(a.check(&r, Resource::Order(&acc, &ven), 1_000_000).unwrap(), Access::Message(m.clone()));
        let refused = a.check(&r, Resource::Invoice(&acc, Some(&ven)), 1_000_000).unwrap_err();
        assert_eq!(refused.status, 403, "a read-order token reads no invoice");
        assert_eq!(a.check(&r, Resource::Order(&acc, &ven), 10_000_000_000).unwrap_err().status, 403, "expired");

        let (query, auth) = passed_on(&req(&format!("accountid=a0&token={token}&vendorid=v0"), None)).unwrap();
        assert_eq!((query.as_str(), auth), ("accountid=a0&vendorid=v0", Some(format!("Bearer {token}"))));
        let passed = req(&query, Some(&format!("Bearer {token}")));
        assert_eq!(a.check(&passed, Resource::Order(&acc, &ven), 1_000_000).unwrap(), Access::Message(m));
        let (query, auth) =
            passed_on(&req(&format!("accountid=a0&token={token}"), Some("Bearer read-key-0123456789abcdef"))).unwrap();
        assert_eq!(
            (query.as_str(), auth.as_deref()),
            ("accountid=a0", Some("Bearer read-key-0123456789abcdef")),
            "the header wins, as in check"
        );
        // What the reader refuses for its form, or any token would be refused for, is
        // refused here with the same answer, never passed on as something else.
        for (query, status) in [
            (format!("accountid=a0&token={token}&token=x"), 400),
            ((0..17).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&"), 400),
            (format!("accountid=a0&token={}", "t".repeat(3000)), 414),
            ("accountid=a0&token=".to_owned(), 403),
            ("accountid=a0&token=v2.%0Ax".to_owned(), 403),
        ] {
            let direct = a.check(&req(&query, None), Resource::Order(&acc, &ven), 1_000_000).err().map(|p| p.status);
            let passed = passed_on(&req(&query, None)).err().map(|p| p.status);
            assert_eq!(passed, Some(status), "{query}");
            assert_eq!(direct, Some(status), "{query}: directly");
        }
    }
}
