//! kubectl against the `kube-sim` binary: the "Done when" list of issue 3.

use crate::util::{SimProcess, kubectl_available, resource_versions, upstream};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

const NS_ARGOCD: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n";

#[test]
fn server_side_apply_of_argo_cd_is_idempotent_and_audited() {
    if !kubectl_available("server_side_apply_of_argo_cd_is_idempotent_and_audited") {
        return;
    }
    let sim = SimProcess::start(None);
    sim.apply(NS_ARGOCD, &[]);
    let manifest = upstream("argo-cd-v3.5.1-install.yaml");
    let manifest = manifest.to_str().unwrap();
    let before = sim.audit().len();
    let out = sim.ok(&["apply", "--server-side", "-f", manifest, "-n", "argocd"]);
    let applied = out.lines().filter(|l| l.contains("serverside-applied")).count();
    assert_eq!(applied, 59, "{out}");
    let patches = sim.audit()[before..]
        .iter()
        .filter(|e| e.verb == "patch" && e.user.username == "admin")
        .count();
    assert_eq!(patches, 59, "one apply PATCH per object");

    // Let the workload controllers finish first: their status writes are
    // not the client's doing.
    sim.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        "-n",
        "argocd",
        "--timeout=30s",
    ]);
    sim.ok(&[
        "rollout",
        "status",
        "statefulset/argocd-application-controller",
        "-n",
        "argocd",
        "--timeout=30s",
    ]);
    let kinds = "deploy,sts,cm,secret,svc,sa,role,rolebinding,netpol,crd,clusterrole,clusterrolebinding";
    let first = resource_versions(&sim, kinds);
    let out = sim.ok(&["apply", "--server-side", "-f", manifest, "-n", "argocd"]);
    assert_eq!(out.lines().filter(|l| l.contains("serverside-applied")).count(), 59);
    let second = resource_versions(&sim, kinds);
    assert_eq!(
        first, second,
        "re-applying the same file must change no resourceVersion"
    );
    assert!(first.iter().any(|(k, _)| k == "Deployment/argocd/argocd-server"));
    // Objects without a namespace in the file went to -n argocd; the CRDs
    // are served.
    sim.ok(&["get", "applications.argoproj.io", "-n", "argocd"]);
    let crd = sim.ok(&[
        "get",
        "crd",
        "applications.argoproj.io",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
    ]);
    assert_eq!(crd, "True");
    // Client-side apply cannot carry the big CRDs: their last-applied
    // annotation exceeds the 256 KiB annotation limit, as on a real cluster.
    let out = sim.kubectl(&["apply", "-f", manifest, "-n", "argocd"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("metadata.annotations: Too long"));
}

#[test]
fn argo_workflows_install_applies_into_argo() {
    if !kubectl_available("argo_workflows_install_applies_into_argo") {
        return;
    }
    let sim = SimProcess::start(None);
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argo\n", &[]);
    let manifest = upstream("argo-workflows-v4.1.2-install.yaml");
    let out = sim.ok(&["apply", "--server-side", "-f", manifest.to_str().unwrap()]);
    assert!(out.lines().all(|l| l.ends_with("serverside-applied")), "{out}");
    let deployments = sim.ok(&["get", "deploy", "-n", "argo", "-o", "name"]);
    assert!(deployments.contains("workflow-controller"), "{deployments}");
    sim.ok(&["get", "workflowtemplates.argoproj.io", "-A"]);
}

const APP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: default
  labels: {app: web}
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27.3
          ports: [{containerPort: 80}]
"#;

#[test]
fn get_describe_patch_delete_and_wait() {
    if !kubectl_available("get_describe_patch_delete_and_wait") {
        return;
    }
    let sim = SimProcess::start(Some("workloads: {readyAfter: 200ms}\n"));
    sim.apply(APP, &[]);
    let json: serde_json::Value = serde_json::from_str(&sim.ok(&["get", "deploy", "web", "-o", "json"])).unwrap();
    assert_eq!(json["spec"]["replicas"], 2);
    let yaml = sim.ok(&["get", "cm", "web-config", "-o", "yaml"]);
    assert!(yaml.contains("greeting: hello"), "{yaml}");
    let table = sim.ok(&["get", "cm", "-l", "app=web"]);
    assert!(table.starts_with("NAME") && table.contains("web-config"), "{table}");
    sim.ok(&["wait", "--for=condition=Available", "deployment/web", "--timeout=20s"]);
    sim.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let described = sim.ok(&["describe", "deployment", "web"]);
    assert!(described.contains("nginx:1.27.3"), "{described}");

    // Patches of all three kinds.
    sim.ok(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27.4"}]}}}}"#,
    ]);
    sim.ok(&[
        "patch",
        "cm",
        "web-config",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"extra":"1"}}"#,
    ]);
    sim.ok(&[
        "patch",
        "cm",
        "web-config",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/data/greeting","value":"hi"}]"#,
    ]);
    let d: serde_json::Value = serde_json::from_str(&sim.ok(&["get", "deploy", "web", "-o", "json"])).unwrap();
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27.4");
    assert_eq!(d["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1);
    assert_eq!(d["metadata"]["generation"], 2, "a spec change bumps the generation");
    let cm: serde_json::Value = serde_json::from_str(&sim.ok(&["get", "cm", "web-config", "-o", "json"])).unwrap();
    assert_eq!(cm["data"], serde_json::json!({"greeting": "hi", "extra": "1"}));
    sim.ok(&["wait", "--for=condition=Available", "deployment/web", "--timeout=20s"]);

    sim.ok(&["delete", "deploy", "web"]);
    let out = sim.kubectl(&["get", "deploy", "web"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"));
    // Client-side apply (strategic merge) still works after the fact.
    sim.apply(APP, &[]);
    sim.apply(&APP.replace("greeting: hello", "greeting: again"), &[]);
    let cm = sim.ok(&["get", "cm", "web-config", "-o", "jsonpath={.data.greeting}"]);
    assert_eq!(cm, "again");
}

#[test]
fn stale_update_gets_409() {
    if !kubectl_available("stale_update_gets_409") {
        return;
    }
    let sim = SimProcess::start(None);
    sim.apply(APP, &[]);
    let stale = sim.ok(&["get", "cm", "web-config", "-o", "json"]);
    sim.ok(&[
        "patch",
        "cm",
        "web-config",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"changed":"yes"}}"#,
    ]);
    let out = sim.kubectl_stdin(&["replace", "-f", "-"], &stale);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Conflict") && err.contains("the object has been modified"),
        "{err}"
    );
    assert!(
        sim.audit()
            .iter()
            .any(|e| e.verb == "update" && e.response_status.code == 409)
    );
}

#[test]
fn dry_run_server_writes_nothing() {
    if !kubectl_available("dry_run_server_writes_nothing") {
        return;
    }
    let sim = SimProcess::start(None);
    let out = sim.apply(APP, &["--dry-run=server"]);
    assert!(out.contains("(server dry run)"), "{out}");
    assert!(!sim.kubectl(&["get", "cm", "web-config"]).status.success());
    sim.apply(APP, &["--server-side", "--dry-run=server"]);
    assert!(!sim.kubectl(&["get", "deploy", "web"]).status.success());
    sim.apply(APP, &[]);
    sim.ok(&["wait", "--for=condition=Available", "deployment/web", "--timeout=20s"]);
    let before = resource_versions(&sim, "cm,deploy");
    sim.ok(&["delete", "cm", "web-config", "--dry-run=server"]);
    sim.ok(&["delete", "deploy", "web", "--dry-run=server"]);
    sim.apply(
        &APP.replace("hello", "changed").replace("replicas: 2", "replicas: 3"),
        &["--server-side", "--force-conflicts", "--dry-run=server"],
    );
    assert_eq!(before, resource_versions(&sim, "cm,deploy"));
    let dry: Vec<_> = sim.audit().into_iter().filter(|e| e.is_dry_run()).collect();
    assert!(dry.iter().any(|e| e.verb == "delete"));
    assert!(dry.iter().any(|e| e.request_uri.contains("dryRun=All")));
    assert!(dry.iter().any(|e| e.verb == "patch"));
}

#[test]
fn deleting_a_namespace_removes_its_objects() {
    if !kubectl_available("deleting_a_namespace_removes_its_objects") {
        return;
    }
    let sim = SimProcess::start(None);
    sim.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n", &[]);
    sim.apply(&APP.replace("namespace: default", "namespace: doomed"), &[]);
    sim.ok(&["delete", "namespace", "doomed", "--timeout=30s"]);
    assert!(!sim.kubectl(&["get", "ns", "doomed"]).status.success());
    let left = sim.ok(&["get", "cm,deploy,rs,pods", "-n", "doomed", "-o", "name"]);
    assert_eq!(left.trim(), "", "objects left: {left}");
    // Creating into a missing namespace is a 404.
    let out = sim.kubectl_stdin(
        &["create", "-f", "-"],
        &APP.replace("namespace: default", "namespace: doomed"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("namespaces \"doomed\" not found"));
}

#[test]
fn get_watch_sees_events() {
    if !kubectl_available("get_watch_sees_events") {
        return;
    }
    let sim = SimProcess::start(None);
    let mut watch = sim
        .kubectl_cmd(&sim.kubeconfig(), &["get", "configmaps", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first object may arrive through the initial list or the watch;
    // the second one, created after the first was printed, only through
    // the watch.
    sim.apply(APP, &[]);
    let wait_for = |name: &str, seen: &mut Vec<String>| {
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
            seen.push(line.clone());
            if line.contains(name) {
                return true;
            }
        }
        false
    };
    let mut seen = Vec::new();
    assert!(wait_for("configmap/web-config", &mut seen), "{seen:?}");
    sim.apply(&APP.replace("web-config", "later-config"), &[]);
    assert!(wait_for("configmap/later-config", &mut seen), "{seen:?}");
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(sim.audit().iter().any(|e| e.verb == "watch"));
}

#[test]
fn sigterm_exits_cleanly_and_sighup_reloads() {
    let mut sim = SimProcess::start(Some("tokens:\n  admin: {user: admin}\n"));
    let config = sim.dir.path().join("sim.yaml");
    std::fs::write(&config, "tokens:\n  admin: {user: admin}\n  late: {user: late}\n").unwrap();
    sim.signal("HUP");
    assert!(
        sim.wait_stderr("reloaded", Duration::from_secs(10)),
        "the reload is reported"
    );
    assert_eq!(
        http_status(&sim.url, "late"),
        200,
        "the token added on SIGHUP is accepted"
    );
    sim.signal("TERM");
    let status = sim.wait_exit(Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// GET /api with a token over plain HTTP; returns the status code.
fn http_status(url: &str, token: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The executor's environment lock (src/k8s/lease.rs) is only safe if a
/// write carrying a stale `metadata.resourceVersion` is refused, as
/// kube-apiserver refuses it: 409 Conflict with
/// `OptimisticLockErrorMsg` ("the object has been modified; please apply
/// your changes to the latest version and try again", defined in
/// k8s.io/apiserver/pkg/registry/generic/registry/store.go). Driven by the
/// real kubectl, so the expectation is upstream's, not ours.
#[test]
fn a_write_with_a_stale_resource_version_is_a_conflict() {
    if !kubectl_available("a_write_with_a_stale_resource_version_is_a_conflict") {
        return;
    }
    let sim = SimProcess::start(None);
    sim.apply(NS_ARGOCD, &[]);
    sim.apply(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: executor-staging, namespace: argocd}\nspec: {holderIdentity: first, leaseDurationSeconds: 15}\n",
        &[],
    );
    let stale = sim.ok(&[
        "get",
        "lease",
        "executor-staging",
        "-n",
        "argocd",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    // The first holder renews (a write that changes the object: an unchanged
    // patch keeps the version, upstream and here): the version moves on.
    let patch = |holder: &str, version: &str| {
        format!(
            r#"{{"metadata":{{"resourceVersion":"{version}"}},"spec":{{"holderIdentity":"{holder}","renewTime":"2026-12-07T20:00:0{}.000000Z"}}}}"#,
            holder.len() % 10
        )
    };
    sim.ok(&[
        "patch",
        "lease",
        "executor-staging",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        &patch("first", &stale),
    ]);
    // A second run that read the old version tries to take over: refused.
    let out = sim.kubectl(&[
        "patch",
        "lease",
        "executor-staging",
        "-n",
        "argocd",
        "--type=merge",
        "-p",
        &patch("second", &stale),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error from server (Conflict)")
            && stderr.contains(
                "the object has been modified; please apply your changes to the latest version and try again"
            ),
        "{stderr}"
    );
    let holder = sim.ok(&[
        "get",
        "lease",
        "executor-staging",
        "-n",
        "argocd",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(holder, "first");
    // A replace (PUT) with the stale version is refused the same way.
    let out = sim.kubectl_stdin(
        &["replace", "-f", "-"],
        &format!("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: executor-staging, namespace: argocd, resourceVersion: \"{stale}\"}}\nspec: {{holderIdentity: second}}\n"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Conflict"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
