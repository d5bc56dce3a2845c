//! The credentials a request presents, checked one way everywhere: the admin token
//! (`POST /pipeline/redrive`, `/pipeline/doorbell`, `GET /pipeline/dead-letters`), the
//! drain token (`POST /drain/<group>`) and the read API keys (`GET /order`,
//! `GET /invoice`) are all bearer tokens, parsed by [`bearer_token`] and compared by
//! [`secret_matches`]; a request without one gets [`unauthorized`].
//!
//! The policy every secret keeps is here too: at least [`MIN_SECRET_BYTES`] (shorter
//! grants nothing), and one parser, [`SecretList`], for the `name:secret` lists
//! (`url_signing_keys`, `read_api_keys`).
//!
//! Capability tokens (signed URLs) are not secrets compared here: they verify by their
//! signature ([`crate::access::signing`]).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::problem::Problem;
use crate::ports::settings::Misconfigured;

/// Shortest secret accepted, in bytes, of every kind: a signing key, a read API key, the
/// admin and the drain token.
pub const MIN_SECRET_BYTES: usize = 16;

/// The secret a variable sets, if it is set to [`MIN_SECRET_BYTES`] or more: one shorter,
/// or unset (`Err`), grants nothing.
pub fn configured(secret: Result<String, Misconfigured>) -> Option<String> {
    secret.ok().filter(|s| s.len() >= MIN_SECRET_BYTES)
}

/// How one variable writes its list, for its error messages: `entry` names an entry
/// (`signing key`), `pair` its form (`kid:secret`), `name_rule` what its names may be.
#[derive(Debug, Clone, Copy)]
pub struct ListForm {
    pub entry: &'static str,
    pub pair: &'static str,
    /// `the key id must be 1-16 of`, completed by the characters allowed.
    pub name_rule: &'static str,
    pub max_name_len: Option<usize>,
    /// Whether a name may appear twice (a key id may not: it picks the key to verify with).
    pub unique_names: bool,
}

/// Named secrets, as a variable lists them: `name:secret[,name:secret...]`, each name of
/// `A-Z a-z 0-9 _ -`, each secret at least [`MIN_SECRET_BYTES`]. In the variable's order.
/// Errors name the entry, never a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretList(pub Vec<(String, Vec<u8>)>);

impl SecretList {
    pub fn parse(list: &str, form: &ListForm) -> Result<SecretList, String> {
        let ListForm { entry, pair, name_rule, .. } = form;
        let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, item) in list.split(',').map(str::trim).enumerate() {
            let n = i + 1;
            let (name, secret) = item.split_once(':').ok_or_else(|| format!("{entry} {n} is not `{pair}`"))?;
            if name.is_empty()
                || form.max_name_len.is_some_and(|max| name.len() > max)
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!("{entry} {n}: {name_rule} A-Z a-z 0-9 _ -"));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!("{entry} `{name}` is shorter than {MIN_SECRET_BYTES} bytes"));
            }
            if form.unique_names && secrets.iter().any(|(k, _)| k == name) {
                return Err(format!("{entry} id `{name}` appears twice"));
            }
            secrets.push((name.to_owned(), secret.as_bytes().to_vec()));
        }
        Ok(SecretList(secrets))
    }

    /// The names, in order (for a `Debug` that shows no secret).
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Whether `given` is one of the secrets ([`secret_matches`]).
    pub fn matches(&self, given: &[u8]) -> bool {
        secret_matches(given, self.0.iter().map(|(_, s)| s.as_slice()))
    }
}

impl std::fmt::Debug for SecretList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretList({:?})", self.names())
    }
}

/// The token of an `Authorization: Bearer <token>` value: the scheme matches in any case
/// (RFC 9110 §11.1: `bearer`, `BEARER`), followed by one or more spaces; spaces around
/// the whole value are ignored. `None` for another scheme or no token: the request
/// presents no bearer credential.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = rest.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether `given` is one of `expected`, in constant time: SHA-256 digests are compared
/// (`subtle`), every one of them, so the time taken reveals neither how much of a secret
/// matched, nor its length, nor which one matched, nor whether any did.
pub fn secret_matches<'a>(given: &[u8], expected: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let given = Sha256::digest(given);
    let matched = expected
        .into_iter()
        .fold(subtle::Choice::from(0), |found, secret| found | given.ct_eq(&Sha256::digest(secret)));
    matched.into()
}

/// `401 Unauthorized` with `WWW-Authenticate: <challenge>` (a `Bearer` challenge) and
/// `detail`, saying which credential to send (never what it is).
pub fn unauthorized(challenge: &str, detail: impl Into<String>) -> Problem {
    let mut p = Problem::new(401, detail);
    p.headers.push(("www-authenticate".into(), challenge.to_owned()));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_in_any_case_with_any_spaces() {
        for ok in ["bearer t0k", "BEARER t0k", "BeArEr    t0k", "  Bearer t0k  "] {
            assert_eq!(bearer_token(ok), Some("t0k"), "{ok:?}");
        }
        for none in ["bearer", "Bearer ", "Bearert0k", "Bearerx t0k", "Basic t0k", "", "   "] {
            assert_eq!(bearer_token(none), None, "{none:?}");
        }
    }

    #[test]
    fn secrets_match_exactly_whatever_their_lengths() {
        let keys: [&[u8]; 2] = [b"abc", b"0123456789abcdef"];
        assert!(secret_matches(b"abc", keys) && secret_matches(b"0123456789abcdef", keys));
        for wrong in [&b"abd"[..], b"ab", b"abcd", b"", b"abc\0", b"0123456789abcdeF"] {
            assert!(!secret_matches(wrong, keys), "{wrong:?}");
        }
        assert!(!secret_matches(b"abc", []), "nothing configured matches nothing");
        assert!(secret_matches(b"", [&b""[..]]));
    }

    const FORM: ListForm = ListForm {
        entry: "key",
        pair: "name:key",
        name_rule: "the name must be of",
        max_name_len: Some(4),
        unique_names: true,
    };

    #[test]
    fn a_secret_list_parses_names_and_keeps_the_policy() {
        let list = SecretList::parse(" a:0123456789abcdef , b_-:fedcba9876543210", &FORM).unwrap();
        assert_eq!(list.names(), ["a", "b_-"]);
        assert!(list.matches(b"fedcba9876543210") && !list.matches(b"fedcba987654321"));
        assert!(!format!("{list:?}").contains("0123"), "Debug shows no secret");
        for (bad, says) in [
            ("a", "key 1 is not `name:key`"),
            ("a:0123456789abcdef,:0123456789abcdef", "key 2: the name must be of A-Z a-z 0-9 _ -"),
            ("abcde:0123456789abcdef", "key 1: the name must be of"),
            ("a b:0123456789abcdef", "key 1: the name must be of"),
            ("a:0123456789abcde", "key `a` is shorter than 16 bytes"),
            ("a:0123456789abcdef,a:fedcba9876543210", "key id `a` appears twice"),
        ] {
            let e = SecretList::parse(bad, &FORM).unwrap_err();
            assert!(e.contains(says) && !e.contains("0123456789abcd"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_secret_is_configured_at_its_minimum_length_only() {
        assert_eq!(configured(Ok("0123456789abcdef".into())).as_deref(), Some("0123456789abcdef"));
        assert_eq!(configured(Ok("0123456789abcde".into())), None);
        assert_eq!(configured(Err("unset".into())), None);
    }

    #[test]
    fn a_401_carries_its_challenge() {
        let p = unauthorized("Bearer", "send `Authorization: Bearer <admin token>`");
        assert_eq!((p.status, p.headers[0].1.as_str()), (401, "Bearer"));
    }
}
