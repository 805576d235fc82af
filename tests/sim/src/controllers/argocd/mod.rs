//! The simulated Argo CD application controller.
//!
//! It only works once an Argo CD install is running in the cluster (the
//! `argocd-server` and `argocd-repo-server` Deployments and the
//! `argocd-application-controller` StatefulSet, ready, in one namespace), so
//! bootstrapping Argo CD is as meaningful as on a real cluster. Then, for
//! every Application in that namespace, it reads the manifests from the
//! repository directory, compares them with the cluster, reports sync and
//! health, and runs sync operations (see [`sync`]) when asked or automated.
//!
//! It is event-driven: Application changes, changes of resources carrying
//! the `app.kubernetes.io/instance` tracking label, configuration reloads
//! and timers (`healthyAfter`) queue Applications for reconciliation, and a
//! reconciliation writes only when the status really changed — a Synced and
//! Healthy Application is left alone, so its resourceVersion stays put.
//!
//! When the install becomes ready it also does what `argocd-server` does at
//! start-up: the `default` AppProject and the JWT signing key in
//! `argocd-secret` ([`server`]).

pub mod behaviour;
pub mod compare;
pub mod health;
pub mod repo;
pub mod server;
pub mod sync;

use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use crate::store::Change;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast::error::RecvError, mpsc, watch};

/// The label Argo CD tracks applied resources with.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The finalizer that makes Application deletion cascade.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The field manager of applied resources.
pub const FIELD_MANAGER: &str = "argocd-controller";
/// The annotation that asks for a refresh.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// Shared state of the controller.
#[derive(Debug)]
pub struct ArgoCd {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    namespace: Mutex<Option<String>>,
    syncing: Mutex<HashSet<String>>,
    synced_at: Mutex<HashMap<String, Instant>>,
    timers: Arc<Mutex<HashSet<String>>>,
    queue: mpsc::UnboundedSender<String>,
}

impl ArgoCd {
    /// The namespace Argo CD runs in, once it is ready.
    pub fn namespace(&self) -> Option<String> {
        self.namespace.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The user the controller's writes are audited as.
    pub fn user(&self) -> String {
        let config = self.cluster.config();
        config.argocd.controller_user.clone().unwrap_or_else(|| {
            format!(
                "system:serviceaccount:{}:argocd-application-controller",
                self.namespace().unwrap_or_else(|| "argocd".into())
            )
        })
    }

    /// Queues an Application for reconciliation.
    pub fn enqueue(&self, name: &str) {
        let _ = self.queue.send(name.to_string());
    }

    /// Queues an Application for reconciliation after a delay (once per
    /// Application and deadline).
    pub fn enqueue_after(&self, name: &str, delay: Duration) {
        let deadline = Instant::now() + delay;
        let key = format!("{name}@{}", delay.as_millis() / 50);
        if !self
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
        {
            return;
        }
        let queue = self.queue.clone();
        let name = name.to_string();
        let timers = Arc::clone(&self.timers);
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline.into()).await;
            // Forget the deadline once it fired: the same delay can come up
            // again later (a re-created Application) and must arm a timer.
            timers.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            let _ = queue.send(name);
        });
    }

    /// Records that a sync of `name` just succeeded.
    pub fn mark_synced(&self, name: &str) {
        self.synced_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), Instant::now());
    }

    /// How long ago the last successful sync of `name` (in this process) ended.
    pub fn since_synced(&self, name: &str) -> Option<Duration> {
        self.synced_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(Instant::elapsed)
    }

    fn applications(&self) -> Vec<Arc<Value>> {
        match self.namespace() {
            Some(ns) => self.cluster.store.list(&apps_gr(), Some(&ns)).0,
            None => vec![],
        }
    }
}

fn apps_gr() -> GroupResource {
    GroupResource::new("argoproj.io", "applications")
}

fn available(d: &Value) -> bool {
    object::generation(d) == d["status"]["observedGeneration"].as_i64().unwrap_or(-1)
        && d["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Available" && c["status"] == "True"))
}

/// The namespace of a ready Argo CD install, if there is one.
pub fn find_install(cluster: &Cluster) -> Option<String> {
    let deployments = GroupResource::new("apps", "deployments");
    let statefulsets = GroupResource::new("apps", "statefulsets");
    cluster
        .store
        .list(&statefulsets, None)
        .0
        .into_iter()
        .filter(|s| object::name(s) == "argocd-application-controller")
        .filter(|s| {
            object::generation(s) == s["status"]["observedGeneration"].as_i64().unwrap_or(-1)
                && s["status"]["readyReplicas"].as_i64().unwrap_or(0) >= s["spec"]["replicas"].as_i64().unwrap_or(1)
        })
        .map(|s| object::namespace(&s).to_string())
        .find(|ns| {
            ["argocd-server", "argocd-repo-server"]
                .iter()
                .all(|name| cluster.store.get(&deployments, ns, name).is_some_and(|d| available(&d)))
        })
}

fn ensure_default_project(argo: &ArgoCd, ns: &str) {
    let Some(rt) = argo.cluster.registry.preferred("argoproj.io", "appprojects") else {
        return;
    };
    if argo.cluster.store.get(&rt.group_resource(), ns, "default").is_some() {
        return;
    }
    let user = format!("system:serviceaccount:{ns}:argocd-server");
    let body = json!({
        "metadata": {"name": "default", "namespace": ns},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"namespace": "*", "server": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    });
    let _ = write::create(
        &argo.cluster,
        &rt,
        Some(ns),
        body,
        &WriteCtx::controller(&user, "argocd-server"),
    );
}

fn relevant_names(argo: &ArgoCd, change: &Change, out: &mut BTreeSet<String>) -> bool {
    let mut activation = false;
    let gr = &change.gr;
    if gr.group == "apps"
        && matches!(
            object::name(&change.object),
            "argocd-server" | "argocd-repo-server" | "argocd-application-controller"
        )
    {
        activation = true;
    }
    if gr.group == "apiextensions.k8s.io" {
        activation = true;
    }
    let Some(ns) = argo.namespace() else {
        return activation;
    };
    if *gr == apps_gr() && object::namespace(&change.object) == ns {
        out.insert(object::name(&change.object).to_string());
    }
    for o in [Some(&change.object), change.old.as_ref()].into_iter().flatten() {
        if let Some(app) = object::label(o, INSTANCE_LABEL) {
            out.insert(app.to_string());
        }
    }
    activation
}

/// Whether a change touches Argo CD's settings (`argocd-cm`,
/// `argocd-cmd-params-cm` in its namespace): every Application is then
/// compared again, as Argo CD does when its settings change.
fn settings_changed(argo: &ArgoCd, change: &Change) -> bool {
    change.gr == GroupResource::new("", "configmaps")
        && matches!(object::name(&change.object), "argocd-cm" | "argocd-cmd-params-cm")
        && argo.namespace().as_deref() == Some(object::namespace(&change.object))
}

fn check_activation(argo: &Arc<ArgoCd>) -> bool {
    let found = find_install(&argo.cluster);
    let mut current = argo.namespace.lock().unwrap_or_else(|e| e.into_inner());
    if *current == found {
        return false;
    }
    *current = found.clone();
    drop(current);
    if let Some(ns) = found {
        ensure_default_project(argo, &ns);
        server::initialize_settings(argo, &ns);
        true
    } else {
        false
    }
}

/// Starts a sync for an Application unless one is running.
fn start_sync(argo: &Arc<ArgoCd>, name: &str, request: sync::SyncRequest) {
    {
        let mut running = argo.syncing.lock().unwrap_or_else(|e| e.into_inner());
        if !running.insert(name.to_string()) {
            return;
        }
    }
    let argo = argo.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        sync::run(&argo, &name, request).await;
        argo.syncing.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
        argo.enqueue(&name);
    });
}

fn is_syncing(argo: &ArgoCd, name: &str) -> bool {
    argo.syncing.lock().unwrap_or_else(|e| e.into_inner()).contains(name)
}

/// Reconciles one Application: refresh, deletion, comparison, auto-sync.
fn reconcile(argo: &Arc<ArgoCd>, name: &str) {
    let Some(ns) = argo.namespace() else { return };
    let Some(rt) = argo.cluster.registry.preferred("argoproj.io", "applications") else {
        return;
    };
    let Some(app) = argo.cluster.store.get(&rt.group_resource(), &ns, name) else {
        return;
    };
    let user = argo.user();
    let ctx = WriteCtx::controller(&user, "argocd-application-controller");
    if object::is_deleting(&app) {
        compare::finalize(argo, &rt, &app, &ctx);
        return;
    }
    if object::annotation(&app, REFRESH_ANNOTATION).is_some() {
        let _ = write::modify(&argo.cluster, &rt, &ns, name, None, &ctx, |o| {
            if let Some(a) = o["metadata"]["annotations"].as_object_mut() {
                a.remove(REFRESH_ANNOTATION);
            }
        });
    }
    let comparison = compare::compare(argo, &app);
    let syncing = is_syncing(argo, name);
    compare::write_status(argo, &rt, name, &comparison, &ctx);
    if syncing {
        return;
    }
    // A sync may have finished since `app` was read: decide on fresh state.
    let Some(fresh) = argo.cluster.store.get(&rt.group_resource(), &ns, name) else {
        return;
    };
    let comparison = if crate::store::rv_of(&fresh) == crate::store::rv_of(&app) {
        comparison
    } else {
        compare::compare(argo, &fresh)
    };
    if let Some(request) = sync::requested(argo, &fresh, &comparison) {
        start_sync(argo, name, request);
    }
}

/// Runs the Argo CD application controller until shutdown.
pub async fn run(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let (tx, mut queue) = mpsc::unbounded_channel();
    let argo = Arc::new(ArgoCd {
        cluster: cluster.clone(),
        namespace: Mutex::new(None),
        syncing: Mutex::new(HashSet::new()),
        synced_at: Mutex::new(HashMap::new()),
        timers: Arc::new(Mutex::new(HashSet::new())),
        queue: tx,
    });
    let mut rx = cluster.store.subscribe();
    let mut reloads = cluster.reloads();
    loop {
        let mut pending = BTreeSet::new();
        let mut all = false;
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = reloads.changed() => all = true,
            name = queue.recv() => if let Some(n) = name { pending.insert(n); },
            change = rx.recv() => match change {
                Ok(change) => {
                    if relevant_names(&argo, &change, &mut pending) && check_activation(&argo) {
                        all = true;
                    }
                    all |= settings_changed(&argo, &change);
                }
                Err(RecvError::Lagged(_)) => {
                    check_activation(&argo);
                    all = true;
                }
                Err(RecvError::Closed) => return,
            },
        }
        // Batch whatever else is already waiting.
        while let Ok(change) = rx.try_recv() {
            if relevant_names(&argo, &change, &mut pending) && check_activation(&argo) {
                all = true;
            }
            all |= settings_changed(&argo, &change);
        }
        while let Ok(n) = queue.try_recv() {
            pending.insert(n);
        }
        if all {
            for app in argo.applications() {
                pending.insert(object::name(&app).to_string());
            }
        }
        for name in pending {
            reconcile(&argo, &name);
        }
    }
}
