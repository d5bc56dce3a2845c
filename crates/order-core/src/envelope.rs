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
use time::OffsetDateTime;

use crate::order::{Order, MAX_JSON_DEPTH};
use crate::ports::{Clock, PortError};

pub const ENVELOPE_VERSION: u32 = 1;

/// A message's id, and the one place "newer" is decided.
///
/// Ids are UUIDv7: they sort by the millisecond order-api accepted the order, and the
/// greater id is newer (ties within a millisecond fall to the random bits). On the wire
/// and in stores an id is its hyphenated lower-case text, and `Ord` compares that text,
/// which for such ids is the same order as their bytes.
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
    pub fn new(order: Order, clock: &impl Clock, incoming_traceparent: Option<&str>) -> Result<Envelope, PortError> {
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
        if !crate::order::nesting_within(bytes, MAX_JSON_DEPTH) {
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

    /// Whether this message should replace what was stored from message `stored_id`.
    /// Equal ids (a redelivery) also return true: rewriting the same value is harmless.
    pub fn supersedes(&self, stored_id: &MessageId) -> bool {
        self.id >= *stored_id
    }

    pub fn trace_id(&self) -> &str {
        self.traceparent.get(3..35).unwrap_or("")
    }

    /// The ids a log line carries for this message.
    pub fn meta(&self) -> MessageMeta {
        MessageMeta {
            message_id: self.id.to_string(),
            trace_id: self.trace_id().to_owned(),
            accountid: self.order.accountid.to_string(),
            vendorid: self.order.vendorid.to_string(),
        }
    }
}

/// The ids a log line carries for a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageMeta {
    pub message_id: String,
    pub trace_id: String,
    pub accountid: String,
    pub vendorid: String,
}

/// Formats Unix milliseconds as RFC 3339 UTC with milliseconds.
/// Always three digits of milliseconds, so time stamps sort as text.
pub fn rfc3339_ms(ms: u64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(FORMAT).expect("UTC date-times always format")
}

/// A W3C trace context `traceparent` (version 00).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids are invalid, as the spec says.
    pub fn parse(s: &str) -> Option<TraceParent> {
        let mut parts = s.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() {
            return None;
        }
        let tp =
            TraceParent { trace_id: hex_array(trace)?, span_id: hex_array(span)?, flags: hex_array::<1>(flags)?[0] };
        (tp.trace_id != [0; 16] && tp.span_id != [0; 8]).then_some(tp)
    }

    /// A new span in the incoming trace, or a new sampled trace when there is none. An
    /// `Err` when the clock has no randomness for the ids.
    pub fn child_of(incoming: Option<&str>, clock: &impl Clock) -> Result<TraceParent, PortError> {
        let mut span = [0u8; 8];
        span.copy_from_slice(&clock.random()?[..8]);
        Ok(match incoming.and_then(TraceParent::parse) {
            Some(parent) => TraceParent { span_id: span, ..parent },
            None => TraceParent { trace_id: clock.random()?, span_id: span, flags: 1 },
        })
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("00-")?;
        self.trace_id.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        f.write_str("-")?;
        self.span_id.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "-{:02x}", self.flags)
    }
}

/// Lower-case hex of exactly `2 * N` digits, as the trace context spec requires.
fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::order::tests::notebook_body;
    use proptest::prelude::*;
    use std::cell::Cell;

    /// A deterministic clock: fixed time, counting "random" bytes.
    pub struct TestClock {
        pub now_ms: Cell<u64>,
        pub seed: Cell<u8>,
    }

    impl TestClock {
        pub fn at(now_ms: u64) -> TestClock {
            TestClock { now_ms: Cell::new(now_ms), seed: Cell::new(1) }
        }
    }

    impl Clock for TestClock {
        fn now_ms(&self) -> u64 {
            self.now_ms.get()
        }
        fn sleep_ms(&self, ms: u64) {
            self.now_ms.set(self.now_ms.get() + ms);
        }
        fn random(&self) -> Result<[u8; 16], PortError> {
            let s = self.seed.get();
            self.seed.set(s.wrapping_add(1));
            Ok([s; 16])
        }
    }

    /// A clock whose platform has no randomness to give.
    pub struct NoRandomness;

    impl Clock for NoRandomness {
        fn now_ms(&self) -> u64 {
            1_000
        }
        fn random(&self) -> Result<[u8; 16], PortError> {
            Err(PortError("the platform's random source failed: unsupported".into()))
        }
    }

    pub fn order() -> Order {
        Order::from_body(&serde_json::to_vec(&notebook_body()).unwrap()).unwrap()
    }

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
        assert!(b.supersedes(&a.id) && !a.supersedes(&b.id) && a.supersedes(&a.id));
    }

    #[test]
    fn an_id_is_plain_uuid_text_on_the_wire() {
        let e = Envelope::new(order(), &TestClock::at(1_764_288_000_123), None).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&e.to_bytes()).unwrap();
        assert_eq!(v["id"], "019ac7c2-707b-7101-8101-010101010101");
        assert_eq!(v["id"], e.id.to_string().as_str());
        assert_eq!(serde_json::from_value::<MessageId>(v["id"].clone()).unwrap(), e.id);
    }

    #[test]
    fn no_randomness_is_an_error_never_zero_ids() {
        assert!(Envelope::new(order(), &NoRandomness, None).is_err());
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(TraceParent::child_of(Some(incoming), &NoRandomness).is_err());
    }

    #[test]
    fn traceparent_continues_or_starts() {
        let clock = TestClock::at(0);
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let e = Envelope::new(order(), &clock, Some(incoming)).unwrap();
        assert_eq!(e.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(!e.traceparent.contains("00f067aa0ba902b7"), "a new span id");
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let e = Envelope::new(order(), &clock, Some(bad)).unwrap();
            assert!(TraceParent::parse(&e.traceparent).is_some());
            assert_ne!(e.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn traceparent_display_parse_round_trip(t in any::<[u8; 16]>(), s in any::<[u8; 8]>(), f in any::<u8>()) {
            prop_assume!(t != [0; 16] && s != [0; 8]);
            let tp = TraceParent { trace_id: t, span_id: s, flags: f };
            prop_assert_eq!(TraceParent::parse(&tp.to_string()), Some(tp));
        }

        #[test]
        fn envelope_round_trips(ms in 0u64..4_000_000_000_000, q in 1u16..=1000, cents in 1u64..=1_000_000) {
            let mut o = order();
            o.details.quantity = q;
            o.details.unitprice = crate::money::Cents(cents);
            let e = Envelope::new(o, &TestClock::at(ms), None).unwrap();
            prop_assert_eq!(Envelope::from_bytes(&e.to_bytes()), Ok(e));
        }
    }
}
