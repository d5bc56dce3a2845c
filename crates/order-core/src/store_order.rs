//! A message on the orders topic (order-writer): store the order under
//! `accountid#vendorid`.
//!
//! Idempotent, and newer wins: the write happens only if the message's id is at least
//! the stored one's (see [`Envelope::supersedes`]), so a duplicate rewrites the same
//! value and a late redelivery of an older order never overwrites a newer one.
//! The read-then-write is safe because Spin's Redis trigger runs one invocation of a
//! subscriber at a time; two `spin up` processes sharing one store could race on a key.

use serde::{Deserialize, Serialize};

use crate::delivery::{Failure, Handled};
use crate::envelope::Envelope;
use crate::ids::order_key;
use crate::order::Order;
use crate::ports::KeyValue;

/// What `GET /order` returns: the order and the message that brought it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrder {
    pub order: Order,
    pub message_id: String,
    pub published_at: String,
    pub traceparent: String,
}

/// Outcomes: `stored`, or `superseded` when a newer order already holds the key.
pub fn handle(payload: &[u8], orders: &impl KeyValue) -> Result<Handled, Failure> {
    let e = Envelope::from_bytes(payload).map_err(Failure::Malformed)?;
    let meta = e.meta();
    let fail = |error| Failure::Store {
        meta: e.meta(),
        error,
    };
    let key = order_key(&e.order.accountid, &e.order.vendorid);
    let current = orders.get(&key).map_err(fail)?;
    // An unreadable entry (not ours) is replaced rather than blocking the key forever.
    if let Some(stored) = current.and_then(|b| serde_json::from_slice::<StoredOrder>(&b).ok()) {
        if !e.supersedes(&stored.message_id) {
            let detail = format!("{key} holds newer message {}", stored.message_id);
            return Ok(Handled {
                meta,
                outcome: "superseded",
                detail,
            });
        }
    }
    let record = StoredOrder {
        message_id: e.id.clone(),
        published_at: e.published_at.clone(),
        traceparent: e.traceparent.clone(),
        order: e.order.clone(),
    };
    let bytes = serde_json::to_vec(&record).expect("a stored order serializes");
    orders.set(&key, &bytes).map_err(fail)?;
    Ok(Handled {
        meta,
        outcome: "stored",
        detail: key,
    })
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

        let stored = handle(&new.to_bytes(), &s).unwrap();
        assert_eq!(
            (stored.outcome, stored.detail.as_str()),
            ("stored", "a0#v0")
        );
        assert_eq!(stored.meta, new.meta());
        let snapshot = s.get("a0#v0").unwrap();
        assert_eq!(handle(&new.to_bytes(), &s).unwrap().outcome, "stored");
        assert_eq!(
            s.get("a0#v0").unwrap(),
            snapshot,
            "a duplicate changes nothing"
        );
        assert_eq!(handle(&old.to_bytes(), &s).unwrap().outcome, "superseded");
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
        let error = crate::ports::PortError("throttled".into());
        assert_eq!(
            handle(&e.to_bytes(), &s),
            Err(Failure::Store {
                meta: e.meta(),
                error
            })
        );
    }
}
