//! Time helpers: Kubernetes timestamps and the human durations of `sim.yaml`.
//!
//! Kubernetes writes `metav1.Time` with second precision (`2006-01-02T15:04:05Z`)
//! and audit events with microseconds; `sim.yaml` writes delays as `300ms`,
//! `2s`, `1m`. Keeping both here means no other module formats time by hand.

use std::time::Duration;

/// The current time as a Kubernetes `metav1.Time` string (second precision).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The current time with microseconds, as audit events carry it.
pub fn now_micro() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Seconds since a Kubernetes timestamp, or `None` when it does not parse.
pub fn age_seconds(timestamp: &str) -> Option<i64> {
    let then: jiff::Timestamp = timestamp.parse().ok()?;
    Some(jiff::Timestamp::now().as_second() - then.as_second())
}

/// A short age as kubectl prints it (`5s`, `3m`, `2h`, `4d`).
pub fn short_age(timestamp: &str) -> String {
    match age_seconds(timestamp) {
        None => "<unknown>".to_string(),
        Some(s) if s < 120 => format!("{}s", s.max(0)),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86_400),
    }
}

/// Parses a duration written as `250ms`, `2s`, `1.5s`, `3m` or `1h`.
///
/// # Errors
/// Returns the offending text when it has no known unit or no number.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, factor_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        return Err(format!("duration {text:?} needs a unit (ms, s, m, h)"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("duration {text:?} has no number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("duration {text:?} must be a non-negative number"));
    }
    Ok(Duration::from_micros((value * factor_ms * 1000.0) as u64))
}

/// `seconds` since the epoch as `metav1.Time` text (`nanos: None`) or as
/// `metav1.MicroTime` text (with microseconds from `nanos`).
pub fn format_rfc3339(seconds: i64, nanos: Option<i32>) -> String {
    let Ok(ts) = jiff::Timestamp::new(seconds, nanos.unwrap_or(0).clamp(0, 999_999_999)) else {
        return String::new();
    };
    match nanos {
        None => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(_) => ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    }
}

/// Seconds and nanoseconds of an RFC 3339 timestamp.
pub fn parse_rfc3339(text: &str) -> Option<(i64, i32)> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    Some((ts.as_second(), ts.subsec_nanosecond()))
}

/// Nanoseconds as Go prints a `time.Duration` (`1h2m3s`, `1.5s`, `300ms`).
pub fn format_go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        return match n {
            n if n < 1_000 => format!("{sign}{n}ns"),
            n if n < 1_000_000 => format!("{sign}{}µs", trim_fraction(n, 1_000)),
            n => format!("{sign}{}ms", trim_fraction(n, 1_000_000)),
        };
    }
    let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let seconds = trim_fraction(rest, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

fn trim_fraction(value: u64, unit: u64) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = unit.ilog10() as usize;
    let text = format!("{whole}.{fraction:0digits$}");
    text.trim_end_matches('0').to_string()
}

/// Nanoseconds of a Go duration string (`1h2m3.5s`, `300ms`).
pub fn parse_go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    let total = total as i64;
    Some(if negative { -total } else { total })
}

/// Serde adapter for optional durations written as text (`300ms`).
pub mod serde_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Reads an optional duration from text.
    ///
    /// # Errors
    /// Fails when the text is not a duration [`super::parse_duration`] accepts.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(None),
            Some(t) => super::parse_duration(&t).map(Some).map_err(serde::de::Error::custom),
        }
    }

    /// Writes an optional duration as milliseconds text.
    ///
    /// # Errors
    /// Only the serializer's own errors.
    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            None => s.serialize_none(),
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn go_durations_round_trip() {
        for (ns, text) in [
            (0, "0s"),
            (300_000_000, "300ms"),
            (1_500_000_000, "1.5s"),
            (3_723_000_000_000, "1h2m3s"),
        ] {
            assert_eq!(format_go_duration(ns), text);
            assert_eq!(parse_go_duration(text), Some(ns));
        }
    }

    #[test]
    fn timestamps_round_trip() {
        assert_eq!(format_rfc3339(1_700_000_000, None), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_rfc3339(1_700_000_000, Some(5_000)),
            "2023-11-14T22:13:20.000005Z"
        );
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some((1_700_000_000, 0)));
    }
}
