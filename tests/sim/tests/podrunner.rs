//! The pod runner on its own: a shell script mapped as an image sees its
//! env (`valueFrom`, `fieldRef`, `$(VAR)` expansion), its volumes at their
//! `mountPath`s (only inside its own mount namespace), exits with a code the
//! pod reports; `kubectl logs` shows what it printed. And real kubectl, run
//! inside pods with in-cluster config (the mounted ServiceAccount token and
//! CA, `KUBERNETES_SERVICE_HOST/PORT`), is allowed exactly what the
//! cluster's RBAC grants that ServiceAccount.
//!
//! Upstream references: the kubelet's env rules (`pkg/kubelet/kubelet_pods.go`
//! `makeEnvironmentVariables`), the container state shape of
//! `k8s.io/api/core/v1` `ContainerStateTerminated`, kubectl's in-cluster
//! config (`client-go/rest.InClusterConfig`), RBAC evaluation
//! (`plugin/pkg/auth/authorizer/rbac/rbac.go`).

use crate::util::{SimProcess, kubectl_available};
use std::os::unix::fs::PermissionsExt;

const PROBE: &str = r#"#!/bin/sh
echo "args: $*"
echo "POD_NAME=$POD_NAME"
echo "POD_NS=$POD_NS"
echo "FROM_CM=$FROM_CM"
echo "FROM_SECRET=$FROM_SECRET"
echo "EXPANDED=$EXPANDED"
echo "greeting: $(cat /etc/kube-sim-probe/config/greeting)"
echo "password: $(cat /etc/kube-sim-probe/secret/password)"
echo "sa-namespace: $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"
[ -s /var/run/secrets/kubernetes.io/serviceaccount/token ] && echo "token: present"
echo scratch > /var/kube-sim-probe/scratch/file && echo "scratch: $(cat /var/kube-sim-probe/scratch/file)"
[ -n "$KUBECONFIG" ] && echo "leaked KUBECONFIG"
echo "to stderr" >&2
exit "${EXIT_CODE:-0}"
"#;

fn pod(name: &str, exit_code: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: probe:1.0
    command: [probe, hello]
    args: [world]
    env:
    - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    - {{name: POD_NS, valueFrom: {{fieldRef: {{fieldPath: metadata.namespace}}}}}}
    - {{name: FROM_CM, valueFrom: {{configMapKeyRef: {{name: probe, key: greeting}}}}}}
    - {{name: FROM_SECRET, valueFrom: {{secretKeyRef: {{name: probe, key: password}}}}}}
    - {{name: EXPANDED, value: "$(POD_NAME)-x"}}
    - {{name: EXIT_CODE, value: "{exit_code}"}}
    volumeMounts:
    - {{name: config, mountPath: /etc/kube-sim-probe/config}}
    - {{name: secret, mountPath: /etc/kube-sim-probe/secret, readOnly: true}}
    - {{name: scratch, mountPath: /var/kube-sim-probe/scratch}}
  volumes:
  - {{name: config, configMap: {{name: probe}}}}
  - {{name: secret, secret: {{secretName: probe}}}}
  - {{name: scratch, emptyDir: {{}}}}
"#
    )
}

fn sim_with(images: &[(&str, &str)]) -> SimProcess {
    let mut text = String::from("workloads: {readyAfter: 100ms}\nimages:\n");
    for (image, program) in images {
        text.push_str(&format!("  \"{image}\": {program}\n"));
    }
    SimProcess::start(Some(&text))
}

#[test]
fn a_mapped_image_runs_with_env_volumes_exit_code_and_logs() {
    if !kubectl_available("a_mapped_image_runs_with_env_volumes_exit_code_and_logs") {
        return;
    }
    let scripts = tempfile::tempdir().unwrap();
    let probe = scripts.path().join("probe.sh");
    std::fs::write(&probe, PROBE).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sim = sim_with(&[("probe:*", probe.to_str().unwrap())]);
    sim.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe, namespace: default}\ndata: {greeting: hello-from-cm}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: probe, namespace: default}\nstringData: {password: s3cr3t}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: default}\n",
        &[],
    );
    sim.apply(&pod("probe-fails", "3"), &[]);
    sim.apply(&pod("probe-works", "0"), &[]);
    sim.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Failed",
        "pod/probe-fails",
        "--timeout=30s",
    ]);
    sim.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/probe-works",
        "--timeout=30s",
    ]);

    let state = sim.ok(&["get", "pod", "probe-fails", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}"]);
    assert_eq!(state, "3 Error");
    let state = sim.ok(&["get", "pod", "probe-works", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}"]);
    assert_eq!(state, "0 Completed");

    let logs = sim.ok(&["logs", "probe-works"]);
    for line in [
        "args: hello world",
        "POD_NAME=probe-works",
        "POD_NS=default",
        "FROM_CM=hello-from-cm",
        "FROM_SECRET=s3cr3t",
        "EXPANDED=probe-works-x",
        "greeting: hello-from-cm",
        "password: s3cr3t",
        "sa-namespace: default",
        "token: present",
        "scratch: scratch",
        "to stderr",
    ] {
        assert!(logs.lines().any(|l| l == line), "missing {line:?} in logs:\n{logs}");
    }
    assert!(
        !logs.contains("leaked KUBECONFIG"),
        "the caller's environment leaked:\n{logs}"
    );
    let tail = sim.ok(&["logs", "probe-works", "-c", "main", "--tail=1"]);
    assert_eq!(tail, "to stderr\n");
    // The mounts existed only in the pod's mount namespace.
    assert!(!std::path::Path::new("/etc/kube-sim-probe/config/greeting").exists());
    let missing = sim.kubectl(&["logs", "probe-works", "-c", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("container nope is not valid for pod probe-works"));
}

#[test]
fn a_missing_config_map_keeps_the_pod_waiting_until_it_exists() {
    if !kubectl_available("a_missing_config_map_keeps_the_pod_waiting_until_it_exists") {
        return;
    }
    let sim = sim_with(&[("alpine:*", "/bin/sh")]);
    sim.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: waits, namespace: default}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: main\n    image: alpine:3.20\n    command: [sh, -c, 'echo $V']\n    \
         env: [{name: V, valueFrom: {configMapKeyRef: {name: later, key: v}}}]\n  automountServiceAccountToken: false\n",
        &[],
    );
    sim.ok(&[
        "wait",
        "--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=CreateContainerConfigError",
        "pod/waits",
        "--timeout=20s",
    ]);
    let message = sim.ok(&[
        "get",
        "pod",
        "waits",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.message}",
    ]);
    assert_eq!(message, "configmap \"later\" not found");
    sim.apply(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later, namespace: default}\ndata: {v: arrived}\n",
        &[],
    );
    sim.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/waits",
        "--timeout=20s",
    ]);
    assert_eq!(sim.ok(&["logs", "waits"]), "arrived\n");
}

const RBAC: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: team}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: visible, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: configmap-reader, namespace: team}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: configmap-reader}
subjects:
- {kind: ServiceAccount, name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: team-aggregate}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-team: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: team-pods
  labels: {example.com/aggregate-to-team: "true"}
rules:
- {apiGroups: [""], resources: [pods], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-aggregate, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: team-aggregate}
subjects:
- {kind: ServiceAccount, name: reader, namespace: team}
"#;

fn kubectl_pod(name: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: team}}\nspec:\n  serviceAccountName: reader\n  \
         restartPolicy: Never\n  containers:\n  - name: main\n    image: bitnami/kubectl:1.32\n    \
         command: [kubectl]\n    args: [{}, \"--cache-dir=/cache\"]\n    volumeMounts: [{{name: cache, mountPath: /cache}}]\n  \
         volumes: [{{name: cache, emptyDir: {{}}}}]\n",
        args.join(", ")
    )
}

#[test]
fn a_pod_service_account_token_gets_what_rbac_allows_and_403_otherwise() {
    if !kubectl_available("a_pod_service_account_token_gets_what_rbac_allows_and_403_otherwise") {
        return;
    }
    let kubectl = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v kubectl"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let sim = sim_with(&[("bitnami/kubectl:*", kubectl.trim())]);
    sim.apply(RBAC, &[]);
    sim.apply(
        &kubectl_pod("allowed", &["get", "configmaps", "-n", "team", "-o", "name"]),
        &[],
    );
    sim.apply(&kubectl_pod("denied", &["get", "secrets", "-n", "team"]), &[]);
    sim.apply(
        &kubectl_pod("other-namespace", &["get", "configmaps", "-n", "default"]),
        &[],
    );
    sim.apply(
        &kubectl_pod("aggregated", &["get", "pods", "-n", "team", "-o", "name"]),
        &[],
    );
    for (pod, phase) in [
        ("allowed", "Succeeded"),
        ("denied", "Failed"),
        ("other-namespace", "Failed"),
        ("aggregated", "Succeeded"),
    ] {
        sim.ok(&[
            "wait",
            &format!("--for=jsonpath={{.status.phase}}={phase}"),
            &format!("pod/{pod}"),
            "-n",
            "team",
            "--timeout=30s",
        ]);
    }
    let allowed = sim.ok(&["logs", "allowed", "-n", "team"]);
    assert!(allowed.lines().any(|l| l == "configmap/visible"), "{allowed}");
    let denied = sim.ok(&["logs", "denied", "-n", "team"]);
    assert!(
        denied.contains(r#"secrets is forbidden: User "system:serviceaccount:team:reader" cannot list resource "secrets" in API group "" in the namespace "team""#),
        "{denied}"
    );
    let other = sim.ok(&["logs", "other-namespace", "-n", "team"]);
    assert!(
        other.contains(r#"cannot list resource "configmaps" in API group "" in the namespace "default""#),
        "{other}"
    );
    let aggregated = sim.ok(&["logs", "aggregated", "-n", "team"]);
    assert!(aggregated.lines().any(|l| l.starts_with("pod/")), "{aggregated}");
    // The audit log names the ServiceAccount for the pods' requests.
    let events = sim.audit();
    assert!(
        events
            .iter()
            .any(|e| e.user.username == "system:serviceaccount:team:reader" && e.response_status.code == 403)
    );
    assert!(
        events
            .iter()
            .any(|e| e.user.username == "system:serviceaccount:team:reader" && e.response_status.code == 200)
    );
}
