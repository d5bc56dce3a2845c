//! Money in integer cents. No float ever touches an amount: prices are parsed from
//! their decimal text (JSON numbers included, read with `arbitrary_precision`), and
//! tax is rounded half-up in integer arithmetic.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Highest unit price accepted: 10,000.00.
pub const MAX_UNIT_PRICE: Cents = Cents(1_000_000);

/// GST in Australia: 10 %, in basis points.
pub const GST_BASIS_POINTS: u64 = 1_000;

/// An amount in cents (AUD). Serialized as a decimal string with two places, `"13.50"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub u64);

impl Cents {
    /// Parses a non-negative decimal with at most two places: `4`, `4.5`, `4.50`.
    /// No sign, exponent, spaces or thousands separators.
    pub fn parse(text: &str) -> Result<Cents, String> {
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (text.contains('.') && !digits(frac)) {
            return Err(format!("`{text}` is not a decimal amount like 4.50"));
        }
        if frac.len() > 2 {
            return Err(format!("`{text}` has more than two decimal places"));
        }
        // Only digits remain, so the one possible failure is overflow.
        let whole: u64 = whole.parse().map_err(|_| format!("`{text}` is too large"))?;
        let frac_cents: u64 = match frac.len() {
            0 => 0,
            1 => u64::from(frac.as_bytes()[0] - b'0') * 10,
            _ => frac.parse().expect("two ascii digits"),
        };
        whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(frac_cents))
            .map(Cents)
            .ok_or_else(|| format!("`{text}` is too large"))
    }

    pub fn checked_mul(self, n: u64) -> Option<Cents> {
        self.0.checked_mul(n).map(Cents)
    }

    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// `self * basis_points / 10_000`, rounded half-up to the cent; `None` if that does
    /// not fit (a rate over 100 % of a huge amount).
    pub fn checked_percent_half_up(self, basis_points: u64) -> Option<Cents> {
        // Cannot overflow: u64::MAX * u64::MAX + 5_000 < u128::MAX.
        let scaled = u128::from(self.0) * u128::from(basis_points) + 5_000;
        u64::try_from(scaled / 10_000).ok().map(Cents)
    }
}

impl std::fmt::Display for Cents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cents::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_decimal_text() {
        assert_eq!(Cents::parse("4.5"), Ok(Cents(450)));
        assert_eq!(Cents::parse("4.50"), Ok(Cents(450)));
        assert_eq!(Cents::parse("4"), Ok(Cents(400)));
        assert_eq!(Cents::parse("0.05"), Ok(Cents(5)));
        assert_eq!(Cents::parse("000"), Ok(Cents(0)));
        for bad in ["", ".", "4.", ".5", "-1", "+1", "1e2", "4.505", "4,50", " 4", "NaN", "1_0", "99999999999999999999"]
        {
            assert!(Cents::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn gst_half_up() {
        // The worked example: 3 x 4.50.
        let subtotal = Cents(450).checked_mul(3).unwrap();
        assert_eq!(subtotal.to_string(), "13.50");
        let gst = subtotal.checked_percent_half_up(GST_BASIS_POINTS).unwrap();
        assert_eq!(gst.to_string(), "1.35");
        assert_eq!(subtotal.checked_add(gst).unwrap().to_string(), "14.85");
        // Half a cent rounds up, less rounds down.
        assert_eq!(Cents(5).checked_percent_half_up(GST_BASIS_POINTS), Some(Cents(1)));
        assert_eq!(Cents(4).checked_percent_half_up(GST_BASIS_POINTS), Some(Cents(0)));
        assert_eq!(Cents(355).checked_percent_half_up(GST_BASIS_POINTS), Some(Cents(36)));
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Cents(u64::MAX);
        assert_eq!(max.checked_mul(2), None);
        assert_eq!(max.checked_add(Cents(1)), None);
        assert_eq!(max.checked_percent_half_up(GST_BASIS_POINTS), Some(Cents(u64::MAX / 10 + 1)));
        assert_eq!(max.checked_percent_half_up(20_000), None, "200 % of the largest amount does not fit");
        assert_eq!(Cents(3).checked_percent_half_up(u64::MAX), Some(Cents(5_534_023_222_112_865)));
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(c in 0u64..10_000_000_000) {
            prop_assert_eq!(Cents::parse(&Cents(c).to_string()), Ok(Cents(c)));
        }

        /// Half-up 10 %: the tax is within half a cent of the exact value, ties up.
        #[test]
        fn gst_is_exact_to_half_a_cent(c in 0u64..10_000_000_000) {
            let gst = Cents(c).checked_percent_half_up(GST_BASIS_POINTS).unwrap().0;
            // exact tax in tenths of a cent is c; gst*10 must be in [c-5, c+5).
            prop_assert!(gst * 10 + 5 > c && gst * 10 <= c + 5);
        }
    }
}
