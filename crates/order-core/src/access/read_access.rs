//! Who may read an order or its invoice (`GET /order`, `GET /invoice`).
//!
//! Reads are closed: a request needs one of two credentials.
//! - An **API key**: `Authorization: Bearer <key>`, one of the `read_api_keys` variable's
//!   `name:key[,name:key...]` (a [`SecretList`]: each key at least 16 bytes). Any listed key
//!   reads everything, which is how keys rotate: add the new one, move the clients, drop
//!   the old one. The scheme is matched without regard to case (RFC 9110 §11.1), the key
//!   in constant time.
//! - A **capability URL** ([`crate::access::capabilities`]): `?token=` signed for one
//!   accepted message, or the same token as `Authorization: Bearer <token>`.
//!
//! No credential: `401` with `WWW-Authenticate: Bearer`. Any credential that does not
//! grant the resource (an unknown key, a tampered, expired, retired or another order's
//! token): one `403`, whatever was wrong. The account-wide `GET /invoice?accountid=`
//! takes an API key only.

use crate::access::capabilities::{Access, Capabilities, Resource};
use crate::access::credentials::{bearer_token, unauthorized, ListForm, SecretList};
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::ports::settings::Misconfigured;

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
    pub fn from_variables(
        api_keys: &str,
        signing_keys: &str,
        ttl: &str,
        base_url: &str,
    ) -> Result<ReadAccess, Misconfigured> {
        const FORM: ListForm = ListForm {
            entry: "read_api_keys: key",
            pair: "name:key",
            name_rule: "the name must be of",
            max_name_len: None,
            unique_names: false,
        };
        let keys = SecretList::parse(api_keys, &FORM).map_err(Misconfigured)?;
        Ok(ReadAccess { api_keys: keys, capabilities: Capabilities::from_variables(signing_keys, ttl, base_url)? })
    }

    /// Whether `req` may read `resource` at `now_ms`, and with what.
    pub fn check(&self, req: &Request, resource: Resource, now_ms: u64) -> Result<Access, Problem> {
        if let Some(auth) = req.header("authorization") {
            let credential = bearer_token(auth).ok_or_else(no_credential)?;
            if self.api_keys.matches(credential.as_bytes()) {
                return Ok(Access::ApiKey);
            }
            return self.capabilities.grants(credential, resource, now_ms).ok_or_else(refused);
        }
        let query = req.query_params()?;
        let Some(token) = query.get("token") else {
            return Err(no_credential());
        };
        self.capabilities.grants(token, resource, now_ms).ok_or_else(refused)
    }
}

/// The one `403` of a credential that does not grant the read.
pub fn refused() -> Problem {
    Problem::forbidden("the credential does not grant this read (unknown, expired or for another order)")
}

fn no_credential() -> Problem {
    unauthorized(
        "Bearer realm=\"orders\"",
        "reads need `Authorization: Bearer <API key>`, or the signed URL the order's 202 answer gave (with its `token`, \
         in the URL or as `Authorization: Bearer <token>`)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::capabilities::public_base_url;
    use crate::access::forwarding::passed_on;
    use crate::access::signing::{GrantKind, SigningKeys};
    use crate::model::ids::Id;
    use crate::model::message_id::MessageId;

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
        assert!(e.0.contains("read_api_keys") && !e.0.contains("tiny-key"), "{e}");
        assert!(ReadAccess::from_variables(API, SIGNING, "0", "").unwrap_err().0.contains("read_url_ttl_seconds"));
        assert!(ReadAccess::from_variables(API, SIGNING, "60", "ftp://x").unwrap_err().0.contains("public_base_url"));
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
