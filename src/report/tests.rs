//! Snapshot tests of every renderer on one fixed report.

use super::render::{ReportFormat, render};
use super::{Component, ComponentKind, Failure, ObjectRef, Report};
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
            status: status.to_owned(),
            health: health.to_owned(),
            sync: sync.to_owned(),
            message: message.to_owned(),
            duration_seconds: secs,
            attempts: 1,
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
    report.failures = vec![Failure {
        component: "postgres-clusters".to_owned(),
        reason: "Degraded".to_owned(),
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
    let _ = ObjectRef {
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
