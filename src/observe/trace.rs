//! Trace context: `TRACE_ID`/`SPAN_ID` in, W3C `traceparent` out.
//!
//! The caller's trace becomes the parent of the run. The executor makes its
//! own span id for the run (and later one per node), logs `trace_id` and
//! `span_id` on every line, and hands `traceparent` to what it creates.

use std::fmt;

/// Trace identifiers of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// The caller's span (from `SPAN_ID`), if any.
    pub parent_span_id: Option<String>,
    /// The run's own span, 16 lowercase hex digits.
    pub span_id: String,
}

/// Why a trace variable was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TraceError {
    /// Wrong length or not lowercase hex.
    #[error("`{value}` is not a W3C {what}; expected {digits} lowercase hex digits")]
    Format {
        /// The value given.
        value: String,
        /// `trace id` or `span id`.
        what: &'static str,
        /// Expected length.
        digits: usize,
    },
    /// All zeros, which W3C reserves as invalid.
    #[error("an all-zero {0} is invalid (W3C trace context)")]
    Zero(&'static str),
    /// `SPAN_ID` without `TRACE_ID`.
    #[error("SPAN_ID is set but TRACE_ID is not; a parent span needs its trace")]
    SpanWithoutTrace,
}

fn check(value: &str, what: &'static str, digits: usize) -> Result<String, TraceError> {
    let ok = value.len() == digits && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(TraceError::Format {
            value: value.to_owned(),
            what,
            digits,
        });
    }
    if value.bytes().all(|b| b == b'0') {
        return Err(TraceError::Zero(what));
    }
    Ok(value.to_owned())
}

/// Random lowercase hex of `bytes` bytes, never all zeros.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    loop {
        if getrandom::fill(&mut buf).is_err() {
            // No entropy source: fall back to the clock and pid, still unique per run.
            let seed = jiff::Timestamp::now().as_nanosecond() as u128 ^ u128::from(std::process::id());
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8);
            }
        }
        if buf.iter().any(|b| *b != 0) {
            return buf.iter().map(|b| format!("{b:02x}")).collect();
        }
    }
}

impl TraceContext {
    /// Builds the run's trace context from `TRACE_ID` and `SPAN_ID`; a new
    /// trace is started when neither is given.
    ///
    /// # Errors
    /// Malformed values, or `SPAN_ID` without `TRACE_ID`.
    pub fn from_inputs(trace_id: Option<&str>, span_id: Option<&str>) -> Result<Self, TraceError> {
        let trace_id = trace_id.map(str::trim).filter(|s| !s.is_empty());
        let span_id = span_id.map(str::trim).filter(|s| !s.is_empty());
        let parent_span_id = span_id.map(|s| check(s, "span id", 16)).transpose()?;
        let trace_id = match trace_id {
            Some(t) => check(t, "trace id", 32)?,
            None if parent_span_id.is_some() => return Err(TraceError::SpanWithoutTrace),
            None => random_hex(16),
        };
        Ok(TraceContext {
            trace_id,
            parent_span_id,
            span_id: random_hex(8),
        })
    }

    /// A new trace, with no parent.
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: random_hex(16),
            parent_span_id: None,
            span_id: random_hex(8),
        }
    }

    /// A child span of this run (for a node).
    pub fn child(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id.clone(),
            parent_span_id: Some(self.span_id.clone()),
            span_id: random_hex(8),
        }
    }

    /// The W3C `traceparent` value for this span (sampled).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_w3c_ids_and_makes_a_child_span() {
        let ctx =
            TraceContext::from_inputs(Some("4bf92f3577b34da6a3ce929d0e0e4736"), Some("00f067aa0ba902b7")).unwrap();
        assert_eq!(ctx.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(ctx.span_id.len(), 16);
        assert_ne!(ctx.span_id, "00f067aa0ba902b7");
        assert!(ctx.traceparent().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    }

    #[test]
    fn refuses_malformed_ids() {
        assert!(matches!(
            TraceContext::from_inputs(Some("abc"), None),
            Err(TraceError::Format { .. })
        ));
        assert!(matches!(
            TraceContext::from_inputs(Some("4BF92F3577B34DA6A3CE929D0E0E4736"), None),
            Err(TraceError::Format { .. })
        ));
        assert!(matches!(
            TraceContext::from_inputs(Some(&"0".repeat(32)), None),
            Err(TraceError::Zero(_))
        ));
        assert!(matches!(
            TraceContext::from_inputs(None, Some("00f067aa0ba902b7")),
            Err(TraceError::SpanWithoutTrace)
        ));
    }

    #[test]
    fn starts_a_trace_when_none_is_given() {
        let ctx = TraceContext::from_inputs(None, None).unwrap();
        assert_eq!(ctx.trace_id.len(), 32);
        assert!(ctx.parent_span_id.is_none());
    }
}
