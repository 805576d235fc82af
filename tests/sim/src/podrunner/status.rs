//! Pod status as the kubelet reports it (`phase`, `conditions`,
//! `containerStatuses`/`initContainerStatuses` with `waiting`, `running` or
//! `terminated` states, `startTime`, `podIP`, `hostIP`), written through the
//! status subresource as `system:node:<node>`.

use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::config::SimConfig;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// One container's state.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not started (`reason`, `message`).
    Waiting(String, String),
    /// Running since the timestamp.
    Running(String),
    /// Ended.
    Terminated {
        /// Exit code (128 + signal for a killed process).
        exit_code: i64,
        /// `Completed`, `Error`, `StartError`, ...
        reason: String,
        /// Extra text (why it could not start).
        message: String,
        /// When it started.
        started: String,
        /// When it ended.
        finished: String,
    },
}

/// One container's status.
#[derive(Debug, Clone)]
pub struct Container {
    /// Container name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Its state.
    pub state: State,
}

impl Container {
    fn render(&self, pod_uid: &str) -> Value {
        let state = match &self.state {
            State::Waiting(reason, message) => json!({"waiting": {"reason": reason, "message": message}}),
            State::Running(at) => json!({"running": {"startedAt": at}}),
            State::Terminated {
                exit_code,
                reason,
                message,
                started,
                finished,
            } => {
                let mut t = json!({"exitCode": exit_code, "reason": reason, "startedAt": started, "finishedAt": finished,
                    "containerID": format!("containerd://{pod_uid}-{}", self.name)});
                if !message.is_empty() {
                    t["message"] = json!(message);
                }
                json!({"terminated": t})
            }
        };
        let running = matches!(self.state, State::Running(_));
        json!({
            "name": self.name, "image": self.image, "imageID": format!("sim://{}", self.image),
            "containerID": format!("containerd://{pod_uid}-{}", self.name),
            "ready": running, "started": running, "restartCount": 0, "state": state,
        })
    }

    /// Whether it ended with exit code 0.
    pub fn succeeded(&self) -> bool {
        matches!(self.state, State::Terminated { exit_code: 0, .. })
    }
}

/// What the kubelet knows about a pod.
#[derive(Debug, Clone)]
pub struct PodState {
    /// `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: &'static str,
    /// Pod-level reason (`DeadlineExceeded`).
    pub reason: Option<String>,
    /// Pod-level message.
    pub message: Option<String>,
    /// Init containers.
    pub init: Vec<Container>,
    /// Containers.
    pub main: Vec<Container>,
    /// When the kubelet took the pod.
    pub start_time: String,
}

fn containers(pod: &Value, key: &str) -> Vec<Container> {
    pod["spec"][key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Container {
            name: c["name"].as_str().unwrap_or("").to_string(),
            image: c["image"].as_str().unwrap_or("").to_string(),
            state: State::Waiting("PodInitializing".into(), String::new()),
        })
        .collect()
}

impl PodState {
    /// A pod the kubelet just took: Pending, containers waiting.
    pub fn new(pod: &Value) -> Self {
        let mut main = containers(pod, "containers");
        let init = containers(pod, "initContainers");
        for c in &mut main {
            c.state = State::Waiting("ContainerCreating".into(), String::new());
        }
        Self {
            phase: "Pending",
            reason: None,
            message: None,
            init,
            main,
            start_time: crate::time::now_rfc3339(),
        }
    }

    /// The `status` object.
    pub fn render(&self, pod: &Value) -> Value {
        let uid = object::uid(pod);
        let now = crate::time::now_rfc3339();
        let ready = self.phase == "Running" && self.main.iter().all(|c| matches!(c.state, State::Running(_)));
        let initialized = self.init.iter().all(Container::succeeded);
        let cond = |t: &str, s: bool| json!({"type": t, "status": if s { "True" } else { "False" }, "lastTransitionTime": now});
        let mut status = json!({
            "phase": self.phase,
            "conditions": [cond("PodReadyToStartContainers", true), cond("Initialized", initialized),
                cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", true)],
            "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time, "qosClass": "BestEffort",
            "containerStatuses": self.main.iter().map(|c| c.render(uid)).collect::<Vec<_>>(),
        });
        if !self.init.is_empty() {
            status["initContainerStatuses"] = json!(self.init.iter().map(|c| c.render(uid)).collect::<Vec<_>>());
        }
        if let Some(r) = &self.reason {
            status["reason"] = json!(r);
        }
        if let Some(m) = &self.message {
            status["message"] = json!(m);
        }
        status
    }
}

/// The kubelet's user on the pod's node.
fn node_user(pod: &Value) -> String {
    format!(
        "system:node:{}",
        pod["spec"]["nodeName"].as_str().unwrap_or("sim-node-1")
    )
}

/// Writes `status` (and `spec.nodeName` when the pod has none yet).
pub fn write(cluster: &Cluster, pod: &Value, state: &PodState) {
    let Some(rt) = cluster.registry.preferred("", "pods") else {
        return;
    };
    let (ns, name) = (object::namespace(pod), object::name(pod));
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        let ctx = WriteCtx::controller("system:kube-scheduler", "default-scheduler");
        let _ = write::modify(cluster, &rt, ns, name, None, &ctx, |p| {
            if p["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
                p["spec"]["nodeName"] = json!("sim-node-1");
            }
        });
    }
    let user = node_user(pod);
    let ctx = WriteCtx::controller(&user, "kubelet");
    let status = state.render(pod);
    let _ = write::modify(cluster, &rt, ns, name, Some("status"), &ctx, |p| {
        if object::uid(p) == object::uid(pod) {
            p["status"] = status.clone();
        }
    });
}

/// A pod whose images are partly mapped: the unmapped ones cannot be pulled.
pub fn unpullable(cluster: &Cluster, pod: &Value, config: &SimConfig) {
    let mut state = PodState::new(pod);
    for c in state.init.iter_mut().chain(state.main.iter_mut()) {
        if super::program_for(config, &c.image).is_none() {
            let msg = format!(
                "kube-sim: image \"{}\" has no `images:` mapping in sim.yaml while others of this pod do",
                c.image
            );
            c.state = State::Waiting("ErrImagePull".into(), msg);
        }
    }
    write(cluster, pod, &state);
}

/// Ends every container of a simulated pod (not run by a process) with
/// `exit_code` (0: Succeeded, else Failed).
pub fn simulated_exit(cluster: &Cluster, pod: &Value, exit_code: i64) {
    let mut state = PodState::new(pod);
    let now = crate::time::now_rfc3339();
    let started = pod["status"]["startTime"].as_str().unwrap_or(&now).to_string();
    for c in state.init.iter_mut().chain(state.main.iter_mut()) {
        c.state = State::Terminated {
            exit_code,
            reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
            message: String::new(),
            started: started.clone(),
            finished: now.clone(),
        };
    }
    state.phase = if exit_code == 0 { "Succeeded" } else { "Failed" };
    state.start_time = started;
    write(cluster, pod, &state);
}

/// A workflow pod with unmapped images: Running now, Succeeded after `delay`
/// (unless it ended otherwise meanwhile).
pub fn simulate_completion(cluster: &Arc<Cluster>, pod: &Value, delay: Duration) {
    let mut state = PodState::new(pod);
    state.phase = "Running";
    let now = crate::time::now_rfc3339();
    for c in state.init.iter_mut() {
        c.state = State::Terminated {
            exit_code: 0,
            reason: "Completed".into(),
            message: String::new(),
            started: now.clone(),
            finished: now.clone(),
        };
    }
    for c in state.main.iter_mut() {
        c.state = State::Running(now.clone());
    }
    write(cluster, pod, &state);
    let cluster = cluster.clone();
    let (ns, name, uid) = (
        object::namespace(pod).to_string(),
        object::name(pod).to_string(),
        object::uid(pod).to_string(),
    );
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let gr = crate::resources::GroupResource::new("", "pods");
        if let Some(current) = cluster.store.get(&gr, &ns, &name)
            && object::uid(&current) == uid
            && current["status"]["phase"] == "Running"
        {
            simulated_exit(&cluster, &current, 0);
        }
    });
}
