//! Time stamps as the API and the logs write them.

use time::OffsetDateTime;

/// Formats Unix milliseconds as RFC 3339 UTC with milliseconds.
/// Always three digits of milliseconds, so time stamps sort as text.
pub fn rfc3339_ms(ms: u64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(FORMAT).expect("UTC date-times always format")
}

#[cfg(test)]
mod tests {
    #[test]
    fn three_digits_of_milliseconds() {
        assert_eq!(super::rfc3339_ms(1_764_288_000_123), "2025-11-28T00:00:00.123Z");
        assert_eq!(super::rfc3339_ms(5), "1970-01-01T00:00:00.005Z");
    }
}
