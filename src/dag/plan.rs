//! The plan: which applications an action touches, in which order, with
//! which timeouts and hooks.
//!
//! Deterministic by construction: the same graph, action and scope always
//! give the same plan (topological order with ties broken by name), so two
//! runs can be compared byte for byte. Deploy and validate include a target's
//! transitive dependencies; teardown includes its transitive dependents and
//! runs in the reverse of the deploy order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use super::load::ValidGraph;
use super::model::{GraphOrigin, ResourceGate};
use crate::input::duration::serde_duration;
use crate::input::problem::{Problem, Source, closest, did_you_mean};

/// The action of a run, and what its plan is for: the one action type of
/// the executor (the command line, the configuration and the scripts use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create and sync Applications, dependencies first.
    Deploy,
    /// Check health; same nodes and order as deploy.
    Validate,
    /// Delete Applications, dependents first.
    Teardown,
}

impl Action {
    /// `deploy`, `validate` or `teardown`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Validate => "validate",
            Action::Teardown => "teardown",
        }
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "deploy" => Ok(Action::Deploy),
            "validate" => Ok(Action::Validate),
            "teardown" => Ok(Action::Teardown),
            other => Err(format!(
                "`{other}` is not an action; expected deploy, validate or teardown"
            )),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `TARGET_SCOPE`: what an action applies to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// The whole platform.
    #[default]
    Platform,
    /// One stack.
    Stack(String),
    /// One application.
    App(String),
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text.split_once(':') {
            None if text == "platform" || text.is_empty() => Ok(Scope::Platform),
            Some(("stack", name)) if !name.is_empty() => Ok(Scope::Stack(name.to_owned())),
            Some(("app", name)) if !name.is_empty() => Ok(Scope::App(name.to_owned())),
            _ => Err(format!(
                "`{text}` is not a scope; expected `platform`, `stack:<name>` or `app:<name>`"
            )),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Platform => f.write_str("platform"),
            Scope::Stack(name) => write!(f, "stack:{name}"),
            Scope::App(name) => write!(f, "app:{name}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Per-node timeout used when neither environment.yaml nor the graph sets one.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Per-node health timeout used when neither environment.yaml nor the graph sets one.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Default sync and health timeouts of every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// How long a node's Argo CD sync may take.
    #[serde(with = "serde_duration")]
    pub sync: Duration,
    /// How long a node may take to become Healthy after its sync.
    #[serde(with = "serde_duration")]
    pub health: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            sync: DEFAULT_SYNC_TIMEOUT,
            health: DEFAULT_HEALTH_TIMEOUT,
        }
    }
}

/// Why a node is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Named by the scope.
    Target,
    /// A dependency of a target (deploy, validate).
    Dependency,
    /// A dependent of a target (teardown).
    Dependent,
}

/// The plan of one action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The action.
    pub action: Action,
    /// The scope it was computed for.
    pub scope: Scope,
    /// Where the graph came from.
    pub graph: GraphOrigin,
    /// Nodes in execution order.
    pub nodes: Vec<PlanNode>,
    /// Stacks with at least one node in the plan, in order of first node.
    pub stacks: Vec<PlanStack>,
}

/// A stack in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStack {
    /// Stack name.
    pub name: String,
    /// Its applications in the plan, in plan order.
    pub apps: Vec<String>,
}

/// One application node of the plan.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanNode {
    /// Application name.
    pub name: String,
    /// Its stack.
    pub stack: String,
    /// Manifest path in the platform repository.
    pub path: String,
    /// Destination namespace.
    pub namespace: String,
    /// Dependency level: 0 for nodes that wait for nothing in this plan.
    pub level: usize,
    /// Why the node is in the plan.
    pub role: Role,
    /// Direct dependencies within the plan.
    pub depends_on: Vec<String>,
    /// Direct dependents within the plan.
    pub dependents: Vec<String>,
    /// Sync timeout (node override or environment default).
    #[serde(with = "serde_duration")]
    pub sync_timeout: Duration,
    /// Health timeout (node override or environment default).
    #[serde(with = "serde_duration")]
    pub health_timeout: Duration,
    /// Hook scripts by hook point key (`preSync`, ...).
    pub hooks: BTreeMap<String, String>,
    /// Resource-level health gates.
    pub resources: Vec<ResourceGate>,
    /// Whether the Application syncs automatically.
    pub auto_sync: bool,
}

impl Plan {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&PlanNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Number of dependency levels.
    pub fn levels(&self) -> usize {
        self.nodes.iter().map(|n| n.level + 1).max().unwrap_or(0)
    }
}

/// Computes the plan of `action` over `scope`.
///
/// # Errors
/// A problem on `TARGET_SCOPE` when the scope names nothing in the graph.
pub fn build(valid: &ValidGraph, action: Action, scope: &Scope, defaults: Timeouts) -> Result<Plan, Problem> {
    let graph = &valid.graph;
    let targets = targets(graph, scope)?;
    let mut selected = targets.clone();
    if *scope != Scope::Platform {
        for target in &targets {
            match action {
                Action::Deploy | Action::Validate => selected.extend(valid.resolved.ancestors(target)),
                Action::Teardown => selected.extend(valid.resolved.descendants(target)),
            }
        }
    }
    let ordered = Ordered::of(valid, &selected, action);
    let apps: HashMap<&str, (&super::model::Stack, &super::model::App)> =
        graph.apps().map(|(s, a)| (a.name.name.as_str(), (s, a))).collect();
    let named = |list: &[usize]| -> Vec<String> {
        let mut out: Vec<String> = list.iter().map(|&i| ordered.names[i].to_owned()).collect();
        out.sort();
        out
    };
    let mut nodes = Vec::with_capacity(ordered.order.len());
    for &i in &ordered.order {
        let name = ordered.names[i];
        let Some(&(stack, app)) = apps.get(name) else {
            continue;
        };
        let role = if targets.contains(name) {
            Role::Target
        } else if action == Action::Teardown {
            Role::Dependent
        } else {
            Role::Dependency
        };
        nodes.push(PlanNode {
            name: name.to_owned(),
            stack: stack.name.name.clone(),
            path: app.path.clone(),
            namespace: app.namespace.clone(),
            level: ordered.levels[i],
            role,
            depends_on: named(&ordered.deps[i]),
            dependents: named(&ordered.dependents[i]),
            sync_timeout: app.timeouts.sync.unwrap_or(defaults.sync),
            health_timeout: app.timeouts.health.unwrap_or(defaults.health),
            hooks: app
                .hooks
                .0
                .iter()
                .map(|(p, h)| (p.key().to_owned(), h.path.clone()))
                .collect(),
            resources: app.resources.clone(),
            auto_sync: app.auto_sync,
        });
    }
    Ok(Plan {
        action,
        scope: scope.clone(),
        graph: graph.origin.clone(),
        stacks: stacks_of(&nodes),
        nodes,
    })
}

/// The applications `scope` names.
fn targets(graph: &super::model::Graph, scope: &Scope) -> Result<BTreeSet<String>, Problem> {
    Ok(match scope {
        Scope::Platform => graph.apps().map(|(_, a)| a.name.name.clone()).collect(),
        Scope::Stack(name) => match graph.stack(name) {
            Some(stack) => stack.apps.iter().map(|a| a.name.name.clone()).collect(),
            None => {
                return Err(scope_problem(
                    "stack",
                    name,
                    graph.stacks.iter().map(|s| s.name.name.as_str()),
                ));
            }
        },
        Scope::App(name) => match graph.app(name) {
            Some(app) => BTreeSet::from([app.name.name.clone()]),
            None => {
                return Err(scope_problem(
                    "application",
                    name,
                    graph.apps().map(|(_, a)| a.name.name.as_str()),
                ));
            }
        },
    })
}

/// The selected nodes in the order the action runs them, on indexes into
/// `names` (sorted, so index order is name order): a graph of ten thousand
/// nodes must plan in well under a second.
struct Ordered<'a> {
    names: Vec<&'a str>,
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    order: Vec<usize>,
    levels: Vec<usize>,
}

impl<'a> Ordered<'a> {
    fn of(valid: &ValidGraph, selected: &'a BTreeSet<String>, action: Action) -> Ordered<'a> {
        let names: Vec<&str> = selected.iter().map(String::as_str).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let deps: Vec<Vec<usize>> = names
            .iter()
            .map(|name| {
                valid
                    .resolved
                    .deps
                    .get(*name)
                    .map(|d| d.keys().filter_map(|k| index.get(k.as_str()).copied()).collect())
                    .unwrap_or_default()
            })
            .collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        for (node, node_deps) in deps.iter().enumerate() {
            for &dep in node_deps {
                dependents[dep].push(node);
            }
        }
        // Kahn's algorithm, always taking the smallest ready name.
        let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut ready: BTreeSet<usize> = (0..names.len()).filter(|&i| remaining[i] == 0).collect();
        let mut order: Vec<usize> = Vec::with_capacity(names.len());
        while let Some(next) = ready.pop_first() {
            for &dependent in &dependents[next] {
                remaining[dependent] -= 1;
                if remaining[dependent] == 0 {
                    ready.insert(dependent);
                }
            }
            order.push(next);
        }
        if action == Action::Teardown {
            order.reverse();
        }
        let before = if action == Action::Teardown { &dependents } else { &deps };
        let mut levels: Vec<usize> = vec![0; names.len()];
        for &i in &order {
            levels[i] = before[i].iter().map(|&d| levels[d] + 1).max().unwrap_or(0);
        }
        Ordered {
            names,
            deps,
            dependents,
            order,
            levels,
        }
    }
}

/// The stacks of `nodes`, in the order their first node runs.
fn stacks_of(nodes: &[PlanNode]) -> Vec<PlanStack> {
    let mut stacks: Vec<PlanStack> = Vec::new();
    let mut stack_index: HashMap<&str, usize> = HashMap::new();
    for node in nodes {
        match stack_index.get(node.stack.as_str()) {
            Some(&i) => stacks[i].apps.push(node.name.clone()),
            None => {
                stack_index.insert(node.stack.as_str(), stacks.len());
                stacks.push(PlanStack {
                    name: node.stack.clone(),
                    apps: vec![node.name.clone()],
                });
            }
        }
    }
    stacks
}

fn scope_problem<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a str>) -> Problem {
    Problem::new(
        Source::Var("TARGET_SCOPE"),
        format!(
            "no {what} named `{name}` in the graph{}",
            did_you_mean(closest(name, known))
        ),
    )
}
