//! Durations as operators write them (`90s`, `10m`, `1h30m`) and as we print them.
//!
//! Parsing uses jiff's "friendly" format, so `30 minutes` and ISO 8601
//! (`PT5M`) work too. A duration in our inputs is always positive: a zero or
//! negative timeout is a mistake, not a way to disable waiting.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A positive duration read from an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Duration);

/// Why a duration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    /// The text is not a duration at all.
    #[error("`{0}` is not a duration; expected a number and a unit, such as 90s, 10m or 1h30m")]
    Syntax(String),
    /// Zero or negative.
    #[error("`{0}` must be greater than zero")]
    NotPositive(String),
    /// Longer than [`MAX_DURATION`].
    #[error("`{0}` is longer than 168h (7 days), the longest duration accepted")]
    TooLong(String),
}

/// The longest duration any input may give (a timeout, a backoff): a week.
/// Longer ones are mistakes (and would overflow the clock's arithmetic).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

impl FromStr for Span {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let parsed: jiff::SignedDuration = trimmed.parse().map_err(|_| DurationError::Syntax(text.to_owned()))?;
        if parsed.is_negative() || parsed.is_zero() {
            return Err(DurationError::NotPositive(text.to_owned()));
        }
        match Duration::try_from(parsed) {
            Ok(duration) if duration <= MAX_DURATION => Ok(Span(duration)),
            _ => Err(DurationError::TooLong(text.to_owned())),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// Prints a duration compactly and deterministically: `1h30m`, `45s`, `250ms`.
pub fn format_duration(duration: Duration) -> String {
    let total_ms = duration.as_millis();
    if total_ms == 0 {
        return "0s".to_owned();
    }
    if total_ms < 1000 {
        return format!("{total_ms}ms");
    }
    let mut secs = duration.as_secs();
    let millis = duration.subsec_millis();
    let mut out = String::new();
    let hours = secs / 3600;
    secs %= 3600;
    let minutes = secs / 60;
    secs %= 60;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || millis > 0 {
        if millis > 0 {
            out.push_str(&format!("{secs}.{millis:03}s"));
        } else {
            out.push_str(&format!("{secs}s"));
        }
    }
    out
}

/// Serialises durations the way operators write them.
pub mod serde_duration {
    use std::time::Duration;

    /// Writes `1h30m`-style text.
    pub fn serialize<S: serde::Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::input::duration::format_duration(*value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str) -> Result<Duration, DurationError> {
        text.parse::<Span>().map(|s| s.0)
    }

    #[test]
    fn parses_the_forms_operators_write() {
        assert_eq!(span("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(span("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(span("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(span("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(span("500ms"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn refuses_nonsense_and_non_positive() {
        assert!(matches!(span("3x"), Err(DurationError::Syntax(_))));
        assert!(matches!(span("5"), Err(DurationError::Syntax(_))));
        assert!(matches!(span("0s"), Err(DurationError::NotPositive(_))));
        assert!(matches!(span("-5s"), Err(DurationError::NotPositive(_))));
    }

    #[test]
    fn refuses_more_than_a_week_without_overflowing() {
        assert_eq!(span("168h"), Ok(MAX_DURATION));
        for text in ["169h", "2562047h", "9223372036854775807s", "P400Y"] {
            assert!(
                matches!(span(text), Err(DurationError::TooLong(_) | DurationError::Syntax(_))),
                "{text}: {:?}",
                span(text)
            );
        }
        assert!(matches!(span("2562047h"), Err(DurationError::TooLong(_))));
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500s");
    }
}
