//! Graph validation: names, duplicates, references, self-dependencies, cycles.
//!
//! Runs before anything touches the cluster. The result, [`Resolved`], holds
//! every application's direct dependencies expanded to application names
//! (a stack named as a dependency stands for all of its applications), each
//! edge remembering the line that declared it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::model::{Graph, Named};
use crate::input::names;
use crate::input::problem::{Problem, Problems, Source, closest, did_you_mean};

/// Direct dependencies of every application, by application name.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// `app → (dependency → where the edge was declared)`.
    pub deps: BTreeMap<String, BTreeMap<String, Source>>,
}

impl Resolved {
    /// Every application that `app` depends on, directly or not.
    pub fn ancestors(&self, app: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![app.to_owned()];
        while let Some(node) = todo.pop() {
            for dep in self.deps.get(&node).into_iter().flat_map(|d| d.keys()) {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    }

    /// Every application that depends on `app`, directly or not.
    pub fn descendants(&self, app: &str) -> BTreeSet<String> {
        let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (node, deps) in &self.deps {
            for dep in deps.keys() {
                dependents.entry(dep.as_str()).or_default().push(node.as_str());
            }
        }
        let mut seen = BTreeSet::new();
        let mut todo = vec![app];
        while let Some(node) = todo.pop() {
            for other in dependents.get(node).into_iter().flatten() {
                if seen.insert((*other).to_owned()) {
                    todo.push(other);
                }
            }
        }
        seen
    }
}

/// Checks a graph and expands its dependencies.
///
/// # Errors
/// Every problem found; a cycle is reported with its path (`a → b → a`).
pub fn resolve(graph: &Graph) -> Result<Resolved, Vec<Problem>> {
    let mut problems = Problems::default();
    let mut defined: HashMap<&str, &Named> = HashMap::new();
    for stack in &graph.stacks {
        define(&mut defined, &stack.name, &mut problems);
        if stack.apps.is_empty() {
            problems.push(
                Problem::new(
                    stack.name.at.clone(),
                    format!("stack `{}` has no applications", stack.name.name),
                )
                .field("apps"),
            );
        }
        for app in &stack.apps {
            define(&mut defined, &app.name, &mut problems);
        }
    }

    let stack_names: Vec<&str> = graph.stacks.iter().map(|s| s.name.name.as_str()).collect();
    let app_names: Vec<&str> = graph.apps().map(|(_, a)| a.name.name.as_str()).collect();
    let all_names: Vec<&str> = stack_names.iter().chain(app_names.iter()).copied().collect();

    let stacks_by_name: HashMap<&str, &super::model::Stack> =
        graph.stacks.iter().map(|s| (s.name.name.as_str(), s)).collect();
    let app_set: std::collections::HashSet<&str> = app_names.iter().copied().collect();
    if let Some(problem) = too_many_dependencies(graph, &stacks_by_name) {
        return Err(vec![problem]);
    }
    let mut resolved = Resolved::default();
    // "Did you mean" costs a comparison with every name: offered for the
    // first unknown names only (a graph of 10,000 misspelt dependencies
    // took minutes; docs/fuzzing.md).
    let mut suggestions_left = 50usize;
    for (stack, app) in graph.apps() {
        let edges = resolved.deps.entry(app.name.name.clone()).or_default();
        let mut add_target = |dep: &Named, problems: &mut Problems, stack_only: bool| {
            if dep.name == app.name.name {
                problems.push(
                    Problem::new(dep.at.clone(), format!("`{}` depends on itself", app.name.name)).field("dependsOn"),
                );
            } else if dep.name == stack.name.name {
                problems.push(
                    Problem::new(
                        dep.at.clone(),
                        format!("`{}` depends on its own stack `{}`", app.name.name, stack.name.name),
                    )
                    .field("dependsOn"),
                );
            } else if let Some(target) = stacks_by_name.get(dep.name.as_str()) {
                for member in &target.apps {
                    edges.entry(member.name.name.clone()).or_insert_with(|| dep.at.clone());
                }
            } else if !stack_only && app_set.contains(dep.name.as_str()) {
                edges.entry(dep.name.clone()).or_insert_with(|| dep.at.clone());
            } else {
                let candidates = if stack_only { &stack_names } else { &all_names };
                let kind = if stack_only { "stack" } else { "application or stack" };
                problems.push(
                    Problem::new(
                        dep.at.clone(),
                        format!(
                            "`{}` depends on unknown {kind} `{}`{}",
                            if stack_only { &stack.name.name } else { &app.name.name },
                            dep.name,
                            if suggestions_left > 0 {
                                suggestions_left -= 1;
                                did_you_mean(closest(&dep.name, candidates.iter().copied()))
                            } else {
                                String::new()
                            }
                        ),
                    )
                    .field("dependsOn"),
                );
            }
        };
        for dep in &app.depends_on {
            add_target(dep, &mut problems, false);
        }
        for dep in &stack.depends_on {
            add_target(dep, &mut problems, true);
        }
    }
    // A stack's unknown dependency is reported once per app above; keep the first.
    let mut problems = dedup(problems.into_vec());
    if problems.is_empty()
        && let Some(cycle) = find_cycle(&resolved)
    {
        let first_edge = resolved.deps[&cycle[0]][&cycle[1]].clone();
        problems.push(Problem::new(first_edge, format!("dependency cycle: {}", cycle.join(" → "))).field("dependsOn"));
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// Most dependencies a graph may have once stack dependencies are expanded
/// to their members' applications (a stack depending on a stack of `m`
/// applications gives each of its `n` applications `m` edges: `n × m`).
/// The scale benchmark's 2,000-application graph has about 3,000; the limit keeps
/// a mistaken fan-out from costing gigabytes (issue 18) before it is named.
pub const MAX_DEPENDENCIES: usize = 250_000;

/// Counts the expanded edges first, in time linear in the file, and names
/// the stack whose dependencies push the total over [`MAX_DEPENDENCIES`].
fn too_many_dependencies(graph: &Graph, stacks: &HashMap<&str, &super::model::Stack>) -> Option<Problem> {
    let size = |dep: &Named| stacks.get(dep.name.as_str()).map_or(1, |s| s.apps.len());
    let mut total = 0usize;
    for stack in &graph.stacks {
        let inherited: usize = stack.depends_on.iter().map(size).sum();
        for app in &stack.apps {
            total = total.saturating_add(inherited + app.depends_on.iter().map(size).sum::<usize>());
        }
        if total > MAX_DEPENDENCIES {
            return Some(
                Problem::new(
                    stack.name.at.clone(),
                    format!(
                        "the graph has more than {MAX_DEPENDENCIES} dependencies once stack dependencies are expanded \
                         (reached at stack `{}`); depend on fewer, narrower stacks or on single applications",
                        stack.name.name
                    ),
                )
                .field("dependsOn"),
            );
        }
    }
    None
}

/// Records a definition, reporting bad and duplicate names.
fn define<'g>(defined: &mut HashMap<&'g str, &'g Named>, named: &'g Named, problems: &mut Problems) {
    if let Err(message) = names::dns_label(&named.name) {
        problems.push(Problem::new(named.at.clone(), message).field("name"));
    }
    if let Some(first) = defined.get(named.name.as_str()) {
        problems.push(
            Problem::new(
                named.at.clone(),
                format!(
                    "`{}` is defined twice (first at {}); stack and application names must be unique",
                    named.name, first.at
                ),
            )
            .field("name"),
        );
    } else {
        defined.insert(named.name.as_str(), named);
    }
}

/// Drops repeated problems, keeping the first; linear, since a wrong stack
/// name repeats once per application of the stack.
fn dedup(problems: Vec<Problem>) -> Vec<Problem> {
    let mut seen = std::collections::HashSet::new();
    problems
        .into_iter()
        .filter(|problem| seen.insert(problem.to_string()))
        .collect()
}

/// The first cycle found by a depth-first search in name order, as a path
/// that starts and ends with the same application.
fn find_cycle(resolved: &Resolved) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for start in resolved.deps.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        // Stack of (node, its dependencies not yet visited).
        let mut path: Vec<(&str, Vec<&str>)> = Vec::new();
        marks.insert(start, Mark::Active);
        path.push((start, deps_of(resolved, start)));
        while let Some((node, pending)) = path.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match marks.get(next) {
                    Some(Mark::Active) => {
                        let from = path.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> = path[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                        cycle.push(next.to_owned());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(next, Mark::Active);
                        path.push((next, deps_of(resolved, next)));
                    }
                },
                None => {
                    marks.insert(node, Mark::Done);
                    path.pop();
                }
            }
        }
    }
    None
}

/// Dependencies in reverse name order, so popping visits them in name order.
fn deps_of<'a>(resolved: &'a Resolved, node: &str) -> Vec<&'a str> {
    resolved
        .deps
        .get(node)
        .map(|d| d.keys().rev().map(String::as_str).collect())
        .unwrap_or_default()
}
