//! The cluster as the rest of the executor sees it: a small async interface
//! over dynamic objects (`serde_json::Value`).
//!
//! Two implementations exist: [`super::client::KubeCluster`] talks to a real
//! API server (or kube-sim) through kube-rs; the script test harness has an
//! in-memory fake. Everything above this trait — compare-before-write,
//! waiting, Argo CD operations — is shared, so offline script tests exercise
//! the same logic as production runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use futures::stream::BoxStream;
use serde_json::Value;

use super::error::K8sError;

/// A boxed, sendable future (the trait must be object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A kind: `apiVersion` and `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind {
    /// `group/version`, or `v1` for the core group.
    pub api_version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
}

impl Kind {
    /// A kind from its parts.
    pub fn new(api_version: impl Into<String>, kind: impl Into<String>) -> Self {
        Kind {
            api_version: api_version.into(),
            kind: kind.into(),
        }
    }

    /// The kind of an object.
    ///
    /// # Errors
    /// When `apiVersion` or `kind` is missing.
    pub fn of(object: &Value) -> Result<Self, K8sError> {
        let api_version = object["apiVersion"]
            .as_str()
            .ok_or_else(|| K8sError::Invalid("object without apiVersion".into()))?;
        let kind = object["kind"]
            .as_str()
            .ok_or_else(|| K8sError::Invalid(format!("{api_version} object without kind")))?;
        Ok(Kind::new(api_version, kind))
    }

    /// The API group (empty for core).
    pub fn group(&self) -> &str {
        super::catalog::split_api_version(&self.api_version).0
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.api_version, self.kind)
    }
}

/// One object's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Its kind.
    pub kind: Kind,
    /// Its namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl ObjectKey {
    /// A key from its parts; an empty namespace means cluster-scoped.
    pub fn new(kind: Kind, namespace: &str, name: impl Into<String>) -> Self {
        ObjectKey {
            kind,
            namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
            name: name.into(),
        }
    }

    /// The key of an object.
    ///
    /// # Errors
    /// When the object lacks apiVersion, kind or metadata.name.
    pub fn of(object: &Value) -> Result<Self, K8sError> {
        let kind = Kind::of(object)?;
        let name = object["metadata"]["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| K8sError::Invalid(format!("{kind} object without metadata.name")))?;
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        Ok(ObjectKey::new(kind, namespace, name))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// How a delete treats the object's dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Delete dependents in the background (the API default for most kinds).
    #[default]
    Background,
    /// Delete dependents first; the object goes last.
    Foreground,
    /// Leave dependents alone.
    Orphan,
}

/// One event of a watched object: its new state, or `None` once it is gone.
pub type ObjectState = Option<Value>;

/// One event of a watch over every object of a kind (see [`Cluster::watch_kind`]).
#[derive(Debug, Clone)]
pub enum KindEvent {
    /// The complete current set, after the first list and after every
    /// re-list (a watch that had to start over): replaces what was known.
    Reset(Vec<Value>),
    /// An object was created or changed.
    Applied(Value),
    /// An object is gone (its last state).
    Deleted(Value),
}

/// A stream of [`KindEvent`]s.
pub type KindStream<'a> = BoxStream<'a, Result<KindEvent, K8sError>>;

/// What the executor needs from a cluster.
pub trait Cluster: Send + Sync {
    /// The object, or `None` if it does not exist.
    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Option<Value>, K8sError>>;

    /// Objects of a kind, in a namespace (`None`: all namespaces, or
    /// cluster-scoped), optionally filtered by a label selector.
    fn list<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Value>, K8sError>>;

    /// Server-side apply under the executor's field manager (conflicts forced).
    fn apply<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>>;

    /// Creates the object; a `409 AlreadyExists` error if it exists (what a
    /// lock needs: exactly one of two racing creators wins).
    fn create<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>>;

    /// A JSON merge patch (for fields apply should not own, e.g. an Argo CD
    /// Application's `operation`).
    fn merge_patch<'a>(&'a self, key: &'a ObjectKey, patch: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>>;

    /// Deletes the object; `Ok(false)` when it did not exist.
    fn delete<'a>(&'a self, key: &'a ObjectKey, propagation: Propagation) -> BoxFuture<'a, Result<bool, K8sError>>;

    /// The object's states from now on, starting with its current state.
    /// The stream ends only when no further change can come (the fake
    /// cluster); a real cluster's stream runs until dropped.
    fn watch<'a>(
        &'a self,
        key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<BoxStream<'a, Result<ObjectState, K8sError>>, K8sError>>;

    /// Every object of a kind (in `namespace`, with `label_selector`) from
    /// now on: a [`KindEvent::Reset`] with the current set first, then each
    /// change. One connection however many objects, so any number of waits
    /// can share it (kube-runtime's `watcher`: list, then watch, re-listing
    /// when the watch cannot resume). The stream ends only when no further
    /// change can come (the fake cluster).
    fn watch_kind<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<KindStream<'a>, K8sError>>;

    /// The last `tail_lines` lines a pod's container printed (`pods/log`).
    fn logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        tail_lines: i64,
    ) -> BoxFuture<'a, Result<String, K8sError>>;

    /// Whether objects of `kind` are namespaced.
    fn namespaced<'a>(&'a self, kind: &'a Kind) -> BoxFuture<'a, Result<bool, K8sError>>;

    /// Creates a non-persistent review object (SelfSubjectAccessReview,
    /// SelfSubjectRulesReview) and returns the server's answer.
    fn review<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>>;

    /// The server's `/version` (`gitVersion`, ...).
    fn version(&self) -> BoxFuture<'_, Result<Value, K8sError>>;
}
