//! A message on the orders topic (invoice-writer): render the order's invoice and
//! keep it in the invoice store.
//!
//! The document goes first, under its own key (`invoice/a#v#<message id>`), then the two
//! "newest invoice" index entries move to it if it is newer than what they name. So an
//! index entry never names a missing document, a redelivery rewrites identical bytes,
//! and no order's invoice ever replaces another's.

use crate::delivery::{Failure, Handled};
use crate::envelope::Envelope;
use crate::invoice::{self, Invoice};
use crate::ports::{KeyValue, PortError};

/// Outcome `invoiced`; the detail is the document's key.
pub fn handle(payload: &[u8], invoices: &impl KeyValue) -> Result<Handled, Failure> {
    let e = Envelope::from_bytes(payload).map_err(Failure::Malformed)?;
    let fail = |error| Failure::Store {
        meta: e.meta(),
        error,
    };
    let (a, v) = (&e.order.accountid, &e.order.vendorid);
    let doc = Invoice::render(&e);
    let document_key = invoice::document_key(a, v, &e.id);
    invoices.set(&document_key, &doc.to_bytes()).map_err(fail)?;
    for index in [
        invoice::latest_for_order_key(a, v),
        invoice::latest_for_account_key(a),
    ] {
        point_if_newer(invoices, &index, &document_key, &e).map_err(fail)?;
    }
    Ok(Handled {
        meta: e.meta(),
        outcome: "invoiced",
        detail: document_key,
    })
}

fn point_if_newer(
    invoices: &impl KeyValue,
    index: &str,
    document_key: &str,
    e: &Envelope,
) -> Result<(), PortError> {
    let newer = match invoices.get(index)?.as_deref().map(std::str::from_utf8) {
        Some(Ok(current)) => e.supersedes(invoice::message_id_of(current)),
        _ => true,
    };
    if newer {
        invoices.set(index, document_key.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::tests::{order, TestClock};
    use crate::ports::MemoryStore;

    fn index(s: &MemoryStore, key: &str) -> String {
        String::from_utf8(s.get(key).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn every_order_keeps_its_own_invoice_and_the_index_moves_forward_only() {
        let s = MemoryStore::default();
        let clock = TestClock::at(1_000);
        let first = Envelope::new(order(), &clock, None);
        clock.now_ms.set(2_000);
        let second = Envelope::new(order(), &clock, None);
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
    fn failures() {
        let s = MemoryStore::default();
        assert!(matches!(
            handle(b"{\"version\":1}", &s),
            Err(Failure::Malformed(_))
        ));
        assert!(s.keys().is_empty());
        s.fail_with("bucket gone");
        let e = Envelope::new(order(), &TestClock::at(1), None);
        assert!(matches!(
            handle(&e.to_bytes(), &s),
            Err(Failure::Store { .. })
        ));
    }
}
