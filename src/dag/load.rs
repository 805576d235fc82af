//! Loading the graph: the bundled reference platform, replaced or overlaid by
//! `$CONFIG_DIR/dag.yaml`, then validated.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::file::{self, DagFile, Overlay};
use super::model::{Graph, GraphOrigin, Named};
use super::validate::{self, Resolved};
use crate::input::input_file::{self, InputFileError};
use crate::input::paths;
use crate::input::problem::{Problem, Problems, Source, closest, did_you_mean};

/// The reference platform graph shipped inside the binary.
pub const BUNDLED_DAG: &str = include_str!("../../bundle/dag.yaml");

/// How the bundled graph is named in messages.
pub fn bundled_path() -> PathBuf {
    PathBuf::from("<bundled>/dag.yaml")
}

/// A graph that passed validation, with its dependencies expanded.
#[derive(Debug, Clone)]
pub struct ValidGraph {
    /// The graph.
    pub graph: Graph,
    /// Each application's direct dependencies.
    pub resolved: Resolved,
}

/// Loads the graph for a run: `dag.yaml` under `config_dir` when present.
///
/// # Errors
/// Every problem in the files or the resulting graph.
pub fn load(config_dir: &Path) -> Result<ValidGraph, Vec<Problem>> {
    let dag_path = config_dir.join("dag.yaml");
    match input_file::read_text(&dag_path, input_file::MAX_GRAPH_FILE, None) {
        Err(InputFileError::NotFound) => bundled(),
        Err(error) => Err(vec![Problem::new(
            Source::file(&dag_path),
            format!("the graph file {error}"),
        )]),
        Ok(text) => {
            let valid = match file::parse(&dag_path, &text, GraphOrigin::Replaced)? {
                DagFile::Graph(graph) => finish(graph, config_dir)?,
                DagFile::Overlay(overlay) => {
                    let base = bundled()?.graph;
                    let graph = apply_overlay(base, &overlay)?;
                    let valid = finish(graph, config_dir)?;
                    filter(valid, &overlay, config_dir)?
                }
            };
            // An empty platform is a mistake, not a request to install
            // only Argo CD (or, for teardown, to remove it).
            if valid.graph.apps().next().is_none() {
                return Err(vec![Problem::new(
                    Source::file(&dag_path),
                    "the graph has no applications (after any overlay): expected at least one stack with an application",
                )]);
            }
            Ok(valid)
        }
    }
}

/// The bundled graph, validated.
///
/// # Errors
/// Only if the shipped file is broken (a test guards against that).
pub fn bundled() -> Result<ValidGraph, Vec<Problem>> {
    match file::parse(&bundled_path(), BUNDLED_DAG, GraphOrigin::Bundled)? {
        DagFile::Graph(graph) => {
            let resolved = validate::resolve(&graph)?;
            Ok(ValidGraph { graph, resolved })
        }
        DagFile::Overlay(_) => Err(vec![Problem::new(
            Source::file(bundled_path()),
            "the bundled graph must be a full graph",
        )]),
    }
}

fn finish(graph: Graph, config_dir: &Path) -> Result<ValidGraph, Vec<Problem>> {
    let mut problems = Problems::default();
    for (_, app) in graph.apps() {
        for (point, hook) in &app.hooks.0 {
            let field = format!("hooks.{}", point.key());
            match paths::confined(config_dir, &hook.path) {
                Ok(path) if path.is_file() => {}
                Ok(path) => problems.push(
                    Problem::new(
                        hook.at.clone(),
                        format!(
                            "hook script `{}` of `{}` not found at {}; mount it under CONFIG_DIR",
                            hook.path,
                            app.name.name,
                            path.display()
                        ),
                    )
                    .field(field),
                ),
                Err(message) => problems.push(Problem::new(hook.at.clone(), message).field(field)),
            }
        }
    }
    let resolved = validate::resolve(&graph);
    match resolved {
        Ok(resolved) if problems.is_empty() => Ok(ValidGraph { graph, resolved }),
        Ok(_) => Err(problems.into_vec()),
        Err(more) => {
            problems.extend(more);
            Err(problems.into_vec())
        }
    }
}

fn unknown(graph: &Graph, named: &Named, apps_only: bool) -> Problem {
    let names: Vec<&str> = graph
        .stacks
        .iter()
        .filter(|_| !apps_only)
        .map(|s| s.name.name.as_str())
        .chain(graph.apps().map(|(_, a)| a.name.name.as_str()))
        .collect();
    let what = if apps_only {
        "application"
    } else {
        "stack or application"
    };
    Problem::new(
        named.at.clone(),
        format!(
            "`{}` names no {what} of the bundled graph{}",
            named.name,
            did_you_mean(closest(&named.name, names.iter().copied()))
        ),
    )
}

fn apply_overlay(mut graph: Graph, overlay: &Overlay) -> Result<Graph, Vec<Problem>> {
    let mut problems = Problems::default();
    graph.origin = GraphOrigin::Overlaid;
    let known = graph.clone();
    for (name, deps) in &overlay.depends_on {
        match find_app(&mut graph, name) {
            Some(app) => app.depends_on = deps.clone(),
            None => problems.push(unknown(&known, name, true).field("overlay.dependsOn")),
        }
    }
    for (name, timeouts) in &overlay.timeouts {
        match find_app(&mut graph, name) {
            Some(app) => {
                app.timeouts.sync = timeouts.sync.or(app.timeouts.sync);
                app.timeouts.health = timeouts.health.or(app.timeouts.health);
            }
            None => problems.push(unknown(&known, name, true).field("overlay.timeouts")),
        }
    }
    for (name, hooks) in &overlay.hooks {
        match find_app(&mut graph, name) {
            Some(app) => app.hooks.0.extend(hooks.0.clone()),
            None => problems.push(unknown(&known, name, true).field("overlay.hooks")),
        }
    }
    for named in overlay.include.iter().chain(&overlay.exclude) {
        if known.stack(&named.name).is_none() && known.app(&named.name).is_none() {
            let field = if overlay.include.iter().any(|n| std::ptr::eq(n, named)) {
                "overlay.include"
            } else {
                "overlay.exclude"
            };
            problems.push(unknown(&known, named, false).field(field));
        }
    }
    if problems.is_empty() {
        Ok(graph)
    } else {
        Err(problems.into_vec())
    }
}

fn find_app<'a>(graph: &'a mut Graph, name: &Named) -> Option<&'a mut super::model::App> {
    graph
        .stacks
        .iter_mut()
        .flat_map(|s| s.apps.iter_mut())
        .find(|a| a.name.name == name.name)
}

/// Applies `include` and `exclude` to a validated graph.
fn filter(valid: ValidGraph, overlay: &Overlay, config_dir: &Path) -> Result<ValidGraph, Vec<Problem>> {
    if overlay.include.is_empty() && overlay.exclude.is_empty() {
        return Ok(valid);
    }
    let apps_of = |named: &Named| -> Vec<String> {
        match valid.graph.stack(&named.name) {
            Some(stack) => stack.apps.iter().map(|a| a.name.name.clone()).collect(),
            None => vec![named.name.clone()],
        }
    };
    let mut keep: BTreeSet<String> = if overlay.include.is_empty() {
        valid.graph.apps().map(|(_, a)| a.name.name.clone()).collect()
    } else {
        let mut keep = BTreeSet::new();
        for named in &overlay.include {
            for app in apps_of(named) {
                keep.extend(valid.resolved.ancestors(&app));
                keep.insert(app);
            }
        }
        keep
    };
    let mut excluded: Vec<(String, &Named)> = Vec::new();
    for named in &overlay.exclude {
        for app in apps_of(named) {
            if keep.remove(&app) {
                excluded.push((app, named));
            }
        }
    }
    let mut problems = Problems::default();
    for (app, named) in &excluded {
        let needed_by: Vec<&String> = keep
            .iter()
            .filter(|k| valid.resolved.deps.get(*k).is_some_and(|d| d.contains_key(app)))
            .collect();
        if !needed_by.is_empty() {
            problems.push(
                Problem::new(
                    named.at.clone(),
                    format!(
                        "cannot exclude `{app}`: {} depend{} on it; exclude {} too, or change the dependency with overlay.dependsOn",
                        join_names(&needed_by),
                        if needed_by.len() == 1 { "s" } else { "" },
                        if needed_by.len() == 1 { "it" } else { "them" }
                    ),
                )
                .field("overlay.exclude"),
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems.into_vec());
    }
    let mut graph = valid.graph;
    for stack in &mut graph.stacks {
        stack.apps.retain(|a| keep.contains(&a.name.name));
    }
    graph.stacks.retain(|s| !s.apps.is_empty());
    // Stack dependencies on removed stacks no longer mean anything.
    let remaining: BTreeSet<String> = graph.stacks.iter().map(|s| s.name.name.clone()).collect();
    for stack in &mut graph.stacks {
        stack.depends_on.retain(|d| remaining.contains(&d.name));
    }
    finish(graph, config_dir)
}

fn join_names(names: &[&String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
