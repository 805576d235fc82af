//! What a run may do to the cluster, enforced below every script and
//! primitive: one wrapper around the cluster whose every write first
//! passes its [`WritePolicy`].
//!
//! `validate` "MUST NOT modify any cluster state" and a dry run changes
//! nothing: both get [`WritePolicy::ReadOnly`], so no override of
//! `validate.rhai`, no health check and no compliance policy can write,
//! whatever it calls: `k8s::apply`, `k8s::delete`, a sync request all end in
//! [`K8sError::ReadOnly`] at the script line that asked, before any request
//! leaves the process. Deploy and teardown get [`WritePolicy::Locked`]: the
//! first write takes the environment's lease ([`super::lease`]). Health
//! checks and compliance policies are read-only in every action: while one
//! runs, its thread refuses writes whatever the policy
//! ([`crate::script::control::read_only`]). Reads,
//! watches and access reviews (which the API server never persists) pass
//! through.

use std::sync::Arc;

use futures::stream::BoxStream;
use serde_json::Value;

use super::cluster::{BoxFuture, Cluster, Kind, KindStream, ObjectKey, ObjectState, Propagation};
use super::error::K8sError;
use super::lease::Lock;

/// What a write must pass first.
pub enum WritePolicy {
    /// Refused, for `why` (`validate`, `a dry run`).
    ReadOnly(&'static str),
    /// Allowed once this run holds the environment's lease.
    Locked(Arc<Lock>),
}

/// A cluster whose writes pass a [`WritePolicy`] first.
pub struct Guarded {
    inner: Arc<dyn Cluster>,
    policy: WritePolicy,
}

impl Guarded {
    /// `inner`, its writes under `policy`.
    pub fn new(inner: Arc<dyn Cluster>, policy: WritePolicy) -> Guarded {
        Guarded { inner, policy }
    }

    /// `inner`, read-only.
    pub fn read_only(inner: Arc<dyn Cluster>, why: &'static str) -> Guarded {
        Guarded::new(inner, WritePolicy::ReadOnly(why))
    }

    /// Whether a write (`verb` of `what`) may go ahead.
    async fn admit(&self, verb: &'static str, what: impl FnOnce() -> String) -> Result<(), K8sError> {
        if let Some(why) = crate::script::control::read_only_reason() {
            return Err(K8sError::ReadOnly {
                verb,
                what: what(),
                why,
            });
        }
        match &self.policy {
            WritePolicy::ReadOnly(why) => Err(K8sError::ReadOnly {
                verb,
                what: what(),
                why,
            }),
            WritePolicy::Locked(lock) => lock.ensure(&self.inner).await,
        }
    }
}

/// The object a write names, for a refusal.
fn named(object: &Value) -> String {
    ObjectKey::of(object).map_or_else(|_| "an object".to_owned(), |key| key.to_string())
}

impl Cluster for Guarded {
    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Option<Value>, K8sError>> {
        self.inner.get(key)
    }

    fn list<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Value>, K8sError>> {
        self.inner.list(kind, namespace, label_selector)
    }

    fn apply<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            self.admit("apply", || named(object)).await?;
            self.inner.apply(object).await
        })
    }

    fn create<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            self.admit("create", || named(object)).await?;
            self.inner.create(object).await
        })
    }

    fn merge_patch<'a>(&'a self, key: &'a ObjectKey, patch: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            self.admit("patch", || key.to_string()).await?;
            self.inner.merge_patch(key, patch).await
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey, propagation: Propagation) -> BoxFuture<'a, Result<bool, K8sError>> {
        Box::pin(async move {
            self.admit("delete", || key.to_string()).await?;
            self.inner.delete(key, propagation).await
        })
    }

    fn watch<'a>(
        &'a self,
        key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<BoxStream<'a, Result<ObjectState, K8sError>>, K8sError>> {
        self.inner.watch(key)
    }

    fn watch_kind<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<KindStream<'a>, K8sError>> {
        self.inner.watch_kind(kind, namespace, label_selector)
    }

    fn logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        tail_lines: i64,
    ) -> BoxFuture<'a, Result<String, K8sError>> {
        self.inner.logs(namespace, pod, container, tail_lines)
    }

    fn namespaced<'a>(&'a self, kind: &'a Kind) -> BoxFuture<'a, Result<bool, K8sError>> {
        self.inner.namespaced(kind)
    }

    fn review<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        // SelfSubject*Reviews are answered, never stored.
        self.inner.review(object)
    }

    fn version(&self) -> BoxFuture<'_, Result<Value, K8sError>> {
        self.inner.version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::testing::fake::FakeCluster;

    #[tokio::test]
    async fn a_read_only_cluster_reads_and_refuses_every_write() {
        let fake = Arc::new(FakeCluster::default());
        let cm =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}});
        fake.apply(&cm).await.unwrap();
        let guarded = Guarded::read_only(fake.clone(), "validate");
        let key = ObjectKey::of(&cm).unwrap();
        assert!(guarded.get(&key).await.unwrap().is_some());
        let refused = guarded.delete(&key, Propagation::Foreground).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "delete v1 ConfigMap n/a refused: validate never changes the cluster"
        );
        assert!(matches!(
            guarded.apply(&cm).await,
            Err(K8sError::ReadOnly { verb: "apply", .. })
        ));
        let patch = serde_json::json!({"data": {"x": "y"}});
        assert!(guarded.merge_patch(&key, &patch).await.is_err());
        assert!(fake.get(&key).await.unwrap().is_some(), "nothing was deleted");
    }
}
