//! The invoice: a document rendered from one accepted order, and where it is kept.
//!
//! Each accepted order gets its own invoice, keyed by its message id, so no order's
//! invoice is ever overwritten by another's (the original keyed invoices by account and
//! lost all but the last). Two small index entries point at the newest invoice of an
//! order (`accountid#vendorid`) and of an account, for `GET /invoice`.
//!
//! Rendering is deterministic (the issue date is the order's acceptance time), so a
//! redelivered message rewrites the same bytes.

use serde::{Deserialize, Serialize};

use crate::model::envelope::Envelope;
use crate::model::ids::{order_key, Id};
use crate::model::message_id::MessageId;
use crate::model::money::{Cents, GST_BASIS_POINTS};

pub const CURRENCY: &str = "AUD";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub invoice_number: String,
    /// The order it bills: `accountid#vendorid`, and the message that carried it.
    pub order_ref: String,
    pub message_id: MessageId,
    pub accountid: Id,
    pub vendorid: Id,
    pub city: String,
    pub orderdate: String,
    pub issued_at: String,
    pub currency: String,
    pub lines: Vec<Line>,
    pub subtotal: Cents,
    pub gst_rate: String,
    pub gst: Cents,
    pub total: Cents,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub description: String,
    pub coffeetype: String,
    pub coffeesize: String,
    pub unit_price: Cents,
    pub quantity: u16,
    pub line_total: Cents,
}

impl Invoice {
    /// Renders the invoice for an accepted order. Every amount is checked: validation caps
    /// the unit price at 10,000.00 and the quantity at 1000, but a message is data, not a
    /// promise, so amounts that do not fit in cents are an `Err` naming the overflow (an
    /// invoice that cannot exist), never a panic.
    pub fn render(e: &Envelope) -> Result<Invoice, String> {
        let o = &e.order;
        let (unit_price, quantity) = (o.details.unitprice, o.details.quantity);
        let overflow = |what: String| format!("the invoice's amounts overflow: {what} does not fit in cents");
        let line_total = unit_price
            .checked_mul(u64::from(quantity))
            .ok_or_else(|| overflow(format!("unit price {unit_price} × quantity {quantity}")))?;
        let subtotal = line_total;
        let gst =
            subtotal.checked_percent_half_up(GST_BASIS_POINTS).ok_or_else(|| overflow(format!("GST on {subtotal}")))?;
        let total = subtotal.checked_add(gst).ok_or_else(|| overflow(format!("{subtotal} + GST {gst}")))?;
        Ok(Invoice {
            invoice_number: invoice_number(&e.id),
            order_ref: order_key(&o.accountid, &o.vendorid),
            message_id: e.id.clone(),
            accountid: o.accountid.clone(),
            vendorid: o.vendorid.clone(),
            city: o.city.clone(),
            orderdate: o.orderdate.clone(),
            issued_at: e.published_at.clone(),
            currency: CURRENCY.into(),
            lines: vec![Line {
                description: format!("{} ({})", o.details.coffeetype, o.details.coffeesize),
                coffeetype: o.details.coffeetype.clone(),
                coffeesize: o.details.coffeesize.clone(),
                unit_price: o.details.unitprice,
                quantity: o.details.quantity,
                line_total,
            }],
            subtotal,
            gst_rate: "10%".into(),
            gst,
            total,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("an invoice always serializes")
    }
}

/// `INV-` and the message id's hex without dashes: unique per accepted order.
pub fn invoice_number(message_id: &MessageId) -> String {
    format!("INV-{}", message_id.as_str().replace('-', "").to_ascii_uppercase())
}

/// Where an invoice document is kept: `invoice/<accountid>#<vendorid>#<message id>`.
pub fn document_key(accountid: &Id, vendorid: &Id, message_id: &MessageId) -> String {
    format!("invoice/{accountid}#{vendorid}#{message_id}")
}

/// The index entry naming the newest invoice of one order.
pub fn latest_for_order_key(accountid: &Id, vendorid: &Id) -> String {
    format!("latest-by-order/{accountid}#{vendorid}")
}

/// The index entry naming the newest invoice of an account.
pub fn latest_for_account_key(accountid: &Id) -> String {
    format!("latest-by-account/{accountid}")
}

/// The message id a document key ends with (what "newer" compares).
pub fn message_id_of(document_key: &str) -> MessageId {
    MessageId::from(document_key.rsplit('#').next().unwrap_or(""))
}

/// Where an invoice document is kept in an object store: the document key read as
/// `invoices/<accountid>/<vendorid>/<message id>.json`. An id made only of dots (`.`,
/// `..`: valid ids) would be a path segment URLs collapse, so its dots are written
/// `%2E` (ids never hold `%`, so no two documents share an object).
pub fn object_key(document_key: &str) -> String {
    let segment =
        |s: &str| if !s.is_empty() && s.bytes().all(|b| b == b'.') { s.replace('.', "%2E") } else { s.to_owned() };
    let mut parts = document_key.trim_start_matches("invoice/").splitn(3, '#');
    let (a, v, id) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    format!("invoices/{}/{}/{id}.json", segment(a), segment(v))
}

/// The file name offered for download: `invoice-a0-v0-<message id>.json`.
pub fn file_name(document_key: &str) -> String {
    let name = document_key.trim_start_matches("invoice/").replace('#', "-");
    format!("invoice-{name}.json")
}

/// The `Content-Disposition` a download is given: an attachment named [`file_name`].
pub fn content_disposition(document_key: &str) -> String {
    format!("attachment; filename=\"{}\"", file_name(document_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::clock::TestClock;
    use crate::testing::fixtures::order;

    #[test]
    fn object_keys_are_readable_and_never_collapse() {
        let (a, v) = (Id::parse("a", "a0").unwrap(), Id::parse("v", "v0").unwrap());
        let id = MessageId::from("019ac7c2-707b-7101-8101-0101010101ff");
        assert_eq!(object_key(&document_key(&a, &v, &id)), "invoices/a0/v0/019ac7c2-707b-7101-8101-0101010101ff.json");
        let (dots, dot) = (Id::parse("a", "..").unwrap(), Id::parse("v", ".").unwrap());
        assert_eq!(object_key(&document_key(&dots, &dot, &id)), format!("invoices/%2E%2E/%2E/{id}.json"));
        let dotted = Id::parse("a", "a.b..").unwrap();
        assert_eq!(object_key(&document_key(&dotted, &v, &id)), format!("invoices/a.b../v0/{id}.json"));
    }

    #[test]
    fn the_worked_example() {
        let e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
        let inv = Invoice::render(&e).unwrap();
        assert_eq!(inv.lines[0].line_total.to_string(), "13.50");
        assert_eq!(inv.subtotal.to_string(), "13.50");
        assert_eq!(inv.gst.to_string(), "1.35");
        assert_eq!(inv.total.to_string(), "14.85");
        assert_eq!(inv.currency, "AUD");
        assert_eq!(inv.order_ref, "a0#v0");
        assert_eq!(inv.lines[0].description, "Latte (Large)");
        let json: serde_json::Value = serde_json::from_slice(&inv.to_bytes()).unwrap();
        assert_eq!(json["total"], "14.85", "amounts are decimal strings, never floats");
    }

    #[test]
    fn rendering_is_deterministic() {
        let e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
        assert_eq!(Invoice::render(&e).unwrap().to_bytes(), Invoice::render(&e).unwrap().to_bytes());
    }

    #[test]
    fn amounts_that_do_not_fit_are_an_error_not_a_panic() {
        let mut e = Envelope::new(order(), &TestClock::at(1_000), None).unwrap();
        e.order.details.unitprice = Cents(u64::MAX / 2);
        e.order.details.quantity = 3;
        let why = Invoice::render(&e).unwrap_err();
        assert!(why.contains("overflow") && why.contains("quantity 3"), "{why}");
        // The line fits, the total with GST does not.
        e.order.details.unitprice = Cents(u64::MAX - 1);
        e.order.details.quantity = 1;
        let why = Invoice::render(&e).unwrap_err();
        assert!(why.contains("overflow") && why.contains("+ GST"), "{why}");
    }

    #[test]
    fn keys() {
        let (a, v) = (Id::parse("a", "a0").unwrap(), Id::parse("v", "v0").unwrap());
        let k = document_key(&a, &v, &MessageId::from("0193-ab"));
        assert_eq!(k, "invoice/a0#v0#0193-ab");
        assert_eq!(message_id_of(&k).as_str(), "0193-ab");
        assert_eq!(file_name(&k), "invoice-a0-v0-0193-ab.json");
        assert_ne!(latest_for_order_key(&a, &v), latest_for_account_key(&a));
    }
}
