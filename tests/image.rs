//! The container image, tested for real (when a Docker engine and the
//! images built by `build/image` are present; otherwise these tests say
//! clearly that they were skipped), and the least-privilege RBAC of
//! docs/deploy/ (always: against kube-sim in-process).

use std::collections::BTreeSet;
use std::process::Command;

use base64::Engine as _;

use crate::harness::{Platform, demo_sim_config, upstream_dir};

/// The rules of the ClusterRole in docs/deploy/rbac.yaml.
fn documented_rules() -> Vec<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deploy/rbac.yaml");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
    docs.into_iter().find(|d| d["kind"] == "ClusterRole").unwrap()["rules"]
        .as_array()
        .unwrap()
        .clone()
}

/// Gives `config` two users: `admin` (system:masters) and `executor`,
/// limited to exactly the rules of docs/deploy/rbac.yaml (`use_token`
/// takes the user name). The tokens are not words: the executor redacts
/// its own credential wherever it appears in its output.
pub fn with_documented_rbac(config: &mut kube_sim::SimConfig) {
    let mut tokens = std::collections::BTreeMap::new();
    tokens.insert(
        "k7Qx2admin9Vt4".to_owned(),
        serde_json::from_value(serde_json::json!({"user": "admin", "groups": ["system:masters"]})).unwrap(),
    );
    tokens.insert(
        "p3Zr8executor5Wm1".to_owned(),
        serde_json::from_value(serde_json::json!({"user": "executor", "rules": documented_rules()})).unwrap(),
    );
    config.tokens = tokens;
}

#[test]
fn the_documented_least_privilege_rbac_is_enough_and_used() {
    let rules = documented_rules();
    let mut config = demo_sim_config();
    with_documented_rbac(&mut config);
    let mut platform = Platform::start(config);
    platform.use_token("executor");
    platform
        .sandbox
        .set("TEARDOWN_CONFIRM", "demo")
        .set("PV_POLICY", "delete");
    for action in ["deploy", "validate", "teardown"] {
        let run = platform.run(&[action]);
        assert_eq!(
            run.code, 0,
            "{action} with exactly the documented rules\n{}",
            run.stderr
        );
    }
    let forbidden: Vec<String> = platform
        .audit()
        .iter()
        .filter(|e| e.user.username == "executor" && e.response_status.code == 403)
        .map(|e| format!("{} {}", e.verb, e.request_uri))
        .collect();
    assert!(forbidden.is_empty(), "{forbidden:#?}");

    // Least privilege: every write/list/watch the role grants was needed.
    let used: BTreeSet<(String, String)> = platform
        .audit()
        .iter()
        .filter(|e| e.user.username == "executor")
        .filter_map(|e| e.object_ref.as_ref().map(|o| (e.verb.clone(), o.resource.clone())))
        .collect();
    let mut unused = Vec::new();
    for rule in &rules {
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        if resources == ["*"] {
            continue; // the read-anything `get` of teardown's absence checks
        }
        for verb in rule["verbs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()) {
            // `create` is implied by server-side apply creating objects (the
            // audit shows `patch`); `escalate` and `bind` are checks of the
            // real API server, never request verbs.
            if ["create", "escalate", "bind"].contains(&verb) {
                continue;
            }
            for resource in &resources {
                // Used only by PV_POLICY=retain and TEARDOWN_CRDS=true, which
                // this run does not exercise (teardown tests cover them).
                // Workflow mode's rules are checked by tests/orchestration.rs.
                if [
                    ("patch", "persistentvolumeclaims"),
                    ("delete", "customresourcedefinitions"),
                    ("patch", "workflows"),
                    ("list", "workflows"),
                    ("list", "pods"),
                ]
                .contains(&(verb, resource))
                {
                    continue;
                }
                if !used.contains(&(verb.to_owned(), (*resource).to_owned())) {
                    unused.push(format!("{verb} {resource}"));
                }
            }
        }
    }
    assert!(unused.is_empty(), "rules granted but never used: {unused:?}");
}

fn docker_ready() -> bool {
    let ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok(&["info"]) {
        eprintln!("SKIPPED: no Docker engine: the container image tests did not run");
        return false;
    }
    if !ok(&["image", "inspect", "executor:dev"]) || !ok(&["image", "inspect", "kube-sim:dev"]) {
        eprintln!(
            "SKIPPED: images executor:dev / kube-sim:dev not built (run build/image): the container image tests did not run"
        );
        return false;
    }
    true
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

#[test]
fn the_image_is_small_non_root_and_shell_less() {
    if !docker_ready() {
        return;
    }
    let size: u64 = String::from_utf8(docker(&["image", "inspect", "-f", "{{.Size}}", "executor:dev"]).stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eprintln!("executor:dev is {size} bytes uncompressed");
    assert!(size < 40 * 1024 * 1024, "image size budget: {size} bytes");
    let user =
        String::from_utf8(docker(&["image", "inspect", "-f", "{{.Config.User}}", "executor:dev"]).stdout).unwrap();
    assert_eq!(user.trim(), "65532:65532");
    let labels =
        String::from_utf8(docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", "executor:dev"]).stdout)
            .unwrap();
    for label in [
        "org.opencontainers.image.version",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.source",
    ] {
        assert!(labels.contains(label), "{labels}");
    }
    let version = docker(&[
        "run",
        "--rm",
        "--read-only",
        "--network",
        "none",
        "executor:dev",
        "version",
    ]);
    assert!(version.status.success(), "{}", String::from_utf8_lossy(&version.stderr));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("executor "));
    let plan = docker(&[
        "run",
        "--rm",
        "--read-only",
        "--network",
        "none",
        "executor:dev",
        "plan",
        "--format",
        "mermaid",
    ]);
    assert!(plan.status.success());
    let shell = docker(&["run", "--rm", "--entrypoint", "/bin/sh", "executor:dev", "-c", "true"]);
    assert!(!shell.status.success(), "the image must have no shell");
}

/// Cleans up containers and the network even when an assertion fails.
struct Cleanup(Vec<Vec<String>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in &self.0 {
            let _ = Command::new("docker").args(args).output();
        }
    }
}

#[test]
fn air_gapped_deploy_validate_teardown_in_containers() {
    if !docker_ready() {
        return;
    }
    let id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 100_000
    );
    let network = format!("executor-airgap-{id}");
    let sim = format!("kube-sim-{id}");
    let _cleanup = Cleanup(vec![
        vec!["rm".into(), "-f".into(), sim.clone()],
        vec!["network".into(), "rm".into(), network.clone()],
    ]);
    assert!(docker(&["network", "create", "--internal", &network]).status.success());
    // kube-sim's admin token is random: it writes it into a kubeconfig in a
    // directory the test can read.
    let out = tempfile::tempdir().unwrap();
    let _ = Command::new("chmod")
        .args(["a+rwx", out.path().to_str().unwrap()])
        .status();
    let out_volume = format!("{}:/out", out.path().display());
    let started = docker(&[
        "run",
        "-d",
        "--name",
        &sim,
        "--network",
        &network,
        "-v",
        &out_volume,
        "--entrypoint",
        "/kube-sim",
        "kube-sim:dev",
        "serve",
        "--listen",
        "0.0.0.0:8080",
        "--config",
        "/fixtures/demo-sim.yaml",
        "--kubeconfig-out",
        "/out/kubeconfig",
    ]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !String::from_utf8_lossy(&docker(&["logs", &sim]).stdout).contains("kube-sim listening") {
        assert!(std::time::Instant::now() < deadline, "kube-sim did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // /config with environment.yaml, a dag.yaml overlay and an override script; /secrets.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("scripts")).unwrap();
    std::fs::write(config.join("environment.yaml"), crate::harness::demo_environment("")).unwrap();
    std::fs::write(
        config.join("dag.yaml"),
        "overlay:\n  timeouts: {ceph-cluster: {health: 2m}}\n",
    )
    .unwrap();
    let bundled =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deploy.rhai")).unwrap();
    std::fs::write(
        config.join("scripts/deploy.rhai"),
        format!("{bundled}\nreport::metric(\"override\", \"mounted\");\n"),
    )
    .unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("git-username"), "deploy-bot").unwrap();
    std::fs::write(secrets.join("git-password"), "not-a-real-password").unwrap();
    // Mounted files must be readable by the image's non-root user.
    let _ = Command::new("chmod")
        .args(["-R", "a+rX", dir.path().to_str().unwrap()])
        .status();
    let written = std::fs::read_to_string(out.path().join("kubeconfig")).expect("kube-sim wrote its kubeconfig");
    let token = written
        .lines()
        .find_map(|line| line.trim().strip_prefix("token:"))
        .map(|t| t.trim().trim_matches('"').trim_matches('\'').to_owned())
        .expect("a token in kube-sim's kubeconfig");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: sim\ncontexts:\n- name: sim\n  context: {{cluster: sim, user: admin}}\nclusters:\n- name: sim\n  cluster: {{server: 'http://{sim}:8080'}}\nusers:\n- name: admin\n  user: {{token: {token}}}\n"
    );
    let data = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
    let volume = |from: &std::path::Path, to: &str| format!("{}:{to}:ro", from.display());
    let run = |action: &str, extra: &[&str]| {
        let config_volume = volume(&config, "/config");
        let secrets_volume = volume(&secrets, "/secrets");
        let kubeconfig_env = format!("KUBECONFIG_DATA={data}");
        let mut args = vec![
            "run",
            "--rm",
            "--read-only",
            "--network",
            network.as_str(),
            "-v",
            &config_volume,
            "-v",
            &secrets_volume,
            "-e",
            "ENVIRONMENT=development",
            "-e",
            &kubeconfig_env,
            "-e",
            "LOG_FORMAT=json",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["executor:dev", action]);
        let output = docker(&args);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!(
                "{action}: no JSON report on stdout\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (
            output.status.code().unwrap_or(-1),
            report,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, report, stderr) = run("deploy", &[]);
    assert_eq!(code, 0, "deploy in the container\n{stderr}");
    assert_eq!(
        report["metrics"]["override"], "mounted",
        "the mounted override script ran"
    );
    assert_eq!(
        report["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "app" && c["health"] == "Healthy")
            .count(),
        27
    );
    let (code, _, stderr) = run("validate", &[]);
    assert_eq!(code, 0, "validate in the container\n{stderr}");
    let (code, report, stderr) = run("teardown", &["-e", "TEARDOWN_CONFIRM=demo"]);
    assert_eq!(code, 0, "teardown in the container\n{stderr}");
    assert_eq!(report["orphans"], serde_json::json!([]));
    let _ = upstream_dir;
}
