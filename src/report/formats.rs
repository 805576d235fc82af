//! The report for CI systems (JUnit XML) and for people reading a pull
//! request or a job summary (Markdown, with the graph as a Mermaid block).

use std::fmt::Write as _;

use super::graph::{Graph, OutcomeClass};
use super::{ComponentKind, ComponentStatus, Report};

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn kind_name(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::App => "app",
        ComponentKind::Stack => "stack",
        ComponentKind::Bootstrap => "bootstrap",
    }
}

const FAILED_HEALTH: [&str; 4] = ["Degraded", "Missing", "Unknown", "Failed"];

fn failed(status: ComponentStatus, health: &str, validate: bool) -> bool {
    status.is_failure() || (validate && FAILED_HEALTH.contains(&health))
}

/// JUnit XML: one `testcase` per component (classname `<kind>.<stack>`);
/// failed and timed-out components carry their failure and diagnostics,
/// skipped ones are `skipped`; invalid inputs are failed `input` cases.
pub fn junit(report: &Report) -> String {
    let s = &report.summary;
    let validate = s.action == "validate";
    let mut cases = String::new();
    let (mut failures, mut skipped, mut tests) = (0, 0, 0);
    for c in &report.components {
        tests += 1;
        let class = if c.stack.is_empty() {
            kind_name(c.kind).to_owned()
        } else {
            format!("{}.{}", kind_name(c.kind), c.stack)
        };
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            xml(&class),
            xml(&c.name),
            c.duration_seconds
        );
        if failed(c.status, &c.health, validate) {
            failures += 1;
            let failure = report.failures.iter().find(|f| f.component == c.name);
            let reason = failure.map_or(c.status.as_str(), |f| f.reason.as_str());
            let message = failure.map_or(c.message.as_str(), |f| f.message.as_str());
            let diagnostics = failure.map(|f| f.diagnostics.join("\n")).unwrap_or_default();
            let _ = writeln!(
                cases,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                xml(reason),
                xml(message),
                xml(&diagnostics)
            );
        } else if c.status == ComponentStatus::Skipped {
            skipped += 1;
            let _ = writeln!(cases, "      <skipped message=\"{}\"/>", xml(&c.message));
        }
        let _ = writeln!(
            cases,
            "      <system-out>status {}, health {}, sync {}{}</system-out>",
            xml(c.status.as_str()),
            xml(&c.health),
            xml(if c.sync.is_empty() { "-" } else { &c.sync }),
            if c.message.is_empty() {
                String::new()
            } else {
                format!(": {}", xml(&c.message))
            }
        );
        cases.push_str("    </testcase>\n");
    }
    for f in report
        .failures
        .iter()
        .filter(|f| !report.components.iter().any(|c| c.name == f.component))
    {
        tests += 1;
        failures += 1;
        let _ = write!(
            cases,
            "    <testcase classname=\"run\" name=\"{}\" time=\"0.000\">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
            xml(&f.component),
            xml(f.reason.as_str()),
            xml(&f.message),
            xml(&f.diagnostics.join("\n"))
        );
    }
    let name = format!(
        "executor {} {} ({})",
        s.action,
        s.scope,
        s.environment.as_deref().unwrap_or("-")
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<testsuites name=\"{n}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{t:.3}\">\n  <testsuite name=\"{n}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{t:.3}\" timestamp=\"{ts}\">\n    <properties>\n      <property name=\"status\" value=\"{st:?}\"/>\n      <property name=\"exitCode\" value=\"{code}\"/>\n      <property name=\"dryRun\" value=\"{dry}\"/>\n    </properties>\n",
        n = xml(&name),
        t = s.duration_seconds,
        ts = xml(&s.started_at),
        st = s.status,
        code = s.exit_code,
        dry = s.dry_run
    );
    out.push_str(&cases);
    if !report.recommendations.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            xml(&report.recommendations.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Markdown: a summary, the components table, failures with diagnostics,
/// compliance, teardown lists and recommendations.
pub fn markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let icon = match s.exit_code {
        0 => "✅",
        2 => "⚠️",
        _ => "❌",
    };
    let _ = writeln!(
        out,
        "### {icon} executor {} — {:?} (exit {})\n",
        s.action, s.status, s.exit_code
    );
    let _ = writeln!(
        out,
        "Scope `{}` · environment `{}`{} · {:.1} s · started {}\n",
        s.scope,
        s.environment.as_deref().unwrap_or("-"),
        if s.dry_run { " · **dry run**" } else { "" },
        s.duration_seconds,
        s.started_at
    );
    if !report.components.is_empty() {
        out.push_str("| component | stack | kind | status | health | sync | time | message |\n|---|---|---|---|---|---|---:|---|\n");
        for c in &report.components {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.1} s | {} |",
                cell(&c.name),
                cell(&c.stack),
                kind_name(c.kind),
                cell(c.status.as_str()),
                cell(&c.health),
                cell(&c.sync),
                c.duration_seconds,
                cell(&c.message)
            );
        }
        out.push('\n');
    }
    mermaid(&mut out, report);
    if !report.failures.is_empty() {
        out.push_str("#### Failures\n\n");
        for f in &report.failures {
            let _ = writeln!(
                out,
                "- **{}** ({}): {}",
                cell(&f.component),
                f.reason,
                f.message.replace('\n', " ")
            );
            for d in &f.diagnostics {
                let _ = writeln!(out, "  - {}", d.replace('\n', " "));
            }
        }
        out.push('\n');
    }
    if let Some(policies) = report.compliance.as_ref().and_then(|c| c["policies"].as_array()) {
        out.push_str("#### Compliance\n\n| policy | severity | status |\n|---|---|---|\n");
        for p in policies {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                p["name"].as_str().unwrap_or_default(),
                p["severity"].as_str().unwrap_or_default(),
                p["status"].as_str().unwrap_or_default()
            );
        }
        out.push('\n');
    }
    for (title, list) in [
        ("Removed", &report.removed),
        ("Retained", &report.retained),
        ("Orphans", &report.orphans),
    ] {
        if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "#### {title} ({})\n", list.len());
            for o in list {
                let place = if o.namespace.is_empty() {
                    String::new()
                } else {
                    format!("{}/", o.namespace)
                };
                let why = if o.reason.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", o.reason)
                };
                let _ = writeln!(out, "- {} `{place}{}`{why}", o.kind, o.name);
            }
            out.push('\n');
        }
    }
    if !report.recommendations.is_empty() {
        out.push_str("#### Recommendations\n\n");
        for r in &report.recommendations {
            let _ = writeln!(out, "- {r}");
        }
    }
    out
}

/// A Mermaid label: quotes and angle brackets as Mermaid entity codes.
fn mermaid_label(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\n', " ")
}

/// Mermaid's default `maxEdges` and `maxTextSize`
/// (https://mermaid.js.org/config/schema-docs/config.html): past them,
/// GitHub and GitLab show an error instead of the diagram.
const MERMAID_MAX_EDGES: usize = 500;
const MERMAID_MAX_TEXT: usize = 50_000;

/// The graph as a Mermaid flowchart (rendered by GitHub and GitLab): nodes
/// coloured by outcome with the HTML page's colours, the failed path's
/// edges thick and red. Nothing without application components; a
/// sentence instead of a graph too large for Mermaid.
fn mermaid(out: &mut String, report: &Report) {
    let graph = Graph::of(&report.components);
    if graph.nodes.is_empty() {
        return;
    }
    let block = mermaid_block(&graph);
    out.push_str("#### Graph\n\n");
    if graph.edges.len() > MERMAID_MAX_EDGES || block.len() > MERMAID_MAX_TEXT {
        let _ = writeln!(
            out,
            "{} applications and {} dependencies: more than a Mermaid diagram renders ({MERMAID_MAX_EDGES} edges, {MERMAID_MAX_TEXT} characters); `REPORT_FORMAT=html` draws the graph.\n",
            graph.nodes.len(),
            graph.edges.len()
        );
        return;
    }
    out.push_str(&block);
}

fn mermaid_block(graph: &Graph<'_>) -> String {
    let mut out = String::from("```mermaid\nflowchart LR\n");
    for (i, node) in graph.nodes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  n{i}[\"{}<br/>{}\"]",
            mermaid_label(&node.component.name),
            mermaid_label(node.component.status.as_str())
        );
    }
    for edge in &graph.edges {
        let arrow = if edge.failed_path { "==>" } else { "-->" };
        let _ = writeln!(out, "  n{} {arrow} n{}", edge.from, edge.to);
    }
    for class in OutcomeClass::ALL {
        let members: Vec<String> = graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.class == class)
            .map(|(i, _)| format!("n{i}"))
            .collect();
        if members.is_empty() {
            continue;
        }
        let (fill, stroke) = class.colours();
        let dash = if class == OutcomeClass::Skipped {
            ",stroke-dasharray:5 3"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  classDef {} fill:{fill},stroke:{stroke},color:#212529{dash}",
            class.name()
        );
        let _ = writeln!(out, "  class {} {}", members.join(","), class.name());
    }
    for (i, edge) in graph.edges.iter().enumerate() {
        if edge.failed_path {
            let _ = writeln!(out, "  linkStyle {i} stroke:#c92a2a,stroke-width:3px");
        }
    }
    out.push_str("```\n\n");
    out
}
