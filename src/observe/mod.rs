//! Observability: structured logs, trace context, metrics and their
//! delivery, and the live progress view.

pub mod alert;
pub mod delivery;
pub mod log;
pub mod metrics;
pub mod progress;
pub mod trace;
