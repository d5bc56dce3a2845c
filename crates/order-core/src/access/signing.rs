//! Signed, expiring grants: the capability URLs this app hands out, our stand-in for S3
//! presigned URLs.
//!
//! A token grants one [`GrantKind`] of one subject until an expiry time:
//! - [`GrantKind::ReadOrder`]: `GET /order` of one accepted message's order
//!   (`order_url` in a `202`); the subject is `<accountid>#<vendorid>#<message id>`;
//! - [`GrantKind::ReadInvoice`]: `GET /invoice` of that message's invoice (`invoice_url`);
//!   the same subject;
//! - [`GrantKind::DownloadInvoice`]: `GET /invoice/download` of one invoice document (the
//!   `url` `GET /invoice` answers); the subject is its key, `invoice/<a>#<v>#<message id>`.
//!
//! A token is `v2.<key id>.<expiry>.<kind>.<subject>.<mac>`, the subject and mac in
//! unpadded base64url, where the mac is HMAC-SHA256 over
//! `v2\n<kind>\n<key id>\n<expiry>\n<subject>`: the kind is signed, so a token of one
//! kind is refused for every other. Tokens signed before kinds were (`v1.…`, their mac
//! over a fixed download path) are still honoured until they expire (7 days at most),
//! their kind read from their subject's prefix as they were signed.
//!
//! Keys rotate: the signing keys are a list, `kid:secret[,kid:secret...]`; the first
//! signs, all of them verify. Put a new key first, keep the old one until the longest
//! URL lifetime has passed, then drop it. Verification is constant-time
//! (`Mac::verify_slice`), and every failure looks the same to the client.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::access::credentials::{ListForm, SecretList};

/// Longest URL lifetime allowed: 7 days, as S3's presigned URLs.
pub const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;

type HmacSha256 = Hmac<Sha256>;

/// What a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    ReadOrder,
    ReadInvoice,
    DownloadInvoice,
}

impl GrantKind {
    const ALL: [GrantKind; 3] = [GrantKind::ReadOrder, GrantKind::ReadInvoice, GrantKind::DownloadInvoice];

    /// Its name in a token, and in the text its mac covers.
    pub fn name(self) -> &'static str {
        match self {
            GrantKind::ReadOrder => "read-order",
            GrantKind::ReadInvoice => "read-invoice",
            GrantKind::DownloadInvoice => "download-invoice",
        }
    }

    /// A `v1` token's kind and subject, from the prefix its subject was signed with.
    fn of_v1(document_key: &str) -> (GrantKind, &str) {
        if let Some(s) = document_key.strip_prefix("read:order/") {
            (GrantKind::ReadOrder, s)
        } else if let Some(s) = document_key.strip_prefix("read:invoice/") {
            (GrantKind::ReadInvoice, s)
        } else {
            (GrantKind::DownloadInvoice, document_key)
        }
    }
}

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
    /// Parses `kid:secret[,kid:secret...]` ([`SecretList`]: each key id 1-16 characters,
    /// never twice). Errors never include a secret.
    pub fn parse(spec: &str) -> Result<SigningKeys, String> {
        const FORM: ListForm = ListForm {
            entry: "signing key",
            pair: "kid:secret",
            name_rule: "the key id must be 1-16 of",
            max_name_len: Some(16),
            unique_names: true,
        };
        Ok(SigningKeys(SecretList::parse(spec, &FORM)?.0))
    }

    /// Signs a grant of `kind` on `subject` until `expires_at` (Unix seconds).
    pub fn sign(&self, kind: GrantKind, subject: &str, expires_at: u64) -> String {
        let (kid, secret) = &self.0[0];
        let mac = mac(secret, kind, kid, expires_at, subject).finalize().into_bytes();
        let (name, subject, mac) = (kind.name(), URL_SAFE_NO_PAD.encode(subject), URL_SAFE_NO_PAD.encode(mac));
        format!("v2.{kid}.{expires_at}.{name}.{subject}.{mac}")
    }

    /// Checks a token at time `now` (Unix seconds) for a grant of `kind`; returns what it
    /// grants. A valid token of another kind is [`Rejected::OtherKind`].
    pub fn verify(&self, token: &str, kind: GrantKind, now: u64) -> Result<Grant, Rejected> {
        let parts: Vec<&str> = token.split('.').collect();
        let grant = match parts[..] {
            ["v2", kid, exp, name, subject, sig] => {
                let given = GrantKind::ALL.into_iter().find(|k| k.name() == name).ok_or(Rejected::Malformed)?;
                let (expires_at, subject, sig) = decode(exp, subject, sig)?;
                mac(self.secret(kid)?, given, kid, expires_at, &subject)
                    .verify_slice(&sig)
                    .map_err(|_| Rejected::BadSignature)?;
                Grant { kind: given, subject, expires_at }
            }
            ["v1", kid, exp, document_key, sig] => {
                let (expires_at, document_key, sig) = decode(exp, document_key, sig)?;
                mac_v1(self.secret(kid)?, kid, expires_at, &document_key)
                    .verify_slice(&sig)
                    .map_err(|_| Rejected::BadSignature)?;
                let (given, subject) = GrantKind::of_v1(&document_key);
                Grant { kind: given, subject: subject.to_owned(), expires_at }
            }
            _ => return Err(Rejected::Malformed),
        };
        if grant.kind != kind {
            return Err(Rejected::OtherKind);
        }
        if now >= grant.expires_at {
            return Err(Rejected::Expired);
        }
        Ok(grant)
    }

    fn secret(&self, kid: &str) -> Result<&[u8], Rejected> {
        self.0.iter().find(|(k, _)| k == kid).map(|(_, s)| s.as_slice()).ok_or(Rejected::UnknownKey)
    }
}

/// A token's expiry, subject and mac, decoded.
fn decode(exp: &str, subject: &str, sig: &str) -> Result<(u64, String, Vec<u8>), Rejected> {
    let expires_at: u64 = exp.parse().map_err(|_| Rejected::Malformed)?;
    let subject = URL_SAFE_NO_PAD.decode(subject).map_err(|_| Rejected::Malformed)?;
    let subject = String::from_utf8(subject).map_err(|_| Rejected::Malformed)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Rejected::Malformed)?;
    Ok((expires_at, subject, sig))
}

fn mac(secret: &[u8], kind: GrantKind, kid: &str, expires_at: u64, subject: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(format!("v2\n{}\n{kid}\n{expires_at}\n{subject}", kind.name()).as_bytes());
    m
}

/// The mac of a `v1` token: over the download path, whatever its subject granted.
fn mac_v1(secret: &[u8], kid: &str, expires_at: u64, document_key: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(format!("v1\nGET\n/invoice/download\n{kid}\n{expires_at}\n{document_key}").as_bytes());
    m
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub kind: GrantKind,
    pub subject: String,
    pub expires_at: u64,
}

/// Why a token was refused. For logs and tests only: the client sees one 403 for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    UnknownKey,
    BadSignature,
    /// Valid, but it grants something else.
    OtherKind,
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
    const DOWNLOAD: GrantKind = GrantKind::DownloadInvoice;

    fn keys(spec: &str) -> SigningKeys {
        SigningKeys::parse(spec).unwrap()
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = keys(K1);
        let t = k.sign(DOWNLOAD, "invoice/a0#v0#m1", 1_000);
        let grant = Grant { kind: DOWNLOAD, subject: "invoice/a0#v0#m1".into(), expires_at: 1_000 };
        assert_eq!(k.verify(&t, DOWNLOAD, 999), Ok(grant));
        assert_eq!(k.verify(&t, DOWNLOAD, 1_000), Err(Rejected::Expired));
        assert!(t.starts_with("v2.k1.1000.download-invoice."), "{t}");
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {t}");
    }

    /// A token grants its own kind only: an order capability is no download token, nor
    /// the other way round, and renaming the kind in the token breaks its signature.
    #[test]
    fn a_token_of_one_kind_is_refused_for_every_other() {
        let k = keys(K1);
        for kind in GrantKind::ALL {
            let t = k.sign(kind, "a0#v0#m1", 1_000);
            for other in GrantKind::ALL.into_iter().filter(|o| *o != kind) {
                assert_eq!(k.verify(&t, other, 0), Err(Rejected::OtherKind), "{kind:?} as {other:?}");
                let renamed = t.replace(kind.name(), other.name());
                assert_eq!(k.verify(&renamed, other, 0), Err(Rejected::BadSignature), "{renamed}");
            }
            assert!(k.verify(&t, kind, 0).is_ok());
        }
    }

    /// URLs handed out before kinds were signed keep working until they expire, each for
    /// what it was signed for.
    #[test]
    fn v1_tokens_are_honoured_for_their_own_kind() {
        let v1 = |document_key: &str, exp: u64| {
            let (kid, secret) = K1.split_once(':').unwrap();
            let mac = mac_v1(secret.as_bytes(), kid, exp, document_key).finalize().into_bytes();
            format!("v1.{kid}.{exp}.{}.{}", URL_SAFE_NO_PAD.encode(document_key), URL_SAFE_NO_PAD.encode(mac))
        };
        let k = keys(K1);
        let order = v1("read:order/a0#v0#m1", 1_000);
        assert_eq!(k.verify(&order, GrantKind::ReadOrder, 0).unwrap().subject, "a0#v0#m1");
        assert_eq!(k.verify(&order, DOWNLOAD, 0), Err(Rejected::OtherKind));
        let invoice = v1("read:invoice/a0#v0#m1", 1_000);
        assert_eq!(k.verify(&invoice, GrantKind::ReadInvoice, 0).unwrap().subject, "a0#v0#m1");
        let download = v1("invoice/a0#v0#m1", 1_000);
        assert_eq!(k.verify(&download, DOWNLOAD, 0).unwrap().subject, "invoice/a0#v0#m1");
        assert_eq!(k.verify(&download, GrantKind::ReadOrder, 0), Err(Rejected::OtherKind));
        assert_eq!(k.verify(&download, DOWNLOAD, 1_000), Err(Rejected::Expired));
    }

    #[test]
    fn rotation_accepts_previous_key_during_overlap() {
        let old = keys(K1).sign(DOWNLOAD, "invoice/x", 100);
        let rotated = keys(&format!("{K2},{K1}"));
        assert!(rotated.verify(&old, DOWNLOAD, 0).is_ok());
        assert!(rotated.sign(DOWNLOAD, "invoice/x", 100).starts_with("v2.k2."));
        // Once the old key is dropped, its tokens stop working.
        assert_eq!(keys(K2).verify(&old, DOWNLOAD, 0), Err(Rejected::UnknownKey));
        // The same key id with another secret is a bad signature.
        let other = keys("k1:ffffffffffffffffffffffffffffffff");
        assert_eq!(other.verify(&old, DOWNLOAD, 0), Err(Rejected::BadSignature));
    }

    #[test]
    fn a_token_grants_only_its_own_subject_and_expiry() {
        let k = keys(K1);
        let t = k.sign(DOWNLOAD, "invoice/a0#v0#m1", 1_000);
        let parts: Vec<&str> = t.split('.').collect();
        let other_key = URL_SAFE_NO_PAD.encode("invoice/a1#v1#m2");
        let forged = format!("v2.k1.1000.download-invoice.{other_key}.{}", parts[5]);
        assert_eq!(k.verify(&forged, DOWNLOAD, 0), Err(Rejected::BadSignature));
        let extended = format!("v2.k1.9999999999.download-invoice.{}.{}", parts[4], parts[5]);
        assert_eq!(k.verify(&extended, DOWNLOAD, 0), Err(Rejected::BadSignature));
    }

    #[test]
    fn malformed_tokens() {
        let k = keys(K1);
        for t in [
            "",
            "v1",
            "v3.k1.1.download-invoice.aw.aw",
            "v2.k1.x.download-invoice.aw.aw",
            "v2.k1.1.download-invoice.!!.aw",
            "v2.k1.1.download-invoice.aw.aw.extra",
            "v2.k1.1.upload.aw.aw",
            "v2.k1.1.aw.aw",
            "v1.k1.1.aw",
        ] {
            assert_eq!(k.verify(t, DOWNLOAD, 0), Err(Rejected::Malformed), "{t}");
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
            let token = k.sign(DOWNLOAD, &key, exp);
            let mut bytes = token.clone().into_bytes();
            let i = bit % (bytes.len() * 8);
            bytes[i / 8] ^= 1 << (i % 8);
            if let Ok(t) = String::from_utf8(bytes) {
                prop_assert!(k.verify(&t, DOWNLOAD, 0).is_err(), "{} accepted after flipping bit {}", t, i);
            }
        }

        #[test]
        fn round_trip_any_grant(key in "\\PC{1,100}", exp in 1u64..u64::MAX) {
            let k = keys(K1);
            let grant = Grant { kind: DOWNLOAD, subject: key.clone(), expires_at: exp };
            prop_assert_eq!(k.verify(&k.sign(DOWNLOAD, &key, exp), DOWNLOAD, 0), Ok(grant));
        }
    }
}
