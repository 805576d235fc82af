//! Offline script tests: a fake cluster, assertions, and the
//! `executor test` runner.

pub mod asserts;
pub mod fake;
pub mod runner;
