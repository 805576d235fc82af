//! Report renderers and the report's destination.
//!
//! JSON is the contract; YAML carries the same keys; text is a summary for
//! people; JUnit is for CI systems, Markdown for job summaries and pull
//! requests, HTML a page to look at. Whatever the format, the rendered text passes through the
//! redactor, and a report file is replaced atomically (temp file + rename) so
//! a reader never sees half a report.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::Report;
use crate::redact;

/// `REPORT_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// JSON (the default; the contract).
    #[default]
    Json,
    /// YAML with the same keys.
    Yaml,
    /// A readable summary.
    Text,
    /// JUnit XML: one testcase per component, for CI systems.
    Junit,
    /// Markdown, for a pull request or an issue.
    Markdown,
    /// One self-contained HTML page, for people and CI artifacts.
    Html,
}

impl std::str::FromStr for ReportFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(ReportFormat::Json),
            "yaml" | "yml" => Ok(ReportFormat::Yaml),
            "text" => Ok(ReportFormat::Text),
            "junit" => Ok(ReportFormat::Junit),
            "markdown" | "md" => Ok(ReportFormat::Markdown),
            "html" => Ok(ReportFormat::Html),
            _ => Err(format!(
                "`{text}` is not a report format; expected json, yaml, text, junit, markdown or html"
            )),
        }
    }
}

/// Renders `report` in `format`, redacted.
pub fn render(report: &Report, format: ReportFormat) -> String {
    let text = match format {
        ReportFormat::Json => {
            let mut out = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            out.push('\n');
            out
        }
        ReportFormat::Yaml => serde_saphyr::to_string(report).unwrap_or_else(|e| format!("error: {e}\n")),
        ReportFormat::Text => text(report),
        ReportFormat::Junit => super::formats::junit(report),
        ReportFormat::Markdown => super::formats::markdown(report),
        ReportFormat::Html => super::html::page(report),
    };
    redact::scrub(&text).into_owned()
}

fn text(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {:?} (exit {}) — scope {}{}, environment {}, {:.1}s",
        s.action,
        s.status,
        s.exit_code,
        s.scope,
        if s.dry_run { ", dry run" } else { "" },
        s.environment.as_deref().unwrap_or("-"),
        s.duration_seconds
    );
    if !report.components.is_empty() {
        let name_w = report.components.iter().map(|c| c.name.len()).max().unwrap_or(0).max(9);
        let stack_w = report
            .components
            .iter()
            .map(|c| c.stack.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<name_w$}  {:<stack_w$}  {:<10}  {:<11}  {:<10}  {:>8}  message",
            "component", "stack", "status", "health", "sync", "time"
        );
        for c in &report.components {
            let _ = writeln!(
                out,
                "{:<name_w$}  {:<stack_w$}  {:<10}  {:<11}  {:<10}  {:>7.1}s  {}",
                c.name, c.stack, c.status, c.health, c.sync, c.duration_seconds, c.message
            );
        }
    }
    if !report.failures.is_empty() {
        let _ = writeln!(out, "\nFailures:");
        for f in &report.failures {
            let _ = writeln!(out, "  {} ({}): {}", f.component, f.reason, f.message);
            for d in &f.diagnostics {
                let _ = writeln!(out, "    - {d}");
            }
        }
    }
    for (title, list) in [
        ("Removed", &report.removed),
        ("Retained", &report.retained),
        ("Orphans", &report.orphans),
    ] {
        if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "\n{title}:");
            for o in list {
                let ns = if o.namespace.is_empty() {
                    String::new()
                } else {
                    format!("{}/", o.namespace)
                };
                let why = if o.reason.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", o.reason)
                };
                let _ = writeln!(out, "  {} {ns}{}{why}", o.kind, o.name);
            }
        }
    }
    if !report.recommendations.is_empty() {
        let _ = writeln!(out, "\nRecommendations:");
        for r in &report.recommendations {
            let _ = writeln!(out, "  - {r}");
        }
    }
    out
}

/// Writes the rendered report to `file` (atomically) or to stdout.
///
/// # Errors
/// The I/O error, with the path.
pub fn write(rendered: &str, file: Option<&Path>) -> Result<(), String> {
    match file {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(rendered.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("cannot write the report to stdout: {e}"))
        }
        Some(path) => write_atomically(path, rendered.as_bytes())
            .map_err(|e| format!("cannot write the report to {}: {e}", path.display())),
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
///
/// # Errors
/// Any I/O error; `path` is left untouched on failure.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&temp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
