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
}
