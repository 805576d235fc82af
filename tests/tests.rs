//! End-to-end tests of the real `executor` binary.
//!
//! One test binary (as ripgrep does) so the build is shared; each module is
//! one area of behaviour and uses the helpers in `harness`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // tests: a panic is a failure

mod alerts;
mod deploy;
mod events;
mod harness;
mod health;
mod image;
mod inputs;
mod observe;
mod orchestration;
mod otlp;
mod plan;
mod report_html;
mod scripts;
mod teardown;
mod token;
mod validate;
