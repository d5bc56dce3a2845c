//! The credentials a request presents, checked one way everywhere: the admin token
//! (`POST /pipeline/redrive`, `/pipeline/doorbell`, `GET /pipeline/dead-letters`), the
//! drain token (`POST /drain/<group>`) and the read API keys (`GET /order`,
//! `GET /invoice`) are all bearer tokens, parsed by [`bearer_token`] and compared by
//! [`secret_matches`]; a request without one gets [`unauthorized`].
//!
//! Capability tokens (signed URLs) are not secrets compared here: they verify by their
//! signature ([`crate::access::signing`]).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::problem::Problem;

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

    #[test]
    fn a_401_carries_its_challenge() {
        let p = unauthorized("Bearer", "send `Authorization: Bearer <admin token>`");
        assert_eq!((p.status, p.headers[0].1.as_str()), (401, "Bearer"));
    }
}
