//! Bad input gets a clear error and nothing else: exit 3, a message naming
//! the file (line/column for YAML), the field and what is expected, a report
//! with status `Invalid`, and no connection to the cluster.

use crate::harness::{ENVIRONMENT_YAML, Sandbox, b64, kubeconfig_for};
use std::process::Command;

fn refused(sandbox: &Sandbox, needle: &str) {
    let run = sandbox.run(&["validate"]);
    run.assert_invalid(needle);
    sandbox.assert_no_network();
}

#[test]
fn neither_kubeconfig_variable() {
    let mut sandbox = Sandbox::new();
    sandbox.unset("KUBECONFIG_DATA");
    refused(
        &sandbox,
        "KUBECONFIG_DATA: no cluster credentials: set KUBECONFIG_DATA (base64 kubeconfig) or KUBECONFIG_PATH",
    );
}

#[test]
fn both_kubeconfig_variables() {
    let mut sandbox = Sandbox::new();
    sandbox.set("KUBECONFIG_PATH", "/nonexistent/kubeconfig");
    refused(
        &sandbox,
        "both KUBECONFIG_DATA and KUBECONFIG_PATH are set; set exactly one",
    );
}

#[test]
fn kubeconfig_data_not_base64() {
    let mut sandbox = Sandbox::new();
    sandbox.set("KUBECONFIG_DATA", "not*base64!");
    refused(&sandbox, "KUBECONFIG_DATA: not valid base64");
}

#[test]
fn kubeconfig_not_yaml() {
    let mut sandbox = Sandbox::new();
    sandbox.set(
        "KUBECONFIG_DATA",
        &b64("clusters: [unclosed\n  token: secret-in-broken-file"),
    );
    refused(&sandbox, "not a valid kubeconfig (line");
    let run = sandbox.run(&["validate"]);
    assert!(!run.stdout.contains("secret-in-broken-file") && !run.stderr.contains("secret-in-broken-file"));
}

#[test]
fn kubeconfig_path_missing_file() {
    let mut sandbox = Sandbox::new();
    sandbox
        .unset("KUBECONFIG_DATA")
        .set("KUBECONFIG_PATH", "/nonexistent/kubeconfig");
    refused(&sandbox, "/nonexistent/kubeconfig: file not found (KUBECONFIG_PATH)");
}

#[test]
fn kubeconfig_without_current_context() {
    let mut sandbox = Sandbox::new();
    let text = kubeconfig_for("http://127.0.0.1:1").replace("current-context: test\n", "");
    let path = sandbox.dir.path().join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    sandbox
        .unset("KUBECONFIG_DATA")
        .set("KUBECONFIG_PATH", path.to_str().unwrap());
    refused(&sandbox, "the kubeconfig has no current-context");
}

#[test]
fn missing_environment_yaml() {
    let sandbox = Sandbox::new();
    std::fs::remove_file(sandbox.config_dir().join("environment.yaml")).unwrap();
    refused(
        &sandbox,
        "environment.yaml: file not found; mount the environment configuration at this path (or set CONFIG_DIR)",
    );
}

#[test]
fn missing_required_field() {
    let sandbox = Sandbox::new();
    sandbox.config_file("environment.yaml", &ENVIRONMENT_YAML.replace("gitRevision: main\n", ""));
    refused(&sandbox, "environment.yaml:3:1: missing field `gitRevision`");
}

#[test]
fn wrong_type() {
    let sandbox = Sandbox::new();
    sandbox.config_file(
        "environment.yaml",
        &format!("{ENVIRONMENT_YAML}retries: {{maxAttempts: many}}\n"),
    );
    refused(&sandbox, "environment.yaml:5:24: invalid u32");
}

#[test]
fn bad_duration() {
    let sandbox = Sandbox::new();
    sandbox.config_file(
        "environment.yaml",
        &format!("{ENVIRONMENT_YAML}timeouts:\n  sync: 10 parsecs\n"),
    );
    refused(
        &sandbox,
        "environment.yaml:6:9: timeouts.sync: `10 parsecs` is not a duration; expected a number and a unit, such as 90s, 10m or 1h30m",
    );
}

#[test]
fn unknown_field_with_suggestion() {
    let sandbox = Sandbox::new();
    sandbox.config_file(
        "environment.yaml",
        &format!("{ENVIRONMENT_YAML}argocdNamspace: gitops\n"),
    );
    refused(
        &sandbox,
        "environment.yaml:5:1: unknown field `argocdNamspace` (did you mean `argocdNamespace`?)",
    );
}

#[test]
fn invalid_environment() {
    let mut sandbox = Sandbox::new();
    sandbox.set("ENVIRONMENT", "prod");
    refused(
        &sandbox,
        "ENVIRONMENT: `prod` is not an environment; expected development, staging or production",
    );
}

#[test]
fn missing_environment() {
    let mut sandbox = Sandbox::new();
    sandbox.unset("ENVIRONMENT");
    refused(
        &sandbox,
        "ENVIRONMENT: not set; expected development, staging or production",
    );
}

#[test]
fn scope_naming_nothing() {
    let mut sandbox = Sandbox::new();
    sandbox.set("TARGET_SCOPE", "app:vualt");
    refused(
        &sandbox,
        "TARGET_SCOPE: no application named `vualt` in the graph (did you mean `vault`?)",
    );
    sandbox.set("TARGET_SCOPE", "everything");
    refused(
        &sandbox,
        "TARGET_SCOPE: `everything` is not a scope; expected `platform`, `stack:<name>` or `app:<name>`",
    );
}

#[test]
fn graph_cycle() {
    let sandbox = Sandbox::new();
    sandbox.config_file("dag.yaml", "overlay:\n  dependsOn:\n    metallb: [vault]\n");
    refused(&sandbox, "dag.yaml:3:15: dependsOn: dependency cycle: ");
    let run = sandbox.run(&["validate"]);
    let message = run.failure_messages().join("\n");
    assert!(message.contains("metallb → vault"), "{message}");
    assert!(
        message.contains("→ metallb"),
        "the cycle closes on its first node: {message}"
    );
}

#[test]
fn graph_unknown_dependency_and_duplicate() {
    let sandbox = Sandbox::new();
    sandbox.config_file(
        "dag.yaml",
        "stacks:
  - name: base
    apps:
      - {name: net, path: base/net, namespace: net, dependsOn: [dsn]}
      - {name: dns, path: base/dns, namespace: dns}
      - {name: net, path: base/net2, namespace: net}
",
    );
    let run = sandbox.run(&["validate"]);
    run.assert_invalid(
        "dag.yaml:4:65: dependsOn: `net` depends on unknown application or stack `dsn` (did you mean `dns`?)",
    );
    run.assert_invalid("dag.yaml:6:16: name: `net` is defined twice (first at");
    sandbox.assert_no_network();
}

#[test]
fn missing_hook_file() {
    let sandbox = Sandbox::new();
    sandbox.config_file(
        "dag.yaml",
        "overlay:\n  hooks:\n    vault: {postSync: hooks/vault-init.rhai}\n",
    );
    refused(
        &sandbox,
        "dag.yaml:3:23: hooks.postSync: hook script `hooks/vault-init.rhai` of `vault` not found",
    );
}

/// Issue 18: a hook with the wrong signature, or a call of a function that
/// exists nowhere, was found only when the line ran, after the cluster was
/// touched. Both are compile-time input errors now, at their position.
#[test]
fn wrong_hook_signatures_and_unknown_functions_are_found_before_the_run() {
    let mut sandbox = Sandbox::new();
    sandbox.set("BUNDLE_DIR", crate::harness::upstream_dir().to_str().unwrap());
    sandbox.config_file(
        "dag.yaml",
        "overlay:\n  hooks:\n    vault: {postSync: hooks/vault-init.rhai}\n",
    );
    sandbox.config_file(
        "hooks/vault-init.rhai",
        "fn post_sync(node) {\n  log::info(node.name);\n}\n",
    );
    sandbox.config_file(
        "scripts/deploy.rhai",
        "let plan = ctx.plan;\nk8s::aply(#{});\nundefined_helper(plan);\n",
    );
    let run = sandbox.run(&["deploy"]);
    run.assert_invalid(
        "hook script for postSync of `vault` defines no `fn post_sync(node, ctx)` (it defines `fn post_sync` with 1 parameter)",
    );
    run.assert_invalid(
        "deploy.rhai:2:6: `k8s::aply` is not a function: not a primitive, not defined in the script (override)",
    );
    run.assert_invalid("deploy.rhai:3:1: `undefined_helper` is not a function");
    sandbox.assert_no_network();
}

#[test]
fn unreadable_secret_file() {
    let sandbox = Sandbox::new();
    // A dangling symlink, as a broken Secret volume mount leaves it.
    std::os::unix::fs::symlink("..data/git-password", sandbox.secrets_dir().join("git-password")).unwrap();
    refused(&sandbox, "git-password: the secret file does not exist");
}

#[test]
fn invalid_trace_ids() {
    let mut sandbox = Sandbox::new();
    sandbox.set("TRACE_ID", "xyz");
    refused(
        &sandbox,
        "TRACE_ID: `xyz` is not a W3C trace id; expected 32 lowercase hex digits",
    );
    sandbox.set("TRACE_ID", &"0".repeat(32));
    refused(&sandbox, "TRACE_ID: an all-zero trace id is invalid");
    sandbox
        .set("TRACE_ID", "4bf92f3577b34da6a3ce929d0e0e4736")
        .set("SPAN_ID", "123");
    refused(
        &sandbox,
        "SPAN_ID: `123` is not a W3C span id; expected 16 lowercase hex digits",
    );
}

#[test]
fn bad_enumerations() {
    let mut sandbox = Sandbox::new();
    sandbox
        .set("DRY_RUN", "maybe")
        .set("PV_POLICY", "shred")
        .set("ACTION_TIMEOUT", "soon")
        .set("LOG_LEVEL", "loud");
    let run = sandbox.run(&["validate"]);
    run.assert_invalid("DRY_RUN: `maybe` is not a boolean; expected true or false");
    run.assert_invalid("PV_POLICY: `shred` is not a volume policy; expected retain or delete");
    run.assert_invalid("ACTION_TIMEOUT: `soon` is not a duration");
    run.assert_invalid("LOG_LEVEL: `loud` is not a log level; expected debug, info, warn or error");
    sandbox.assert_no_network();
}

/// An unknown flag is an input problem like any other: exit 3 with a
/// report that names it (issue 18: it exited 3 with no word in the report).
#[test]
fn an_unknown_flag_is_named_in_the_report() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["deploy", "--no-such-flag"]);
    run.assert_invalid("unexpected argument '--no-such-flag'");
    sandbox.assert_no_network();
}

/// A variable whose value is not UTF-8 is named in the report (issue 18:
/// it exited 3 with clap's generic line and no report).
#[test]
fn a_non_utf8_variable_is_named_in_the_report() {
    use std::os::unix::ffi::OsStrExt as _;
    let sandbox = Sandbox::new();
    let output = Command::new(crate::harness::executor_bin())
        .arg("validate")
        .env_clear()
        .envs(&sandbox.env)
        .env("TARGET_SCOPE", std::ffi::OsStr::from_bytes(b"app:caf\xe9"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["status"], "Invalid");
    assert!(
        report["failures"]
            .to_string()
            .contains("TARGET_SCOPE: the value is not UTF-8 text"),
        "{}",
        report["failures"]
    );
    assert_eq!(
        report["summary"]["environment"], "staging",
        "the other variables still apply"
    );
    sandbox.assert_no_network();
}

/// Report and metrics destinations are checked before the run (issue 18:
/// an unwritable REPORT_FILE was noticed only after the whole deploy): exit
/// 3 naming them, nothing touched, and the report comes out on stdout
/// rather than being lost.
#[test]
fn unwritable_report_and_metrics_destinations_are_refused_up_front() {
    let mut sandbox = Sandbox::new();
    let missing = sandbox.dir.path().join("no-such-dir");
    let a_directory = sandbox.dir.path().to_owned();
    sandbox
        .set("REPORT_FILE", missing.join("report.json").to_str().unwrap())
        .set("METRICS_FILE", a_directory.to_str().unwrap());
    let run = sandbox.run(&["deploy"]);
    run.assert_invalid("REPORT_FILE: cannot write in");
    run.assert_invalid("METRICS_FILE:");
    assert!(
        run.failure_messages().iter().any(|m| m.contains("is a directory")),
        "{:?}",
        run.failure_messages()
    );
    sandbox.assert_no_network();
}

/// A graph with no applications is an input error (issue 18: an empty
/// graph deployed the bootstrap and exited 0 with no word).
#[test]
fn an_empty_graph_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.config_file("dag.yaml", "stacks: []\n");
    let run = sandbox.run(&["deploy"]);
    run.assert_invalid("the graph has no applications");
    sandbox.assert_no_network();
}

/// Durations beyond a week are mistakes, refused with exit 3 by name,
/// never a panic or a clock overflow (issue 18: `ACTION_TIMEOUT` of
/// i64::MAX seconds panicked, `2562047h` ran).
#[test]
fn durations_have_a_maximum() {
    for huge in ["2562047h", "9223372036854775807s"] {
        let mut sandbox = Sandbox::new();
        sandbox.set("ACTION_TIMEOUT", huge);
        sandbox.config_file(
            "environment.yaml",
            &format!("{ENVIRONMENT_YAML}timeouts: {{sync: {huge}}}\nretries: {{backoff: 200000h}}\n"),
        );
        let run = sandbox.run(&["validate"]);
        assert_eq!(run.code, 3, "{huge}: {}", run.stderr);
        let messages = run.failure_messages().join("\n");
        assert!(messages.contains("ACTION_TIMEOUT"), "{messages}");
        assert!(messages.contains("timeouts.sync"), "{messages}");
        assert!(messages.contains("retries.backoff"), "{messages}");
        sandbox.assert_no_network();
    }
}

/// Inputs that used to hang the run or fill memory (issue 18): a FIFO, a
/// device, an oversized file, a symlink out of `$SECRETS_DIR`. Each is
/// refused at once with exit 3 naming the file, before any request.
#[test]
fn only_bounded_regular_files_are_read() {
    let mkfifo = |path: &std::path::Path| {
        let _ = std::fs::remove_file(path);
        assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
    };
    type Setup = fn(&mut Sandbox, &dyn Fn(&std::path::Path));
    let cases: [(&str, Setup, &str); 7] = [
        (
            "FIFO as environment.yaml",
            |s, mkfifo| mkfifo(&s.config_dir().join("environment.yaml")),
            "environment.yaml: the file is a FIFO (named pipe), not a regular file",
        ),
        (
            "FIFO as dag.yaml",
            |s, mkfifo| mkfifo(&s.config_dir().join("dag.yaml")),
            "dag.yaml: the graph file is a FIFO (named pipe), not a regular file",
        ),
        (
            "/dev/zero as the kubeconfig",
            |s, _| {
                let link = s.config_dir().join("kubeconfig");
                std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
                s.unset("KUBECONFIG_DATA")
                    .set("KUBECONFIG_PATH", &link.display().to_string());
            },
            "kubeconfig: the kubeconfig (KUBECONFIG_PATH) is a device, not a regular file",
        ),
        (
            "FIFO in SECRETS_DIR",
            |s, mkfifo| mkfifo(&s.secrets_dir().join("git-password")),
            "git-password: the secret file is a FIFO (named pipe), not a regular file",
        ),
        (
            "2 MiB secret",
            |s, _| std::fs::write(s.secrets_dir().join("git-password"), vec![b'x'; 2 << 20]).unwrap(),
            "git-password: the secret file is larger than the 1 MiB limit for this file",
        ),
        (
            "symlink out of SECRETS_DIR",
            |s, _| {
                std::os::unix::fs::symlink(
                    s.config_dir().join("environment.yaml"),
                    s.secrets_dir().join("git-password"),
                )
                .unwrap();
            },
            "outside",
        ),
        (
            "oversized script override",
            |s, _| {
                s.config_file("scripts/validate.rhai", &"// padding\n".repeat(200_000));
            },
            "validate.rhai is larger than the 32 KiB limit for this file",
        ),
    ];
    for (case, setup, needle) in cases {
        let mut sandbox = Sandbox::new();
        setup(&mut sandbox, &mkfifo);
        let run = sandbox.run_within(&["validate"], std::time::Duration::from_secs(20));
        assert_eq!(run.code, 3, "{case}: {}", run.stderr);
        let messages = run.failure_messages().join("\n");
        assert!(messages.contains(needle), "{case}: expected `{needle}` in\n{messages}");
        sandbox.assert_no_network();
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut sandbox = Sandbox::new();
    sandbox.unset("KUBECONFIG_DATA").set("ENVIRONMENT", "qa");
    sandbox.config_file(
        "environment.yaml",
        &format!("{ENVIRONMENT_YAML}timeouts: {{health: 0s}}\n"),
    );
    let run = sandbox.run(&["validate"]);
    assert_eq!(run.failure_messages().len(), 3, "{:#?}", run.failure_messages());
}

#[test]
fn teardown_needs_the_environment_name_as_confirmation() {
    let mut sandbox = Sandbox::new();
    let run = sandbox.run(&["teardown"]);
    run.assert_invalid("TEARDOWN_CONFIRM: teardown removes the platform and needs explicit confirmation");
    sandbox.set("TEARDOWN_CONFIRM", "yes");
    sandbox
        .run(&["teardown"])
        .assert_invalid("TEARDOWN_CONFIRM: does not match the environment's name");
    sandbox.assert_no_network();
}

#[test]
fn unknown_flag_is_exit_3() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["deploy", "--no-such-flag"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("--no-such-flag"));
}

#[test]
fn report_formats_and_file_for_invalid_runs() {
    let mut sandbox = Sandbox::new();
    sandbox.set("ENVIRONMENT", "qa").set("REPORT_FORMAT", "yaml");
    let run = sandbox.run(&["validate"]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.contains("status: Invalid"), "{}", run.stdout);
    let file = sandbox.dir.path().join("report.json");
    sandbox
        .set("REPORT_FORMAT", "json")
        .set("REPORT_FILE", file.to_str().unwrap());
    let run = sandbox.run(&["validate"]);
    assert_eq!(run.code, 3);
    assert!(run.stdout.is_empty(), "the report goes to REPORT_FILE only");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(report["summary"]["status"], "Invalid");
}

#[test]
fn json_log_lines_have_the_contract_shape() {
    let mut sandbox = Sandbox::new();
    sandbox
        .set("ENVIRONMENT", "qa")
        .set("TRACE_ID", "4bf92f3577b34da6a3ce929d0e0e4736")
        .set("SPAN_ID", "00f067aa0ba902b7");
    let run = sandbox.run(&["validate"]);
    let line = run.stderr.lines().next().expect("a log line");
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys[..5],
        ["timestamp", "level", "action", "phase", "message"],
        "{line}"
    );
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(value["level"], "error");
    assert_eq!(value["action"], "validate");
    assert_eq!(value["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(value["span_id"].as_str().unwrap().len(), 16);
    assert_ne!(value["span_id"], "00f067aa0ba902b7", "the run has its own span");
    let stamp = value["timestamp"].as_str().unwrap();
    assert!(stamp.len() == 20 && stamp.ends_with('Z'), "{stamp}");
}

#[test]
fn text_log_lines_have_the_contract_shape() {
    let mut sandbox = Sandbox::new();
    sandbox.set("ENVIRONMENT", "qa").set("LOG_FORMAT", "text");
    let run = sandbox.run(&["validate"]);
    let line = run.stderr.lines().next().expect("a log line");
    let (stamp, rest) = line.split_once(' ').unwrap();
    assert_eq!(stamp.len(), 20, "{line}");
    assert!(
        rest.starts_with("ERROR [validate/config] ENVIRONMENT: `qa` is not an environment"),
        "{line}"
    );
}

#[test]
fn a_bundle_file_that_fails_its_checksum_is_refused() {
    let mut sandbox = Sandbox::new();
    let bundle = sandbox.dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let upstream = crate::harness::upstream_dir();
    for file in ["argo-cd-v3.5.1-install.yaml", "argo-workflows-v4.1.2-install.yaml"] {
        std::fs::copy(upstream.join(file), bundle.join(file)).unwrap();
    }
    let tampered = bundle.join("argo-workflows-v4.1.2-install.yaml");
    let mut text = std::fs::read_to_string(&tampered).unwrap();
    text.push_str("\n# tampered\n");
    std::fs::write(&tampered, text).unwrap();
    sandbox.set("BUNDLE_DIR", bundle.to_str().unwrap());
    let run = sandbox.run(&["deploy"]);
    run.assert_invalid("argo-workflows-v4.1.2-install.yaml");
    assert!(
        run.failure_messages().iter().any(|m| m.contains("sha256")),
        "{:#?}",
        run.failure_messages()
    );
    sandbox.assert_no_network();
}
