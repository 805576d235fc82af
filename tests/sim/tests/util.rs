//! Test helpers: a simulator process per test (from the real binary) with
//! its own temp directory, kubectl runs against it, and audit log reading.

use kube_sim::AuditEvent;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Whether kubectl can be run; prints a loud skip notice when not.
pub fn kubectl_available(test: &str) -> bool {
    let ok = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED {test}: kubectl is not installed");
    }
    ok
}

/// The upstream install manifests (test data outside the repo):
/// `EXECUTOR_UPSTREAM_DIR`, else the first `shared/upstream` above the
/// crate, else the project machines' `/work/shared/upstream`.
pub fn upstream(file: &str) -> PathBuf {
    let candidates = std::env::var_os("EXECUTOR_UPSTREAM_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join("shared/upstream")),
        )
        .chain(std::iter::once(PathBuf::from("/work/shared/upstream")));
    for dir in candidates {
        if dir.join(file).is_file() {
            return dir.join(file);
        }
    }
    panic!("the upstream manifest {file} was not found: set EXECUTOR_UPSTREAM_DIR to the directory holding it")
}

/// Argo CD's health test cases (`shared/conformance/argocd-health`, see its
/// README): `EXECUTOR_CONFORMANCE_DIR`, else the first one above the crate,
/// else the project machines' `/work/shared/conformance/argocd-health`.
pub fn conformance_dir() -> PathBuf {
    let relative = Path::new("shared/conformance/argocd-health");
    std::env::var_os("EXECUTOR_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join(relative)),
        )
        .chain(std::iter::once(Path::new("/work").join(relative)))
        .find(|dir| dir.join("cases.json").is_file())
        .expect(
            "Argo CD's health cases were not found: set EXECUTOR_CONFORMANCE_DIR to shared/conformance/argocd-health",
        )
}

/// A `kube-sim serve` process and its temp directory.
pub struct SimProcess {
    pub stderr: std::sync::Mutex<std::sync::mpsc::Receiver<String>>,
    pub child: Option<Child>,
    pub exited: bool,
    pub pid: u32,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl SimProcess {
    /// Starts the binary with an optional `sim.yaml` text.
    pub fn start(config: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kube-sim"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig-out"])
            .arg(dir.path().join("kubeconfig"))
            .arg("--audit-log")
            .arg(dir.path().join("audit.log"));
        if let Some(text) = config {
            let path = dir.path().join("sim.yaml");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (err_tx, err_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                if err_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("kube-sim announced itself");
        let url = line
            .trim()
            .strip_prefix("kube-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let pid = child.id();
        Self {
            stderr: std::sync::Mutex::new(err_rx),
            child: Some(child),
            exited: false,
            pid,
            url,
            dir,
        }
    }

    /// Starts the binary with a `sim.yaml` file.
    pub fn start_with_config_file(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let base = path.parent().unwrap();
        // Make relative directories absolute, since the copy lives elsewhere.
        let text = text.replace("dir: ./", &format!("dir: {}/", base.display()));
        Self::start(Some(&text))
    }

    /// The admin kubeconfig the binary wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The admin's bearer token, read from the kubeconfig the binary wrote
    /// (random unless the test's `sim.yaml` names fixed tokens).
    pub fn token(&self) -> String {
        let text = std::fs::read_to_string(self.kubeconfig()).unwrap();
        text.lines()
            .find_map(|l| l.trim().strip_prefix("token: "))
            .expect("the kubeconfig has a token")
            .to_string()
    }

    /// A kubeconfig for another token.
    pub fn kubeconfig_for(&self, token: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.kubeconfig()).unwrap();
        let path = self.dir.path().join(format!("kubeconfig-{token}"));
        let admin = format!("token: {}", self.token());
        std::fs::write(&path, text.replace(&admin, &format!("token: {token}"))).unwrap();
        path
    }

    /// A kubectl command against this simulator.
    pub fn kubectl_cmd(&self, kubeconfig: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", kubeconfig)
            .env("HOME", self.dir.path())
            .arg("--cache-dir")
            .arg(self.dir.path().join("kube-cache"))
            .args(args);
        cmd
    }

    /// Runs kubectl as admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_as(&self.kubeconfig(), args)
    }

    /// Runs kubectl with a kubeconfig.
    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        self.kubectl_cmd(kubeconfig, args).output().unwrap()
    }

    /// Runs kubectl with stdin.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .kubectl_cmd(&self.kubeconfig(), args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs kubectl as admin and insists it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Applies YAML from stdin and insists it succeeded.
    pub fn apply(&self, yaml: &str, extra: &[&str]) -> String {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        let out = self.kubectl_stdin(&args, yaml);
        assert!(
            out.status.success(),
            "kubectl apply failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every audit event so far, parsed from the log file.
    pub fn audit(&self) -> Vec<AuditEvent> {
        let text = std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad audit line {l}: {e}")))
            .collect()
    }

    /// Waits for a stderr line containing `text`.
    pub fn wait_stderr(&self, text: &str, within: Duration) -> bool {
        let rx = self.stderr.lock().unwrap();
        let deadline = std::time::Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(text) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Sends a signal by name (`TERM`, `HUP`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, up to a deadline.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx.recv_timeout(within).ok().and_then(Result::ok);
        self.exited = status.is_some();
        status
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        } else if !self.exited {
            let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
        }
    }
}

/// Resource versions of every object `kubectl get <kinds> -A -o json` lists.
pub fn resource_versions(sim: &SimProcess, kinds: &str) -> Vec<(String, String)> {
    let out = sim.ok(&["get", kinds, "-A", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut rvs: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap()
                ),
                o["metadata"]["resourceVersion"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rvs.sort();
    rvs
}

/// A raw HTTP/1.1 exchange (plain HTTP): status, headers and body; status 0
/// when the server dropped the connection without answering.
pub fn http(url: &str, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), rest.to_string())
}

/// An in-process simulator and a kube-rs client for it (through the
/// kubeconfig the simulator renders, so TLS and the token are exercised).
pub async fn kube_client(config: kube_sim::SimConfig) -> (kube_sim::Sim, kube::Client) {
    let sim = kube_sim::Sim::start(kube_sim::SimOptions::with_config(config))
        .await
        .unwrap();
    let client = client_for(&sim, "admin").await;
    (sim, client)
}

/// A kube-rs client for a running simulator and token.
pub async fn client_for(sim: &kube_sim::Sim, token: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig(token)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Server-side applies every document of a YAML file (as `kube-sim-test`),
/// placing namespaced objects without a namespace into `namespace`.
pub async fn apply_file(client: &kube::Client, path: &Path, namespace: &str) -> usize {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::discovery::{Discovery, Scope};
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut discovery = Discovery::new(client.clone()).run().await.unwrap();
    let mut count = 0;
    for doc in docs.into_iter().filter(|d| d.is_object()) {
        let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        let types = obj.types.clone().unwrap();
        let gvk = kube::api::GroupVersionKind::try_from(&types).unwrap();
        if discovery.resolve_gvk(&gvk).is_none() {
            discovery = Discovery::new(client.clone()).run().await.unwrap();
        }
        let (ar, caps) = discovery.resolve_gvk(&gvk).unwrap();
        let name = obj.metadata.name.clone().unwrap();
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            let ns = obj.metadata.namespace.clone().unwrap_or_else(|| namespace.to_string());
            Api::namespaced_with(client.clone(), &ns, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        api.patch(&name, &PatchParams::apply("kube-sim-test").force(), &Patch::Apply(&doc))
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", gvk.kind));
        count += 1;
    }
    count
}

/// Waits (watching, with a deadline) until `check` holds for the named object.
pub async fn wait_for<K>(
    api: &kube::Api<K>,
    name: &str,
    within: Duration,
    check: impl Fn(&K) -> bool + Send + 'static,
) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let cond = move |o: Option<&K>| o.is_some_and(&check);
    match tokio::time::timeout(within, kube::runtime::wait::await_condition(api.clone(), name, cond)).await {
        Ok(Ok(Some(o))) => o,
        other => {
            let current = api.get_opt(name).await;
            panic!("condition on {name} not met within {within:?}: {other:?}; current: {current:?}");
        }
    }
}

/// Waits (watching, with a deadline) until the named object is gone.
pub async fn wait_gone<K>(api: &kube::Api<K>, name: &str, within: Duration)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let absent = tokio::time::timeout(
        within,
        kube::runtime::wait::await_condition(api.clone(), name, |o: Option<&K>| o.is_none()),
    )
    .await;
    assert!(
        matches!(absent, Ok(Ok(_))),
        "{name} still exists after {within:?}: {:?}",
        api.get_opt(name).await
    );
}
