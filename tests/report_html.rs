//! The run report people look at, through the real binary: the timings
//! and edges the JSON report gains, and `REPORT_FORMAT=html` drawn by
//! headless Chromium with the network blocked.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{Platform, demo_sim_config};

/// The demo platform with postgres-clusters Degraded: it fails, and its
/// dependents are skipped (as in deploy.rs).
fn partial_platform() -> Platform {
    let mut config = demo_sim_config();
    config.apps.insert(
        "postgres-clusters".into(),
        serde_json::from_value(serde_json::json!({"health": "Degraded"})).unwrap(),
    );
    Platform::start(config)
}

const SKIPPED: [&str; 4] = ["keycloak", "harbor", "backstage", "temporal"];
const DEPLOYED: [&str; 3] = ["vault", "grafana", "redis-clusters"];

/// The `class` of the graph node of `component` in the page.
fn node_class(page: &str, component: &str) -> String {
    let anchor = format!("\" data-component=\"{component}\" data-status=");
    let end = page
        .find(&anchor)
        .unwrap_or_else(|| panic!("no graph node for {component}"));
    let start = page[..end].rfind("<g class=\"").unwrap() + "<g class=\"".len();
    page[start..end].to_owned()
}

/// Where headless Chromium is: `CHROMIUM`, else `chromium` (Debian's
/// package) or `chromium-browser` on the `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM").map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs Chromium headless on `page` with every network request refused: a
/// proxy nobody listens on and a resolver that resolves nothing (Chromium's
/// `--proxy-server` and `--host-resolver-rules`,
/// https://www.chromium.org/developers/design-documents/network-settings/).
fn headless(chromium: &Path, profile: &Path, page: &Path, mode: &[String]) -> std::process::Output {
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1400,2200",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium still running after 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn the_json_report_has_the_graph_edges_and_each_nodes_timed_steps() {
    let platform = partial_platform();
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.report();
    let components = report["components"].as_array().unwrap();
    let named = |name: &str| components.iter().find(|c| c["name"] == name).unwrap();
    let keycloak = named("keycloak");
    assert!(
        keycloak["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "postgres-clusters"),
        "{keycloak:#}"
    );
    assert!(keycloak.get("startSeconds").is_none(), "a skipped node never started");
    let bootstrap_start = report["bootstrapPhases"][0]["startSeconds"].as_f64().unwrap();
    for name in ["postgres-clusters", "vault"] {
        let node = named(name);
        let start = node["startSeconds"].as_f64().unwrap();
        assert!(start > bootstrap_start, "{name} started after the bootstrap: {node:#}");
        let phases: Vec<&str> = node["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(phases.ends_with(&["sync", "wait"]), "{name}: {phases:?}");
        let wait = node["phases"].as_array().unwrap().last().unwrap();
        assert!(wait["startSeconds"].as_f64().unwrap() >= start);
    }
    // The failed node waited for its health until it was judged Degraded.
    let wait = named("postgres-clusters")["phases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(wait["name"], "wait");
    let phases: Vec<String> = report["bootstrapPhases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    for phase in ["namespaces", "crds", "workloads"] {
        assert!(phases.iter().any(|p| p == phase), "{phases:?}");
    }
}

#[test]
fn the_html_report_of_a_partial_run_is_a_self_contained_page_chromium_draws() {
    let mut platform = partial_platform();
    let file = platform.sandbox.dir.path().join("report.html");
    platform
        .sandbox
        .set("REPORT_FORMAT", "html")
        .set("REPORT_FILE", file.to_str().unwrap());
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let page = std::fs::read_to_string(&file).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));

    // The failed node and its skipped dependents are on the failed path.
    let failed = node_class(&page, "postgres-clusters");
    assert!(failed.starts_with("node failed failed-path"), "{failed}");
    for dependent in SKIPPED {
        assert_eq!(node_class(&page, dependent), "node skipped failed-path", "{dependent}");
    }
    for independent in DEPLOYED {
        let class = node_class(&page, independent);
        assert!(class.starts_with("node succeeded"), "{independent}: {class}");
        assert!(!class.contains("failed-path"), "{independent}: {class}");
    }
    assert!(page.contains("<path class=\"edge failed-path\" data-from=\"postgres-clusters\" data-to=\"keycloak\""));
    // A timeline with the bootstrap phases, the nodes' steps and a critical path.
    assert!(page.contains("bootstrap · crds"));
    assert!(page.contains("<rect class=\"phase wait\""));
    assert!(page.contains("<rect class=\"phase sync\""));
    assert!(page.contains(" critical\" x="), "a bar on the critical path");
    assert!(page.contains("<section id=\"failures\">"));
    assert!(page.contains("<section id=\"metrics\">"));

    // Nothing the page could fetch: no src or href attribute at all, no
    // attribute whose value is a URL, and url() only for the page's own SVG
    // markers. (A URL in a message is text, and fetches nothing.)
    for attribute in [
        " src=",
        " href=",
        "xlink:href",
        "<script",
        "<link",
        "@import",
        "=\"http",
        "=\"//",
        "url(http",
        "url(//",
    ] {
        assert!(!page.contains(attribute), "the page contains `{attribute}`");
    }
    for (at, _) in page.match_indices("url(") {
        assert!(
            page[at..].starts_with("url(#"),
            "{}",
            &page[at..(at + 60).min(page.len())]
        );
    }

    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("EXECUTOR_REQUIRE_CHROMIUM").is_none(),
            "CI must have headless Chromium (.ci/run installs Debian's `chromium`)"
        );
        eprintln!("SKIPPED the Chromium half of this test: no `chromium` on the PATH (apt-get install chromium)");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let screenshot = platform.sandbox.dir.path().join("report.png");
    let shot = headless(
        &chromium,
        profile.path(),
        &file,
        &[format!("--screenshot={}", screenshot.display())],
    );
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}):\n{}", String::from_utf8_lossy(&shot.stderr)));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 20_000, "a nearly empty screenshot: {} bytes", png.len());
    if let Some(keep) = std::env::var_os("EXECUTOR_REPORT_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }
    // The DOM Chromium built has the graph's nodes with their outcome.
    let dom = headless(&chromium, profile.path(), &file, &["--dump-dom".to_owned()]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-component=\"postgres-clusters\""), "{dom}");
    assert_eq!(node_class(&dom, "keycloak"), "node skipped failed-path");
}
