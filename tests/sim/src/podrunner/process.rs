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
//! Each container runs as its own process group (`setsid`); when its main
//! process ends, what is left of the group is killed, as the container's
//! PID namespace would be. Stopping follows the kubelet: SIGTERM to the main
//! process, SIGKILL once the grace period has passed; `activeDeadlineSeconds` ends the pod with reason
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
use tokio::sync::{Mutex, oneshot, watch};
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
    // `setsid` makes the process a group leader (same pid: it execs), so
    // what it leaves behind can be killed with the group once it exits, as
    // a container's PID namespace would be torn down.
    let mut cmd = tokio::process::Command::new("setsid");
    if p.mounts.is_empty() {
        cmd.arg(&p.program).args(&p.args).current_dir(&p.working_dir);
    } else {
        cmd.args(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(script(p))
            .arg("kube-sim-pod")
            .arg(&p.program)
            .args(&p.args);
    }
    cmd.env_clear()
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Reads the container's output (stdout and stderr share one pipe, so lines
/// keep the order the program wrote them in) into its log buffer.
fn pipe(reader: std::io::PipeReader, buffer: Arc<super::logs::LogBuffer>) {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut line) {
        if n == 0 {
            break;
        }
        buffer.push(std::mem::take(&mut line));
    }
}

/// Sends `sig` to `target` (a pid, or `-<pgid>` for a process group).
async fn signal(target: Option<String>, sig: &str) {
    if let Some(target) = target {
        let _ = tokio::process::Command::new("kill")
            .args([sig, "--", &target])
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
    on_start: Option<oneshot::Sender<()>>,
) -> Result<(i64, Option<&'static str>), String> {
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let mut cmd = command(p);
    cmd.stdout(writer.try_clone().map_err(|e| format!("cannot make a pipe: {e}"))?)
        .stderr(writer);
    let spawned = cmd.spawn();
    // The parent's copies of the write end must go, or the pipe never ends.
    drop(cmd);
    let mut child = spawned.map_err(|e| format!("failed to start {}: {e}", p.program.display()))?;
    let pid = child.id().map(|p| p.to_string());
    if let Some(tx) = on_start {
        let _ = tx.send(());
    }
    let output = {
        let buffer = buffer.clone();
        tokio::task::spawn_blocking(move || pipe(reader, buffer))
    };
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
                signal(pid.clone(), "-TERM").await;
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
                        signal(pid.clone(), "-TERM").await;
                        kill_at = Some(Instant::now() + grace);
                    }
                    (Err(_), _) => { let _ = child.start_kill(); }
                    _ => {}
                }
            }
        }
    };
    // The container is gone: so is everything it started.
    signal(pid.map(|p| format!("-{p}")), "-KILL").await;
    // A process that left the group may hold the pipe: stop waiting then.
    let _ = tokio::time::timeout(Duration::from_millis(500), output).await;
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
        let (s, reason) = terminated(started, run_container(p, buffer, stop.clone(), deadline, None).await);
        state.init[i].state = s;
        if !state.init[i].succeeded() || reason.is_some() {
            finish(cluster, pod, &mut state, reason.is_some());
            return Outcome::Done;
        }
    }
    let started = crate::time::now_rfc3339();
    let shared = Arc::new(Mutex::new((state, false)));
    let (starts, started_rx): (Vec<_>, Vec<_>) = main.iter().map(|_| oneshot::channel()).unzip();
    let runs = main.iter().zip(starts).enumerate().map(|(i, (p, on_start))| {
        let shared = shared.clone();
        let buffer = cluster.runtime.logs.buffer(ns, name, &p.name);
        let (stop, started) = (stop.clone(), started.clone());
        async move {
            let exit = run_container(p, buffer, stop, deadline, Some(on_start)).await;
            let (s, reason) = terminated(started, exit);
            let mut guard = shared.lock().await;
            guard.0.main[i].state = s;
            guard.1 |= reason.is_some();
            if guard
                .0
                .main
                .iter()
                .any(|c| !matches!(c.state, State::Terminated { .. }))
            {
                status::write(cluster, pod, &guard.0);
            }
        }
    });
    // Running is reported once the processes exist, as the kubelet does
    // once the runtime started the containers.
    let announce = async {
        for rx in started_rx {
            let _ = rx.await;
        }
        let mut guard = shared.lock().await;
        guard.0.phase = "Running";
        for c in &mut guard.0.main {
            if matches!(c.state, State::Waiting(..)) {
                c.state = State::Running(started.clone());
            }
        }
        status::write(cluster, pod, &guard.0);
    };
    tokio::join!(join_all(runs), announce);
    let mut guard = shared.lock().await;
    let deadline_hit = guard.1;
    finish(cluster, pod, &mut guard.0, deadline_hit);
    Outcome::Done
}

/// The pod's directory under the runner's root (for tests and debugging).
pub fn pod_dir(cluster: &Cluster, pod_uid: &str) -> Option<PathBuf> {
    cluster.runtime.dir().map(|d: &Path| d.join(pod_uid))
}
