//! Time: nanoseconds since the Unix epoch, UTC.

/// Nanoseconds since the Unix epoch, UTC: the session's only notion of time.
pub type Timestamp = i64;

/// Milliseconds since the Unix epoch as a [`Timestamp`], saturating (no
/// millisecond count a venue or a session file gives comes near the limit).
pub fn from_millis(ms: i64) -> Timestamp {
    ms.saturating_mul(1_000_000)
}

/// Formats a timestamp as RFC 3339 in UTC, e.g. `2017-04-19T09:00:00Z`.
pub fn format_time(time: Timestamp) -> String {
    chrono::DateTime::from_timestamp_nanos(time)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(
            format_time(1_492_592_400_000_000_000),
            "2017-04-19T09:00:00Z"
        );
    }
}
