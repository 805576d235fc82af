//! The kubectl conformance table: the commands a platform engineer types
//! while looking around a cluster, run by the real kubectl against
//! `kube-sim serve`, each with what it must print or change.
//!
//! Every row runs (in order, on one simulator, later rows building on
//! earlier ones); failures are collected and the whole table is printed, so
//! one run shows every row's result. Expected output is kubectl's own:
//! `<kind>/<name> created|labeled|scaled|...` from k8s.io/kubectl
//! `pkg/cmd/*`, tables from the API server's table convertors
//! (k8s.io/kubernetes `pkg/printers/internalversion`), events from the
//! Deployment controller (`pkg/controller/deployment/sync.go`).
//! `kubectl logs` belongs to the pod runner and is not in this table.

use crate::util::{SimProcess, kubectl_available, upstream};
use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Runs rows and remembers which failed.
struct Table<'a> {
    sim: &'a SimProcess,
    results: Vec<(String, Result<(), String>)>,
}

/// What a finished kubectl run printed.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn of(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Succeeded and printed every one of `texts` on stdout.
    fn prints(&self, texts: &[&str]) -> Result<(), String> {
        if self.code != 0 {
            return Err(format!("exit {}: {}{}", self.code, self.stdout, self.stderr));
        }
        match texts.iter().find(|t| !self.stdout.contains(**t)) {
            Some(t) => Err(format!("stdout lacks {t:?}:\n{}", self.stdout)),
            None => Ok(()),
        }
    }
}

impl<'a> Table<'a> {
    fn new(sim: &'a SimProcess) -> Self {
        Self {
            sim,
            results: Vec::new(),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Ran {
        let mut cmd = self.sim.kubectl_cmd(&self.sim.kubeconfig(), args);
        cmd.envs(env.iter().copied())
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        Ran::of(child.wait_with_output().unwrap())
    }

    /// `kubectl <args>`, then `check` on what it printed.
    fn row(&mut self, args: &[&str], check: impl FnOnce(&Ran) -> Result<(), String>) {
        self.row_with(args, None, &[], check);
    }

    fn row_with(
        &mut self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
        check: impl FnOnce(&Ran) -> Result<(), String>,
    ) {
        let ran = self.run(args, stdin, env);
        let result = check(&ran);
        let mut name = format!("kubectl {}", args.join(" "));
        for (k, v) in env {
            name = format!("{k}={v} {name}");
        }
        self.results.push((name, result));
    }

    /// A follow-up read (`kubectl get ... -o jsonpath=...`) for a check.
    fn get(&self, args: &[&str]) -> String {
        self.run(args, None, &[]).stdout
    }

    fn finish(self) {
        let mut report = String::new();
        let mut failed = 0;
        for (name, result) in &self.results {
            match result {
                Ok(()) => report.push_str(&format!("PASS  {name}\n")),
                Err(why) => {
                    failed += 1;
                    report.push_str(&format!("FAIL  {name}\n      {}\n", why.replace('\n', "\n      ")));
                }
            }
        }
        eprintln!("{report}");
        assert_eq!(failed, 0, "{failed} of {} rows failed:\n{report}", self.results.len());
    }
}

fn equals(actual: String, expected: &str) -> Result<(), String> {
    if actual.trim() == expected {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {actual:?}"))
    }
}

const SIM_YAML: &str = "workloads: {readyAfter: 200ms}\nimages: {\"table.example/echo:*\": /bin/echo}\ntokens:\n  root-token-for-the-table-0123456789: {user: admin, groups: [system:masters]}\n  viewer-token-for-the-table-0123456789: {user: viewer, verbs: [get, list, watch]}\n";

#[test]
fn kubectl_conformance_table() {
    if !kubectl_available("kubectl_conformance_table") {
        return;
    }
    let sim = SimProcess::start(Some(SIM_YAML));
    let mut t = Table::new(&sim);
    creating(&mut t);
    creating_rbac_and_pods(&mut t);
    logging(&mut t);
    reading(&mut t);
    changing(&mut t);
    patching_and_editing(&mut t);
    applying(&mut t);
    deleting(&mut t);
    discovering(&mut t, &sim);
    t.finish();
}

/// `kubectl create ...` and `kubectl run`: typed clients, protobuf bodies.
fn creating(t: &mut Table<'_>) {
    t.row(&["create", "namespace", "team"], |r| {
        r.prints(&["namespace/team created"])
    });
    let phase = t.get(&["get", "namespace", "team", "-o", "jsonpath={.status.phase}"]);
    t.results
        .push(("  namespace team is Active".into(), equals(phase, "Active")));
    t.row(
        &[
            "create",
            "configmap",
            "app-config",
            "--from-literal=mode=blue",
            "-n",
            "team",
        ],
        |r| r.prints(&["configmap/app-config created"]),
    );
    t.row(
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cret",
            "-n",
            "team",
        ],
        |r| r.prints(&["secret/creds created"]),
    );
    let password = t.get(&[
        "get",
        "secret",
        "creds",
        "-n",
        "team",
        "-o",
        "jsonpath={.data.password}",
    ]);
    t.results.push((
        "  secret data is base64 of the literal".into(),
        equals(password, "czNjcmV0"),
    ));
    t.row(&["create", "serviceaccount", "builder", "-n", "team"], |r| {
        r.prints(&["serviceaccount/builder created"])
    });
    t.row(
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "-n",
            "team",
        ],
        |r| r.prints(&["deployment.apps/web created"]),
    );
    t.row(
        &[
            "create",
            "job",
            "once",
            "--image=busybox:1.36",
            "-n",
            "team",
            "--",
            "echo",
            "hi",
        ],
        |r| r.prints(&["job.batch/once created"]),
    );
}

/// `kubectl create role|rolebinding|clusterrole` and `kubectl run`.
fn creating_rbac_and_pods(t: &mut Table<'_>) {
    t.row(
        &[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list",
            "--resource=pods",
            "-n",
            "team",
        ],
        |r| r.prints(&["role.rbac.authorization.k8s.io/pod-reader created"]),
    );
    t.row(
        &[
            "create",
            "rolebinding",
            "read-pods",
            "--role=pod-reader",
            "--serviceaccount=team:builder",
            "-n",
            "team",
        ],
        |r| r.prints(&["rolebinding.rbac.authorization.k8s.io/read-pods created"]),
    );
    let subject = t.get(&[
        "get",
        "rolebinding",
        "read-pods",
        "-n",
        "team",
        "-o",
        "jsonpath={.subjects[0].name}",
    ]);
    t.results.push((
        "  rolebinding names the service account".into(),
        equals(subject, "builder"),
    ));
    t.row(
        &["create", "clusterrole", "node-reader", "--verb=get", "--resource=nodes"],
        |r| r.prints(&["clusterrole.rbac.authorization.k8s.io/node-reader created"]),
    );
    t.row(
        &["run", "probe", "--image=busybox:1.36", "--restart=Never", "-n", "team"],
        |r| r.prints(&["pod/probe created"]),
    );
}

/// `kubectl logs` of a pod the simulator runs: its image is mapped to
/// `/bin/echo` (the pod runner's `images:`), so the pod prints its arguments,
/// ends Succeeded, and its log is what it printed.
fn logging(t: &mut Table<'_>) {
    t.row(
        &[
            "run",
            "greeter",
            "--image=table.example/echo:1",
            "--restart=Never",
            "-n",
            "team",
            "--",
            "hello",
            "from",
            "the",
            "table",
        ],
        |r| r.prints(&["pod/greeter created"]),
    );
    t.row(
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            "pod/greeter",
            "-n",
            "team",
            "--timeout=30s",
        ],
        |r| r.prints(&["pod/greeter condition met"]),
    );
    t.row(&["logs", "greeter", "-n", "team"], |r| {
        r.prints(&["hello from the table"])
    });
}

/// `wait`, `get` in every output format, `get -w`, `describe`.
fn reading(t: &mut Table<'_>) {
    t.row(
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "team",
            "--timeout=30s",
        ],
        |r| r.prints(&["deployment.apps/web condition met"]),
    );
    t.row(
        &[
            "wait",
            "--for=condition=complete",
            "job/once",
            "-n",
            "team",
            "--timeout=30s",
        ],
        |r| r.prints(&["job.batch/once condition met"]),
    );
    t.row(
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            "pod/probe",
            "-n",
            "team",
            "--timeout=30s",
        ],
        |r| r.prints(&["pod/probe condition met"]),
    );
    t.row(&["get", "deployments", "-o", "wide", "-n", "team"], |r| {
        r.prints(&[
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
            "2/2",
            "nginx:1.27",
            "app=web",
        ])
    });
    t.row(&["get", "pods", "-o", "wide", "-n", "team"], |r| {
        r.prints(&["IP", "NODE", "probe", "sim-node-"])
    });
    t.row(&["get", "deployment", "web", "-n", "team", "-o", "yaml"], |r| {
        r.prints(&["kind: Deployment", "replicas: 2", "image: nginx:1.27"])
    });
    t.row(&["get", "deployment", "web", "-n", "team", "-o", "json"], |r| {
        r.prints(&[])?;
        let v: serde_json::Value = serde_json::from_str(&r.stdout).map_err(|e| e.to_string())?;
        equals(v["status"]["availableReplicas"].to_string(), "2")
    });
    t.row(
        &[
            "get",
            "deployment",
            "web",
            "-n",
            "team",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        |r| equals(r.stdout.clone(), "nginx:1.27"),
    );
    t.row(&["get", "deployments,configmaps", "-n", "team", "-o", "name"], |r| {
        r.prints(&["deployment.apps/web\n", "configmap/app-config\n"])
    });
    let watched = watch_sees(t.sim);
    t.results.push((
        "kubectl get configmaps -w -o name -n team (while one is created)".into(),
        watched,
    ));
    t.row(&["describe", "deployment", "web", "-n", "team"], |r| {
        r.prints(&[
            "Name:                   web",
            "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable",
            "Events:",
            "ScalingReplicaSet",
            "deployment-controller",
            "Scaled up replica set web-",
        ])
    });
    t.row(&["get", "events", "-n", "team"], |r| {
        r.prints(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "deployment/web"])
    });
}

/// `get -w`, bounded: a watch must print a ConfigMap created after it started.
fn watch_sees(sim: &SimProcess) -> Result<(), String> {
    let mut watch = sim
        .kubectl_cmd(
            &sim.kubeconfig(),
            &["get", "configmaps", "-n", "team", "-w", "-o", "name"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = watch.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut created = false;
    let mut found = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                if line == "configmap/app-config" && !created {
                    sim.ok(&["create", "configmap", "watched", "-n", "team"]);
                    created = true;
                }
                found |= line == "configmap/watched";
                seen.push(line);
                if found {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    if found {
        Ok(())
    } else {
        Err(format!("the watch printed {seen:?}"))
    }
}

/// `label`, `annotate`, `scale`, `set image`, `rollout`.
fn changing(t: &mut Table<'_>) {
    t.row(&["label", "deployment", "web", "tier=frontend", "-n", "team"], |r| {
        r.prints(&["deployment.apps/web labeled"])
    });
    let labelled = t.get(&["get", "deployments", "-l", "tier=frontend", "-n", "team", "-o", "name"]);
    t.results.push((
        "  get -l tier=frontend finds it".into(),
        equals(labelled, "deployment.apps/web"),
    ));
    t.row(
        &["annotate", "deployment", "web", "owner=platform", "-n", "team"],
        |r| r.prints(&["deployment.apps/web annotated"]),
    );
    t.row(&["scale", "deployment", "web", "--replicas=3", "-n", "team"], |r| {
        r.prints(&["deployment.apps/web scaled"])
    });
    t.row(
        &["set", "image", "deployment/web", "nginx=nginx:1.28", "-n", "team"],
        |r| r.prints(&["deployment.apps/web image updated"]),
    );
    t.row(
        &["rollout", "status", "deployment/web", "-n", "team", "--timeout=30s"],
        |r| r.prints(&["deployment \"web\" successfully rolled out"]),
    );
    let ready = t.get(&[
        "get",
        "deployment",
        "web",
        "-n",
        "team",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]);
    t.results
        .push(("  scaled to 3 ready replicas".into(), equals(ready, "3")));
    t.row(&["rollout", "restart", "deployment/web", "-n", "team"], |r| {
        r.prints(&["deployment.apps/web restarted"])
    });
    t.row(&["rollout", "history", "deployment/web", "-n", "team"], |r| {
        r.prints(&["REVISION", "CHANGE-CAUSE", "1 ", "2 ", "3 "])
    });
}

/// `patch` (merge, JSON, strategic), `edit` with a scripted editor, `replace`.
fn patching_and_editing(t: &mut Table<'_>) {
    t.row(
        &[
            "patch",
            "configmap",
            "app-config",
            "-n",
            "team",
            "--type=merge",
            "-p",
            r#"{"data":{"size":"L"}}"#,
        ],
        |r| r.prints(&["configmap/app-config patched"]),
    );
    t.row(
        &[
            "patch",
            "configmap",
            "app-config",
            "-n",
            "team",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/data/mode","value":"red"}]"#,
        ],
        |r| r.prints(&["configmap/app-config patched"]),
    );
    let data = t.get(&["get", "configmap", "app-config", "-n", "team", "-o", "jsonpath={.data}"]);
    t.results.push((
        "  merge and JSON patches applied".into(),
        equals(data, r#"{"mode":"red","size":"L"}"#),
    ));
    t.row(
        &[
            "patch",
            "deployment",
            "web",
            "-n",
            "team",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":"1"}]}]}}}}"#,
        ],
        |r| r.prints(&["deployment.apps/web patched"]),
    );
    let containers = t.get(&["get", "deployment", "web", "-n", "team", "-o", "jsonpath={.spec.template.spec.containers[*].name}/{.spec.template.spec.containers[0].env[0].name}/{.spec.template.spec.containers[0].image}"]);
    t.results.push((
        "  strategic patch merged into the container by name".into(),
        equals(containers, "nginx/A/nginx:1.28"),
    ));
    let editor = t.sim.dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/mode: red/mode: green/' \"$1\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let editor = editor.to_str().unwrap().to_owned();
    t.row_with(
        &["edit", "configmap", "app-config", "-n", "team"],
        None,
        &[("EDITOR", &editor)],
        |r| r.prints(&["configmap/app-config edited"]),
    );
    let mode = t.get(&[
        "get",
        "configmap",
        "app-config",
        "-n",
        "team",
        "-o",
        "jsonpath={.data.mode}",
    ]);
    t.results
        .push(("  the editor's change is stored".into(), equals(mode, "green")));
    let live = t.get(&["get", "configmap", "app-config", "-n", "team", "-o", "yaml"]);
    t.row_with(
        &["replace", "-f", "-"],
        Some(&live.replace("mode: green", "mode: replaced")),
        &[],
        |r| r.prints(&["configmap/app-config replaced"]),
    );
}

const APPLIED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: team}\ndata: {k: v1}\n";
const SET: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: set-a}\ndata: {k: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: set-b}\ndata: {k: b}\n";

/// `apply` client- and server-side, `apply --prune` with an ApplySet, `diff`.
fn applying(t: &mut Table<'_>) {
    t.row_with(&["apply", "-f", "-"], Some(APPLIED), &[], |r| {
        r.prints(&["configmap/applied created"])
    });
    t.row_with(&["apply", "-f", "-"], Some(&APPLIED.replace("v1}", "v2}")), &[], |r| {
        r.prints(&["configmap/applied configured"])
    });
    t.row_with(&["apply", "-f", "-"], Some(&APPLIED.replace("v1}", "v2}")), &[], |r| {
        r.prints(&["configmap/applied unchanged"])
    });
    // Server-side apply of a field client-side apply owns would conflict,
    // as on a real server; a fresh object shows the plain case.
    let ssa = APPLIED.replace("name: applied", "name: ssa");
    t.row_with(&["apply", "--server-side", "-f", "-"], Some(&ssa), &[], |r| {
        r.prints(&["configmap/ssa serverside-applied"])
    });
    t.row_with(
        &["apply", "--server-side", "-f", "-"],
        Some(&APPLIED.replace("v1}", "v3}")),
        &[],
        |r| {
            if r.code == 1 && r.stderr.contains(r#"conflict with "kubectl-client-side-apply""#) {
                Ok(())
            } else {
                Err(format!(
                    "expected a field manager conflict: exit {}: {}",
                    r.code, r.stderr
                ))
            }
        },
    );
    let managers = t.get(&[
        "get",
        "configmap",
        "ssa",
        "-n",
        "team",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}:{.metadata.managedFields[*].operation}",
    ]);
    t.results.push((
        "  server-side apply recorded its field manager".into(),
        equals(managers, "kubectl:Apply"),
    ));
    let applyset = [("KUBECTL_APPLYSET", "true")];
    t.row_with(
        &["apply", "-n", "team", "--prune", "--applyset=platform-set", "-f", "-"],
        Some(SET),
        &applyset,
        |r| r.prints(&["configmap/set-a created", "configmap/set-b created"]),
    );
    let only_a = SET.split("---").next().unwrap_or_default();
    t.row_with(
        &["apply", "-n", "team", "--prune", "--applyset=platform-set", "-f", "-"],
        Some(only_a),
        &applyset,
        |r| r.prints(&["configmap/set-a unchanged", "configmap/set-b pruned"]),
    );
    let left = t.get(&[
        "get",
        "configmaps",
        "-n",
        "team",
        "-l",
        "applyset.kubernetes.io/part-of",
        "-o",
        "name",
    ]);
    t.results.push((
        "  only the ApplySet's remaining member is left".into(),
        equals(left, "configmap/set-a"),
    ));
    t.row_with(&["diff", "-f", "-"], Some(&APPLIED.replace("v1}", "v9}")), &[], |r| {
        // kubectl diff exits 1 when there are differences.
        if r.code != 1 {
            return Err(format!("exit {}: {}{}", r.code, r.stdout, r.stderr));
        }
        if r.stdout.contains("-  k: v2") && r.stdout.contains("+  k: v9") {
            Ok(())
        } else {
            Err(r.stdout.clone())
        }
    });
}

/// `delete` with `--wait` and both cascades, `wait --for=delete`.
fn deleting(t: &mut Table<'_>) {
    t.row(&["delete", "configmap", "applied", "-n", "team", "--wait=true"], |r| {
        r.prints(&["configmap \"applied\" deleted"])
    });
    t.row(&["delete", "pod", "probe", "-n", "team", "--wait=false"], |r| {
        r.prints(&["pod \"probe\" deleted"])
    });
    t.row(
        &["wait", "--for=delete", "pod/probe", "-n", "team", "--timeout=20s"],
        |r| r.prints(&[]),
    );
    t.row(
        &["create", "deployment", "fg", "--image=nginx:1.27", "-n", "team"],
        |r| r.prints(&["deployment.apps/fg created"]),
    );
    t.row(
        &[
            "wait",
            "--for=condition=Available",
            "deployment/fg",
            "-n",
            "team",
            "--timeout=30s",
        ],
        |r| r.prints(&["condition met"]),
    );
    t.row(
        &["delete", "deployment", "fg", "-n", "team", "--cascade=foreground"],
        |r| r.prints(&["deployment.apps \"fg\" deleted"]),
    );
    let left = t.get(&["get", "replicasets,pods", "-n", "team", "-l", "app=fg", "-o", "name"]);
    t.results.push((
        "  foreground deletion removed its ReplicaSet and Pods first".into(),
        equals(left, ""),
    ));
    t.row(
        &["delete", "deployment", "web", "-n", "team", "--cascade=orphan"],
        |r| r.prints(&["deployment.apps \"web\" deleted"]),
    );
    let orphans = t.get(&[
        "get",
        "replicasets",
        "-n",
        "team",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.ownerReferences}",
    ]);
    let count = t.get(&["get", "replicasets", "-n", "team", "-l", "app=web", "-o", "name"]);
    let result = if !count.trim().is_empty() && orphans.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("replicasets {count:?}, owners {orphans:?}"))
    };
    t.results
        .push(("  orphaned ReplicaSets stay, without owner".into(), result));
}

/// `auth can-i`, `api-resources`, `api-versions`, `explain`, `top`.
fn discovering(t: &mut Table<'_>, sim: &SimProcess) {
    t.row(&["auth", "can-i", "create", "deployments", "-n", "team"], |r| {
        equals(r.stdout.clone(), "yes")
    });
    let viewer = sim.kubeconfig_for("viewer-token-for-the-table-0123456789");
    let can = Ran::of(sim.kubectl_as(&viewer, &["auth", "can-i", "create", "deployments", "-n", "team"]));
    t.results.push((
        "kubectl auth can-i create deployments (as viewer)".into(),
        equals(can.stdout, "no"),
    ));
    t.row(&["api-resources"], |r| {
        r.prints(&["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"])?;
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with("deployments "))
            .ok_or("no deployments line")?;
        let words: Vec<&str> = line.split_whitespace().collect();
        equals(words.join(" "), "deployments deploy apps/v1 true Deployment")
    });
    t.row(&["api-versions"], |r| {
        r.prints(&["apps/v1\n", "rbac.authorization.k8s.io/v1\n", "v1\n"])
    });
    let crd = std::fs::read_to_string(upstream("argo-cd-v3.5.1-install.yaml")).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&crd).unwrap();
    let app_crd = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "applications.argoproj.io")
        .map(|d| serde_json::to_string(d).unwrap())
        .unwrap();
    t.row_with(&["apply", "--server-side", "-f", "-"], Some(&app_crd), &[], |r| {
        r.prints(&["customresourcedefinition.apiextensions.k8s.io/applications.argoproj.io serverside-applied"])
    });
    t.row(&["explain", "applications.spec.source"], |r| {
        r.prints(&[
            "GROUP:      argoproj.io",
            "KIND:       Application",
            "FIELD: source <Object>",
            "repoURL",
            "targetRevision",
        ])
    });
    t.row(&["explain", "deployment"], |r| {
        r.prints(&["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1"])
    });
    t.row(&["top", "pods", "-n", "team"], |r| {
        // A cluster without metrics-server says so, with exit code 1.
        if r.code == 1 && r.stderr.contains("Metrics API not available") {
            Ok(())
        } else {
            Err(format!("exit {}: {}", r.code, r.stderr))
        }
    });
}
