//! The run's graph as the reports draw it: the application components,
//! their dependency edges, a layout in levels, each node's outcome class,
//! the failed path and the critical path.
//!
//! Everything here is computed from the report alone (its components'
//! `dependsOn`, `startSeconds` and `durationSeconds`), so a report read back
//! from JSON draws the same picture. The order of nodes and edges follows
//! the report's components: the drawing is deterministic.

use std::collections::{BTreeSet, HashMap};

use super::{Component, ComponentKind, ComponentStatus};

/// Seconds of slack when deciding that a node ended before another began
/// (times are rounded to milliseconds and measured by different clocks).
const SLACK_SECONDS: f64 = 0.05;

/// What became of a node, as a CSS / Mermaid class name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutcomeClass {
    /// Done: `Deployed`, `Updated`, `Unchanged`, `Healthy`, `Removed`, `Absent`.
    Succeeded,
    /// `Failed`.
    Failed,
    /// `TimedOut`.
    TimedOut,
    /// `Skipped`: a dependency did not succeed.
    Skipped,
    /// What a dry run would do (`WouldCreate`, `WouldUpdate`, `WouldRemove`).
    Planned,
    /// Anything else.
    Other,
}

impl OutcomeClass {
    /// Every class, in legend order.
    pub const ALL: [OutcomeClass; 6] = [
        OutcomeClass::Succeeded,
        OutcomeClass::Failed,
        OutcomeClass::TimedOut,
        OutcomeClass::Skipped,
        OutcomeClass::Planned,
        OutcomeClass::Other,
    ];

    /// The class of a component's `status`.
    pub fn of(status: ComponentStatus) -> OutcomeClass {
        match status {
            ComponentStatus::Failed => OutcomeClass::Failed,
            ComponentStatus::TimedOut => OutcomeClass::TimedOut,
            ComponentStatus::Skipped => OutcomeClass::Skipped,
            s if s.is_success() => OutcomeClass::Succeeded,
            s if s.is_planned() => OutcomeClass::Planned,
            _ => OutcomeClass::Other,
        }
    }

    /// The class name (`succeeded`, `failed`, `timedout`, `skipped`, `planned`, `other`).
    pub fn name(self) -> &'static str {
        match self {
            OutcomeClass::Succeeded => "succeeded",
            OutcomeClass::Failed => "failed",
            OutcomeClass::TimedOut => "timedout",
            OutcomeClass::Skipped => "skipped",
            OutcomeClass::Planned => "planned",
            OutcomeClass::Other => "other",
        }
    }

    /// Fill and stroke colours, shared by the HTML page and the Mermaid block.
    pub fn colours(self) -> (&'static str, &'static str) {
        match self {
            OutcomeClass::Succeeded => ("#d3f9d8", "#2b8a3e"),
            OutcomeClass::Failed => ("#ffc9c9", "#c92a2a"),
            OutcomeClass::TimedOut => ("#ffe8cc", "#d9480f"),
            OutcomeClass::Skipped => ("#e9ecef", "#868e96"),
            OutcomeClass::Planned => ("#d0ebff", "#1864ab"),
            OutcomeClass::Other => ("#f8f9fa", "#495057"),
        }
    }

    /// Whether the node did not succeed by itself (failed or timed out).
    pub fn is_failure(self) -> bool {
        matches!(self, OutcomeClass::Failed | OutcomeClass::TimedOut)
    }
}

/// One node of the drawn graph.
#[derive(Debug, Clone)]
pub struct GraphNode<'a> {
    /// Its component.
    pub component: &'a Component,
    /// Its column: the longest chain of dependencies before it.
    pub level: usize,
    /// Its row within the column.
    pub row: usize,
    /// Its outcome.
    pub class: OutcomeClass,
    /// Whether it is on the failed path (failed, or skipped because of a failure).
    pub failed_path: bool,
    /// Whether it is on the critical path.
    pub critical: bool,
}

/// An edge from a dependency to its dependent (indexes into [`Graph::nodes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The dependency.
    pub from: usize,
    /// The dependent.
    pub to: usize,
    /// Whether it carries a failure to a skipped dependent.
    pub failed_path: bool,
    /// Whether it joins two consecutive nodes of the critical path.
    pub critical: bool,
}

/// The application components as a laid-out graph.
#[derive(Debug, Clone)]
pub struct Graph<'a> {
    /// Nodes in the report's order.
    pub nodes: Vec<GraphNode<'a>>,
    /// Edges, by dependent then dependency order.
    pub edges: Vec<Edge>,
}

impl<'a> Graph<'a> {
    /// The graph of the report's application components.
    pub fn of(components: &'a [Component]) -> Graph<'a> {
        let apps: Vec<&Component> = components.iter().filter(|c| c.kind == ComponentKind::App).collect();
        let index: HashMap<&str, usize> = apps.iter().enumerate().map(|(i, c)| (c.name.as_str(), i)).collect();
        let mut edges = Vec::new();
        for (to, app) in apps.iter().enumerate() {
            for dependency in &app.depends_on {
                if let Some(&from) = index.get(dependency.as_str()) {
                    edges.push(Edge {
                        from,
                        to,
                        failed_path: false,
                        critical: false,
                    });
                }
            }
        }
        let levels = levels(apps.len(), &edges);
        let chain = critical_path(components);
        for pair in chain.windows(2) {
            if let [first, next] = pair
                && let (Some(&a), Some(&b)) = (index.get(first.as_str()), index.get(next.as_str()))
            {
                for edge in edges
                    .iter_mut()
                    .filter(|e| (e.from, e.to) == (a, b) || (e.from, e.to) == (b, a))
                {
                    edge.critical = true;
                }
            }
        }
        let critical: BTreeSet<String> = chain.into_iter().collect();
        let mut rows = vec![0usize; apps.len() + 1];
        let mut nodes: Vec<GraphNode<'a>> = apps
            .iter()
            .zip(&levels)
            .map(|(component, &level)| {
                let row = rows.get(level).copied().unwrap_or_default();
                if let Some(next) = rows.get_mut(level) {
                    *next += 1;
                }
                let class = OutcomeClass::of(component.status);
                GraphNode {
                    component,
                    level,
                    row,
                    class,
                    failed_path: class.is_failure(),
                    critical: critical.contains(&component.name),
                }
            })
            .collect();
        // A skipped node reached from a failure is on the failed path, and
        // so is the edge that carried it (edges follow the levels, so a
        // pass in level order sees every dependency first).
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by_key(|&i| nodes[i].level);
        for &to in &order {
            if nodes[to].class != OutcomeClass::Skipped {
                continue;
            }
            for edge in edges.iter_mut().filter(|e| e.to == to) {
                if nodes[edge.from].failed_path {
                    edge.failed_path = true;
                    nodes[to].failed_path = true;
                }
            }
        }
        Graph { nodes, edges }
    }

    /// The number of columns.
    pub fn columns(&self) -> usize {
        self.nodes.iter().map(|n| n.level + 1).max().unwrap_or(0)
    }

    /// The number of rows of the tallest column.
    pub fn rows(&self) -> usize {
        self.nodes.iter().map(|n| n.row + 1).max().unwrap_or(0)
    }
}

/// Each node's level: 0 without dependencies, else one more than its
/// deepest dependency. A cycle (never in a valid plan) stops at `count`.
fn levels(count: usize, edges: &[Edge]) -> Vec<usize> {
    let mut levels = vec![0usize; count];
    for _ in 0..count {
        let mut changed = false;
        for edge in edges {
            let wanted = levels[edge.from] + 1;
            if levels[edge.to] < wanted && wanted < count.max(1) {
                levels[edge.to] = wanted;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    levels
}

/// When a component ended, if it ran.
fn end_of(component: &Component) -> Option<f64> {
    component.start_seconds.map(|start| start + component.duration_seconds)
}

/// The candidate that ended last (the first of equals).
fn latest<'a>(candidates: impl Iterator<Item = &'a Component>) -> Option<&'a Component> {
    let mut best: Option<(&Component, f64)> = None;
    for candidate in candidates {
        if let Some(end) = end_of(candidate)
            && best.is_none_or(|(_, e)| end > e)
        {
            best = Some((candidate, end));
        }
    }
    best.map(|(c, _)| c)
}

/// The critical path: the chain of nodes, first to last, that ended last,
/// each waiting for the one before it. It starts from the node that ended
/// last and walks back, at each step, to the adjacent node (a dependency,
/// or a dependent in a teardown) that ended last before this one started.
/// Empty when no node has a start time.
pub fn critical_path(components: &[Component]) -> Vec<String> {
    let apps: Vec<&Component> = components
        .iter()
        .filter(|c| c.kind == ComponentKind::App && c.start_seconds.is_some())
        .collect();
    let mut chain: Vec<String> = Vec::new();
    let mut current = latest(apps.iter().copied());
    while let Some(node) = current {
        if chain.contains(&node.name) {
            break;
        }
        chain.push(node.name.clone());
        let start = node.start_seconds.unwrap_or_default();
        current = latest(apps.iter().copied().filter(|other| {
            let adjacent = node.depends_on.contains(&other.name) || other.depends_on.contains(&node.name);
            adjacent && end_of(other).is_some_and(|end| end <= start + SLACK_SECONDS)
        }));
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn app(name: &str, status: &str, depends_on: &[&str], start: Option<f64>, seconds: f64) -> Component {
        Component {
            name: name.to_owned(),
            stack: "s".to_owned(),
            kind: ComponentKind::App,
            status: status.parse().unwrap(),
            health: String::new(),
            sync: String::new(),
            message: String::new(),
            duration_seconds: seconds,
            attempts: 1,
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
            start_seconds: start,
            phases: Vec::new(),
        }
    }

    #[test]
    fn the_critical_path_follows_what_each_node_waited_for() {
        // a (0-2) and b (0-5) both feed c (5-6); d (0-4) is independent.
        let components = vec![
            app("a", "Deployed", &[], Some(0.0), 2.0),
            app("b", "Deployed", &[], Some(0.0), 5.0),
            app("c", "Deployed", &["a", "b"], Some(5.0), 1.0),
            app("d", "Deployed", &[], Some(0.0), 4.0),
        ];
        assert_eq!(critical_path(&components), ["b", "c"]);
    }

    #[test]
    fn the_critical_path_ends_at_the_node_that_ended_last() {
        let components = vec![
            app("a", "Deployed", &[], Some(0.0), 2.0),
            app("c", "Deployed", &["a"], Some(2.0), 1.0),
            app("d", "Deployed", &[], Some(0.0), 9.0),
        ];
        assert_eq!(critical_path(&components), ["d"]);
    }

    #[test]
    fn the_critical_path_of_a_teardown_runs_from_dependents_to_dependencies() {
        // Teardown removes the dependent `c` first, then `a`.
        let components = vec![
            app("a", "Removed", &[], Some(3.0), 2.0),
            app("c", "Removed", &["a"], Some(0.0), 3.0),
        ];
        assert_eq!(critical_path(&components), ["c", "a"]);
    }

    #[test]
    fn no_times_no_critical_path() {
        let components = vec![app("a", "Skipped", &[], None, 0.0)];
        assert!(critical_path(&components).is_empty());
    }

    #[test]
    fn levels_and_the_failed_path() {
        let components = vec![
            app("db", "Failed", &[], Some(0.0), 3.0),
            app("cache", "Deployed", &[], Some(0.0), 1.0),
            app("auth", "Skipped", &["db", "cache"], None, 0.0),
            app("portal", "Skipped", &["auth"], None, 0.0),
            app("docs", "Deployed", &["cache"], Some(1.0), 3.0),
        ];
        let graph = Graph::of(&components);
        let by_name = |name: &str| graph.nodes.iter().find(|n| n.component.name == name).unwrap();
        assert_eq!(by_name("db").level, 0);
        assert_eq!(by_name("auth").level, 1);
        assert_eq!(by_name("portal").level, 2);
        assert_eq!((by_name("db").row, by_name("cache").row), (0, 1));
        assert_eq!(graph.columns(), 3);
        let failed: Vec<&str> = graph
            .nodes
            .iter()
            .filter(|n| n.failed_path)
            .map(|n| n.component.name.as_str())
            .collect();
        assert_eq!(failed, ["db", "auth", "portal"]);
        let failed_edges: Vec<(usize, usize)> = graph
            .edges
            .iter()
            .filter(|e| e.failed_path)
            .map(|e| (e.from, e.to))
            .collect();
        assert_eq!(failed_edges, [(0, 2), (2, 3)]);
        // The critical path: cache, then docs (which ended last).
        let critical: Vec<(usize, usize)> = graph
            .edges
            .iter()
            .filter(|e| e.critical)
            .map(|e| (e.from, e.to))
            .collect();
        assert_eq!(critical, [(1, 4)]);
        assert!(by_name("docs").critical && by_name("cache").critical && !by_name("db").critical);
        assert_eq!(by_name("docs").class, OutcomeClass::Succeeded);
        assert!(!by_name("docs").failed_path);
    }
}
