//! `executor validate` end to end: read-only (zero writes in every case),
//! exit codes by health and criticality, policies, determinism.

use crate::harness::{Platform, demo_sim_config, describe};

fn deployed() -> Platform {
    let platform = Platform::start(demo_sim_config());
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "deploy\n{}", run.stderr);
    platform
}

fn assert_read_only(platform: &Platform, mark: usize) {
    let writes = platform.writes_since(mark);
    assert!(writes.is_empty(), "validate wrote:\n{:#?}", describe(&writes));
    let all_writes: Vec<_> = platform
        .audit()
        .into_iter()
        .skip(mark)
        .filter(|e| ["create", "update", "patch", "delete", "deletecollection"].contains(&e.verb.as_str()))
        .filter(|e| !e.object_ref.as_ref().is_some_and(|o| o.resource.ends_with("reviews")))
        .filter(|e| e.user.username == "admin" || e.user.username == "viewer")
        .collect();
    assert!(
        all_writes.is_empty(),
        "mutating requests, dry runs included:\n{:#?}",
        describe(&all_writes)
    );
}

/// The report without what legitimately differs between two runs.
fn stable(report: &serde_json::Value) -> serde_json::Value {
    let mut report = report.clone();
    for key in ["startedAt", "finishedAt", "durationSeconds", "traceId"] {
        report["summary"].as_object_mut().unwrap().remove(key);
    }
    report["metrics"].as_object_mut().unwrap().remove("wallSeconds");
    report
}

#[test]
fn healthy_platform_validates_read_only_and_deterministically() {
    let mut platform = deployed();
    let mark = platform.audit().len();
    let first = platform.run(&["validate"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = platform.run(&["validate"]);
    assert_eq!(second.code, 0);
    assert_eq!(
        stable(&first.report()),
        stable(&second.report()),
        "two runs on an unchanged platform"
    );
    let report = first.report();
    assert_eq!(report["summary"]["status"], "Succeeded");
    let policies = report["compliance"]["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 5);
    assert!(policies.iter().all(|p| p["status"] == "pass"), "{policies:#?}");
    let requests = report["metrics"]["apiRequestsTotal"].as_u64().unwrap();
    assert!(requests <= 15, "validate made {requests} requests");

    // The simulator's read-only token is enough.
    platform.use_token("viewer");
    let viewer = platform.run(&["validate"]);
    assert_eq!(viewer.code, 0, "{}", viewer.stderr);
    assert_read_only(&platform, mark);
}

#[test]
fn a_change_between_runs_shows_up_and_criticality_decides_the_exit_code() {
    let platform = deployed();
    let mark = platform.audit().len();
    let mut config = demo_sim_config();
    // harbor's Deployments exceed their progress deadline (the simulated
    // controllers act it out); Argo CD's checks make harbor Degraded.
    config.apps.insert(
        "harbor".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    platform.sim.reload(config);
    // Make Argo CD notice: touch the app's refresh annotation as an operator would.
    let kubeconfig = platform.sandbox.env["KUBECONFIG_PATH"].clone();
    let _ = std::process::Command::new("kubectl")
        .args([
            "annotate",
            "application",
            "harbor",
            "-n",
            "argocd",
            "argocd.argoproj.io/refresh=normal",
            "--overwrite",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .output();
    let mut run = platform.run(&["validate"]);
    for _ in 0..50 {
        if run.code != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        run = platform.run(&["validate"]);
    }
    assert_eq!(
        run.code, 1,
        "a critical Degraded component fails validate\n{}",
        run.stderr
    );
    let report = run.report();
    let failure = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["component"] == "harbor")
        .unwrap()
        .clone();
    assert_eq!(failure["reason"], "Degraded");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("Caused by apps/Deployment:harbor/"),
        "{failure}"
    );

    platform
        .sandbox
        .config_file("health-criteria.yaml", "nonCritical: [developer-platform]\n");
    let run = platform.run(&["validate"]);
    assert_eq!(
        run.code, 2,
        "only a non-critical component is unhealthy\n{}",
        run.stderr
    );
    assert_eq!(run.report()["summary"]["status"], "Partial");
    let before = mark;
    let writes: Vec<_> = platform
        .writes_since(before)
        .into_iter()
        .filter(|e| !e.request_uri.contains("applications/harbor"))
        .collect();
    assert!(writes.is_empty(), "{:#?}", describe(&writes));
}

#[test]
fn missing_argo_cd_and_applications_fail_without_writing() {
    let platform = Platform::start(demo_sim_config());
    let run = platform.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.report();
    let components = report["components"].as_array().unwrap();
    assert!(
        components
            .iter()
            .filter(|c| c["kind"] == "app")
            .all(|c| c["health"] == "Missing")
    );
    let bootstrap = components.iter().find(|c| c["kind"] == "bootstrap").unwrap();
    assert_eq!(bootstrap["health"], "Missing");
    assert!(
        report["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("executor deploy"))
    );
    assert_read_only(&platform, 0);
}

#[test]
fn validate_answers_through_faults_and_mounted_policies_count() {
    let platform = deployed();
    let mut config = demo_sim_config();
    config.faults = serde_json::from_value(serde_json::json!([
        {"match": {"verb": "list", "user": "admin"}, "rate": 0.2, "status": 503},
        {"match": {"verb": "get", "user": "admin"}, "rate": 0.2, "reset": true}
    ]))
    .unwrap();
    config.seed = 11;
    platform.sim.reload(config);
    platform.sandbox.config_file(
        "policies/team-labels.rhai",
        "fn check(input) {\n  let results = [];\n  for app in input.apps {\n    let team = (app.metadata.labels ?? #{})[\"team\"];\n    results.push(#{status: if team == () { \"fail\" } else { \"pass\" }, object: app.metadata.name, message: \"needs a team label\"});\n  }\n  #{severity: \"required\", results: results}\n}\n",
    );
    let mark = platform.audit().len();
    let run = platform.run(&["validate"]);
    assert_eq!(run.code, 1, "the mounted required policy fails\n{}", run.stderr);
    let report = run.report();
    let team = report["compliance"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "team-labels")
        .unwrap()
        .clone();
    assert_eq!(team["status"], "fail");
    assert_eq!(team["origin"], "override");
    assert_eq!(
        report["compliance"]["failedRequired"],
        serde_json::json!(["team-labels"])
    );
    assert!(
        report["metrics"]["retries"].as_u64().unwrap() > 0,
        "faults were injected"
    );
    assert_read_only(&platform, mark);
}

/// Hostile overrides cannot make validate write: the action script, a
/// health check and a compliance policy each ask to delete or apply, and
/// the core refuses at the script's line before any request leaves
/// (issue 18: "an operator's typo in a policy must not be able to break
/// that"). A dry run of deploy is held the same way.
#[test]
fn no_script_can_make_validate_or_a_dry_run_write() {
    let mut platform = deployed();
    let delete = r#"k8s::delete("v1", "ConfigMap", "argocd", "argocd-cm")"#;
    let cases = [
        (
            "scripts/validate.rhai",
            format!("{delete};\n"),
            "scripts/validate.rhai",
            "validate",
        ),
        (
            "health/apps_Deployment.rhai",
            format!("fn health(obj) {{\n  {delete};\n  #{{status: \"Healthy\", message: \"\"}}\n}}\n"),
            "apps_Deployment",
            "a health check",
        ),
        (
            "policies/wipe.rhai",
            "fn check(input) {\n  k8s::apply(#{apiVersion: \"v1\", kind: \"ConfigMap\", metadata: #{name: \"x\", namespace: \"argocd\"}});\n  #{severity: \"required\", results: []}\n}\n".to_owned(),
            "wipe",
            "a compliance policy",
        ),
    ];
    for (file, text, named, who) in &cases {
        let path = platform.sandbox.config_file(file, text);
        let mark = platform.audit().len();
        let run = platform.run(&["validate"]);
        assert_ne!(run.code, 0, "{file}: a refused write is a failure\n{}", run.stderr);
        assert_ne!(
            run.code, 3,
            "{file}: compiled fine, refused when it ran\n{}",
            run.stderr
        );
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(
            said.contains(&format!("refused: {who} never changes the cluster")),
            "{file}: the refusal is named\n{said}"
        );
        assert!(said.contains(named), "{file}: the script is named\n{said}");
        assert_read_only(&platform, mark);
        std::fs::remove_file(path).unwrap();
    }

    // Health checks are read-only in every action: the same hostile check
    // during a deploy is refused too (the deploy fails, nothing deleted).
    let path = platform.sandbox.config_file("health/apps_Deployment.rhai", &cases[1].1);
    let mark = platform.audit().len();
    let run = platform.run(&["deploy"]);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("refused: a health check never changes the cluster"),
        "{said}"
    );
    let deletes: Vec<_> = platform
        .writes_since(mark)
        .into_iter()
        .filter(|e| e.verb == "delete")
        .collect();
    assert!(
        deletes.is_empty(),
        "a health check deleted during deploy:\n{:#?}",
        describe(&deletes)
    );
    std::fs::remove_file(path).unwrap();

    // DRY_RUN: the write primitives say what they would do, and the
    // read-only handle beneath them holds should one forget.
    platform
        .sandbox
        .config_file("scripts/deploy.rhai", &format!("{delete};\n"));
    platform.sandbox.set("DRY_RUN", "true");
    let mark = platform.audit().len();
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("would delete v1 ConfigMap argocd/argocd-cm"),
        "{}",
        run.stderr
    );
    let writes = platform.writes_since(mark);
    assert!(writes.is_empty(), "a dry run wrote:\n{:#?}", describe(&writes));
}

/// Issue 18, "causes named precisely": a kubeconfig whose CA does not
/// verify the server, whose CA is not a certificate, or whose exec plugin
/// is missing is a kubeconfig problem: exit 3 at once, naming the variable
/// actually used (KUBECONFIG_PATH here, KUBECONFIG_DATA after) and the real
/// reason, no retries, nothing sent past the TLS handshake.
#[test]
fn kubeconfig_problems_name_the_variable_used_and_the_real_cause() {
    use base64::Engine as _;
    let mut platform = Platform::start(demo_sim_config());
    let path = std::path::PathBuf::from(&platform.sandbox.env["KUBECONFIG_PATH"]);
    let original = std::fs::read_to_string(&path).unwrap();
    let with_ca = |ca: &[u8]| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(ca);
        original
            .lines()
            .map(|line| match line.split_once("certificate-authority-data:") {
                Some((indent, _)) => format!("{indent}certificate-authority-data: {encoded}"),
                None => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Another CA's certificate: the handshake fails, said as such.
    let other_ca =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client.crt")).unwrap();
    let cases = [
        (with_ca(&other_ca), "KUBECONFIG_PATH: cannot use the kubeconfig's context", "TLS certificate is not accepted"),
        (with_ca(b"not a certificate"), "certificate-authority-data is not a base64-encoded PEM certificate", ""),
        (
            original.replace("    token: ", "    exec: {apiVersion: client.authentication.k8s.io/v1, command: /nonexistent/kubelogin, interactiveMode: Never}\n    x-token: "),
            "KUBECONFIG_PATH: cannot use the kubeconfig's context",
            "unable to run auth exec",
        ),
    ];
    for (kubeconfig, first, second) in &cases {
        std::fs::write(&path, kubeconfig).unwrap();
        let mark = platform.audit().len();
        let run = platform.run(&["validate"]);
        run.assert_invalid(first);
        run.assert_invalid(second);
        assert_eq!(
            platform.audit().len(),
            mark,
            "nothing past the handshake reached the server"
        );
    }
    // The same wrong CA given as KUBECONFIG_DATA is named as that.
    platform.sandbox.unset("KUBECONFIG_PATH").set(
        "KUBECONFIG_DATA",
        &base64::engine::general_purpose::STANDARD.encode(&cases[0].0),
    );
    platform
        .run(&["validate"])
        .assert_invalid("KUBECONFIG_DATA: cannot use the kubeconfig's context");
}
