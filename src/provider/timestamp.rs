//! Timestamps as providers send them: RFC 3339 text (any number of
//! fractional digits, any offset), or Unix seconds as an integer, a float or
//! a numeric string.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A timestamp in a native payload model, tolerant of every spelling
/// providers use: RFC 3339 text, or Unix seconds as an integer, a float or a
/// numeric string. `None` when absent, null, or present but not a time (a
/// bad timestamp does not make the whole event unreadable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timestamp(pub Option<OffsetDateTime>);

/// Only times RFC 3339 can write (years 0 to 9999) are kept, so that every
/// event serializes; anything else is treated as no timestamp. (A fuzzer
/// found a Mailgun form with a timestamp 6,000 years before the epoch.)
///
/// The year is checked in UTC, as the event serializes it: `9999-12-31T23:59:59-01:00`
/// is in year 10000 in UTC and is no timestamp. The result is in UTC.
fn representable(t: OffsetDateTime) -> Option<OffsetDateTime> {
    let utc = t.checked_to_offset(time::UtcOffset::UTC)?;
    (0..=9999).contains(&utc.year()).then_some(utc)
}

pub(crate) fn from_unix(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(representable)
}

/// Milliseconds since the epoch, exactly.
pub(crate) fn from_unix_millis(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(representable)
}

pub(crate) fn from_unix_f64(seconds: f64) -> Option<OffsetDateTime> {
    if !seconds.is_finite() {
        return None;
    }
    // Nanosecond precision is enough for any provider; the range check
    // happens in `time`.
    let nanos = (seconds * 1e9).round();
    if nanos.abs() >= 1e27 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
        .ok()
        .and_then(representable)
}

pub(crate) fn parse_text(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return representable(t);
    }
    text.parse::<f64>().ok().and_then(from_unix_f64)
}

/// As [`parse_text`], but a date and time without an offset
/// (`2026-10-06 12:34:56`, `2026-10-06T12:34:56.5`) is UTC: for providers
/// that document their times as UTC and write no offset.
pub(crate) fn parse_text_utc(text: &str) -> Option<OffsetDateTime> {
    parse_text(text).or_else(|| {
        let text = text.trim();
        let has_offset =
            text.ends_with(['Z', 'z']) || text.get(19..).is_some_and(|t| t.contains(['+', '-']));
        if has_offset || text.len() < 19 || !text.is_char_boundary(10) {
            return None;
        }
        // The date and the time may be apart by a space.
        let (date, time) = text.split_at(10);
        let time = time.strip_prefix([' ', 'T', 't'])?;
        parse_text(&format!("{date}T{time}Z"))
    })
}

/// A [`Timestamp`] field read with [`parse_text_utc`] where it is text.
/// For `deserialize_with`.
pub(crate) fn utc<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    use serde::Deserialize as _;
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Timestamp(parse_text_utc(&text)),
        other => serde_json::from_value(other).unwrap_or_default(),
    })
}

/// Serializes as RFC 3339 text in UTC, or `null`; reading it back gives
/// the same `Timestamp`.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.and_then(|t| t.format(&Rfc3339).ok()) {
            Some(text) => serializer.serialize_str(&text),
            None => serializer.serialize_none(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(from_unix(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                Ok(Timestamp(i64::try_from(v).ok().and_then(from_unix)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Ok(Timestamp(from_unix_f64(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Ok(Timestamp(parse_text(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Timestamp, E> {
                Ok(Timestamp(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Timestamp, E> {
                Ok(Timestamp(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Timestamp, D::Error> {
                d.deserialize_any(self)
            }
            // Anything else is no time, not an unreadable event.
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Timestamp, E> {
                Ok(Timestamp(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Timestamp, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Timestamp(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Timestamp, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Timestamp(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(json: &str) -> Option<i128> {
        serde_json::from_str::<Timestamp>(json)
            .ok()
            .and_then(|t| t.0)
            .map(OffsetDateTime::unix_timestamp_nanos)
    }

    #[test]
    fn accepts_every_documented_spelling() {
        assert_eq!(ts("1513299569"), Some(1_513_299_569_000_000_000));
        assert_eq!(ts("\"1513299569\""), Some(1_513_299_569_000_000_000));
        assert_eq!(ts("1529692199.5"), Some(1_529_692_199_500_000_000));
        assert_eq!(
            ts("\"2022-06-05T17:17:32Z\""),
            Some(1_654_449_452_000_000_000)
        );
        assert_eq!(
            ts("\"2014-08-01T13:28:10.2735393-04:00\""),
            Some(1_406_914_090_273_539_300)
        );
    }

    #[test]
    fn nonsense_is_none_not_an_error() {
        for bad in [
            "\"yesterday\"",
            "null",
            "1e300",
            "-1e300",
            "\"NaN\"",
            "-200000000807",
            "\"-200000000807\"",
            "253402300800",
            "\"9999-12-31T23:59:59-01:00\"",
            "\"0000-01-01T00:00:00+01:00\"",
            "{\"seconds\":1}",
            "[1513299569]",
            "true",
        ] {
            assert_eq!(ts(bad), None, "{bad}");
        }
    }
}
