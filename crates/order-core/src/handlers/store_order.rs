//! A message on the orders topic (order-writer): store the order under
//! `accountid#vendorid`.
//!
//! Idempotent, and newer wins: the write happens unless the stored order came with a
//! newer message ([`crate::model::message_id::MessageId::newer_than`]), so a duplicate
//! rewrites the same value and a late redelivery of an older order never overwrites a
//! newer one. The store decides it ([`KeyValue::put_newest`]): atomically on a store
//! several replicas share, by a read and a write on a store with one writer.

use std::collections::BTreeMap;

use crate::delivery::handled::{Failure, Handled, MessageMeta};
use crate::model::ids::order_key;
use crate::model::message_id::MessageId;
use crate::model::stored_order::StoredOrder;
use crate::ports::error::PortError;
use crate::ports::key_value::{put_newest_isolating, KeyValue, Put, PutOutcome};

/// One message. Outcomes: `stored`, or `superseded` when a newer order holds the key.
pub fn handle(payload: &[u8], orders: &impl KeyValue) -> Result<Handled, Failure> {
    handle_batch(&[payload], orders).remove(0)
}

/// A batch of messages, in one [`KeyValue::put_newest`] of the store: per key, the
/// newest message of the batch is written unless the store holds a newer one; every
/// other message for that key is `superseded`. Results are in the batch's order. If the
/// batch's write fails, each key is written alone, so only the messages whose write the
/// store refuses fail.
pub fn handle_batch(payloads: &[&[u8]], orders: &impl KeyValue) -> Vec<Result<Handled, Failure>> {
    let envelopes = crate::delivery::handled::envelopes(payloads);
    // Per key, the index of the newest envelope in the batch.
    let mut newest: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in envelopes.iter().enumerate() {
        if let Ok(e) = e {
            let key = order_key(&e.order.accountid, &e.order.vendorid);
            let slot = newest.entry(key).or_insert(i);
            if let Ok(current) = &envelopes[*slot] {
                if e.id.newer_than(&current.id) {
                    *slot = i;
                }
            }
        }
    }
    let puts: Vec<Put> = newest
        .iter()
        .filter_map(|(key, &i)| {
            let e = envelopes[i].as_ref().ok()?;
            let record = StoredOrder {
                message_id: e.id.clone(),
                published_at: e.published_at.clone(),
                traceparent: e.traceparent.clone(),
                order: e.order.clone(),
            };
            let value = serde_json::to_vec(&record).expect("a stored order serializes");
            Some(Put { key: key.clone(), value, version: e.id.clone() })
        })
        .collect();
    // Per key: the message the key holds now, or why the write failed.
    let held: BTreeMap<String, Result<MessageId, PortError>> = puts
        .iter()
        .zip(put_newest_isolating(orders, &puts, &vec![1; puts.len()], version_of))
        .map(|(put, kept)| {
            let held = kept.map(|k| match k.first() {
                Some(PutOutcome::NewerKept(id)) => id.clone(),
                _ => put.version.clone(),
            });
            (put.key.clone(), held)
        })
        .collect();
    envelopes
        .into_iter()
        .map(|e| {
            let e = e?;
            let key = order_key(&e.order.accountid, &e.order.vendorid);
            let held_by = match &held[&key] {
                Ok(id) => id,
                Err(error) => return Err(Failure::store(&e, error.clone())),
            };
            Ok(if *held_by == e.id {
                Handled { meta: MessageMeta::of(&e), outcome: "stored", detail: key }
            } else {
                let detail = format!("{key} holds newer message {held_by}");
                Handled { meta: MessageMeta::of(&e), outcome: "superseded", detail }
            })
        })
        .collect()
}

/// The message a stored order came with; `None` for a value that is not a stored order
/// (it is then replaced rather than blocking the key forever).
pub fn version_of(_key: &str, value: &[u8]) -> Option<MessageId> {
    serde_json::from_slice::<StoredOrder>(value).ok().map(|s| s.message_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::envelope::Envelope;
    use crate::testing::clock::TestClock;
    use crate::testing::fixtures::order;
    use crate::testing::memory::MemoryStore;

    #[test]
    fn stores_then_duplicate_is_harmless_and_older_never_wins() {
        let s = MemoryStore::default();
        let clock = TestClock::at(1_000);
        let old = Envelope::new(order(), &clock, None).unwrap();
        clock.now_ms.set(2_000);
        let mut newer_order = order();
        newer_order.details.quantity = 7;
        let new = Envelope::new(newer_order, &clock, None).unwrap();

        let stored = handle(&new.to_bytes(), &s).unwrap();
        assert_eq!((stored.outcome, stored.detail.as_str()), ("stored", "a0#v0"));
        assert_eq!(stored.meta, MessageMeta::of(&new));
        let snapshot = s.get("a0#v0").unwrap();
        assert_eq!(handle(&new.to_bytes(), &s).unwrap().outcome, "stored");
        assert_eq!(s.get("a0#v0").unwrap(), snapshot, "a duplicate changes nothing");
        assert_eq!(handle(&old.to_bytes(), &s).unwrap().outcome, "superseded");
        let stored: StoredOrder = serde_json::from_slice(&s.get("a0#v0").unwrap().unwrap()).unwrap();
        assert_eq!(stored.order.details.quantity, 7);
        assert_eq!(stored.message_id, new.id);
    }

    #[test]
    fn a_batch_is_one_write_and_the_newest_of_a_key_wins() {
        let s = MemoryStore::default();
        let clock = TestClock::at(1_000);
        let a = Envelope::new(order(), &clock, None).unwrap();
        clock.now_ms.set(2_000);
        let mut o = order();
        o.details.quantity = 9;
        let b = Envelope::new(o.clone(), &clock, None).unwrap();
        o.accountid = crate::model::ids::Id::parse("a", "a1").unwrap();
        let c = Envelope::new(o, &clock, None).unwrap();
        let (pb, pa, pc) = (b.to_bytes(), a.to_bytes(), c.to_bytes());
        let results = handle_batch(&[&pb, b"junk", &pa, &pc], &s);
        let outcomes: Vec<_> = results.iter().map(|r| r.as_ref().map(|h| h.outcome).map_err(|_| "error")).collect();
        assert_eq!(outcomes, vec![Ok("stored"), Err("error"), Ok("superseded"), Ok("stored")]);
        assert!(matches!(results[1], Err(Failure::Malformed(_))));
        assert_eq!(s.writes.load(std::sync::atomic::Ordering::Relaxed), 1, "one write for the batch");
        let stored: StoredOrder = serde_json::from_slice(&s.get("a0#v0").unwrap().unwrap()).unwrap();
        assert_eq!(stored.message_id, b.id);

        // A failing write fails the whole batch, and only the readable messages as store failures.
        s.fail_with("disk full");
        let results = handle_batch(&[&pb, b"junk"], &s);
        assert!(matches!(results[0], Err(Failure::Store { .. })) && matches!(results[1], Err(Failure::Malformed(_))));
    }

    #[test]
    fn malformed_and_store_failures_are_told_apart() {
        let s = MemoryStore::default();
        for junk in [&b""[..], b"\x00\x01", b"{\"version\":9}", b"[1]", &[b'['; 10_000]] {
            assert!(matches!(handle(junk, &s), Err(Failure::Malformed(_))));
        }
        assert!(s.keys().is_empty(), "nothing written for malformed messages");
        s.fail_with("throttled");
        let e = Envelope::new(order(), &TestClock::at(1), None).unwrap();
        let error = crate::ports::error::PortError::unavailable("throttled");
        assert_eq!(handle(&e.to_bytes(), &s), Err(Failure::Store { meta: MessageMeta::of(&e), error }));
    }
}
