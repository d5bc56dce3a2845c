//! W3C trace context: the `traceparent` an order carries from its `POST` through the
//! Redis hop to both consumers (the Redis trigger carries no trace context of its own).

use crate::model::clock::{Clock, RandomnessUnavailable};

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
    pub fn child_of(incoming: Option<&str>, clock: &impl Clock) -> Result<TraceParent, RandomnessUnavailable> {
        match incoming.and_then(TraceParent::parse) {
            Some(parent) => parent.child(clock),
            None => {
                let span_id = new_span_id(clock)?;
                Ok(TraceParent { trace_id: clock.random()?, span_id, flags: 1 })
            }
        }
    }

    /// A new span in this one's trace, with its flags. An `Err` when the clock has no
    /// randomness for the span id.
    pub fn child(&self, clock: &impl Clock) -> Result<TraceParent, RandomnessUnavailable> {
        Ok(TraceParent { span_id: new_span_id(clock)?, ..self.clone() })
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

/// Eight random bytes for a span id.
fn new_span_id(clock: &impl Clock) -> Result<[u8; 8], RandomnessUnavailable> {
    Ok(clock.random()?[..8].try_into().expect("8 bytes"))
}

/// Lower-case hex of `bytes`, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// The trace id of a `traceparent` (its 32 hex digits), or "" when it has none.
pub fn trace_id_of(traceparent: &str) -> &str {
    traceparent.get(3..35).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::clock::{NoRandomness, TestClock};
    use proptest::prelude::*;

    #[test]
    fn continues_a_valid_parent_or_starts_a_trace() {
        let clock = TestClock::at(0);
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let child = TraceParent::child_of(Some(incoming), &clock).unwrap().to_string();
        assert_eq!(trace_id_of(&child), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(!child.contains("00f067aa0ba902b7"), "a new span id");
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            let started = TraceParent::child_of(Some(bad), &clock).unwrap().to_string();
            assert!(TraceParent::parse(&started).is_some());
            assert_ne!(trace_id_of(&started), "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
        }
        assert!(TraceParent::child_of(Some(incoming), &NoRandomness).is_err(), "never zero ids");
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(t in any::<[u8; 16]>(), s in any::<[u8; 8]>(), f in any::<u8>()) {
            prop_assume!(t != [0; 16] && s != [0; 8]);
            let tp = TraceParent { trace_id: t, span_id: s, flags: f };
            prop_assert_eq!(TraceParent::parse(&tp.to_string()), Some(tp));
        }
    }
}
