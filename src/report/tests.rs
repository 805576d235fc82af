//! Snapshot tests of every renderer on one fixed report.

use super::render::{ReportFormat, render};
use super::{Component, ComponentKind, Failure, ListedObject, Phase, Report};
use crate::outcome::Outcome;

/// A report with a bit of everything: a healthy app, a failed one with
/// diagnostics, a skipped dependent, a stack, the bootstrap.
pub fn fixed_report() -> Report {
    let started: jiff::Timestamp = "2026-01-07T10:30:00Z".parse().unwrap();
    let finished: jiff::Timestamp = "2026-01-07T10:31:12.5Z".parse().unwrap();
    let mut report = Report::new("deploy", "stack:data".to_owned(), false, started);
    report.summary.environment = Some("staging".to_owned());
    report.summary.environment_name = Some("staging-eu".to_owned());
    report.summary.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned());
    let component =
        |name: &str, stack: &str, kind, status: &str, health: &str, sync: &str, message: &str, secs: f64| Component {
            name: name.to_owned(),
            stack: stack.to_owned(),
            kind,
            status: status.parse().unwrap(),
            health: health.to_owned(),
            sync: sync.to_owned(),
            message: message.to_owned(),
            duration_seconds: secs,
            attempts: 1,
            depends_on: Vec::new(),
            start_seconds: None,
            phases: Vec::new(),
        };
    report.components = vec![
        component(
            "bootstrap",
            "",
            ComponentKind::Bootstrap,
            "Unchanged",
            "Healthy",
            "",
            "argo-cd v3.5.1, argo-workflows v4.1.2: 0 created, 0 updated, 93 unchanged",
            0.8,
        ),
        component(
            "redis-clusters",
            "data",
            ComponentKind::App,
            "Deployed",
            "Healthy",
            "Synced",
            "",
            4.2,
        ),
        component(
            "postgres-clusters",
            "data",
            ComponentKind::App,
            "Failed",
            "Degraded",
            "Synced",
            "postgres-clusters: Degraded: database unreachable",
            61.0,
        ),
        component(
            "keycloak",
            "security",
            ComponentKind::App,
            "Skipped",
            "Unknown",
            "",
            "skipped: `postgres-clusters` did not succeed and it depends on",
            0.0,
        ),
        component(
            "data",
            "data",
            ComponentKind::Stack,
            "Failed",
            "Failed",
            "",
            "1 Deployed, 1 Failed",
            61.0,
        ),
    ];
    let phase = |name: &str, start: f64, seconds: f64| Phase {
        name: name.to_owned(),
        start_seconds: start,
        duration_seconds: seconds,
    };
    report.bootstrap_phases = vec![
        phase("namespaces", 0.1, 0.05),
        phase("crds", 0.15, 0.2),
        phase("configuration", 0.35, 0.15),
        phase("workloads", 0.5, 0.3),
        phase("custom-resources", 0.8, 0.1),
    ];
    let redis = &mut report.components[1];
    redis.start_seconds = Some(1.0);
    redis.phases = vec![phase("sync", 1.0, 0.3), phase("wait", 1.3, 3.9)];
    let postgres = &mut report.components[2];
    postgres.start_seconds = Some(1.0);
    postgres.phases = vec![
        phase("hook", 1.0, 2.0),
        phase("sync", 3.0, 0.4),
        phase("wait", 3.4, 58.6),
    ];
    report.components[3].depends_on = vec!["redis-clusters".to_owned(), "postgres-clusters".to_owned()];
    report.failures = vec![Failure {
        component: "postgres-clusters".to_owned(),
        reason: "Degraded".into(),
        message: "postgres-clusters: Degraded: database unreachable".to_owned(),
        diagnostics: vec![
            "health Degraded: database unreachable".to_owned(),
            "postgresql databases/platform-postgres: Degraded (CreateFailed)".to_owned(),
        ],
    }];
    report.recommendations =
        vec!["Run the same action again once postgres-clusters is fixed: completed nodes are not redone.".to_owned()];
    report.metrics.insert("apiRequestsTotal".to_owned(), 58.into());
    report.metrics.insert("mutatingRequests".to_owned(), 6.into());
    report.removed = None;
    report.orphans = None;
    let _ = ListedObject {
        api_version: String::new(),
        kind: String::new(),
        namespace: String::new(),
        name: String::new(),
        reason: String::new(),
    };
    report.finish(Outcome::Partial, started, finished);
    report
}

#[test]
fn json() {
    insta::assert_snapshot!(render(&fixed_report(), ReportFormat::Json));
}

#[test]
fn yaml() {
    insta::assert_snapshot!(render(&fixed_report(), ReportFormat::Yaml));
}

#[test]
fn text() {
    insta::assert_snapshot!(render(&fixed_report(), ReportFormat::Text));
}

#[test]
fn junit() {
    insta::assert_snapshot!(render(&fixed_report(), ReportFormat::Junit));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(render(&fixed_report(), ReportFormat::Markdown));
}

#[test]
fn every_format_scrubs_secrets() {
    let secret = crate::redact::Secret::new("very-secret-token-123");
    let mut report = fixed_report();
    report.recommendations.push(format!("rotate {}", secret.expose()));
    for format in [
        ReportFormat::Json,
        ReportFormat::Yaml,
        ReportFormat::Text,
        ReportFormat::Junit,
        ReportFormat::Markdown,
        ReportFormat::Html,
    ] {
        let text = render(&report, format);
        assert!(!text.contains("very-secret-token-123"), "{format:?}");
        assert!(
            text.contains("<redacted>") || text.contains("&lt;redacted&gt;"),
            "{format:?}"
        );
    }
}

/// The metrics of the fixed report, as docs/observability.md shows them.
fn fixed_metrics() -> String {
    let report = fixed_report();
    let metrics = crate::observe::metrics::RunMetrics::new("deploy", "staging").unwrap();
    metrics.finish(&report, Outcome::Partial, "2026-01-07T10:31:12.5Z".parse().unwrap());
    metrics.render()
}

#[test]
fn metrics() {
    insta::assert_snapshot!(fixed_metrics());
}

/// docs/observability.md shows real outputs of these renderers: keep them true.
#[test]
fn the_documented_examples_are_real_outputs() {
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/observability.md"))
        .unwrap();
    for (name, output) in [
        ("text", render(&fixed_report(), ReportFormat::Text)),
        ("markdown", render(&fixed_report(), ReportFormat::Markdown)),
        ("junit", render(&fixed_report(), ReportFormat::Junit)),
        ("metrics", fixed_metrics()),
    ] {
        assert!(
            doc.contains(&output),
            "docs/observability.md no longer shows the current {name} output:\n{output}"
        );
    }
}

#[test]
fn html() {
    insta::assert_snapshot!(render(&fixed_report(), ReportFormat::Html));
}

/// The page must work air-gapped: nothing it references may be fetched.
#[test]
fn the_html_page_references_nothing_outside_itself() {
    let page = render(&fixed_report(), ReportFormat::Html);
    for external in [
        "http://", "https://", "<script", "<link", "<img", "<iframe", "@import", " src=", "//",
    ] {
        assert!(!page.contains(external), "the page contains `{external}`");
    }
    // The only url() references are fragments of the page itself (the SVG markers).
    for (at, _) in page.match_indices("url(") {
        assert!(page[at..].starts_with("url(#"), "{}", &page[at..at + 40]);
    }
    assert!(page.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""));
}

#[test]
fn the_html_page_is_deterministic() {
    assert_eq!(
        render(&fixed_report(), ReportFormat::Html),
        render(&fixed_report(), ReportFormat::Html)
    );
}

#[test]
fn the_html_graph_colours_nodes_and_the_failed_path() {
    let page = render(&fixed_report(), ReportFormat::Html);
    assert!(page.contains("<g class=\"node succeeded\" data-component=\"redis-clusters\""));
    // The failed node, the one that ended last, is the critical path.
    assert!(page.contains("<g class=\"node failed failed-path critical\" data-component=\"postgres-clusters\""));
    assert!(page.contains("<g class=\"node skipped failed-path\" data-component=\"keycloak\""));
    assert!(page.contains("<path class=\"edge failed-path\" data-from=\"postgres-clusters\" data-to=\"keycloak\""));
    assert!(page.contains("<path class=\"edge\" data-from=\"redis-clusters\" data-to=\"keycloak\""));
    // Stacks and the bootstrap are not graph nodes.
    assert!(!page.contains("data-component=\"data\""));
    assert!(!page.contains("<g class=\"node succeeded\" data-component=\"bootstrap\""));
}

#[test]
fn the_html_timeline_shows_phases_bootstrap_and_the_critical_path() {
    let page = render(&fixed_report(), ReportFormat::Html);
    let timeline = &page[page.find("<section id=\"timeline\">").unwrap()..];
    let timeline = &timeline[..timeline.find("</section>").unwrap()];
    assert!(timeline.contains("<rect class=\"bar failed critical\""));
    assert!(timeline.contains("◆ postgres-clusters"));
    assert!(timeline.contains("<rect class=\"bar succeeded\""));
    for phase in ["hook", "sync", "wait"] {
        assert!(timeline.contains(&format!("<rect class=\"phase {phase}\"")), "{phase}");
    }
    for phase in ["namespaces", "crds", "configuration", "workloads", "custom-resources"] {
        assert!(timeline.contains(&format!("bootstrap · {phase}")), "{phase}");
    }
    // The wait of postgres-clusters (3.4 s to 62 s of a 72.5 s run) spans
    // most of the chart: 58.6 s at 760 px for 72.5 s.
    assert!(
        timeline.contains("width=\"614.3\" height=\"10\" fill=\"#f08c00\""),
        "{timeline}"
    );
}

#[test]
fn the_html_page_escapes_every_text() {
    let mut report = fixed_report();
    report.components[1].name = "<script>alert('x')</script>".to_owned();
    report.failures[0]
        .diagnostics
        .push("a & b \"quoted\" <b>bold</b>".to_owned());
    report.recommendations.push("<img src=x onerror=alert(1)>".to_owned());
    let page = render(&report, ReportFormat::Html);
    assert!(!page.contains("<script"));
    assert!(!page.contains("<img"));
    assert!(!page.contains("<b>bold"));
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(page.contains("a &amp; b &quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn the_html_page_redacts_before_escaping() {
    // A secret with characters HTML escapes is still found and replaced.
    let secret = crate::redact::Secret::new("p&ss<word>-4711");
    let mut report = fixed_report();
    report.failures[0]
        .diagnostics
        .push(format!("token {}", secret.expose()));
    let page = render(&report, ReportFormat::Html);
    assert!(!page.contains("p&amp;ss&lt;word&gt;-4711"));
    assert!(!page.contains("4711"));
    assert!(page.contains("token &lt;redacted&gt;"));
}

#[test]
fn the_markdown_graph_is_a_coloured_mermaid_flowchart() {
    let text = render(&fixed_report(), ReportFormat::Markdown);
    let block = &text[text.find("```mermaid\nflowchart LR\n").unwrap()..];
    let block = &block[..block.find("\n```\n").unwrap()];
    assert!(block.contains("n1[\"postgres-clusters<br/>Failed\"]"));
    assert!(block.contains("n1 ==> n2"), "the failed path is a thick edge:\n{block}");
    assert!(block.contains("n0 --> n2"));
    assert!(block.contains("classDef failed fill:#ffc9c9,stroke:#c92a2a"));
    assert!(block.contains("class n1 failed"));
    assert!(block.contains("class n2 skipped"));
    assert!(block.contains("linkStyle 1 stroke:#c92a2a"));
}

#[test]
fn a_graph_too_large_for_mermaid_is_a_sentence_not_a_broken_diagram() {
    let mut report = fixed_report();
    let template = report.components[1].clone();
    for i in 0..600 {
        let mut app = template.clone();
        app.name = format!("app-{i}");
        app.depends_on = vec!["redis-clusters".to_owned()];
        report.components.push(app);
    }
    let text = render(&report, ReportFormat::Markdown);
    assert!(!text.contains("```mermaid"));
    assert!(text.contains("603 applications and 602 dependencies: more than a Mermaid diagram renders"));
}

#[test]
fn html_is_a_report_format_and_the_error_lists_every_format() {
    assert_eq!("HTML".parse::<ReportFormat>(), Ok(ReportFormat::Html));
    let error = "pdf".parse::<ReportFormat>().unwrap_err();
    assert_eq!(
        error,
        "`pdf` is not a report format; expected json, yaml, text, junit, markdown or html"
    );
}
