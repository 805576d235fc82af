//! Scripts through the real binary: the bundled script tests, the test
//! harness's contract, overrides, and hostile scripts contained.

use std::time::{Duration, Instant};

use crate::harness::{Platform, Sandbox, demo_sim_config, describe};

#[test]
fn bundled_script_tests_pass() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["test"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let last = run.stdout.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 20, "{last}");
    // Every bundled stdlib module and action script has tests.
    for module in [
        "scripts/deploy.test.rhai",
        "scripts/validate.test.rhai",
        "scripts/teardown.test.rhai",
        "stdlib/platform.test.rhai",
        "stdlib/bootstrap.test.rhai",
        "stdlib/preflight.test.rhai",
        "stdlib/validation.test.rhai",
    ] {
        assert!(
            run.stdout.contains(&format!("ok   {module} ")),
            "{module} has no passing test\n{}",
            run.stdout
        );
    }
}

#[test]
fn operator_tests_report_one_line_each_and_the_totals() {
    let sandbox = Sandbox::new();
    let dir = sandbox.config_dir().join("tests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mine.test.rhai"),
        "fn test_passes() { assert_eq(1 + 1, 2); }\nfn test_fails() {\n  assert_eq(#{a: 1, b: [1, 2]}, #{a: 1, b: [1, 3]});\n}\nfn helper() {}\n",
    )
    .unwrap();
    let run = sandbox.run(&["test", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let file = dir.join("mine.test.rhai").display().to_string();
    assert!(
        lines[0].starts_with(&format!("FAIL {file} test_fails: {file}:3:3: assert_eq failed")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("b[1]: 2 ≠ 3"), "a readable diff: {}", run.stdout);
    assert!(
        run.stdout.contains(&format!("ok   {file} test_passes")),
        "{}",
        run.stdout
    );
    assert_eq!(*lines.last().unwrap(), "1 passed, 1 failed");
}

#[test]
fn fixtures_beside_a_test_seed_the_fake_cluster() {
    let sandbox = Sandbox::new();
    let dir = sandbox.config_dir().join("tests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("gates.fixtures.yaml"),
        "apiVersion: ceph.rook.io/v1\nkind: CephCluster\nmetadata: {name: rook-ceph, namespace: rook-ceph}\nstatus: {phase: Ready, ceph: {health: HEALTH_WARN}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("gates.test.rhai"),
        "fn test_warn_is_not_healthy() {\n  let c = k8s::get(\"ceph.rook.io/v1\", \"CephCluster\", \"rook-ceph\", \"rook-ceph\");\n  assert_eq(health::assess(c).status, \"Degraded\");\n  expect_no_writes();\n}\n",
    )
    .unwrap();
    let run = sandbox.run(&["test", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.ends_with("1 passed, 0 failed\n"));
}

#[test]
fn the_scripting_reference_is_up_to_date() {
    let sandbox = Sandbox::new();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scripting-api.md");
    let run = sandbox.run(&["scripts", "docs", "--check", "--out", path.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "docs/scripting-api.md is stale: run `executor scripts docs`\n{}",
        run.stderr
    );
}

#[test]
fn overrides_of_an_action_and_of_a_stdlib_module_are_used() {
    let mut platform = Platform::start(demo_sim_config());
    platform.sandbox.set("DRY_RUN", "true");
    platform.sandbox.config_file(
        "scripts/stdlib/preflight.rhai",
        "fn check(ctx) {\n  report::metric(\"preflight\", \"mounted\");\n  #{version: \"n/a\"}\n}\n",
    );
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report()["metrics"]["preflight"], "mounted");
    assert!(
        run.stderr.contains("preflight.rhai (override)"),
        "the log names the override:\n{}",
        run.stderr
    );

    platform.sandbox.config_file(
        "scripts/deploy.rhai",
        "report::component(#{name: \"custom-step\", kind: \"bootstrap\", status: \"Deployed\", health: \"Healthy\"});\nreport::outcome(\"Succeeded\");\n",
    );
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let components = run.report()["components"].as_array().unwrap().clone();
    assert_eq!(components.len(), 1, "only the mounted script ran: {components:#?}");
    assert_eq!(components[0]["name"], "custom-step");
    assert!(run.stderr.contains("deploy.rhai (override)"), "{}", run.stderr);
}

#[test]
fn an_unknown_status_from_a_script_is_an_error_at_its_line() {
    let (code, report, _, _) = hostile(
        "let ok = 1;\nreport::component(#{name: \"custom-step\", status: \"Done\"});\n",
        &[],
    );
    assert_eq!(code, 1);
    let text = failure_text(&report);
    assert!(
        text.contains("deploy.rhai:2:") && text.contains("unknown component status `Done`: expected one of Deployed, "),
        "{text}"
    );
    let (code, report, _, _) = hostile("report::outcome(\"Fine\");\n", &[]);
    assert_eq!(code, 1);
    assert!(
        failure_text(&report).contains("outcome `Fine`: expected Succeeded"),
        "{report}"
    );
}

/// Runs a hostile deploy.rhai; returns (exit code, report, stderr, seconds).
fn hostile(script: &str, extra_env: &[(&str, &str)]) -> (i32, serde_json::Value, String, f64) {
    let mut platform = Platform::start(demo_sim_config());
    platform.sandbox.config_file("scripts/deploy.rhai", script);
    for (key, value) in extra_env {
        platform.sandbox.set(key, value);
    }
    let started = Instant::now();
    let run = platform.run(&["deploy"]);
    let report = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run.code, report, run.stderr, started.elapsed().as_secs_f64())
}

fn failure_text(report: &serde_json::Value) -> String {
    report["failures"].to_string()
}

#[test]
fn hostile_scripts_are_contained() {
    // An infinite loop hits the operations limit, at its position.
    let (code, report, _, secs) = hostile("let x = 0;\nloop {\n  x += 1;\n}\n", &[]);
    assert_eq!(code, 1);
    let text = failure_text(&report);
    assert!(
        text.contains("deploy.rhai:3:") && text.contains("Too many operations") && text.contains("(override)"),
        "{text}"
    );
    assert!(secs < 30.0, "{secs}");

    // Deep recursion hits the call depth limit.
    let (code, report, _, _) = hostile("fn f(n) { f(n + 1) }\nf(0);\n", &[]);
    assert_eq!(code, 1);
    let text = failure_text(&report);
    assert!(text.contains("deploy.rhai:2:1: Stack overflow (override)"), "{text}");

    // A huge string hits the size limit.
    let (code, report, _, _) = hostile("let s = \"x\";\nloop { s += s; }\n", &[]);
    assert_eq!(code, 1);
    assert!(
        failure_text(&report).contains("Length of string too large"),
        "{}",
        failure_text(&report)
    );

    // A huge array too.
    let (code, report, _, _) = hostile("let a = [0];\nloop { a += a; }\n", &[]);
    assert_eq!(code, 1);
    assert!(
        failure_text(&report).contains("deploy.rhai:2:10: Size of array/BLOB too large"),
        "{}",
        failure_text(&report)
    );
}

/// Issue 18: every loop shape is stopped by the sandbox, not by the run's
/// deadline (`ACTION_TIMEOUT` is 10 minutes here, so a deadline stop would
/// say "deadline"). A push loop costs few operations but quadratic time
/// (Rhai re-measures the array after each `push`): the compute budget stops
/// it. Many large values stop at the heap limit instead of aborting.
#[test]
fn every_runaway_loop_shape_is_stopped_by_the_sandbox() {
    let many_large_strings: String = std::iter::once("let base = \"\";\nbase.pad(15000000, \"x\");\n".to_owned())
        .chain((0..90).map(|i| format!("let v{i} = base + \"{i}\";\n")))
        .collect();
    let shapes: [(&str, &str, &[&str]); 6] = [
        ("plain loop", "let x = 0;\nloop { x += 1; }\n", &["Too many operations"]),
        (
            "range loop",
            "for i in range(0, 1000000000000) { }\n",
            &["Too many operations"],
        ),
        (
            "push loop",
            "let a = [];\nloop { a.push(1); }\n",
            &["computed for more than 5s", "Too many operations"],
        ),
        (
            "nested push loop",
            "let a = [];\nloop { a.push([1, 2, 3]); }\n",
            &["computed for more than 5s", "Too many operations"],
        ),
        (
            "map insert loop",
            "let m = #{};\nlet i = 0;\nloop { m[`k${i}`] = i; i += 1; }\n",
            &["computed for more than 5s", "Too many operations"],
        ),
        ("many large values", &many_large_strings, &["heap passed 1024 MiB"]),
    ];
    for (shape, script, expected) in shapes {
        let (code, report, stderr, _) = hostile(script, &[("ACTION_TIMEOUT", "10m")]);
        let text = failure_text(&report);
        let tail = &stderr[stderr.len().saturating_sub(1500)..];
        assert_eq!(code, 1, "{shape}: {text}\n{tail}");
        assert!(
            expected.iter().any(|e| text.contains(e)),
            "{shape}: expected one of {expected:?} in {text}"
        );
        assert!(
            text.contains("deploy.rhai:") && !text.contains("deadline"),
            "{shape}: {text}"
        );
    }
}

#[test]
fn forbidden_constructs_are_input_errors() {
    // eval is disabled: the script does not compile (exit 3, before any request).
    let (code, report, _, _) = hostile("let x = eval(\"40 + 2\");\n", &[]);
    assert_eq!(code, 3);
    let text = failure_text(&report);
    assert!(text.contains("deploy.rhai:1:") && text.contains("eval"), "{text}");

    // Imports are confined to the script roots.
    let (code, report, _, _) = hostile("import \"../../etc/passwd\" as p;\n", &[]);
    assert_eq!(code, 3);
    assert!(
        failure_text(&report).contains("leaves its directory"),
        "{}",
        failure_text(&report)
    );
    let (code, report, _, _) = hostile("import \"/etc/passwd\" as p;\n", &[]);
    assert_eq!(code, 3);
    assert!(
        failure_text(&report).contains("is absolute"),
        "{}",
        failure_text(&report)
    );
}

#[test]
fn a_printed_secret_is_redacted() {
    let platform = Platform::start(demo_sim_config());
    std::fs::write(
        platform.sandbox.secrets_dir().join("api-token"),
        "s3cr3t-hunter2-value\n",
    )
    .unwrap();
    platform.sandbox.config_file(
        "scripts/deploy.rhai",
        "let p = secrets::read(\"api-token\");\nprint(`password is ${p}`);\nlog::info(`again: ${p}`, #{component: \"x\"});\nreport::recommend(`rotate ${p}`);\nthrow `leaking ${p}`;\n",
    );
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 1);
    assert!(
        !run.stdout.contains("s3cr3t-hunter2-value") && !run.stderr.contains("s3cr3t-hunter2-value"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stderr.contains("password is <redacted>"), "{}", run.stderr);
}

/// Issue 18: a secret of `$SECRETS_DIR` stays a handle through every
/// conversion Rhai offers and every primitive that takes a map; only a
/// Secret's `stringData`/`data` given to `k8s::apply` may hold it, and what
/// comes back from the cluster is a handle again. Each attempt's result (or
/// error) is printed reversed, character by character, so a value that
/// became text anywhere would show up as `eulav-2retnuh-t3rc3s` too.
#[test]
fn a_secret_cannot_be_turned_into_text() {
    let platform = Platform::start(demo_sim_config());
    std::fs::write(
        platform.sandbox.secrets_dir().join("api-token"),
        "s3cr3t-hunter2-value\n",
    )
    .unwrap();
    let script = r#"
fn run_one(f) {
    try { return `${f.call()}`; } catch (e) { return `refused: ${e}`; }
}
let p = secrets::read("api-token");
let pod = #{apiVersion: "v1", kind: "Pod", metadata: #{name: "x", namespace: "default"}, status: #{phase: "Failed", message: p}};
let attempts = [
    || `${p}`, || p.to_string(), || p.to_debug(), || "" + p, || p + "", || p == "s3cr3t-hunter2-value",
    || p.len(), || p.to_chars(), || p.split("-"), || p.sub_string(0, 3), || { let n = 0; for c in p { n += 1; } n },
    || #{a: p}.to_json(), || [p].to_string(), || type_of(p),
    || health::assess(pod), || k8s::key(pod),
    || k8s::apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "leak", namespace: "default"}, data: #{v: p}}),
    || report::recommend(p),
    || { k8s::apply(#{apiVersion: "v1", kind: "Secret", metadata: #{name: "kept", namespace: "default"}, stringData: #{v: p}});
         let back = k8s::get("v1", "Secret", "default", "kept");
         `${back.data.v}` + back.data.v },
];
let i = 0;
for attempt in attempts {
    let out = run_one(attempt);
    let chars = out.to_chars();
    chars.reverse();
    print(`attempt ${i}: ${out} / ${chars}`);
    i += 1;
}
"#;
    platform.sandbox.config_file("scripts/deploy.rhai", script);
    let run = platform.run(&["deploy"]);
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(all.matches("attempt ").count(), 19, "{}", run.stderr);
    for leaked in ["s3cr3t-hunter2-value", "eulav-2retnuh-t3rc3s", "s3c", "3c3s", "hunter2"] {
        assert!(!all.contains(leaked), "`{leaked}` leaked:\n{all}");
    }
    // The two writes that had to be refused were, at their line; the Secret was written.
    assert!(all.contains("a secret cannot go here (`data.v`)"), "{all}");
    assert!(all.contains("a secret cannot go here (`status.message`)"), "{all}");
    let writes = describe(&platform.writes_since(0));
    assert!(!writes.iter().any(|w| w.contains("leak")), "{writes:?}");
    assert!(
        writes.iter().any(|w| w.contains("secrets") && w.contains("kept")),
        "{writes:?}"
    );
}

#[test]
fn a_primitive_blocked_past_the_deadline_is_stopped() {
    let started = Instant::now();
    let (code, report, _, _) = hostile(
        "k8s::wait(\"v1\", \"ConfigMap\", \"default\", \"never\", |o| false, \"1h\");\n",
        &[("ACTION_TIMEOUT", "2s")],
    );
    let elapsed = started.elapsed();
    assert_eq!(code, 4, "{report:#}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let text = failure_text(&report);
    // The failure names the script line of the blocked call.
    assert!(text.contains("deploy.rhai:1:"), "{text}");
    assert_eq!(report["summary"]["status"], "TimedOut");
}

#[test]
fn the_documented_example_runs() {
    let mut sandbox = Sandbox::new();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples");
    sandbox.set("CONFIG_DIR", examples.to_str().unwrap());
    let run = sandbox.run(&["test", examples.join("tests").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.ends_with("4 passed, 0 failed\n"), "{}", run.stdout);
    // And the example configuration is valid input for a real run's plan.
    let plan = sandbox.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("hook postSync: hooks/vault-ready.rhai"),
        "{}",
        plan.stdout
    );
}
