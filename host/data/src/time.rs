//! Times as files write them, to UTC nanoseconds.
//!
//! `auto` accepts RFC 3339 / ISO 8601 times with an offset (`Z`, `+00:00`,
//! `+0000`; `T` or a space between date and time), the same without an
//! offset, with or without seconds and fractions, dates alone, and epoch
//! integers of at least 10 digits, whose unit follows from their size
//! (seconds from 2001-09-09, milliseconds, microseconds or nanoseconds from
//! 1973-03-03 on). Every epoch time of a file must have the unit of its
//! first. Times without an offset are in `timezone`, else UTC.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone as _};
use rust_decimal::Decimal;

use cracktrader_model::Timestamp;

use crate::number;
use crate::options::{EpochUnit, TimeFormat, TimeZone};

/// Layouts of times with an offset that RFC 3339 parsing does not take
/// (`+0000` without a colon).
const OFFSET_LAYOUTS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z"];

/// Layouts of times without an offset.
const NAIVE_LAYOUTS: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
];

/// The smallest epoch integer `auto` reads: below it, 8-digit dates such as
/// 20170419 would pass for epoch seconds.
const AUTO_EPOCH_MIN: i64 = 1_000_000_000;

/// What the hint after an unreadable time says.
const PATTERN_HINT: &str =
    "set time_format to a strftime pattern such as \"%d/%m/%Y %H:%M\" for times written this way";

/// Reads the times of one file under one `time_format`.
#[derive(Debug, Clone)]
pub(crate) struct TimeParser {
    format: TimeFormat,
    zone: Option<TimeZone>,
    /// `auto`: the unit of the file's first epoch time.
    unit: Option<EpochUnit>,
    /// `auto`: the layout that read the previous time, tried first (a file
    /// writes every time the same way).
    last: usize,
}

impl TimeParser {
    pub(crate) fn new(format: TimeFormat, zone: Option<TimeZone>) -> Self {
        Self {
            format,
            zone,
            unit: None,
            last: 0,
        }
    }

    /// The time `text` spells.
    pub(crate) fn text(&mut self, text: &str) -> Result<Timestamp, String> {
        let text = text.trim();
        match &self.format {
            TimeFormat::Epoch(unit) => {
                let value = number::from_text(text).ok_or_else(|| {
                    format!(
                        "invalid timestamp '{text}': not a number of {} since the epoch",
                        unit_words(*unit)
                    )
                })?;
                epoch_decimal(value, *unit)
            }
            TimeFormat::Pattern(pattern) => {
                let pattern = pattern.clone();
                self.pattern(text, &pattern)
            }
            TimeFormat::Auto => {
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                    let value: i64 = text
                        .parse()
                        .map_err(|_| format!("invalid timestamp '{text}': too large"))?;
                    return self.integer(value);
                }
                self.auto(text)
                    .ok_or_else(|| format!("invalid timestamp '{text}'; {PATTERN_HINT}"))?
            }
        }
    }

    /// The time an integer column holds: epoch in `time_format`'s unit, or
    /// (`auto`) the unit its size implies.
    pub(crate) fn integer(&mut self, value: i64) -> Result<Timestamp, String> {
        let unit = match &self.format {
            TimeFormat::Epoch(unit) => *unit,
            TimeFormat::Pattern(pattern) => {
                // An integer such as 20170419 under `%Y%m%d`.
                let pattern = pattern.clone();
                return self.pattern(&value.to_string(), &pattern);
            }
            TimeFormat::Auto => {
                let unit = auto_unit(value).ok_or_else(|| {
                    format!("timestamp {value} is too small to tell its unit; set time_format = \"epoch_s\" (or epoch_ms, epoch_us, epoch_ns), or a strftime pattern such as \"%Y%m%d\"")
                })?;
                match self.unit {
                    None => self.unit = Some(unit),
                    Some(first) if first != unit => {
                        return Err(format!(
                            "timestamp {value} looks like {} but the file's first time was in {}; set time_format = \"{}\" (or the unit the file uses)",
                            unit_words(unit),
                            unit_words(first),
                            first.name()
                        ))
                    }
                    Some(_) => {}
                }
                unit
            }
        };
        value
            .checked_mul(unit.nanos())
            .ok_or_else(|| out_of_range(&value.to_string()))
    }

    /// Whether times without an offset are in a time zone other than UTC.
    pub(crate) fn zoned(&self) -> bool {
        self.zone.is_some()
    }

    /// A time without an offset (an Arrow timestamp without a time zone, a
    /// date), in `timezone` or UTC.
    pub(crate) fn naive(&self, naive: NaiveDateTime) -> Result<Timestamp, String> {
        let utc = match self.zone {
            None => naive.and_utc(),
            Some(TimeZone(zone)) => match zone.from_local_datetime(&naive) {
                LocalResult::Single(time) => time.to_utc(),
                LocalResult::Ambiguous(..) => {
                    return Err(format!(
                        "{naive} is ambiguous in {zone} (clocks went back); use times with an offset, or in UTC"
                    ))
                }
                LocalResult::None => {
                    return Err(format!(
                        "{naive} does not exist in {zone} (clocks went forward)"
                    ))
                }
            },
        };
        utc.timestamp_nanos_opt()
            .ok_or_else(|| out_of_range(&naive.to_string()))
    }

    fn auto(&mut self, text: &str) -> Option<Result<Timestamp, String>> {
        // Layout 0 is RFC 3339, then the others in order.
        const LAYOUTS: usize = 1 + OFFSET_LAYOUTS.len() + NAIVE_LAYOUTS.len() + 1;
        for i in (0..LAYOUTS).map(|k| (k + self.last) % LAYOUTS) {
            let parsed = match i {
                0 => DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| aware(t, text)),
                i if i <= OFFSET_LAYOUTS.len() => {
                    DateTime::parse_from_str(text, OFFSET_LAYOUTS[i - 1])
                        .ok()
                        .map(|t| aware(t, text))
                }
                i if i <= OFFSET_LAYOUTS.len() + NAIVE_LAYOUTS.len() => {
                    NaiveDateTime::parse_from_str(text, NAIVE_LAYOUTS[i - 1 - OFFSET_LAYOUTS.len()])
                        .ok()
                        .map(|naive| self.naive(naive))
                }
                _ => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .map(|date| self.naive(date.and_time(Default::default()))),
            };
            if let Some(parsed) = parsed {
                self.last = i;
                return Some(parsed);
            }
        }
        None
    }

    fn pattern(&self, text: &str, pattern: &str) -> Result<Timestamp, String> {
        let mismatch = |e: chrono::ParseError| {
            format!("invalid timestamp '{text}': it does not match time_format \"{pattern}\" ({e})")
        };
        if pattern.contains("%z") || pattern.contains("%:z") || pattern.contains("%#z") {
            return DateTime::parse_from_str(text, pattern)
                .map_err(mismatch)
                .and_then(|t| aware(t, text));
        }
        let naive = match NaiveDateTime::parse_from_str(text, pattern) {
            Ok(naive) => naive,
            // A pattern of a date alone (`%d/%m/%Y`): midnight.
            Err(e) if e.kind() == chrono::format::ParseErrorKind::NotEnough => {
                NaiveDate::parse_from_str(text, pattern)
                    .map_err(|_| mismatch(e))?
                    .and_time(Default::default())
            }
            Err(e) => return Err(mismatch(e)),
        };
        self.naive(naive)
    }
}

/// An offset time in UTC nanoseconds.
fn aware(time: DateTime<chrono::FixedOffset>, text: &str) -> Result<Timestamp, String> {
    time.timestamp_nanos_opt().ok_or_else(|| out_of_range(text))
}

fn out_of_range(text: &str) -> String {
    format!("timestamp '{text}' is outside the years 1677 to 2262 that nanosecond times hold")
}

/// The unit an epoch integer's size implies, for `auto`; see the module docs.
fn auto_unit(value: i64) -> Option<EpochUnit> {
    match value {
        v if v < AUTO_EPOCH_MIN => None,
        v if v < 100_000_000_000 => Some(EpochUnit::Seconds),
        v if v < 100_000_000_000_000 => Some(EpochUnit::Millis),
        v if v < 100_000_000_000_000_000 => Some(EpochUnit::Micros),
        _ => Some(EpochUnit::Nanos),
    }
}

fn unit_words(unit: EpochUnit) -> &'static str {
    match unit {
        EpochUnit::Seconds => "epoch seconds",
        EpochUnit::Millis => "epoch milliseconds",
        EpochUnit::Micros => "epoch microseconds",
        EpochUnit::Nanos => "epoch nanoseconds",
    }
}

/// `value` units after the epoch, exactly: a fraction finer than a
/// nanosecond is refused.
fn epoch_decimal(value: Decimal, unit: EpochUnit) -> Result<Timestamp, String> {
    let nanos = value
        .checked_mul(Decimal::from(unit.nanos()))
        .ok_or_else(|| out_of_range(&value.to_string()))?;
    if !nanos.fract().is_zero() {
        return Err(format!(
            "timestamp {value} is finer than a nanosecond in {}",
            unit_words(unit)
        ));
    }
    i64::try_from(nanos).map_err(|_| out_of_range(&value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: Timestamp = 1_092_873_600_000_000_000; // 2004-08-19T00:00:00Z

    fn auto(text: &str) -> Result<Timestamp, String> {
        TimeParser::new(TimeFormat::Auto, None).text(text)
    }

    fn zoned(text: &str, zone: &str) -> Result<Timestamp, String> {
        TimeParser::new(TimeFormat::Auto, Some(zone.parse().unwrap())).text(text)
    }

    #[test]
    fn auto_reads_the_usual_forms() {
        let hour = 3_600_000_000_000;
        for (text, want) in [
            ("2004-08-19", T0),
            ("2004-08-19 00:00:00", T0),
            ("2004-08-19T00:00:00", T0),
            ("2004-08-19T00:00:00Z", T0),
            ("2004-08-19 00:00:00+00:00", T0),
            ("2004-08-19 00:00:00+0000", T0),
            ("2004-08-19T02:00:00+02:00", T0),
            ("2004-08-19 01:00", T0 + hour),
            ("2004-08-19 00:00:00.5", T0 + 500_000_000),
            ("1092873600", T0),
            ("1092873600000", T0),
            ("1092873600000000", T0),
            ("1092873600000000000", T0),
        ] {
            assert_eq!(auto(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn naive_times_take_the_time_zone_and_offsets_win() {
        let ny = 4 * 3_600_000_000_000; // EDT, UTC-4, in August
        assert_eq!(zoned("2004-08-19", "America/New_York"), Ok(T0 + ny));
        assert_eq!(zoned("2004-08-19T00:00:00Z", "America/New_York"), Ok(T0));
        let err = zoned("2021-11-07 01:30:00", "America/New_York").unwrap_err();
        assert!(err.contains("ambiguous in America/New_York"), "{err}");
        let err = zoned("2021-03-14 02:30:00", "America/New_York").unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn unreadable_times_name_the_option() {
        let err = auto("19/08/2004").unwrap_err();
        assert!(
            err.starts_with("invalid timestamp '19/08/2004'; set time_format"),
            "{err}"
        );
        let err = auto("20040819").unwrap_err();
        assert!(err.contains("time_format = \"epoch_s\""), "{err}");
        let mut parser = TimeParser::new(TimeFormat::Auto, None);
        parser.text("1092873600").unwrap();
        let err = parser.text("1092873600000").unwrap_err();
        assert!(err.contains("first time was in epoch seconds"), "{err}");
        assert!(auto("9999-01-01")
            .unwrap_err()
            .contains("outside the years"));
    }

    #[test]
    fn given_formats() {
        let parse =
            |format: &str, text: &str| TimeParser::new(format.parse().unwrap(), None).text(text);
        assert_eq!(parse("%d/%m/%Y %H:%M", "19/08/2004 00:00"), Ok(T0));
        assert_eq!(parse("%d/%m/%Y", "19/08/2004"), Ok(T0));
        assert_eq!(parse("%Y%m%d", "20040819"), Ok(T0));
        assert_eq!(
            parse("%Y-%m-%d %H:%M:%S %z", "2004-08-19 02:00:00 +0200"),
            Ok(T0)
        );
        assert_eq!(parse("epoch_s", "1092873600.25"), Ok(T0 + 250_000_000));
        assert_eq!(parse("epoch_ms", "5"), Ok(5_000_000));
        assert!(parse("epoch_ns", "1.5")
            .unwrap_err()
            .contains("finer than a nanosecond"));
        assert!(parse("%d/%m/%Y", "2004-08-19")
            .unwrap_err()
            .contains("does not match time_format"));
        let mut int = TimeParser::new("%Y%m%d".parse().unwrap(), None);
        assert_eq!(int.integer(20040819), Ok(T0));
    }

    proptest! {
        /// Every time in range reads back from its RFC 3339 text, its
        /// naive text and its epoch integer in every unit auto detects.
        #[test]
        fn times_round_trip(nanos in 1_000_000_000_000_000_000i64..9_000_000_000_000_000_000) {
            let time = DateTime::from_timestamp_nanos(nanos);
            prop_assert_eq!(auto(&time.to_rfc3339()), Ok(nanos));
            prop_assert_eq!(auto(&time.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string()), Ok(nanos));
            prop_assert_eq!(auto(&nanos.to_string()), Ok(nanos));
            let micros = nanos / 1000;
            prop_assert_eq!(auto(&micros.to_string()), Ok(micros * 1000));
            let millis = nanos / 1_000_000;
            prop_assert_eq!(auto(&millis.to_string()), Ok(millis * 1_000_000));
            let secs = nanos / 1_000_000_000;
            prop_assert_eq!(auto(&secs.to_string()), Ok(secs * 1_000_000_000));
        }
    }
}
