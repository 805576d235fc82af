//! Running a pod's containers as processes: init containers one after the
//! other (each must exit 0), then all containers at once; the pod ends
//! `Succeeded` when every container exited 0, else `Failed` (containers are
//! not restarted, whatever the `restartPolicy`).
//!
//! With volume mounts, a container runs under
//! `unshare --mount --propagation private -- /bin/sh -c <mounts; cd; exec>`:
//! the bind mounts exist only in the process's own mount namespace, and the
//! final `exec` keeps the process id, so signals reach the program. Missing
//! mount points are created (as empty directories or files) on the host.
//!
//! Stopping follows the kubelet: SIGTERM, SIGKILL once the grace period has
//! passed; `activeDeadlineSeconds` ends the pod with reason
//! `DeadlineExceeded` (`pkg/kubelet/active_deadline.go`).

use super::status::{self, PodState, State};
use super::volumes::{self, Mount, Volumes};
use super::{Stop, env};
use crate::api::object;
use crate::cluster::Cluster;
use futures::future::join_all;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

/// How a pod run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The pod reached Succeeded or Failed (or was deleted).
    Done,
    /// It waits for a ConfigMap or Secret (a mount or env source is missing).
    Waiting,
}

/// The message the kubelet sets on a pod past its `activeDeadlineSeconds`.
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// Everything needed to start one container.
#[derive(Debug)]
struct Prepared {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    mounts: Vec<Mount>,
    working_dir: String,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn prepare(cluster: &Cluster, pod: &Value, c: &Value, volumes: &Volumes) -> Result<Prepared, String> {
    let image = c["image"].as_str().unwrap_or("");
    let program =
        super::program_for(&cluster.config(), image).ok_or_else(|| format!("image \"{image}\" is not mapped"))?;
    let env = env::resolve(cluster, pod, c)?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| env::expand(s.as_str().unwrap_or(""), &env))
            .collect()
    };
    let command = strings(&c["command"]);
    let mut args: Vec<String> = command.into_iter().skip(1).collect();
    args.extend(strings(&c["args"]));
    let mounts = volumes::mounts(c, volumes)?;
    for m in &mounts {
        if !m.source.exists() {
            std::fs::create_dir_all(&m.source).map_err(|e| format!("cannot create {}: {e}", m.source.display()))?;
        }
    }
    Ok(Prepared {
        name: c["name"].as_str().unwrap_or("").to_string(),
        program,
        args,
        env,
        mounts,
        working_dir: c["workingDir"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_string(),
    })
}

/// The shell script that mounts, changes directory and execs.
fn script(p: &Prepared) -> String {
    let mut s = String::new();
    for m in &p.mounts {
        let (src, dst) = (quote(&m.source.to_string_lossy()), quote(&m.target));
        let make = if m.source.is_dir() {
            format!("mkdir -p {dst}")
        } else {
            format!("mkdir -p \"$(dirname {dst})\" && {{ [ -e {dst} ] || : > {dst}; }}")
        };
        let ro = if m.read_only {
            format!(" && mount -o remount,bind,ro {dst}")
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{{ {make} && mount --bind {src} {dst}{ro}; }} || {{ echo \"kube-sim: cannot mount {}\" >&2; exit 128; }}\n",
            m.target.replace(['"', '\''], "")
        ));
    }
    s.push_str(&format!("cd {} || exit 128\nexec \"$@\"\n", quote(&p.working_dir)));
    s
}

fn command(p: &Prepared) -> tokio::process::Command {
    let mut cmd = if p.mounts.is_empty() {
        let mut cmd = tokio::process::Command::new(&p.program);
        cmd.args(&p.args).current_dir(&p.working_dir);
        cmd
    } else {
        let mut cmd = tokio::process::Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(script(p))
            .arg("kube-sim-pod")
            .arg(&p.program)
            .args(&p.args);
        cmd
    };
    cmd.env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn pipe(reader: impl AsyncRead + Unpin, buffer: Arc<super::logs::LogBuffer>) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut line).await {
        if n == 0 {
            break;
        }
        buffer.push(std::mem::take(&mut line));
    }
}

async fn signal(pid: Option<u32>, sig: &str) {
    if let Some(pid) = pid {
        let _ = tokio::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
}

/// Runs one container to its end; `(exit code, pod-level reason)`.
async fn run_container(
    p: &Prepared,
    buffer: Arc<super::logs::LogBuffer>,
    mut stop: watch::Receiver<Stop>,
    deadline: Option<Instant>,
) -> Result<(i64, Option<&'static str>), String> {
    let mut child = command(p)
        .spawn()
        .map_err(|e| format!("failed to start {}: {e}", p.program.display()))?;
    let pid = child.id();
    let out = child.stdout.take().map(|o| tokio::spawn(pipe(o, buffer.clone())));
    let err = child.stderr.take().map(|e| tokio::spawn(pipe(e, buffer.clone())));
    let mut reason = None;
    let mut kill_at: Option<Instant> = None;
    let status = loop {
        let deadline_sleep = async {
            match (deadline, reason) {
                (Some(d), None) => tokio::time::sleep_until(d).await,
                _ => std::future::pending().await,
            }
        };
        let kill_sleep = async {
            match kill_at {
                Some(k) => tokio::time::sleep_until(k).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => break status,
            _ = deadline_sleep => {
                reason = Some("DeadlineExceeded");
                signal(pid, "-TERM").await;
                kill_at = Some(Instant::now() + Duration::from_secs(2));
            }
            _ = kill_sleep => {
                let _ = child.start_kill();
                kill_at = None;
            }
            changed = stop.changed() => {
                let current = *stop.borrow();
                match (changed, current) {
                    (Ok(()), Stop::Terminate(grace)) if kill_at.is_none() => {
                        signal(pid, "-TERM").await;
                        kill_at = Some(Instant::now() + grace);
                    }
                    (Err(_), _) => { let _ = child.start_kill(); }
                    _ => {}
                }
            }
        }
    };
    for task in [out, err].into_iter().flatten() {
        let _ = task.await;
    }
    buffer.close();
    let code = match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code()
                .map(i64::from)
                .or_else(|| s.signal().map(|sig| 128 + i64::from(sig)))
                .unwrap_or(255)
        }
        Err(_) => 255,
    };
    Ok((code, reason))
}

fn terminated(started: String, exit: Result<(i64, Option<&'static str>), String>) -> (State, Option<&'static str>) {
    let finished = crate::time::now_rfc3339();
    match exit {
        Ok((code, reason)) => (
            State::Terminated {
                exit_code: code,
                reason: if code == 0 { "Completed" } else { "Error" }.into(),
                message: String::new(),
                started,
                finished,
            },
            reason,
        ),
        Err(message) => (
            State::Terminated {
                exit_code: 128,
                reason: "StartError".into(),
                message,
                started,
                finished,
            },
            None,
        ),
    }
}

fn wait_for(state: &mut PodState, reason: &str, message: String) {
    for c in state.init.iter_mut().chain(state.main.iter_mut()) {
        if matches!(c.state, State::Waiting(..)) {
            c.state = State::Waiting(reason.into(), message.clone());
        }
    }
}

fn finish(cluster: &Cluster, pod: &Value, state: &mut PodState, deadline_hit: bool) {
    let ok = state.init.iter().all(status::Container::succeeded) && state.main.iter().all(status::Container::succeeded);
    state.phase = if ok { "Succeeded" } else { "Failed" };
    if deadline_hit {
        state.phase = "Failed";
        state.reason = Some("DeadlineExceeded".into());
        state.message = Some(DEADLINE_MESSAGE.into());
    }
    status::write(cluster, pod, state);
}

/// Runs a pod until it ends; see the module documentation.
pub async fn run_pod(cluster: &Arc<Cluster>, pod: &Value, stop: watch::Receiver<Stop>) -> Outcome {
    let mut state = PodState::new(pod);
    let Some(root) = cluster.runtime.dir().map(|d| d.join(object::uid(pod))) else {
        wait_for(
            &mut state,
            "ContainerCreating",
            "kube-sim cannot create a directory for pods".into(),
        );
        status::write(cluster, pod, &state);
        return Outcome::Done;
    };
    let volumes = match volumes::prepare(cluster, pod, &root) {
        Ok(v) => v,
        Err(message) => {
            wait_for(&mut state, "ContainerCreating", message);
            status::write(cluster, pod, &state);
            return Outcome::Waiting;
        }
    };
    let specs = |key: &str| pod["spec"][key].as_array().cloned().unwrap_or_default();
    let mut prepared = vec![];
    for c in specs("initContainers").iter().chain(specs("containers").iter()) {
        match prepare(cluster, pod, c, &volumes) {
            Ok(p) => prepared.push(p),
            Err(message) => {
                wait_for(&mut state, "CreateContainerConfigError", message);
                status::write(cluster, pod, &state);
                return Outcome::Waiting;
            }
        }
    }
    let deadline = pod["spec"]["activeDeadlineSeconds"]
        .as_u64()
        .map(|s| Instant::now() + Duration::from_secs(s));
    let (ns, name) = (object::namespace(pod), object::name(pod));
    let n_init = state.init.len();
    let main = prepared.split_off(n_init);
    for (i, p) in prepared.iter().enumerate() {
        let started = crate::time::now_rfc3339();
        state.init[i].state = State::Running(started.clone());
        status::write(cluster, pod, &state);
        let buffer = cluster.runtime.logs.buffer(ns, name, &p.name);
        let (s, reason) = terminated(started, run_container(p, buffer, stop.clone(), deadline).await);
        state.init[i].state = s;
        if !state.init[i].succeeded() || reason.is_some() {
            finish(cluster, pod, &mut state, reason.is_some());
            return Outcome::Done;
        }
    }
    state.phase = "Running";
    let started = crate::time::now_rfc3339();
    for c in &mut state.main {
        c.state = State::Running(started.clone());
    }
    status::write(cluster, pod, &state);
    let shared = Arc::new(Mutex::new((state, false)));
    let runs = main.iter().enumerate().map(|(i, p)| {
        let shared = shared.clone();
        let buffer = cluster.runtime.logs.buffer(ns, name, &p.name);
        let (stop, started) = (stop.clone(), started.clone());
        async move {
            let (s, reason) = terminated(started, run_container(p, buffer, stop, deadline).await);
            let mut guard = shared.lock().await;
            guard.0.main[i].state = s;
            guard.1 |= reason.is_some();
            if guard.0.main.iter().any(|c| matches!(c.state, State::Running(_))) {
                status::write(cluster, pod, &guard.0);
            }
        }
    });
    join_all(runs).await;
    let mut guard = shared.lock().await;
    let deadline_hit = guard.1;
    finish(cluster, pod, &mut guard.0, deadline_hit);
    Outcome::Done
}

/// The pod's directory under the runner's root (for tests and debugging).
pub fn pod_dir(cluster: &Cluster, pod_uid: &str) -> Option<PathBuf> {
    cluster.runtime.dir().map(|d: &Path| d.join(pod_uid))
}
