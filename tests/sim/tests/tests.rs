//! The kube-sim conformance suite: real clients (kubectl, kube-rs) against
//! simulators started from the real binary or in-process, one per test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

mod util;

mod argocd;
mod audit_and_faults;
mod events;
mod health;
mod kube_rs;
mod kubectl;
mod kubectl_table;
mod podrunner;
mod schemas;
mod workflows;
mod workloads;
