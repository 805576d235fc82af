//! One shared watch of the platform's Applications that every node's wait
//! reads from.
//!
//! A wait per node with a watch connection each would hold hundreds of
//! connections open to the API server at a time on a large platform (and a
//! thread each, when the waiting happened on a script's thread). Instead
//! one [`Cluster::watch_kind`] stream (kube-runtime's `watcher`: list, then
//! watch, re-listing when it cannot resume) feeds a store of the latest
//! state of each Application, and each waiting node subscribes to its own
//! Application's slot: a change wakes exactly the node it concerns, and a
//! waiting node holds neither a thread nor a connection.
//!
//! The fake cluster of the script tests ends its stream after the current
//! set (nothing changes by itself there); once the stream has ended, waits
//! fall back to watching their one object, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::k8s::K8sError;
use crate::k8s::cluster::{Cluster, KindEvent, ObjectKey};
use crate::k8s::wait::{Bounds, WaitFailure, wait_for};

/// Where the shared watch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// The first list has not arrived yet.
    Starting,
    /// Listed and watching.
    Live,
    /// The stream ended (the fake cluster) or could not start: waits watch
    /// their own object instead.
    Ended,
}

type Slot = watch::Sender<Option<Arc<Value>>>;

#[derive(Debug)]
struct Inner {
    slots: Mutex<HashMap<String, Slot>>,
    phase: watch::Sender<Phase>,
}

impl Inner {
    fn slot(&self, name: &str) -> watch::Receiver<Option<Arc<Value>>> {
        let mut slots = match self.slots.lock() {
            Ok(slots) => slots,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots
            .entry(name.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    fn set(&self, name: &str, state: Option<Arc<Value>>) {
        let mut slots = match self.slots.lock() {
            Ok(slots) => slots,
            Err(poisoned) => poisoned.into_inner(),
        };
        match slots.get(name) {
            Some(slot) => {
                slot.send_replace(state);
            }
            None if state.is_some() => {
                slots.insert(name.to_owned(), watch::channel(state).0);
            }
            None => {}
        }
    }

    fn apply(&self, event: KindEvent) {
        match event {
            KindEvent::Reset(objects) => {
                let mut seen = std::collections::HashSet::with_capacity(objects.len());
                for object in objects {
                    let name = name_of(&object);
                    seen.insert(name.clone());
                    self.set(&name, Some(Arc::new(projection(&object))));
                }
                let gone: Vec<String> = match self.slots.lock() {
                    Ok(slots) => slots.keys().filter(|k| !seen.contains(*k)).cloned().collect(),
                    Err(_) => Vec::new(),
                };
                for name in gone {
                    self.set(&name, None);
                }
            }
            KindEvent::Applied(object) => self.set(&name_of(&object), Some(Arc::new(projection(&object)))),
            KindEvent::Deleted(object) => self.set(&name_of(&object), None),
        }
    }
}

/// What a waiting node reads of an Application: its identity and
/// deletion, its source, destination and sync policy, a requested
/// operation's id, and the status fields verdicts, gates and diagnostics
/// read. The rest (sync history, summaries, the resources of each sync
/// result) is dropped: on a platform of thousands of Applications the
/// store would otherwise hold several copies' worth of JSON.
pub fn projection(app: &Value) -> Value {
    fn pick(from: &Value, keys: &[&str]) -> Value {
        let mut out = serde_json::Map::new();
        for key in keys {
            if let Some(value) = from.get(*key).filter(|v| !v.is_null()) {
                out.insert((*key).to_owned(), value.clone());
            }
        }
        Value::Object(out)
    }
    let status = &app["status"];
    let operation_state = &status["operationState"];
    let mut projected = json!({
        "apiVersion": app["apiVersion"],
        "kind": app["kind"],
        "metadata": pick(&app["metadata"], &["name", "namespace", "resourceVersion", "deletionTimestamp", "finalizers"]),
        "spec": pick(&app["spec"], &["project", "source", "destination", "syncPolicy"]),
        "status": pick(status, &["sync", "health", "conditions", "resourceHealthSource"]),
    });
    if !app["operation"].is_null() {
        projected["operation"] = pick(&app["operation"], &["info", "initiatedBy"]);
    }
    if operation_state.is_object() {
        let mut state = pick(operation_state, &["phase", "message", "startedAt", "finishedAt"]);
        state["operation"] = pick(&operation_state["operation"], &["info", "initiatedBy"]);
        state["syncResult"] = pick(&operation_state["syncResult"], &["revision"]);
        projected["status"]["operationState"] = state;
    }
    if let Some(resources) = status["resources"].as_array() {
        let resources: Vec<Value> = resources
            .iter()
            .map(|r| {
                pick(
                    r,
                    &["group", "version", "kind", "namespace", "name", "health", "status"],
                )
            })
            .collect();
        projected["status"]["resources"] = Value::Array(resources);
    }
    projected
}

fn name_of(object: &Value) -> String {
    object["metadata"]["name"].as_str().unwrap_or_default().to_owned()
}

/// The shared watch of Applications and the latest state of each.
#[derive(Debug, Clone)]
pub struct AppStore {
    inner: Arc<Inner>,
    namespace: String,
    /// Stops the watch when the last clone goes.
    _task: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl AppStore {
    /// Starts watching every Application in `namespace` (on the current
    /// Tokio runtime). Makes its requests in the background.
    pub fn start(cluster: Arc<dyn Cluster>, namespace: &str) -> AppStore {
        let inner = Arc::new(Inner {
            slots: Mutex::new(HashMap::new()),
            phase: watch::channel(Phase::Starting).0,
        });
        let feeder = inner.clone();
        let ns = namespace.to_owned();
        let task = tokio::spawn(async move {
            let kind = super::application_kind();
            let stream = match cluster.watch_kind(&kind, Some(&ns), None).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(
                        phase = "wait",
                        "cannot watch Applications: {error}; each wait watches its own"
                    );
                    feeder.phase.send_replace(Phase::Ended);
                    return;
                }
            };
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(event) => {
                        let reset = matches!(event, KindEvent::Reset(_));
                        feeder.apply(event);
                        if reset {
                            feeder.phase.send_replace(Phase::Live);
                        }
                    }
                    Err(error) => {
                        tracing::debug!(phase = "wait", "watch of Applications interrupted: {error}; it resumes");
                    }
                }
            }
            feeder.phase.send_replace(Phase::Ended);
        });
        AppStore {
            inner,
            namespace: namespace.to_owned(),
            _task: Arc::new(AbortOnDrop(task.abort_handle())),
        }
    }

    /// The latest state seen of Application `name` (`None`: absent or not
    /// listed yet).
    pub fn current(&self, name: &str) -> Option<Arc<Value>> {
        self.inner.slot(name).borrow().clone()
    }

    /// Waits until `done` holds for Application `name` (`None` = absent),
    /// within `bounds`; `done` may fail fast with an error. Reads the
    /// shared watch; holds no thread and no connection while waiting.
    ///
    /// # Errors
    /// A [`WaitFailure`] on timeout, cancellation or an error from `done`.
    pub async fn wait<F>(
        &self,
        cluster: &dyn Cluster,
        name: &str,
        mut done: F,
        bounds: &Bounds,
        what: &str,
    ) -> Result<Option<Arc<Value>>, WaitFailure>
    where
        F: FnMut(Option<&Value>) -> Result<bool, K8sError>,
    {
        let started = Instant::now();
        let timeout = || K8sError::Timeout {
            what: what.to_owned(),
            after: started.elapsed(),
        };
        let mut phase = self.inner.phase.subscribe();
        loop {
            let now = phase.borrow_and_update().clone();
            match now {
                Phase::Live => break,
                Phase::Ended => return self.wait_alone(cluster, name, done, bounds, what).await,
                Phase::Starting => {}
            }
            tokio::select! {
                changed = phase.changed() => if changed.is_err() {
                    return self.wait_alone(cluster, name, done, bounds, what).await;
                },
                () = tokio::time::sleep_until(bounds.deadline) => return Err(WaitFailure { error: timeout(), last: None }),
                () = bounds.cancel.cancelled() => return Err(WaitFailure { error: K8sError::Cancelled(what.to_owned()), last: None }),
            }
        }
        let mut slot = self.inner.slot(name);
        loop {
            let state = slot.borrow_and_update().clone();
            match done(state.as_deref()) {
                Ok(true) => return Ok(state),
                Ok(false) => {}
                Err(error) => {
                    return Err(WaitFailure {
                        error,
                        last: state.as_deref().cloned(),
                    });
                }
            }
            tokio::select! {
                changed = slot.changed() => if changed.is_err() {
                    return Err(WaitFailure { error: timeout(), last: state.as_deref().cloned() });
                },
                _ = phase.changed() => {
                    if *phase.borrow() == Phase::Ended {
                        return self.wait_alone(cluster, name, done, bounds, what).await;
                    }
                }
                () = tokio::time::sleep_until(bounds.deadline) => return Err(WaitFailure { error: timeout(), last: state.as_deref().cloned() }),
                () = bounds.cancel.cancelled() => return Err(WaitFailure { error: K8sError::Cancelled(what.to_owned()), last: state.as_deref().cloned() }),
            }
        }
    }

    async fn wait_alone<F>(
        &self,
        cluster: &dyn Cluster,
        name: &str,
        done: F,
        bounds: &Bounds,
        what: &str,
    ) -> Result<Option<Arc<Value>>, WaitFailure>
    where
        F: FnMut(Option<&Value>) -> Result<bool, K8sError>,
    {
        let key: ObjectKey = super::app_key(&self.namespace, name);
        wait_for(cluster, &key, done, bounds, what)
            .await
            .map(|s| s.map(Arc::new))
    }

    /// Whether the shared watch is running (for tests and the report).
    pub fn is_live(&self) -> bool {
        *self.inner.phase.borrow() == Phase::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(name: &str, health: &str) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": name, "namespace": "argocd"}, "status": {"health": {"status": health}}})
    }

    #[test]
    fn events_update_only_their_own_slot_and_a_reset_forgets_the_absent() {
        let inner = Inner {
            slots: Mutex::new(HashMap::new()),
            phase: watch::channel(Phase::Starting).0,
        };
        let mut a = inner.slot("a");
        let mut b = inner.slot("b");
        inner.apply(KindEvent::Reset(vec![app("a", "Progressing"), app("b", "Healthy")]));
        assert!(a.has_changed().unwrap() && b.has_changed().unwrap());
        let _ = (a.borrow_and_update(), b.borrow_and_update());
        inner.apply(KindEvent::Applied(app("a", "Healthy")));
        assert!(a.has_changed().unwrap());
        assert!(!b.has_changed().unwrap(), "b's waiter is not woken by a's change");
        assert_eq!(
            a.borrow_and_update().as_ref().unwrap()["status"]["health"]["status"],
            "Healthy"
        );
        inner.apply(KindEvent::Reset(vec![app("a", "Healthy")]));
        assert!(b.borrow_and_update().is_none(), "b is gone after a re-list without it");
        inner.apply(KindEvent::Deleted(app("a", "Healthy")));
        assert!(a.borrow_and_update().is_none());
    }
}
