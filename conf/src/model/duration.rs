//! Durations in the model: microsecond resolution (keepalived's `TIMER_HZ`),
//! written as seconds.
//!
//! Serialized as a float number of seconds (`1.0`, `0.01`). Deserialized
//! from an integer or float number of seconds, or from a string with a unit:
//! `"10ms"`, `"1.5s"`, `"2m"`, `"500us"`. Values are rounded to whole
//! microseconds, so writing and reading back gives the same `Duration`.

use std::time::Duration;

use serde::{de, Deserializer, Serializer};

/// Seconds as written in keepalived.conf (`0.01`, `3`, `1.5`) to a
/// `Duration` with microsecond resolution. `None` for anything that is not
/// a non-negative decimal number with at most 6 fractional digits, or that
/// overflows.
pub fn parse_seconds(text: &str) -> Option<Duration> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 {
        return None;
    }
    let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut micros: u64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        micros += u64::from(b - b'0') * 10u64.pow(5 - i as u32);
    }
    secs.checked_mul(1_000_000)?
        .checked_add(micros)
        .map(Duration::from_micros)
}

/// A duration with an optional unit (`us`, `ms`, `s`, `m`, `h`); no unit
/// means seconds.
pub fn parse_with_unit(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let base = parse_seconds(num)?;
    let factor: u32 = match unit.trim() {
        "" | "s" => return Some(base),
        "us" | "µs" => return Some(base / 1_000_000),
        "ms" => return Some(base / 1000),
        "m" | "min" => 60,
        "h" => 3600,
        _ => return None,
    };
    base.checked_mul(factor)
}

/// Seconds as a float, rounded to microseconds.
pub fn from_secs_f64(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || !(0.0..=1e12).contains(&secs) {
        return None;
    }
    Some(Duration::from_micros((secs * 1e6).round() as u64))
}

/// Whole microseconds of `d` as seconds, for display and serialization.
pub fn to_secs_f64(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(to_secs_f64(*d))
}

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration: seconds as a number, or a string like \"250ms\" or \"2s\"")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("a duration cannot be negative, found {v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        from_secs_f64(v).ok_or_else(|| E::custom(format!("invalid duration {v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_with_unit(v).ok_or_else(|| {
            E::custom(format!(
                "invalid duration `{v}`: expected a number with an optional unit (us, ms, s, m, h)"
            ))
        })
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(Visitor)
}

/// The same for `Option<Duration>`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(to_secs_f64(*d)),
            None => s.serialize_none(),
        }
    }

    struct OptVisitor;

    impl<'de> de::Visitor<'de> for OptVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an optional duration")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            super::deserialize(d).map(Some)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(OptVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_seconds("0.01"), Some(Duration::from_millis(10)));
        assert_eq!(
            parse_seconds("3.312"),
            Some(Duration::from_micros(3_312_000))
        );
        assert_eq!(parse_seconds(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("1e3"), None);
        assert_eq!(parse_seconds("0.0000001"), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("."), None);
    }

    #[test]
    fn units() {
        assert_eq!(parse_with_unit("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_with_unit("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_with_unit("1.5 s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_with_unit("5 parsecs"), None);
    }

    #[test]
    fn float_round_trip() {
        for us in [0u64, 1, 10_000, 999_999, 1_000_000, 40_950_000, 123_456_789] {
            let d = Duration::from_micros(us);
            assert_eq!(from_secs_f64(to_secs_f64(d)), Some(d));
        }
    }
}
