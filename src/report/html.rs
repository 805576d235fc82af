//! The report as one self-contained HTML page (`REPORT_FORMAT=html`): the
//! graph coloured by outcome with the failed path highlighted, a timeline
//! of every node's steps with the critical path marked, the bootstrap
//! phases, the failures with their diagnostics, the recommendations, the
//! components and the run's metrics.
//!
//! The page fetches nothing: CSS and SVG are inline, fonts are the
//! system's, there is no script, and a Content-Security-Policy of
//! `default-src 'none'` says so to the browser. It works air-gapped and as
//! a CI artifact. Every text is scrubbed by the redactor, then
//! HTML-escaped; the output is deterministic apart from the report's times.

use std::fmt::Write as _;

use super::graph::{Graph, OutcomeClass, critical_path};
use super::{ComponentKind, Report};
use crate::redact;

/// Text for an HTML text node or attribute value: redacted, then escaped.
pub fn esc(text: &str) -> String {
    let scrubbed = redact::scrub(text);
    let mut out = String::with_capacity(scrubbed.len());
    for c in scrubbed.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Colours of the timeline's steps.
const PHASE_COLOURS: [(&str, &str); 4] = [
    ("hook", "#9c36b5"),
    ("sync", "#1971c2"),
    ("wait", "#f08c00"),
    ("bootstrap", "#495057"),
];

const NODE_W: usize = 164;
const NODE_H: usize = 36;
const COL_GAP: usize = 48;
const ROW_GAP: usize = 18;
const PAD: usize = 16;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;margin:0;color:#212529;background:#fff}
header{padding:16px 24px;border-bottom:4px solid #adb5bd}
header.exit-0{border-color:#2b8a3e}header.exit-1,header.exit-3,header.exit-4{border-color:#c92a2a}header.exit-2{border-color:#e67700}
h1{font-size:1.4em;margin:0 0 8px}h2{font-size:1.15em;margin:24px 0 8px}h3{font-size:1em;margin:12px 0 4px}
main{padding:0 24px 24px}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}dl.summary dt{color:#495057}dl.summary dd{margin:0}
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #dee2e6;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f1f3f5}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:.85em;margin:4px 0 8px}.legend span{display:inline-flex;align-items:center;gap:4px}
.swatch{display:inline-block;width:14px;height:14px;border:2px solid;border-radius:3px}
.scroll{overflow-x:auto;border:1px solid #e9ecef;border-radius:4px;padding:4px}
svg text{font-size:12px;font-family:inherit}
.edge{fill:none;stroke:#868e96;stroke-width:1.5}.edge.failed-path{stroke:#c92a2a;stroke-width:3}.edge.critical{stroke:#212529;stroke-width:2.5}
.node rect{stroke-width:2}.node.failed-path rect{stroke-width:4}.node.critical text{font-weight:bold}
.bar{stroke-width:1.5}rect.bar.critical{stroke:#212529;stroke-width:3}
.axis{stroke:#ced4da;stroke-width:1}.tick{fill:#868e96;font-size:11px}
.failure{border-left:4px solid #c92a2a;padding:4px 12px;margin:8px 0;background:#fff5f5}
.failure .reason{font-family:ui-monospace,monospace;background:#ffe3e3;padding:0 4px;border-radius:3px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.status{padding:0 6px;border-radius:3px;border:1px solid}
";

/// The page.
pub fn page(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let title = format!("executor {} — {:?} (exit {})", s.action, s.status, s.exit_code);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}{}</style>\n</head>\n<body>\n",
        esc(&title),
        outcome_css()
    );
    header(&mut out, report, &title);
    out.push_str("<main>\n");
    let graph = Graph::of(&report.components);
    if !graph.nodes.is_empty() {
        out.push_str("<section id=\"graph\">\n<h2>Graph</h2>\n");
        outcome_legend(&mut out);
        graph_svg(&mut out, &graph);
        out.push_str("</section>\n");
    }
    timeline(&mut out, report);
    failures(&mut out, report);
    if !report.recommendations.is_empty() {
        out.push_str("<section id=\"recommendations\">\n<h2>Recommendations</h2>\n<ol>\n");
        for r in &report.recommendations {
            let _ = writeln!(out, "<li>{}</li>", esc(r));
        }
        out.push_str("</ol>\n</section>\n");
    }
    components(&mut out, report);
    teardown_lists(&mut out, report);
    metrics(&mut out, report);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// One rule per outcome class, for graph nodes, bars and status badges.
fn outcome_css() -> String {
    let mut css = String::new();
    for class in OutcomeClass::ALL {
        let (fill, stroke) = class.colours();
        let n = class.name();
        let _ = write!(
            css,
            ".node.{n} rect,.bar.{n}{{fill:{fill};stroke:{stroke}}}.status.{n},.swatch.{n}{{background:{fill};border-color:{stroke}}}"
        );
    }
    css.push_str(".node.skipped rect{stroke-dasharray:5 3}\n");
    css
}

fn header(out: &mut String, report: &Report, title: &str) {
    let s = &report.summary;
    let _ = writeln!(
        out,
        "<header class=\"exit-{}\">\n<h1>{}</h1>\n<dl class=\"summary\">",
        s.exit_code,
        esc(title)
    );
    let environment = match (&s.environment, &s.environment_name) {
        (Some(tier), Some(name)) => format!("{tier} ({name})"),
        (Some(tier), None) => tier.clone(),
        _ => "-".to_owned(),
    };
    let mut rows = vec![
        ("scope", s.scope.clone()),
        ("environment", environment),
        ("started", s.started_at.clone()),
        ("finished", s.finished_at.clone()),
        ("duration", format!("{:.1} s", s.duration_seconds)),
    ];
    if s.dry_run {
        rows.push(("dry run", "yes: nothing was written".to_owned()));
    }
    if let Some(o) = &report.orchestration {
        let workflow = o.workflow.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
        rows.push(("engine", format!("{}{workflow}", o.engine)));
    }
    if let Some(trace) = &s.trace_id {
        rows.push(("trace id", trace.clone()));
    }
    for (key, value) in rows {
        let _ = writeln!(out, "<dt>{key}</dt><dd>{}</dd>", esc(&value));
    }
    out.push_str("</dl>\n</header>\n");
}

fn outcome_legend(out: &mut String) {
    out.push_str("<div class=\"legend\">");
    for class in OutcomeClass::ALL {
        let _ = write!(out, "<span><i class=\"swatch {n}\"></i>{n}</span>", n = class.name());
    }
    out.push_str(
        "<span><svg width=\"28\" height=\"10\"><path class=\"edge failed-path\" d=\"M0 5H28\"/></svg>failed path</span>\
         <span><svg width=\"28\" height=\"10\"><path class=\"edge critical\" d=\"M0 5H28\"/></svg><strong>bold</strong>: critical path</span></div>\n",
    );
}

fn graph_svg(out: &mut String, graph: &Graph<'_>) {
    let width = PAD * 2 + graph.columns() * NODE_W + graph.columns().saturating_sub(1) * COL_GAP;
    let height = PAD * 2 + graph.rows() * NODE_H + graph.rows().saturating_sub(1) * ROW_GAP;
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><svg class=\"graph\" role=\"img\" aria-label=\"dependency graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#868e96\"/></marker>\
         <marker id=\"arrow-failed\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"5\" markerHeight=\"5\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#c92a2a\"/></marker>\
         <marker id=\"arrow-critical\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"5\" markerHeight=\"5\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"#212529\"/></marker></defs>\n",
    );
    let position = |level: usize, row: usize| (PAD + level * (NODE_W + COL_GAP), PAD + row * (NODE_H + ROW_GAP));
    // Plain edges first, so the critical and failed paths are drawn on top.
    let mut edges: Vec<_> = graph.edges.iter().collect();
    edges.sort_by_key(|e| (e.failed_path, e.critical));
    for edge in edges {
        let (Some(from), Some(to)) = (graph.nodes.get(edge.from), graph.nodes.get(edge.to)) else {
            continue;
        };
        let (fx, fy) = position(from.level, from.row);
        let (tx, ty) = position(to.level, to.row);
        let (x1, y1, x2, y2) = (fx + NODE_W, fy + NODE_H / 2, tx, ty + NODE_H / 2);
        let bend = COL_GAP / 2;
        let (class, marker) = match (edge.failed_path, edge.critical) {
            (true, _) => ("edge failed-path", "arrow-failed"),
            (false, true) => ("edge critical", "arrow-critical"),
            (false, false) => ("edge", "arrow"),
        };
        let _ = writeln!(
            out,
            "<path class=\"{class}\" data-from=\"{}\" data-to=\"{}\" d=\"M{x1} {y1}C{} {y1} {} {y2} {x2} {y2}\" marker-end=\"url(#{marker})\"/>",
            esc(&from.component.name),
            esc(&to.component.name),
            x1 + bend,
            x2.saturating_sub(bend),
        );
    }
    for node in &graph.nodes {
        let (x, y) = position(node.level, node.row);
        let c = node.component;
        let mut classes = format!("node {}", node.class.name());
        if node.failed_path {
            classes.push_str(" failed-path");
        }
        if node.critical {
            classes.push_str(" critical");
        }
        let label = shorten(&c.name, 22);
        let _ = writeln!(
            out,
            "<g class=\"{classes}\" data-component=\"{name}\" data-status=\"{status}\"><title>{name}: {status} ({stack})</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{label}</text><text x=\"{tx}\" y=\"{sy}\" class=\"tick\">{status}</text></g>",
            name = esc(&c.name),
            status = esc(c.status.as_str()),
            stack = esc(&c.stack),
            label = esc(&label),
            tx = x + 8,
            ty = y + 15,
            sy = y + 29,
        );
    }
    out.push_str("</svg></div>\n");
}

/// `text` cut to `max` characters, with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A round step for the time axis, so that it has at most 10 ticks.
fn tick_step(total: f64) -> f64 {
    const STEPS: [f64; 14] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|step| total / step <= 10.0)
        .unwrap_or(3600.0)
}

/// One row of the timeline.
struct Row {
    label: String,
    classes: String,
    bar: Option<(f64, f64)>,
    segments: Vec<(String, f64, f64)>,
    note: String,
}

fn timeline_rows(report: &Report) -> Vec<Row> {
    let critical = critical_path(&report.components);
    let mut rows: Vec<Row> = report
        .bootstrap_phases
        .iter()
        .map(|p| Row {
            label: format!("bootstrap · {}", p.name),
            classes: "bootstrap".to_owned(),
            bar: None,
            segments: vec![("bootstrap".to_owned(), p.start_seconds, p.duration_seconds)],
            note: format!("{:.1} s", p.duration_seconds),
        })
        .collect();
    for c in report.components.iter().filter(|c| c.kind == ComponentKind::App) {
        let class = OutcomeClass::of(c.status);
        let on_path = critical.contains(&c.name);
        let mut classes = format!("bar {}", class.name());
        if on_path {
            classes.push_str(" critical");
        }
        rows.push(Row {
            label: if on_path {
                format!("◆ {}", c.name)
            } else {
                c.name.clone()
            },
            classes,
            bar: c.start_seconds.map(|start| (start, c.duration_seconds)),
            segments: c
                .phases
                .iter()
                .map(|p| (p.name.clone(), p.start_seconds, p.duration_seconds))
                .collect(),
            note: if c.start_seconds.is_some() {
                format!("{} · {:.1} s", c.status, c.duration_seconds)
            } else {
                c.status.to_string()
            },
        });
    }
    rows
}

fn timeline(out: &mut String, report: &Report) {
    let rows = timeline_rows(report);
    if rows.iter().all(|r| r.bar.is_none() && r.segments.is_empty()) {
        return;
    }
    let mut total = report.summary.duration_seconds;
    for row in &rows {
        let spans = row
            .bar
            .iter()
            .copied()
            .chain(row.segments.iter().map(|(_, s, d)| (*s, *d)));
        for (start, seconds) in spans {
            total = total.max(start + seconds);
        }
    }
    let total = total.max(0.1);
    const LABEL_W: f64 = 220.0;
    const CHART_W: f64 = 760.0;
    const NOTE_W: f64 = 170.0;
    const ROW_H: f64 = 24.0;
    let scale = CHART_W / total;
    let width = LABEL_W + CHART_W + NOTE_W;
    let height = ROW_H * rows.len() as f64 + 30.0;
    out.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n<div class=\"legend\">");
    for (name, colour) in PHASE_COLOURS {
        let _ = write!(
            out,
            "<span><i class=\"swatch\" style=\"background:{colour};border-color:{colour}\"></i>{name}</span>"
        );
    }
    out.push_str("<span>◆ critical path (outlined)</span><span>seconds after the action started</span></div>\n");
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><svg class=\"timeline\" role=\"img\" aria-label=\"timeline\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    axis(out, total, scale, LABEL_W, height);
    for (i, row) in rows.iter().enumerate() {
        let y = ROW_H * i as f64;
        let _ = write!(
            out,
            "<g class=\"row\"><text x=\"4\" y=\"{:.1}\">{}</text>",
            y + 16.0,
            esc(&shorten(&row.label, 30))
        );
        if let Some((start, seconds)) = row.bar {
            let _ = write!(
                out,
                "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"18\" rx=\"3\"/>",
                row.classes,
                LABEL_W + start * scale,
                y + 3.0,
                (seconds * scale).max(2.0)
            );
        }
        for (name, start, seconds) in &row.segments {
            let colour = PHASE_COLOURS
                .iter()
                .find(|(n, _)| n == name)
                .map_or("#868e96", |(_, c)| c);
            let _ = write!(
                out,
                "<rect class=\"phase {}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"10\" fill=\"{colour}\"><title>{}: {:.3} s</title></rect>",
                esc(name),
                LABEL_W + start * scale,
                y + 7.0,
                (seconds * scale).max(1.5),
                esc(name),
                seconds
            );
        }
        let _ = writeln!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            LABEL_W + CHART_W + 8.0,
            y + 16.0,
            esc(&row.note)
        );
    }
    out.push_str("</svg></div>\n</section>\n");
}

/// The time axis: a vertical line and a label every round step.
fn axis(out: &mut String, total: f64, scale: f64, left: f64, height: f64) {
    let step = tick_step(total);
    let mut tick = 0.0;
    while tick <= total + 1e-9 {
        let x = left + tick * scale;
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}s</text>",
            height - 18.0,
            x + 2.0,
            height - 4.0,
            trim_number(tick)
        );
        tick += step;
    }
    out.push('\n');
}

/// `12`, `0.5`: a tick's number without trailing zeros.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

fn failures(out: &mut String, report: &Report) {
    if report.failures.is_empty() {
        return;
    }
    out.push_str("<section id=\"failures\">\n<h2>Failures</h2>\n");
    for f in &report.failures {
        let _ = writeln!(
            out,
            "<div class=\"failure\" data-component=\"{c}\"><h3>{c} <span class=\"reason\">{}</span></h3><p>{}</p>",
            esc(f.reason.as_str()),
            esc(&f.message),
            c = esc(&f.component)
        );
        if !f.diagnostics.is_empty() {
            out.push_str("<ul class=\"diagnostics\">\n");
            for d in &f.diagnostics {
                let _ = writeln!(out, "<li class=\"mono\">{}</li>", esc(d));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

fn components(out: &mut String, report: &Report) {
    if report.components.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"components\">\n<h2>Components</h2>\n<table>\n<tr><th>component</th><th>stack</th><th>kind</th><th>status</th><th>health</th><th>sync</th><th>time</th><th>attempts</th><th>message</th></tr>\n",
    );
    for c in &report.components {
        let kind = match c.kind {
            ComponentKind::App => "app",
            ComponentKind::Stack => "stack",
            ComponentKind::Bootstrap => "bootstrap",
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{kind}</td><td><span class=\"status {}\">{}</span></td><td>{}</td><td>{}</td><td class=\"num\">{:.1} s</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.stack),
            OutcomeClass::of(c.status).name(),
            esc(c.status.as_str()),
            esc(&c.health),
            esc(&c.sync),
            c.duration_seconds,
            c.attempts,
            esc(&c.message)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn teardown_lists(out: &mut String, report: &Report) {
    for (title, list) in [
        ("Removed", &report.removed),
        ("Retained", &report.retained),
        ("Orphans", &report.orphans),
    ] {
        let Some(list) = list.as_ref().filter(|l| !l.is_empty()) else {
            continue;
        };
        let _ = writeln!(out, "<section><h2>{title} ({})</h2>\n<ul>", list.len());
        for o in list {
            let place = if o.namespace.is_empty() {
                o.name.clone()
            } else {
                format!("{}/{}", o.namespace, o.name)
            };
            let why = if o.reason.is_empty() {
                String::new()
            } else {
                format!(" — {}", esc(&o.reason))
            };
            let _ = writeln!(out, "<li>{} <code>{}</code>{why}</li>", esc(&o.kind), esc(&place));
        }
        out.push_str("</ul>\n</section>\n");
    }
}

fn metrics(out: &mut String, report: &Report) {
    if report.metrics.is_empty() {
        return;
    }
    out.push_str("<section id=\"metrics\">\n<h2>Metrics</h2>\n<table>\n<tr><th>metric</th><th>value</th></tr>\n");
    for (key, value) in &report.metrics {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{}</td></tr>",
            esc(key),
            esc(&text)
        );
    }
    out.push_str("</table>\n</section>\n");
}
