//! A message on the orders channel (order-writer): store the order under
//! `accountid#vendorid`.
//!
//! Idempotent, and newer wins: the write happens only if the message's id is at least
//! the stored one's (see [`Envelope::supersedes`]), so a duplicate rewrites the same
//! value and a late redelivery of an older order never overwrites a newer one.
//! The read-then-write is safe because Spin's Redis trigger hands one message at a time
//! to a subscriber; two `spin up` processes sharing one store could race on one key.

use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::ids::order_key;
use crate::order::Order;
use crate::ports::{KeyValue, PortError};

/// What `GET /order` returns: the order and the message that brought it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrder {
    pub order: Order,
    pub message_id: String,
    pub published_at: String,
    pub traceparent: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored {
        key: String,
    },
    /// A newer order is already stored under `key`; this message changed nothing.
    Superseded {
        key: String,
        stored_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not an envelope we can read: retrying cannot help. Log it and move on.
    Malformed(String),
    /// The store failed: the message should be tried again.
    Store(PortError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Malformed(why) => write!(f, "malformed message: {why}"),
            Failure::Store(e) => write!(f, "store failed: {e}"),
        }
    }
}

pub fn handle(payload: &[u8], orders: &impl KeyValue) -> Result<Outcome, Failure> {
    let e = Envelope::from_bytes(payload).map_err(Failure::Malformed)?;
    let key = order_key(&e.order.accountid, &e.order.vendorid);
    let current = orders.get(&key).map_err(Failure::Store)?;
    // An unreadable entry (not ours) is replaced rather than blocking the key forever.
    if let Some(stored) = current.and_then(|b| serde_json::from_slice::<StoredOrder>(&b).ok()) {
        if !e.supersedes(&stored.message_id) {
            return Ok(Outcome::Superseded {
                key,
                stored_id: stored.message_id,
            });
        }
    }
    let record = StoredOrder {
        message_id: e.id,
        published_at: e.published_at,
        traceparent: e.traceparent,
        order: e.order,
    };
    orders
        .set(
            &key,
            &serde_json::to_vec(&record).expect("a stored order serializes"),
        )
        .map_err(Failure::Store)?;
    Ok(Outcome::Stored { key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::{order, TestClock};
    use crate::ports::MemoryStore;

    #[test]
    fn stores_then_duplicate_is_harmless_and_older_never_wins() {
        let s = MemoryStore::default();
        let clock = TestClock::at(1_000);
        let old = Envelope::new(order(), &clock, None);
        clock.now_ms.set(2_000);
        let mut newer_order = order();
        newer_order.details.quantity = 7;
        let new = Envelope::new(newer_order, &clock, None);

        assert_eq!(
            handle(&new.to_bytes(), &s),
            Ok(Outcome::Stored {
                key: "a0#v0".into()
            })
        );
        let snapshot = s.get("a0#v0").unwrap();
        assert_eq!(
            handle(&new.to_bytes(), &s),
            Ok(Outcome::Stored {
                key: "a0#v0".into()
            })
        );
        assert_eq!(
            s.get("a0#v0").unwrap(),
            snapshot,
            "a duplicate changes nothing"
        );
        assert!(matches!(
            handle(&old.to_bytes(), &s),
            Ok(Outcome::Superseded { .. })
        ));
        let stored: StoredOrder =
            serde_json::from_slice(&s.get("a0#v0").unwrap().unwrap()).unwrap();
        assert_eq!(stored.order.details.quantity, 7);
        assert_eq!(stored.message_id, new.id);
    }

    #[test]
    fn malformed_and_store_failures_are_told_apart() {
        let s = MemoryStore::default();
        for junk in [
            &b""[..],
            b"\x00\x01",
            b"{\"version\":9}",
            b"[1]",
            &[b'['; 10_000],
        ] {
            assert!(matches!(handle(junk, &s), Err(Failure::Malformed(_))));
        }
        assert!(
            s.keys().is_empty(),
            "nothing written for malformed messages"
        );
        s.fail_with("throttled");
        let e = Envelope::new(order(), &TestClock::at(1), None);
        assert_eq!(
            handle(&e.to_bytes(), &s),
            Err(Failure::Store(PortError("throttled".into())))
        );
    }
}
