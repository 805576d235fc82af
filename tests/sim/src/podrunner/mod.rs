//! The pod runner: the kubelet of the simulated cluster for pods whose
//! images `sim.yaml` maps to programs.
//!
//! `images: {"<image reference, * matches any characters>": <program>}`: a
//! Pod all of whose containers (and init containers) have a mapped image is
//! started for real. The mapped program stands for the image's ENTRYPOINT:
//! with Kubernetes semantics a container `command` replaces the entrypoint,
//! so its first element names the image's binary (the mapped program) and
//! the rest, then `args`, become the program's arguments; without `command`
//! the program gets `args`. `$(VAR)` references in env values, command and
//! args are expanded as the kubelet does.
//!
//! The program sees the container's `env` (with `valueFrom` ConfigMap and
//! Secret keys and `fieldRef`s), `envFrom`, the in-cluster service variables
//! (`KUBERNETES_SERVICE_HOST`/`PORT` point at this simulator) and its volumes
//! (ConfigMap, Secret, projected, downwardAPI, emptyDir, hostPath,
//! persistentVolumeClaim) at their `mountPath`s, bind-mounted in a private
//! mount namespace (`unshare --mount`; needs root, which CI and developer
//! machines have). Unless automounting is turned off, a ServiceAccount token,
//! the simulator's CA and the namespace are mounted at
//! `/var/run/secrets/kubernetes.io/serviceaccount` like the ServiceAccount
//! admission plugin's projected `kube-api-access` volume; the token
//! authenticates as the ServiceAccount (see [`crate::rbac`]).
//!
//! Phase, container states and exit codes follow the processes; what they
//! print is served by `GET .../pods/<name>/log` (see [`logs`]). Pods whose
//! images are not mapped keep the simulated readiness of
//! [`crate::controllers::workloads`]; pods of Argo Workflows with unmapped
//! images complete successfully after `workloads.readyAfter`.

pub mod env;
pub mod logs;
pub mod process;
pub mod status;
pub mod volumes;

use crate::api::object;
use crate::cluster::Cluster;
use crate::config::SimConfig;
use crate::rbac::SaTokens;
use crate::resources::GroupResource;
use crate::store::{Change, ChangeKind};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};

/// Label Argo Workflows puts on the pods of a workflow.
pub const WORKFLOW_LABEL: &str = "workflows.argoproj.io/workflow";
/// Where the ServiceAccount admission plugin mounts the API credentials.
pub const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How pods reach this simulator.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Port of the API server on 127.0.0.1.
    pub port: u16,
    /// The CA of its TLS certificate (PEM), mounted as `ca.crt`.
    pub ca_pem: String,
}

/// A request to stop a running pod's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Keep running.
    None,
    /// SIGTERM, then SIGKILL after the grace period.
    Terminate(Duration),
}

/// The pod runner's state, shared through [`Cluster`].
#[derive(Debug, Default)]
pub struct Runtime {
    /// ServiceAccount tokens issued to pods.
    pub tokens: SaTokens,
    /// What containers printed.
    pub logs: logs::Logs,
    server: OnceLock<ServerInfo>,
    dir: OnceLock<Option<tempfile::TempDir>>,
    running: Mutex<HashMap<String, watch::Sender<Stop>>>,
}

impl Runtime {
    /// Records where the API server listens (done once at start).
    pub fn set_server(&self, info: ServerInfo) {
        let _ = self.server.set(info);
    }

    /// Where the API server listens, once known.
    pub fn server(&self) -> Option<&ServerInfo> {
        self.server.get()
    }

    /// The directory holding pods' volumes (removed with the simulator).
    pub fn dir(&self) -> Option<&Path> {
        self.dir
            .get_or_init(|| tempfile::Builder::new().prefix("kube-sim-pods-").tempdir().ok())
            .as_ref()
            .map(tempfile::TempDir::path)
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Stop>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks the containers of a pod (by uid) to stop; false when no process
    /// of it runs.
    pub fn stop(&self, pod_uid: &str, stop: Stop) -> bool {
        match self.lock_running().get(pod_uid) {
            Some(tx) => {
                let _ = tx.send(stop);
                true
            }
            None => false,
        }
    }

    /// Registers a started pod; `None` when it already runs.
    fn claim(&self, pod_uid: &str) -> Option<watch::Receiver<Stop>> {
        let mut running = self.lock_running();
        if running.contains_key(pod_uid) {
            return None;
        }
        let (tx, rx) = watch::channel(Stop::None);
        running.insert(pod_uid.to_string(), tx);
        Some(rx)
    }

    fn release(&self, pod_uid: &str) {
        self.lock_running().remove(pod_uid);
    }

    /// Whether a process of the pod is running.
    pub fn is_running(&self, pod_uid: &str) -> bool {
        self.lock_running().contains_key(pod_uid)
    }
}

/// Whether `pattern` (`*` matches any characters) matches `text`.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// The program an image is mapped to: an exact key first, else the longest
/// matching pattern.
pub fn program_for(config: &SimConfig, image: &str) -> Option<PathBuf> {
    if let Some(p) = config.images.get(image) {
        return Some(p.clone());
    }
    config
        .images
        .iter()
        .filter(|(pattern, _)| glob_matches(pattern, image))
        .max_by_key(|(pattern, _)| pattern.len())
        .map(|(_, p)| p.clone())
}

fn images(pod: &Value) -> Vec<String> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().cloned().unwrap_or_default())
        .map(|c| c["image"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Whether every container of the pod has a mapped image (so the runner,
/// not the simulated readiness, owns it).
pub fn is_mapped(config: &SimConfig, pod: &Value) -> bool {
    let images = images(pod);
    !images.is_empty() && images.iter().all(|i| program_for(config, i).is_some())
}

/// Whether some but not all images are mapped (the rest cannot be pulled).
fn is_partly_mapped(config: &SimConfig, pod: &Value) -> bool {
    let images = images(pod);
    images.iter().any(|i| program_for(config, i).is_some()) && !is_mapped(config, pod)
}

/// Asks a pod's containers to terminate (SIGTERM, SIGKILL after its
/// `terminationGracePeriodSeconds`); a simulated pod is marked failed with
/// exit code 143 at once.
pub fn terminate(cluster: &Arc<Cluster>, pod: &Value) {
    let grace = pod["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    if !cluster
        .runtime
        .stop(object::uid(pod), Stop::Terminate(Duration::from_secs(grace)))
    {
        status::simulated_exit(cluster, pod, 143);
    }
}

fn pods_gr() -> GroupResource {
    GroupResource::new("", "pods")
}

/// Starts what a pod change calls for.
fn handle(cluster: &Arc<Cluster>, change: &Change, waiting: &mut HashSet<(String, String)>, retry: &Retry) {
    let o = &change.object;
    if change.gr.group.is_empty() && matches!(change.gr.resource.as_str(), "configmaps" | "secrets") {
        let ns = object::namespace(o).to_string();
        let names: Vec<_> = waiting.iter().filter(|(n, _)| *n == ns).cloned().collect();
        for key in names {
            waiting.remove(&key);
            if let Some(pod) = cluster.store.get(&pods_gr(), &key.0, &key.1) {
                consider(cluster, &pod, retry);
            }
        }
        return;
    }
    if change.gr != pods_gr() {
        return;
    }
    if change.kind == ChangeKind::Deleted || object::is_deleting(o) {
        let uid = object::uid(o);
        let grace = o["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
        cluster.runtime.stop(uid, Stop::Terminate(Duration::from_secs(grace)));
        if change.kind == ChangeKind::Deleted {
            cluster.runtime.tokens.revoke_pod(uid);
            cluster.runtime.logs.remove(object::namespace(o), object::name(o));
        }
        return;
    }
    if change.kind == ChangeKind::Added {
        consider(cluster, o, retry);
    }
}

/// Starts a pod that is new to the runner.
fn consider(cluster: &Arc<Cluster>, pod: &Value, retry: &Retry) {
    let config = cluster.config();
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") {
        return;
    }
    if is_mapped(&config, pod) {
        let Some(stop) = cluster.runtime.claim(object::uid(pod)) else {
            return;
        };
        let cluster = cluster.clone();
        let pod = pod.clone();
        let retry = retry.clone();
        tokio::spawn(async move {
            let key = (object::namespace(&pod).to_string(), object::name(&pod).to_string());
            let uid = object::uid(&pod).to_string();
            if let process::Outcome::Waiting = process::run_pod(&cluster, &pod, stop).await {
                let _ = retry.send(key);
            }
            cluster.runtime.release(&uid);
        });
    } else if is_partly_mapped(&config, pod) {
        status::unpullable(cluster, pod, &config);
    } else if object::label(pod, WORKFLOW_LABEL).is_some() && phase.is_empty() {
        status::simulate_completion(cluster, pod, config.workloads.ready_after());
    }
}

type Retry = mpsc::UnboundedSender<(String, String)>;

/// Runs the pod runner until shutdown.
pub async fn run(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) {
    let mut rx = cluster.store.subscribe();
    let (retry_tx, mut retry_rx) = mpsc::unbounded_channel();
    let mut waiting = HashSet::new();
    // Pods that existed before the runner subscribed.
    for pod in cluster.store.list(&pods_gr(), None).0 {
        consider(&cluster, &pod, &retry_tx);
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                stop_all(&cluster);
                return;
            }
            key = retry_rx.recv() => if let Some(key) = key { waiting.insert(key); },
            change = rx.recv() => match change {
                Ok(change) => handle(&cluster, &change, &mut waiting, &retry_tx),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }
}

fn stop_all(cluster: &Cluster) {
    let running: Vec<String> = cluster.runtime.lock_running().keys().cloned().collect();
    for uid in running {
        cluster.runtime.stop(&uid, Stop::Terminate(Duration::ZERO));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_matches("executor:*", "executor:dev"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches(
            "registry.example.com/*/executor:*",
            "registry.example.com/a/b/executor:1.2"
        ));
        assert!(!glob_matches("executor:*", "ghcr.io/executor:dev"));
        assert!(glob_matches("alpine:3", "alpine:3"));
        assert!(!glob_matches("alpine:3", "alpine:3.20"));
        assert!(!glob_matches("a*b*c", "acb"));
    }

    #[test]
    fn exact_then_longest_pattern_wins() {
        let config =
            SimConfig::from_yaml("images: {\"*\": /bin/false, \"executor:*\": /bin/exec, \"executor:dev\": /bin/dev}")
                .unwrap();
        assert_eq!(program_for(&config, "executor:dev"), Some(PathBuf::from("/bin/dev")));
        assert_eq!(program_for(&config, "executor:1"), Some(PathBuf::from("/bin/exec")));
        assert_eq!(program_for(&config, "busybox"), Some(PathBuf::from("/bin/false")));
    }
}
