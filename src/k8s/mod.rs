//! The Kubernetes side: the [`Cluster`] interface, its kube-rs implementation,
//! request accounting and retries, and the compare-before-write logic.

pub mod apply;
pub mod catalog;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod error;
pub mod guard;
pub mod index;
pub mod lease;
pub mod retry;
pub mod stats;
pub mod throttle;
pub mod wait;

pub use cluster::{Cluster, Kind, ObjectKey, Propagation};
pub use error::K8sError;
