//! What handling one message came to: handled (and what was done), or a failure that a
//! retry may mend (the store) or cannot (the message itself).

use serde::Serialize;

use crate::model::envelope::Envelope;
use crate::ports::error::PortError;

/// The ids a log line carries for a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageMeta {
    pub message_id: String,
    pub trace_id: String,
    pub accountid: String,
    pub vendorid: String,
}

impl MessageMeta {
    /// The ids of the message `e`.
    pub fn of(e: &Envelope) -> MessageMeta {
        MessageMeta {
            message_id: e.id.to_string(),
            trace_id: e.trace_id().to_owned(),
            accountid: e.order.accountid.to_string(),
            vendorid: e.order.vendorid.to_string(),
        }
    }
}

/// A handler's success: what it did (`stored`, `superseded`, `invoiced`), and to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub meta: MessageMeta,
    pub outcome: &'static str,
    pub detail: String,
}

/// A handler's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not an envelope we can read: retrying cannot help.
    Malformed(String),
    /// The store failed: try again later.
    Store { meta: MessageMeta, error: PortError },
}

impl Failure {
    /// The store failed while handling `e`.
    pub fn store(e: &Envelope, error: PortError) -> Failure {
        Failure::Store { meta: MessageMeta::of(e), error }
    }
}

/// Reads a batch's payloads; an unreadable one is `Malformed`, in its place.
pub fn envelopes(payloads: &[&[u8]]) -> Vec<Result<Envelope, Failure>> {
    payloads.iter().map(|p| Envelope::from_bytes(p).map_err(Failure::Malformed)).collect()
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Malformed(why) => write!(f, "malformed message: {why}"),
            Failure::Store { error, .. } => write!(f, "store failed: {error}"),
        }
    }
}
