//! `Idempotency-Key` on `POST /order` (the IETF httpapi draft): the header, the record the
//! topic keeps of the first answer, and that answer given again.
//!
//! The record keeps the answer without its capability URLs (Redis holds no read token;
//! nor does the platform's span of the publish, which records its arguments); a replay
//! signs them again, to the same URLs. A record written before records left the URLs out
//! is the whole answer, and is replayed as it is.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::access::capabilities::Capabilities;
use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::model::ids::Id;
use crate::model::message_id::MessageId;
use crate::model::trace::hex;
use crate::ports::publisher::Idempotency;

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

#[derive(Debug, Serialize)]
pub struct Accepted<'a> {
    message_id: &'a str,
    accountid: &'a str,
    vendorid: &'a str,
    location: &'a str,
    trace_id: &'a str,
    order_url: &'a str,
    invoice_url: &'a str,
    urls_expire_at: &'a str,
}

/// What an idempotency record keeps of the first answer: all of it but the URLs (whose
/// tokens it never holds), and when they expire in seconds. The answer's own field
/// names, so code from before records left the URLs out replays it as a `202` that still
/// names the message, its `Location` and its trace.
/// A record written before records left the URLs out is the whole answer: it reads as
/// one with no `urls_expire_at_s`, and is replayed as it is.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Recorded {
    pub message_id: String,
    pub accountid: String,
    pub vendorid: String,
    pub location: String,
    pub trace_id: String,
    pub urls_expire_at: String,
    /// When the URLs expire, Unix seconds.
    pub urls_expire_at_s: Option<u64>,
}

impl Recorded {
    /// The first answer again, its URLs signed again (the same URLs while the signing key
    /// and `public_base_url` are the same).
    pub fn answer(&self, capabilities: &Capabilities, expires_at: u64) -> Result<Vec<u8>, Problem> {
        let unreadable = |_| Problem::unavailable("the idempotency record of this key cannot be replayed");
        let accountid = Id::parse("accountid", &self.accountid).map_err(unreadable)?;
        let vendorid = Id::parse("vendorid", &self.vendorid).map_err(unreadable)?;
        let message = MessageId::from(self.message_id.as_str());
        let (order_url, invoice_url) = capabilities.urls_until(&accountid, &vendorid, &message, expires_at);
        Ok(serde_json::to_vec(&Accepted {
            message_id: &self.message_id,
            accountid: &self.accountid,
            vendorid: &self.vendorid,
            location: &self.location,
            trace_id: &self.trace_id,
            order_url: &order_url,
            invoice_url: &invoice_url,
            urls_expire_at: &self.urls_expire_at,
        })
        .expect("an answer serializes"))
    }
}

/// What the topic keeps for `key`: scoped to the order's ids (a key another client chose
/// for other ids never collides with this one), the body's fingerprint, and the record.
pub fn record(key: &str, accountid: &Id, vendorid: &Id, body: &[u8], recorded: &Recorded) -> Idempotency {
    Idempotency {
        key_digest: hex(&Sha256::digest(format!("{accountid}#{vendorid}\n{key}").as_bytes())),
        fingerprint: hex(&Sha256::digest(body)),
        answer: serde_json::to_vec(recorded).expect("a record serializes"),
    }
}

/// The `Idempotency-Key` header, if sent: a bare token or an RFC 8941 string.
pub fn key(req: &Request) -> Result<Option<String>, Problem> {
    let Some(raw) = req.header("idempotency-key") else {
        return Ok(None);
    };
    let raw = raw.trim();
    let key = raw.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(raw);
    if key.is_empty()
        || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS
        || !key.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"')
    {
        return Err(Problem::invalid(
            "idempotency-key",
            format!("the idempotency-key header must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters, as a bare token or a quoted string"),
        ));
    }
    Ok(Some(key.to_owned()))
}
