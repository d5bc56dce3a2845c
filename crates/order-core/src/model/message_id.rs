//! A message's id, and the one place "newer" is decided.
//!
//! Ids are UUIDv7: they sort by the millisecond order-api accepted the order, and the
//! greater id is newer (ties within a millisecond fall to the random bits). On the wire
//! and in stores an id is its hyphenated lower-case text, and `Ord` compares that text,
//! which for such ids is the same order as their bytes. Every newest-wins decision
//! compares two ids with [`MessageId::newer_than`] or `Ord`: in a batch
//! (the key-value port's `put_newest`), and in the Redis store's script,
//! which compares the same text byte by byte.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// The id of a message accepted at `unix_ms`, with `random` as its random bits.
    pub fn v7(unix_ms: u64, random: [u8; 10]) -> MessageId {
        MessageId(uuid::Builder::from_unix_timestamp_millis(unix_ms, &random).into_uuid().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a value written by this message replaces one written by `other`: only a
    /// strictly newer message does; the same message again (a redelivery) rewrites the
    /// same bytes, which is harmless either way.
    pub fn newer_than(&self, other: &MessageId) -> bool {
        self > other
    }
}

/// An id read back from text that holds one (a store's key or record), as it was written.
impl From<&str> for MessageId {
    fn from(s: &str) -> MessageId {
        MessageId(s.to_owned())
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_time_then_their_random_bits() {
        let (a, b) = (MessageId::v7(1_000, [0; 10]), MessageId::v7(1_001, [0; 10]));
        assert!(b.newer_than(&a) && !a.newer_than(&b) && !a.newer_than(&a));
        assert!(MessageId::v7(1_000, [1; 10]).newer_than(&a));
    }

    #[test]
    fn an_id_is_plain_uuid_text() {
        let id = MessageId::v7(1_764_288_000_123, [1; 10]);
        assert_eq!(id.as_str(), "019ac7c2-707b-7101-8101-010101010101");
        assert_eq!(serde_json::to_value(&id).unwrap(), "019ac7c2-707b-7101-8101-010101010101");
        assert_eq!(MessageId::from(id.as_str()), id);
    }
}
