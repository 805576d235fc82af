//! Health assessment of Kubernetes objects (Argo CD parity) and aggregation.
//!
//! Invariant 5 says health comes from explicit checks, never from "sync
//! finished" or "the object exists". This module provides those checks:
//!
//! - [`HealthStatus`] and [`Health`]: the vocabulary, spelt as Argo CD spells
//!   it, plus our own `Failed` for a node that failed in this run.
//! - [`assess_builtin`]: Argo CD's built-in rules (Deployment, Pod, Job,
//!   Application, Rollout, ...), keyed by API group and kind.
//! - Rhai health checks for operator-managed kinds, bundled under
//!   `stdlib/health/` and named like Argo CD's resource customisations
//!   (`<group>_<Kind>.rhai`); see [`bundled_check`] and [`check_file_name`].
//! - [`aggregate`]: the health of a stack or of the platform from its
//!   members.
//!
//! The order of assessment for one object, as in Argo CD:
//! 1. being deleted → Progressing "Pending deletion" ([`assess_deletion`]);
//! 2. a mounted Rhai check for the kind, if the operator provided one;
//! 3. the built-in rule ([`assess_builtin`]);
//! 4. a bundled Rhai check ([`bundled_check`]);
//! 5. otherwise Healthy, because the object exists and nothing more is
//!    known about its kind.
//!
//! Everything here is pure: a `&serde_json::Value` in, a [`Health`] out; no
//! I/O, no cluster access, no panics. `docs/health.md` is the reference for
//! the rules.

mod aggregate;
mod apis;
mod argo;
mod authority;
mod autoscaling;
mod batch;
mod builtin;
mod checks;
mod core_objects;
mod fields;
mod hooks;
mod rollout;
mod status;
mod workloads;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod scripts_tests;

pub use aggregate::aggregate;
pub use authority::{Recorded, managing, recorded};
pub use builtin::{assess_builtin, assess_deletion, has_builtin};
pub use checks::{BundledCheck, bundled_check, bundled_checks, check_file_name};
pub use status::{Health, HealthStatus, ParseHealthStatusError};
