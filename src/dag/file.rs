//! The `dag.yaml` schema: a full graph (`stacks:`) or an overlay (`overlay:`).
//!
//! Field names are part of the executor's contract. Parsing keeps the
//! position of every name so later checks (unknown dependencies, cycles,
//! missing hook files) can point at the line that caused them.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::model::{App, Graph, GraphOrigin, HookPoint, HookRef, Hooks, Named, NodeTimeouts, ResourceGate, Stack};
use crate::input::duration::Span;
use crate::input::problem::{Problem, Problems, Source};
use crate::input::yaml;

/// What a `dag.yaml` holds.
#[derive(Debug)]
pub enum DagFile {
    /// A full graph replacing the bundled one.
    Graph(Graph),
    /// Changes to the bundled graph.
    Overlay(Overlay),
}

/// Changes to the bundled graph (see `docs/configuration.md`).
#[derive(Debug, Default)]
pub struct Overlay {
    /// Keep only these stacks or applications and what they depend on.
    pub include: Vec<Named>,
    /// Remove these stacks or applications.
    pub exclude: Vec<Named>,
    /// Replace the dependencies of these applications.
    pub depends_on: Vec<(Named, Vec<Named>)>,
    /// Override timeouts of these applications.
    pub timeouts: Vec<(Named, NodeTimeouts)>,
    /// Set hooks of these applications.
    pub hooks: Vec<(Named, Hooks)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    stacks: Option<Vec<StackDoc>>,
    overlay: Option<OverlayDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StackDoc {
    name: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    apps: Vec<AppDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppDoc {
    name: Spanned<String>,
    path: Spanned<String>,
    namespace: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    timeouts: Option<TimeoutsDoc>,
    hooks: Option<HooksDoc>,
    #[serde(default)]
    resources: Vec<ResourceDoc>,
    auto_sync: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutsDoc {
    sync: Option<Spanned<String>>,
    health: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HooksDoc {
    pre_sync: Option<Spanned<String>>,
    post_sync: Option<Spanned<String>>,
    health: Option<Spanned<String>>,
    pre_delete: Option<Spanned<String>>,
    post_delete: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResourceDoc {
    api_version: Spanned<String>,
    kind: Spanned<String>,
    namespace: Option<String>,
    name: Spanned<String>,
    check: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OverlayDoc {
    #[serde(default)]
    include: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    depends_on: HashMap<Spanned<String>, Vec<Spanned<String>>>,
    #[serde(default)]
    timeouts: HashMap<Spanned<String>, TimeoutsDoc>,
    #[serde(default)]
    hooks: HashMap<Spanned<String>, HooksDoc>,
}

/// Parses a `dag.yaml` read from `path`.
///
/// # Errors
/// YAML and schema problems, with positions.
pub fn parse(path: &Path, text: &str, origin: GraphOrigin) -> Result<DagFile, Vec<Problem>> {
    let doc: FileDoc = yaml::parse(path, text).map_err(|p| vec![p])?;
    let mut problems = Problems::default();
    let named = |value: Spanned<String>| Named {
        at: yaml::source_at(path, &value.referenced),
        name: value.value,
    };
    let result = match (doc.stacks, doc.overlay) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                Source::file(path),
                "the file has both `stacks` and `overlay`; use `stacks` for a full graph or `overlay` to change the bundled one",
            ));
            None
        }
        (None, None) => {
            problems.push(Problem::new(
                Source::file(path),
                "expected `stacks:` (a full graph) or `overlay:` (changes to the bundled graph)",
            ));
            None
        }
        (Some(stacks), None) => {
            let stacks = stacks
                .into_iter()
                .map(|stack| Stack {
                    name: named(stack.name.clone()),
                    depends_on: stack.depends_on.into_iter().map(named).collect(),
                    apps: stack
                        .apps
                        .into_iter()
                        .map(|app| convert_app(path, app, &mut problems))
                        .collect(),
                })
                .collect();
            Some(DagFile::Graph(Graph { stacks, origin }))
        }
        (None, Some(overlay)) => Some(DagFile::Overlay(Overlay {
            include: overlay.include.into_iter().map(named).collect(),
            exclude: overlay.exclude.into_iter().map(named).collect(),
            depends_on: sorted(overlay.depends_on)
                .into_iter()
                .map(|(k, v)| (named(k), v.into_iter().map(named).collect()))
                .collect(),
            timeouts: sorted(overlay.timeouts)
                .into_iter()
                .map(|(k, v)| (named(k), convert_timeouts(path, Some(v), &mut problems)))
                .collect(),
            hooks: sorted(overlay.hooks)
                .into_iter()
                .map(|(k, v)| (named(k), convert_hooks(path, Some(v))))
                .collect(),
        })),
    };
    match result {
        Some(file) if problems.is_empty() => Ok(file),
        _ => Err(problems.into_vec()),
    }
}

/// Map entries in file order (by position), so problems come out deterministically.
fn sorted<V>(map: HashMap<Spanned<String>, V>) -> Vec<(Spanned<String>, V)> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by_key(|(k, _)| (k.referenced.line(), k.referenced.column(), k.value.clone()));
    entries
}

fn convert_app(path: &Path, app: AppDoc, problems: &mut Problems) -> App {
    let at = |value: &Spanned<String>| yaml::source_at(path, &value.referenced);
    let resources = app
        .resources
        .into_iter()
        .filter_map(|r| {
            let mut ok = true;
            for (value, field) in [(&r.api_version, "apiVersion"), (&r.kind, "kind"), (&r.name, "name")] {
                if value.value.trim().is_empty() {
                    problems.push(Problem::new(at(value), "must not be empty").field(format!("resources[].{field}")));
                    ok = false;
                }
            }
            // Who judges the gate (docs/health.md, "Who decides").
            if let Some(check) = r
                .check
                .as_ref()
                .filter(|c| !matches!(c.value.as_str(), "argocd" | "executor"))
            {
                problems.push(
                    Problem::new(at(check), format!("`{}`: expected `argocd` or `executor`", check.value))
                        .field("resources[].check"),
                );
                ok = false;
            }
            ok.then_some(ResourceGate {
                api_version: r.api_version.value,
                kind: r.kind.value,
                namespace: r.namespace,
                name: r.name.value,
                check: r.check.map(|c| c.value),
            })
        })
        .collect();
    for (value, field) in [(&app.path, "path"), (&app.namespace, "namespace")] {
        if value.value.trim().is_empty() {
            problems.push(Problem::new(at(value), "must not be empty").field(field));
        }
    }
    if let Err(message) = crate::input::names::dns_label(&app.namespace.value) {
        problems.push(Problem::new(at(&app.namespace), message).field("namespace"));
    }
    if app.path.value.starts_with('/') || app.path.value.split('/').any(|p| p == "..") {
        problems.push(Problem::new(at(&app.path), "expected a relative path inside the repository").field("path"));
    }
    App {
        name: Named {
            at: at(&app.name),
            name: app.name.value,
        },
        path: app.path.value,
        namespace: app.namespace.value,
        depends_on: app
            .depends_on
            .into_iter()
            .map(|d| Named {
                at: at(&d),
                name: d.value,
            })
            .collect(),
        timeouts: convert_timeouts(path, app.timeouts, problems),
        hooks: convert_hooks(path, app.hooks),
        resources,
        auto_sync: app.auto_sync.unwrap_or(true),
    }
}

fn convert_timeouts(path: &Path, doc: Option<TimeoutsDoc>, problems: &mut Problems) -> NodeTimeouts {
    let Some(doc) = doc else {
        return NodeTimeouts::default();
    };
    let mut parse = |value: Option<Spanned<String>>, field: &str| {
        let value = value?;
        match value.value.parse::<Span>() {
            Ok(span) => Some(span.0),
            Err(error) => {
                problems.push(
                    Problem::new(yaml::source_at(path, &value.referenced), error.to_string())
                        .field(format!("timeouts.{field}")),
                );
                None
            }
        }
    };
    NodeTimeouts {
        sync: parse(doc.sync, "sync"),
        health: parse(doc.health, "health"),
    }
}

fn convert_hooks(path: &Path, doc: Option<HooksDoc>) -> Hooks {
    let Some(doc) = doc else {
        return Hooks::default();
    };
    let entries = [
        (HookPoint::PreSync, doc.pre_sync),
        (HookPoint::PostSync, doc.post_sync),
        (HookPoint::Health, doc.health),
        (HookPoint::PreDelete, doc.pre_delete),
        (HookPoint::PostDelete, doc.post_delete),
    ];
    Hooks(
        entries
            .into_iter()
            .filter_map(|(point, value)| {
                let value = value?;
                Some((
                    point,
                    HookRef {
                        at: yaml::source_at(path, &value.referenced),
                        path: value.value,
                    },
                ))
            })
            .collect(),
    )
}
