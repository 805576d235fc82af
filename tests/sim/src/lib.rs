//! kube-sim: a simulated Kubernetes API server that kubectl and kube-rs accept.
//!
//! No real API server can run on the machines this project is tested on, yet
//! the executor's promises (idempotency, read-only validate, teardown order,
//! exit codes under faults) must be proven over real HTTP. This crate speaks
//! enough of the Kubernetes REST API for real clients, keeps objects in
//! memory, and runs simulated controllers (workload readiness, storage,
//! operator-managed custom resources, the Argo CD application controller).
//!
//! Start one in-process with [`Sim::start`] (async) or [`SimThread::start`]
//! (blocking), or run the `kube-sim serve` binary. See `docs/kube-sim.md`.

pub mod api;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod cluster;
pub mod config;
pub mod controllers;
pub mod demo;
pub mod faults;
pub mod kubeconfig;
pub mod podrunner;
pub mod rbac;
pub mod resources;
pub mod schema;
pub mod serve;
pub mod server;
pub mod sim;
pub mod store;
pub mod time;
pub mod tls;

pub use audit::AuditEvent;
pub use config::SimConfig;
pub use sim::{Sim, SimError, SimOptions, SimThread};
