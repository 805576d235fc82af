//! Observability: structured logs, trace context, metrics and their
//! delivery, OpenTelemetry traces, and the live progress view.

pub mod alert;
pub mod delivery;
pub mod log;
pub mod metrics;
pub mod otel;
pub mod progress;
pub mod span;
pub mod trace;
