//! The simulated Argo Workflows controller.
//!
//! Like the real `workflow-controller`, it works only once the Argo
//! Workflows install runs: the `workflow-controller` Deployment Available
//! in some namespace (`../shared/upstream/argo-workflows-v4.1.2-install.yaml`
//! puts it in `argo`); it then handles the Workflows of every namespace (a
//! cluster install) and writes as that Deployment's ServiceAccount
//! (`system:serviceaccount:argo:argo`).
//!
//! A new Workflow is first held to the upstream JSON Schema ([`schema`];
//! failing: `cannot unmarshall spec: …`) and to Argo's own checks
//! ([`validate`]; failing: `invalid spec: …`), then run: `dag` and
//! `container` templates, `templateRef`s to WorkflowTemplates and
//! ClusterWorkflowTemplates, `workflowTemplateRef`, parameters and
//! `{{inputs.*}}`/`{{workflow.*}}`/`{{tasks.*}}` substitution, `depends` and
//! `dependencies`, `when`, `retryStrategy`, `activeDeadlineSeconds`,
//! `spec.shutdown` (`Stop`, `Terminate`), workflow and template
//! `parallelism`; `status.phase`, `startedAt`, `finishedAt`, `message` and
//! `nodes` are kept as Argo Workflows v4.1 keeps them. Container nodes run
//! as Pods (see [`pod`]) that the pod runner ([`crate::podrunner`]) starts
//! when their image is mapped.
//!
//! Event-driven like the other controllers: Workflow changes, changes of
//! pods labelled `workflows.argoproj.io/workflow`, configuration reloads and
//! timers (deadlines, retry back-off) queue Workflows; a pass writes only
//! when the status changed.

pub mod dag;
pub mod depends;
pub mod nodes;
pub mod operator;
pub mod pod;
pub mod reconcile;
pub mod retry;
pub mod schema;
pub mod template;
pub mod validate;

use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::{Change, rv_of};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};

/// A Workflow's namespace and name.
type Key = (String, String);

fn workflows_gr() -> GroupResource {
    GroupResource::new("argoproj.io", "workflows")
}

fn available(d: &serde_json::Value) -> bool {
    object::generation(d) == d["status"]["observedGeneration"].as_i64().unwrap_or(-1)
        && d["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Available" && c["status"] == "True"))
}

/// The ServiceAccount user of a running `workflow-controller`, if one runs.
pub fn find_install(cluster: &Cluster) -> Option<String> {
    cluster
        .store
        .list(&GroupResource::new("apps", "deployments"), None)
        .0
        .into_iter()
        .find(|d| object::name(d) == "workflow-controller" && available(d))
        .map(|d| {
            let sa = d["spec"]["template"]["spec"]["serviceAccountName"]
                .as_str()
                .unwrap_or("default");
            format!("system:serviceaccount:{}:{sa}", object::namespace(&d))
        })
}

/// The Workflows a change concerns; whether it may change activation.
fn relevant(change: &Change, out: &mut BTreeSet<Key>) -> bool {
    let o = &change.object;
    if change.gr == workflows_gr() {
        out.insert((object::namespace(o).to_string(), object::name(o).to_string()));
    } else if change.gr == GroupResource::new("", "pods") {
        for p in [Some(o), change.old.as_ref()].into_iter().flatten() {
            if let Some(wf) = object::label(p, crate::podrunner::WORKFLOW_LABEL) {
                out.insert((object::namespace(p).to_string(), wf.to_string()));
            }
        }
    }
    change.gr.group == "apps" && object::name(o) == "workflow-controller"
}

fn all_workflows(cluster: &Cluster, out: &mut BTreeSet<Key>) {
    for wf in cluster.store.list(&workflows_gr(), None).0 {
        out.insert((object::namespace(&wf).to_string(), object::name(&wf).to_string()));
    }
}

/// One pass over one Workflow; `true` when it must be looked at again now.
fn reconcile(cluster: &Arc<Cluster>, user: &str, key: &Key, timers: &mpsc::UnboundedSender<(Key, Duration)>) -> bool {
    let Some(rt) = cluster.registry.preferred("argoproj.io", "workflows") else {
        return false;
    };
    let Some(current) = cluster.store.get(&workflows_gr(), &key.0, &key.1) else {
        return false;
    };
    let outcome = operator::operate(cluster, user, &current);
    if let Some(delay) = outcome.requeue {
        let _ = timers.send((key.clone(), delay));
    }
    let Some(updated) = outcome.updated else {
        return false;
    };
    let ctx = WriteCtx::controller(user, "workflow-controller");
    let mut stale = false;
    let _ = write::modify(cluster, &rt, &key.0, &key.1, None, &ctx, |o| {
        if rv_of(o) != rv_of(&current) {
            stale = true;
            return;
        }
        o["status"] = updated["status"].clone();
        o["metadata"]["labels"] = updated["metadata"]["labels"].clone();
        o["metadata"]["annotations"] = updated["metadata"]["annotations"].clone();
    });
    stale
}

/// Runs the Workflows controller until shutdown.
pub async fn run(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut rx = cluster.store.subscribe();
    let mut reloads = cluster.reloads();
    let (timer_tx, mut timer_rx) = mpsc::unbounded_channel::<(Key, Duration)>();
    let (due_tx, mut due_rx) = mpsc::unbounded_channel::<Key>();
    let mut user = find_install(&cluster);
    loop {
        let mut pending = BTreeSet::new();
        let mut activation = false;
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = reloads.changed() => all_workflows(&cluster, &mut pending),
            timer = timer_rx.recv() => if let Some((key, delay)) = timer {
                let due = due_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = due.send(key);
                });
            },
            key = due_rx.recv() => if let Some(key) = key { pending.insert(key); },
            change = rx.recv() => match change {
                Ok(change) => activation |= relevant(&change, &mut pending),
                Err(RecvError::Lagged(_)) => {
                    activation = true;
                    all_workflows(&cluster, &mut pending);
                }
                Err(RecvError::Closed) => return,
            },
        }
        while let Ok(change) = rx.try_recv() {
            activation |= relevant(&change, &mut pending);
        }
        if activation {
            let found = find_install(&cluster);
            if found.is_some() && found != user {
                all_workflows(&cluster, &mut pending);
            }
            user = found;
        }
        let Some(user) = user.clone() else { continue };
        for key in pending {
            // A pass that lost a race with another writer runs again.
            for _ in 0..4 {
                if !reconcile(&cluster, &user, &key, &timer_tx) {
                    break;
                }
            }
        }
    }
}

/// Checks a Workflow the way the controller will, without running it:
/// `Ok`, or the message its `status.message` would get.
///
/// # Errors
/// `cannot unmarshall spec: …` or `invalid spec: …`.
pub fn check_workflow(cluster: &Cluster, wf: &serde_json::Value) -> Result<(), String> {
    schema::check("Workflow", wf).map_err(|e| format!("cannot unmarshall spec: {e}"))?;
    validate::workflow(cluster, wf).map_err(|e| format!("invalid spec: {e}"))
}

/// Checks a WorkflowTemplate (`cluster`: a ClusterWorkflowTemplate) against
/// the upstream schema and Argo's template checks.
///
/// # Errors
/// The first problem, as Argo words it.
pub fn check_workflow_template(cluster: &Cluster, object: &serde_json::Value, clustered: bool) -> Result<(), String> {
    let kind = if clustered {
        "ClusterWorkflowTemplate"
    } else {
        "WorkflowTemplate"
    };
    schema::check(kind, object)?;
    validate::workflow_template(cluster, object, clustered)
}
