//! Signed, expiring download tokens: our stand-in for S3 presigned URLs.
//!
//! A token grants one thing: `GET /invoice/download` of one invoice document until an
//! expiry time. It is `v1.<key id>.<expiry>.<document key>.<mac>`, the key and mac in
//! unpadded base64url, where the mac is HMAC-SHA256 over
//! `v1\nGET\n/invoice/download\n<key id>\n<expiry>\n<document key>`.
//!
//! Keys rotate: the signing keys are a list, `kid:secret[,kid:secret...]`; the first
//! signs, all of them verify. Put a new key first, keep the old one until the longest
//! URL lifetime has passed, then drop it. Verification is constant-time
//! (`Mac::verify_slice`), and every failure looks the same to the client.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const DOWNLOAD_METHOD: &str = "GET";
pub const DOWNLOAD_PATH: &str = "/invoice/download";
/// Default URL lifetime, as the original's presigned URLs.
pub const DEFAULT_TTL_SECONDS: u64 = 3600;
/// Longest URL lifetime allowed: 7 days, as S3's presigned URLs.
pub const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// The configured keys, current first. `Debug` never shows a secret.
#[derive(Clone)]
pub struct SigningKeys(Vec<(String, Vec<u8>)>);

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "SigningKeys({ids:?})")
    }
}

impl SigningKeys {
    /// Parses `kid:secret[,kid:secret...]`. Errors never include a secret.
    pub fn parse(spec: &str) -> Result<SigningKeys, String> {
        let mut keys = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            let (kid, secret) =
                entry.split_once(':').ok_or_else(|| format!("signing key {} is not `kid:secret`", i + 1))?;
            if kid.is_empty()
                || kid.len() > 16
                || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!("signing key {}: the key id must be 1-16 of A-Z a-z 0-9 _ -", i + 1));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!("signing key `{kid}` is shorter than {MIN_SECRET_BYTES} bytes"));
            }
            if keys.iter().any(|(k, _)| k == kid) {
                return Err(format!("signing key id `{kid}` appears twice"));
            }
            keys.push((kid.to_owned(), secret.as_bytes().to_vec()));
        }
        Ok(SigningKeys(keys))
    }

    /// Signs a grant of `document_key` until `expires_at` (Unix seconds).
    pub fn sign(&self, document_key: &str, expires_at: u64) -> String {
        let (kid, secret) = &self.0[0];
        let mac = mac(secret, kid, expires_at, document_key).finalize().into_bytes();
        format!("v1.{kid}.{expires_at}.{}.{}", URL_SAFE_NO_PAD.encode(document_key), URL_SAFE_NO_PAD.encode(mac))
    }

    /// Checks a token at time `now` (Unix seconds); returns the document key it grants.
    pub fn verify(&self, token: &str, now: u64) -> Result<Grant, Rejected> {
        let mut parts = token.split('.');
        let (Some("v1"), Some(kid), Some(exp), Some(key), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejected::Malformed);
        };
        let expires_at: u64 = exp.parse().map_err(|_| Rejected::Malformed)?;
        let key = URL_SAFE_NO_PAD.decode(key).map_err(|_| Rejected::Malformed)?;
        let key = String::from_utf8(key).map_err(|_| Rejected::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Rejected::Malformed)?;
        let (_, secret) = self.0.iter().find(|(k, _)| k == kid).ok_or(Rejected::UnknownKey)?;
        mac(secret, kid, expires_at, &key).verify_slice(&sig).map_err(|_| Rejected::BadSignature)?;
        if now >= expires_at {
            return Err(Rejected::Expired);
        }
        Ok(Grant { document_key: key, expires_at })
    }
}

fn mac(secret: &[u8], kid: &str, expires_at: u64, document_key: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(format!("v1\n{DOWNLOAD_METHOD}\n{DOWNLOAD_PATH}\n{kid}\n{expires_at}\n{document_key}").as_bytes());
    m
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub document_key: String,
    pub expires_at: u64,
}

/// Why a token was refused. For logs and tests only: the client sees one 403 for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
}

/// Parses the URL lifetime setting: whole seconds, 1 to 7 days' worth.
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(t) if (1..=MAX_TTL_SECONDS).contains(&t) => Ok(t),
        _ => Err(format!("the URL lifetime must be 1 to {MAX_TTL_SECONDS} seconds, not `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const K1: &str = "k1:0123456789abcdef0123456789abcdef";
    const K2: &str = "k2:fedcba9876543210fedcba9876543210";

    fn keys(spec: &str) -> SigningKeys {
        SigningKeys::parse(spec).unwrap()
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = keys(K1);
        let t = k.sign("invoice/a0#v0#m1", 1_000);
        assert_eq!(k.verify(&t, 999), Ok(Grant { document_key: "invoice/a0#v0#m1".into(), expires_at: 1_000 }));
        assert_eq!(k.verify(&t, 1_000), Err(Rejected::Expired));
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {t}");
    }

    #[test]
    fn rotation_accepts_previous_key_during_overlap() {
        let old = keys(K1).sign("invoice/x", 100);
        let rotated = keys(&format!("{K2},{K1}"));
        assert!(rotated.verify(&old, 0).is_ok());
        assert!(rotated.sign("invoice/x", 100).starts_with("v1.k2."));
        // Once the old key is dropped, its tokens stop working.
        assert_eq!(keys(K2).verify(&old, 0), Err(Rejected::UnknownKey));
        // The same key id with another secret is a bad signature.
        let other = keys("k1:ffffffffffffffffffffffffffffffff");
        assert_eq!(other.verify(&old, 0), Err(Rejected::BadSignature));
    }

    #[test]
    fn a_token_grants_only_its_own_invoice_and_expiry() {
        let k = keys(K1);
        let t = k.sign("invoice/a0#v0#m1", 1_000);
        let parts: Vec<&str> = t.split('.').collect();
        let other_key = URL_SAFE_NO_PAD.encode("invoice/a1#v1#m2");
        let forged = format!("v1.k1.1000.{other_key}.{}", parts[4]);
        assert_eq!(k.verify(&forged, 0), Err(Rejected::BadSignature));
        let extended = format!("v1.k1.9999999999.{}.{}", parts[3], parts[4]);
        assert_eq!(k.verify(&extended, 0), Err(Rejected::BadSignature));
    }

    #[test]
    fn malformed_tokens() {
        let k = keys(K1);
        for t in ["", "v1", "v2.k1.1.aw.aw", "v1.k1.x.aw.aw", "v1.k1.1.!!.aw", "v1.k1.1.aw.aw.extra", "v1.k1.1.aw"] {
            assert_eq!(k.verify(t, 0), Err(Rejected::Malformed), "{t}");
        }
    }

    #[test]
    fn key_spec_errors_never_leak_the_secret() {
        for bad in ["", "nokid", "k1:s3cr3t", "k 1:0123456789abcdef", "k1:0123456789abcdef,k1:0123456789abcdefg"] {
            let e = SigningKeys::parse(bad).unwrap_err();
            assert!(!e.contains("0123456789abcdef") && !e.contains("s3cr3t"), "{e}");
        }
        assert!(!format!("{:?}", keys(K1)).contains("0123"));
    }

    #[test]
    fn ttl_bounds() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("604800"), Ok(MAX_TTL_SECONDS));
        for bad in ["0", "604801", "-1", "1h", ""] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Any single flipped bit anywhere in a token makes it invalid.
        #[test]
        fn any_flipped_bit_is_rejected(key in "[a-z0-9#/]{1,40}", exp in 1u64..u32::MAX as u64, bit in 0usize..2048) {
            let k = keys(K1);
            let token = k.sign(&key, exp);
            let mut bytes = token.clone().into_bytes();
            let i = bit % (bytes.len() * 8);
            bytes[i / 8] ^= 1 << (i % 8);
            if let Ok(t) = String::from_utf8(bytes) {
                prop_assert!(k.verify(&t, 0).is_err(), "{} accepted after flipping bit {}", t, i);
            }
        }

        #[test]
        fn round_trip_any_grant(key in "\\PC{1,100}", exp in 1u64..u64::MAX) {
            let k = keys(K1);
            prop_assert_eq!(k.verify(&k.sign(&key, exp), 0), Ok(Grant { document_key: key, expires_at: exp }));
        }
    }
}
