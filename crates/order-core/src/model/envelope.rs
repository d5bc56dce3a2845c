//! The message on the orders channel: a versioned JSON envelope around the order.
//!
//! ```json
//! {"version":1,"id":"0193...","published_at":"2026-11-28T00:00:00.123Z",
//!  "traceparent":"00-<trace>-<span>-01","order":{...}}
//! ```
//!
//! `id` is a [`MessageId`], which holds the rule for "newer": of two messages for the
//! same `accountid#vendorid`, the one with the greater id wins, whatever order they
//! arrive in. Consumers refuse a `version` they do not know.

use serde::{Deserialize, Serialize};

use crate::model::clock::{Clock, RandomnessUnavailable};
use crate::model::json_depth::{nesting_within, MAX_JSON_DEPTH};
use crate::model::message_id::MessageId;
use crate::model::order::Order;
use crate::model::time::rfc3339_ms;
use crate::model::trace::{trace_id_of, TraceParent};

pub const ENVELOPE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub id: MessageId,
    pub published_at: String,
    pub traceparent: String,
    pub order: Order,
}

impl Envelope {
    /// Wraps an accepted order. `incoming_traceparent` continues the client's trace when
    /// it is a valid W3C `traceparent`; otherwise a new trace starts. An `Err` when the
    /// clock has no randomness for the ids.
    pub fn new(
        order: Order,
        clock: &impl Clock,
        incoming_traceparent: Option<&str>,
    ) -> Result<Envelope, RandomnessUnavailable> {
        let now_ms = clock.now_ms();
        let r = clock.random()?;
        let mut id_bits = [0u8; 10];
        id_bits.copy_from_slice(&r[..10]);
        Ok(Envelope {
            version: ENVELOPE_VERSION,
            id: MessageId::v7(now_ms, id_bits),
            published_at: rfc3339_ms(now_ms),
            traceparent: TraceParent::child_of(incoming_traceparent, clock)?.to_string(),
            order,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serializes")
    }

    /// Reads a message off the channel. The error says why it is not an envelope.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, String> {
        if !nesting_within(bytes, MAX_JSON_DEPTH) {
            return Err(format!("nests arrays and objects more than {MAX_JSON_DEPTH} deep"));
        }
        #[derive(Deserialize)]
        struct Version {
            version: Option<u32>,
        }
        let v: Version = serde_json::from_slice(bytes).map_err(|e| format!("not a JSON object: {e}"))?;
        match v.version {
            Some(ENVELOPE_VERSION) => {}
            Some(other) => {
                return Err(format!("envelope version {other} is not supported (expected {ENVELOPE_VERSION})"))
            }
            None => return Err("no envelope version".into()),
        }
        serde_json::from_slice(bytes).map_err(|e| format!("invalid envelope: {e}"))
    }

    pub fn trace_id(&self) -> &str {
        trace_id_of(&self.traceparent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::clock::{NoRandomness, TestClock};
    use crate::testing::fixtures::order;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_version_check() {
        let e = Envelope::new(order(), &TestClock::at(1_764_288_000_123), None).unwrap();
        assert_eq!(e.published_at, "2025-11-28T00:00:00.123Z");
        assert_eq!(Envelope::from_bytes(&e.to_bytes()), Ok(e.clone()));
        let mut v: serde_json::Value = serde_json::from_slice(&e.to_bytes()).unwrap();
        v["version"] = 2.into();
        assert!(Envelope::from_bytes(&serde_json::to_vec(&v).unwrap()).unwrap_err().contains("version 2"));
        for junk in [&b"hello"[..], b"{}", b"[]", b"{\"version\":1}", b"{\"version\":1,\"order\":{}}"] {
            assert!(Envelope::from_bytes(junk).is_err());
        }
        assert!(Envelope::from_bytes(&[b'['; 1_000_000]).unwrap_err().contains("more than 32 deep"));
    }

    #[test]
    fn ids_order_by_time() {
        let clock = TestClock::at(1_000);
        let a = Envelope::new(order(), &clock, None).unwrap();
        clock.now_ms.set(1_001);
        let b = Envelope::new(order(), &clock, None).unwrap();
        assert!(b.id.newer_than(&a.id) && !a.id.newer_than(&b.id));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&b.to_bytes()).unwrap()["id"],
            b.id.as_str(),
            "plain UUID text on the wire"
        );
    }

    #[test]
    fn no_randomness_is_an_error_never_zero_ids() {
        assert!(Envelope::new(order(), &NoRandomness, None).is_err());
    }

    #[test]
    fn the_trace_continues_the_clients() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let e = Envelope::new(order(), &TestClock::at(0), Some(incoming)).unwrap();
        assert_eq!(e.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    proptest! {
        #[test]
        fn envelope_round_trips(ms in 0u64..4_000_000_000_000, q in 1u16..=1000, cents in 1u64..=1_000_000) {
            let mut o = order();
            o.details.quantity = q;
            o.details.unitprice = crate::model::money::Cents(cents);
            let e = Envelope::new(o, &TestClock::at(ms), None).unwrap();
            prop_assert_eq!(Envelope::from_bytes(&e.to_bytes()), Ok(e));
        }
    }
}
