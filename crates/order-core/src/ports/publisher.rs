//! The publishing side of the orders topic: order-api's one port.

use crate::model::span::MessagingSystem;
use crate::ports::drain_calls::DrainCalls;
use crate::ports::error::PortError;

/// The orders topic. `publish` returns `Appended` or `Replay` only once the message is
/// on the topic (so every consumer group will see it, whether or not it is running) and
/// holds the deployment's durability level ([`crate::model::durability`]), and then
/// rings the consumers' doorbell (or names the groups its caller must ring: see
/// `delivery::wake`). With an [`Idempotency`] record, the topic decides in
/// the same atomic step whether the request was seen before.
pub trait Publisher {
    /// Publishes `payload` on the partition of `partition_key` (the order's `accountid`:
    /// [`crate::model::partition`]), so one account's orders keep their order.
    fn publish(
        &self,
        partition_key: &str,
        payload: &[u8],
        idempotency: Option<&Idempotency>,
    ) -> Result<Published, PortError>;
    /// The messaging system the topic runs on, for the order's span.
    fn messaging_system(&self) -> MessagingSystem;
}

/// How long an `Idempotency-Key` is remembered: 24 hours.
pub const IDEMPOTENCY_TTL_MS: u64 = 24 * 3600 * 1000;

/// What the topic keeps for an `Idempotency-Key`: the key (as a digest, so any text a
/// client sends makes a safe Redis key), the request body's fingerprint, and the answer
/// to give a repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// SHA-256 of the key, hex.
    pub key_digest: String,
    /// SHA-256 of the request body, hex.
    pub fingerprint: String,
    /// What a repeat is answered from: the first `202` body, less its URLs (whose tokens
    /// the topic never holds; `accept_order` signs them again).
    pub answer: Vec<u8>,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Appended now; the groups whose bell the append took, for the caller to ring where
    /// the doorbell is on HTTP (empty where the topic rang them itself).
    Appended(DrainCalls),
    /// The key was seen with the same body: nothing appended; what was kept of the
    /// first answer ([`Idempotency::answer`]).
    Replay(Vec<u8>),
    /// The key was seen with another body: nothing appended.
    Mismatch,
    /// The durability level cannot hold on this server: nothing appended. Says which
    /// setting asks for what, and what the server lacks.
    Refused(String),
    /// The message was appended (or, on a replay, had been), but its durability level
    /// was not confirmed: it may outlive the failures the level names, or not. Says
    /// what fell short. A repeat with the same idempotency key confirms it again, and
    /// appends nothing.
    Unconfirmed(String),
}
