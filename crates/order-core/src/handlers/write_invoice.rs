//! A message on the orders topic (invoice-writer): render the order's invoice and
//! keep it in the invoice store.
//!
//! The document goes first, under its own key (`invoice/a#v#<message id>`), then the two
//! "newest invoice" index entries move to it if it is newer than what they name. So an
//! index entry never names a missing document, a redelivery rewrites identical bytes,
//! and no order's invoice ever replaces another's.
//!
//! The document goes to the invoice key-value store beside its index entries, or, with
//! an [`ObjectStore`], to the bucket as its own object
//! (`invoices/<accountid>/<vendorid>/<message id>.json`, see [`invoice::object_key`]);
//! the index entries stay in the key-value store, where newest-wins is decided
//! atomically either way.

use std::collections::BTreeMap;

use crate::delivery::handled::{Failure, Handled, MessageMeta};
use crate::model::envelope::Envelope;
use crate::model::invoice;
use crate::model::invoice::Invoice;
use crate::model::message_id::MessageId;
use crate::ports::error::PortError;
use crate::ports::key_value::{KeyValue, Put, PutOutcome};
use crate::ports::object_store::{Object, ObjectStore};

/// One message. Outcome `invoiced`; the detail is the document's key.
pub fn handle(payload: &[u8], invoices: &impl KeyValue) -> Result<Handled, Failure> {
    handle_batch(&[payload], invoices).remove(0)
}

/// A batch of messages in one [`KeyValue::put_newest`]: every document, and for each
/// index entry the batch's newest document for it, which the store writes unless the
/// entry already names a newer one (on Spin's SQLite store one transaction, so an index
/// entry and its document land together or not at all). Results are in the batch's
/// order. If the batch's write fails, each message's writes go alone, so only the
/// messages whose write the store refuses fail.
pub fn handle_batch(payloads: &[&[u8]], invoices: &impl KeyValue) -> Vec<Result<Handled, Failure>> {
    handle_batch_with(payloads, invoices, None)
}

/// [`handle_batch`], the documents going to `objects` when there is one: every
/// document is put as an object first (all at once, if the store can), then the index
/// entries of the messages whose object landed move in one [`KeyValue::put_newest`].
/// A message whose object the store refuses fails alone, and moves no index entry.
/// The detail of a handled message is its object's key.
pub fn handle_batch_with(
    payloads: &[&[u8]],
    invoices: &impl KeyValue,
    objects: Option<&dyn ObjectStore>,
) -> Vec<Result<Handled, Failure>> {
    // Each message with its rendered document; one whose invoice cannot exist (amounts
    // that overflow) is malformed: no retry can mend it.
    let mut rendered: Vec<Result<(Envelope, Vec<u8>), Failure>> = crate::delivery::handled::envelopes(payloads)
        .into_iter()
        .map(|e| {
            let e = e?;
            let document = Invoice::render(&e).map_err(Failure::Malformed)?.to_bytes();
            Ok((e, document))
        })
        .collect();
    let key_of = |e: &Envelope| invoice::document_key(&e.order.accountid, &e.order.vendorid, &e.id);
    // The objects first (moved out: only the envelopes are needed after); the failed
    // ones by document key.
    let mut refused: BTreeMap<String, PortError> = BTreeMap::new();
    if let Some(objects) = objects {
        let batch: Vec<Object> = rendered
            .iter_mut()
            .flatten()
            .map(|(e, document)| {
                let document_key = key_of(e);
                Object {
                    key: invoice::object_key(&document_key),
                    body: std::mem::take(document),
                    content_type: "application/json",
                    content_disposition: invoice::content_disposition(&document_key),
                }
            })
            .collect();
        let document_keys: Vec<String> = rendered.iter().flatten().map(|(e, _)| key_of(e)).collect();
        for (document_key, result) in document_keys.into_iter().zip(objects.put_objects(&batch)) {
            if let Err(error) = result {
                refused.insert(document_key, error);
            }
        }
    }
    // Per index entry, the newest document of the batch it should name.
    let mut newest: BTreeMap<String, (MessageId, String)> = BTreeMap::new();
    for (e, _) in rendered.iter().flatten() {
        let (a, v) = (&e.order.accountid, &e.order.vendorid);
        let document_key = key_of(e);
        if refused.contains_key(&document_key) {
            continue;
        }
        for index in [invoice::latest_for_order_key(a, v), invoice::latest_for_account_key(a)] {
            let slot = newest.entry(index).or_insert_with(|| (e.id.clone(), document_key.clone()));
            if e.id.newer_than(&slot.0) {
                *slot = (e.id.clone(), document_key.clone());
            }
        }
    }
    // One group of puts per message: its document first (moved out: only the envelope is
    // needed after) unless it is an object already, then the index entries it is the
    // batch's newest for.
    let mut groups: BTreeMap<String, Vec<Put>> = BTreeMap::new();
    for (e, document) in rendered.iter_mut().flatten() {
        let document_key = key_of(e);
        let mut group = Vec::new();
        if objects.is_none() {
            group.push(Put { key: document_key.clone(), value: std::mem::take(document), version: e.id.clone() });
        }
        groups.insert(document_key, group);
    }
    for (index, (id, document_key)) in newest {
        let value = document_key.clone().into_bytes();
        groups.get_mut(&document_key).expect("a document of the batch").push(Put { key: index, value, version: id });
    }
    let (mut keys, mut lens, mut puts) = (Vec::new(), Vec::new(), Vec::new());
    for (key, group) in groups {
        keys.push(key);
        lens.push(group.len());
        puts.extend(group);
    }
    let written: BTreeMap<String, Result<Vec<PutOutcome>, PortError>> = keys
        .into_iter()
        .zip(crate::ports::key_value::put_newest_isolating(invoices, &puts, &lens, version_of))
        .collect();
    rendered
        .into_iter()
        .map(|r| {
            let (e, _) = r?;
            let document_key = key_of(&e);
            if let Some(error) = refused.remove(&document_key) {
                return Err(Failure::store(&e, error));
            }
            match &written[&document_key] {
                Ok(_) if objects.is_some() => Ok(Handled {
                    meta: MessageMeta::of(&e),
                    outcome: "invoiced",
                    detail: invoice::object_key(&document_key),
                }),
                Ok(_) => Ok(Handled { meta: MessageMeta::of(&e), outcome: "invoiced", detail: document_key }),
                Err(error) => Err(Failure::store(&e, error.clone())),
            }
        })
        .collect()
}

/// The batch when its object store cannot be used (its settings are unusable): every
/// message fails with `error`, so it is retried on the retry clock and dead-lettered
/// with these words after `max_deliveries`; a malformed one is dead-lettered at once.
pub fn fail_batch(payloads: &[&[u8]], error: &PortError) -> Vec<Result<Handled, Failure>> {
    crate::delivery::handled::envelopes(payloads).into_iter().map(|e| Err(Failure::store(&e?, error.clone()))).collect()
}

/// The message an entry of the invoice store belongs to: a document's own (in its key),
/// or the document an index entry names.
pub fn version_of(key: &str, value: &[u8]) -> Option<MessageId> {
    if key.starts_with("invoice/") {
        Some(invoice::message_id_of(key))
    } else {
        std::str::from_utf8(value).ok().map(invoice::message_id_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::clock::TestClock;
    use crate::testing::fixtures::order;
    use crate::testing::memory::MemoryStore;

    fn index(s: &MemoryStore, key: &str) -> String {
        String::from_utf8(s.get(key).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn every_order_keeps_its_own_invoice_and_the_index_moves_forward_only() {
        let s = MemoryStore::default();
        let clock = TestClock::at(1_000);
        let first = Envelope::new(order(), &clock, None).unwrap();
        clock.now_ms.set(2_000);
        let second = Envelope::new(order(), &clock, None).unwrap();
        let w2 = handle(&second.to_bytes(), &s).unwrap().detail;
        let w1 = handle(&first.to_bytes(), &s).unwrap().detail;
        assert_ne!(w1, w2);
        assert!(s.get(&w1).unwrap().is_some() && s.get(&w2).unwrap().is_some());
        assert_eq!(index(&s, "latest-by-order/a0#v0"), w2);
        assert_eq!(index(&s, "latest-by-account/a0"), w2);
        // A redelivery rewrites the same bytes.
        let before = s.get(&w2).unwrap();
        handle(&second.to_bytes(), &s).unwrap();
        assert_eq!(s.get(&w2).unwrap(), before);
    }

    #[test]
    fn a_batch_is_one_write_documents_and_indexes_together() {
        let s = MemoryStore::default();
        let clock = TestClock::at(1_000);
        let first = Envelope::new(order(), &clock, None).unwrap();
        clock.now_ms.set(2_000);
        let second = Envelope::new(order(), &clock, None).unwrap();
        let (p2, p1) = (second.to_bytes(), first.to_bytes());
        let results = handle_batch(&[&p2, &p1, b"{}"], &s);
        assert!(results[0].is_ok() && results[1].is_ok() && matches!(results[2], Err(Failure::Malformed(_))));
        assert_eq!(s.writes.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(
            index(&s, "latest-by-order/a0#v0"),
            results[0].as_ref().unwrap().detail,
            "the newest, whatever the order"
        );
        assert_eq!(s.keys().iter().filter(|k| k.starts_with("invoice/")).count(), 2);
    }

    /// An order whose amounts overflow, put on the topic directly (no validation on the
    /// way): dead-lettered at once with a reason naming the overflow, nothing written, and
    /// its batch-mates invoiced.
    #[test]
    fn an_invoice_that_cannot_exist_is_malformed_not_a_panic() {
        let s = MemoryStore::default();
        let good = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&good.to_bytes()).unwrap();
        v["id"] = "019ac7c2-707b-7101-8101-0101010101ff".into();
        v["order"]["details"]["unitprice"] = "184467440737095516.15".into(); // u64::MAX cents
        v["order"]["details"]["quantity"] = 65_535.into();
        let bad = serde_json::to_vec(&v).unwrap();
        let results = handle_batch(&[&bad, &good.to_bytes()], &s);
        match &results[0] {
            Err(Failure::Malformed(why)) => assert!(why.contains("overflow"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(results[1].is_ok());
        assert!(s.keys().iter().all(|k| !k.contains("0101010101ff")), "{:?}", s.keys());
        assert!(matches!(handle(&bad, &s), Err(Failure::Malformed(_))));
    }

    /// With an object store: each document is an object with its headers, the index in
    /// the key-value store names it, and no document is kept in the key-value store.
    #[test]
    fn documents_go_to_the_object_store_and_the_index_stays() {
        let (s, objects) = (MemoryStore::default(), crate::testing::memory::MemoryObjects::default());
        let clock = TestClock::at(1_000);
        let first = Envelope::new(order(), &clock, None).unwrap();
        clock.now_ms.set(2_000);
        let second = Envelope::new(order(), &clock, None).unwrap();
        let (p2, p1) = (second.to_bytes(), first.to_bytes());
        let results = handle_batch_with(&[&p2, &p1, b"{}"], &s, Some(&objects));
        assert!(matches!(results[2], Err(Failure::Malformed(_))));
        let detail = results[0].as_ref().unwrap().detail.clone();
        assert_eq!(detail, format!("invoices/a0/v0/{}.json", second.id));
        let object = objects.get(&detail).unwrap();
        assert_eq!(object.content_type, "application/json");
        assert_eq!(object.content_disposition, format!("attachment; filename=\"invoice-a0-v0-{}.json\"", second.id));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&object.body).unwrap()["total"], "14.85");
        assert_eq!(objects.keys().len(), 2);
        assert_eq!(index(&s, "latest-by-order/a0#v0"), format!("invoice/a0#v0#{}", second.id));
        assert!(s.keys().iter().all(|k| !k.starts_with("invoice/")), "{:?}", s.keys());
        // The store refusing: every message fails with its words, no index moves.
        let (s, objects) = (MemoryStore::default(), crate::testing::memory::MemoryObjects::default());
        objects.fail_with(Some("answered 403 AccessDenied: Access Denied"));
        let results = handle_batch_with(&[&p2, &p1], &s, Some(&objects));
        for r in &results {
            match r {
                Err(Failure::Store { error, .. }) => assert!(error.detail.contains("AccessDenied"), "{error}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(s.keys().is_empty(), "{:?}", s.keys());
        // Healed, the redelivery lands.
        objects.fail_with(None);
        assert!(handle_batch_with(&[&p2, &p1], &s, Some(&objects)).iter().all(Result::is_ok));
        assert_eq!(index(&s, "latest-by-account/a0"), format!("invoice/a0#v0#{}", second.id));
    }

    #[test]
    fn failures() {
        let s = MemoryStore::default();
        assert!(matches!(handle(b"{\"version\":1}", &s), Err(Failure::Malformed(_))));
        assert!(s.keys().is_empty());
        s.fail_with("bucket gone");
        let e = Envelope::new(order(), &TestClock::at(1), None).unwrap();
        assert!(matches!(handle(&e.to_bytes(), &s), Err(Failure::Store { .. })));
    }
}
