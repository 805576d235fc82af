//! Observability: structured logs and trace context (metrics come later).

pub mod log;
pub mod trace;
