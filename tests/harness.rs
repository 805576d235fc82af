//! Helpers: a temporary `/config` + `/secrets` per test, a runner for the
//! real binary with a clean environment, and a trap that proves no network
//! connection was attempted.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

pub const ENVIRONMENT_YAML: &str = "name: staging-eu
domain: staging.example.com
gitRepository: https://git.example.com/platform.git
gitRevision: main
";

/// A sandbox for one run: config and secrets directories and the env to pass.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
    /// A listener the kubeconfig points at; nothing should ever connect to it
    /// during input validation.
    pub trap: TcpListener,
}

/// What a run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The report on stdout, parsed as JSON.
    pub fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON report ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Messages of the report's failures.
    pub fn failure_messages(&self) -> Vec<String> {
        self.report()["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["message"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Asserts the run was refused as invalid input, with a report saying so
    /// and a message containing `needle` both in the report and in the logs.
    pub fn assert_invalid(&self, needle: &str) {
        assert_eq!(
            self.code, 3,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        let report = self.report();
        assert_eq!(report["summary"]["status"], "Invalid", "{report:#}");
        assert_eq!(report["summary"]["exitCode"], 3);
        let messages = self.failure_messages();
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "expected a failure containing {needle:?}, got:\n{messages:#?}"
        );
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in the logs:\n{}",
            self.stderr
        );
    }
}

pub fn kubeconfig_for(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {{cluster: test, user: test}}
clusters:
- name: test
  cluster: {{server: '{server}'}}
users:
- name: test
  user: {{token: test-token-0123456789}}
"
    )
}

pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

impl Sandbox {
    /// A valid set of inputs: environment.yaml, ENVIRONMENT, a kubeconfig
    /// pointing at the trap, JSON logs.
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("config/environment.yaml"), ENVIRONMENT_YAML).unwrap();
        let trap = TcpListener::bind("127.0.0.1:0").unwrap();
        trap.set_nonblocking(true).unwrap();
        let server = format!("http://{}", trap.local_addr().unwrap());
        let mut env = BTreeMap::new();
        env.insert("CONFIG_DIR".into(), dir.path().join("config").display().to_string());
        env.insert("SECRETS_DIR".into(), dir.path().join("secrets").display().to_string());
        env.insert("ENVIRONMENT".into(), "staging".into());
        env.insert("KUBECONFIG_DATA".into(), b64(&kubeconfig_for(&server)));
        env.insert("LOG_FORMAT".into(), "json".into());
        Sandbox { dir, env, trap }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.dir.path().join("secrets")
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.into(), value.into());
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// Writes a file under the config directory.
    pub fn config_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.config_dir().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `executor <args>` with exactly this sandbox's environment.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(executor_bin())
            .args(args)
            .env_clear()
            .envs(&self.env)
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// [`Sandbox::run`], but killed (and the test failed) if it has not
    /// ended within `limit`: for inputs that used to hang the executor.
    pub fn run_within(&self, args: &[&str], limit: std::time::Duration) -> Run {
        let mut child = Command::new(executor_bin())
            .args(args)
            .env_clear()
            .envs(&self.env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                child.kill().unwrap();
                panic!("`executor {}` still running after {limit:?}", args.join(" "));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts nothing connected to the kubeconfig's server.
    pub fn assert_no_network(&self) {
        match self.trap.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("input validation connected to the cluster (from {peer})"),
            Err(e) => panic!("trap failed: {e}"),
        }
    }
}

pub fn executor_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_executor"))
}

/// The simulator's demo platform: the fixtures' sim.yaml with delays cut so
/// a whole deploy takes a couple of seconds.
pub fn demo_sim_config() -> kube_sim::SimConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sim/fixtures/demo-sim.yaml");
    let mut config = kube_sim::SimConfig::from_file(&path).unwrap();
    config.workloads.ready_after = Some(std::time::Duration::from_millis(30));
    for behaviour in config.apps.values_mut() {
        if behaviour.healthy_after.is_some() {
            behaviour.healthy_after = Some(std::time::Duration::from_millis(200));
        }
    }
    config
}

/// The real upstream manifests (the bundle's files).
pub fn upstream_dir() -> PathBuf {
    executor::bootstrap::test_support::upstream_dir().expect(
        "the upstream manifests (../shared/upstream) are needed by the end-to-end tests; set EXECUTOR_UPSTREAM_DIR",
    )
}

/// A sandbox wired to an in-process kube-sim.
pub struct Platform {
    pub sandbox: Sandbox,
    pub sim: kube_sim::SimThread,
}

/// environment.yaml for the demo repository, with short timeouts.
pub fn demo_environment(extra: &str) -> String {
    format!(
        "name: demo\ndomain: demo.example.com\ngitRepository: https://git.example.com/platform.git\ngitRevision: main\ntimeouts: {{sync: 30s, health: 60s}}\nretries: {{maxAttempts: 4, backoff: 100ms}}\n{extra}"
    )
}

impl Platform {
    /// Starts a simulator with `config` and a sandbox pointing at it.
    pub fn start(config: kube_sim::SimConfig) -> Platform {
        let sim = kube_sim::SimThread::start(kube_sim::SimOptions::with_config(config)).unwrap();
        let mut sandbox = Sandbox::new();
        let kubeconfig = sandbox.dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig("admin")).unwrap();
        sandbox.config_file("environment.yaml", &demo_environment(""));
        sandbox
            .unset("KUBECONFIG_DATA")
            .set("KUBECONFIG_PATH", kubeconfig.to_str().unwrap())
            .set("BUNDLE_DIR", upstream_dir().to_str().unwrap())
            .set("ENVIRONMENT", "development");
        Platform { sandbox, sim }
    }

    /// Writes a kubeconfig using `token` and points the executor at it.
    pub fn use_token(&mut self, token: &str) {
        let path = self.sandbox.dir.path().join(format!("kubeconfig-{token}"));
        std::fs::write(&path, self.sim.kubeconfig(token)).unwrap();
        self.sandbox.set("KUBECONFIG_PATH", path.to_str().unwrap());
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.sandbox.run(args)
    }

    /// Starts `executor <action>` in the background with the sandbox's env
    /// plus `extra`; its stdout and stderr are piped when `capture`.
    pub fn spawn(&self, action: &str, extra: &[(&str, &str)], capture: bool) -> std::process::Child {
        let stdio = || {
            if capture {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            }
        };
        Command::new(executor_bin())
            .arg(action)
            .env_clear()
            .envs(&self.sandbox.env)
            .envs(extra.iter().copied())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .unwrap()
    }

    /// Waits (at most `within`) until the executor wrote an object of
    /// `resource` (named `name`, if given); `child`, if given, must still
    /// be running meanwhile.
    pub fn wait_for_write(
        &self,
        resource: &str,
        name: Option<&str>,
        within: std::time::Duration,
        mut child: Option<&mut std::process::Child>,
    ) {
        let deadline = std::time::Instant::now() + within;
        while !self.writes_since(0).iter().any(|e| {
            e.object_ref
                .as_ref()
                .is_some_and(|o| o.resource == resource && name.is_none_or(|n| o.name.as_deref() == Some(n)))
        }) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {resource} {name:?} was written"
            );
            if let Some(child) = child.as_deref_mut() {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "the run ended before it wrote {resource} {name:?}"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Audit events so far.
    pub fn audit(&self) -> Vec<kube_sim::AuditEvent> {
        self.sim.audit()
    }

    /// Requests by the executor (user `admin`) after `mark` audit events
    /// that would change state: mutating verbs, not dry runs, not reviews.
    pub fn writes_since(&self, mark: usize) -> Vec<kube_sim::AuditEvent> {
        self.audit()
            .into_iter()
            .skip(mark)
            .filter(|e| e.user.username == "admin" && is_write(e))
            .collect()
    }
}

/// A request that changes state.
pub fn is_write(event: &kube_sim::AuditEvent) -> bool {
    let mutating = ["create", "update", "patch", "delete", "deletecollection"].contains(&event.verb.as_str());
    let review = event
        .object_ref
        .as_ref()
        .is_some_and(|o| o.resource.ends_with("reviews"));
    mutating && !review && !event.is_dry_run()
}

/// Short descriptions of audit events, for assertion messages.
pub fn describe(events: &[kube_sim::AuditEvent]) -> Vec<String> {
    events.iter().map(|e| format!("{} {}", e.verb, e.request_uri)).collect()
}
