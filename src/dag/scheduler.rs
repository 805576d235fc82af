//! The scheduler: runs graph nodes as soon as their own prerequisites are
//! done — no wave barriers — with bounded concurrency, failure propagation
//! and cancellation.
//!
//! For deploy and validate a node's prerequisites are its dependencies; for
//! teardown they are its dependents (a node is removed only after everything
//! that depends on it is gone). A node that fails, times out or is skipped
//! makes every node waiting on it (transitively) `Skipped`; independent
//! branches carry on. Nodes become ready in plan order, so the start order is
//! deterministic for the same timings; results never depend on parallelism.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::PlanNode;

/// How one node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEnd {
    /// Done and healthy (or removed, for teardown).
    Succeeded,
    /// Failed: a reason (`Degraded`, `SyncFailed`, `ScriptError`, ...) and a message.
    Failed {
        /// Short machine-friendly reason.
        reason: crate::report::FailureReason,
        /// What happened.
        message: String,
    },
    /// Ran past its own deadline.
    TimedOut(String),
    /// Not started: a prerequisite did not succeed, or the run stopped.
    Skipped(String),
}

impl NodeEnd {
    /// How it ended, in one word: `Succeeded`, `Failed`, `TimedOut` or
    /// `Skipped` (a span's `executor.outcome`, a result's `end`).
    pub fn name(&self) -> &'static str {
        match self {
            NodeEnd::Succeeded => "Succeeded",
            NodeEnd::Failed { .. } => "Failed",
            NodeEnd::TimedOut(_) => "TimedOut",
            NodeEnd::Skipped(_) => "Skipped",
        }
    }
}

/// What a node runner returns: how it ended plus anything it wants to carry.
#[derive(Debug, Clone)]
pub struct NodeOutcome<T> {
    /// How it ended.
    pub end: NodeEnd,
    /// The runner's own result (e.g. the script's return value).
    pub value: Option<T>,
}

/// The result of one node.
#[derive(Debug, Clone)]
pub struct NodeResult<T> {
    /// Node name.
    pub name: String,
    /// How it ended.
    pub end: NodeEnd,
    /// The runner's value.
    pub value: Option<T>,
    /// Time it ran (zero if skipped).
    pub duration: Duration,
    /// When it started, relative to the schedule's start.
    pub started_after: Option<Duration>,
}

/// The results of a schedule and its timing.
#[derive(Debug, Clone)]
pub struct Schedule<T> {
    /// Results in plan order.
    pub results: Vec<NodeResult<T>>,
    /// Wall time of the whole schedule.
    pub wall: Duration,
    /// The longest chain of node durations along prerequisites.
    pub critical_path: Duration,
}

/// Runs `nodes` (a plan's nodes, possibly a subset) with `runner`.
/// `reverse` makes dependents the prerequisites (teardown).
pub async fn run<T, F, Fut>(
    nodes: &[PlanNode],
    reverse: bool,
    concurrency: usize,
    cancel: &CancellationToken,
    runner: F,
) -> Schedule<T>
where
    F: Fn(PlanNode) -> Fut,
    Fut: Future<Output = NodeOutcome<T>>,
{
    let started = Instant::now();
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let prerequisites = |node: &PlanNode| -> BTreeSet<String> {
        let list = if reverse { &node.dependents } else { &node.depends_on };
        list.iter().filter(|n| names.contains(n.as_str())).cloned().collect()
    };
    let mut waiting: BTreeMap<String, BTreeSet<String>> =
        nodes.iter().map(|n| (n.name.clone(), prerequisites(n))).collect();
    let mut results: BTreeMap<String, NodeResult<T>> = BTreeMap::new();
    let mut running = FuturesUnordered::new();
    let concurrency = concurrency.max(1);

    loop {
        // Start what is ready, in plan order, up to the concurrency bound.
        if !cancel.is_cancelled() {
            for node in nodes {
                if running.len() >= concurrency {
                    break;
                }
                let ready =
                    waiting.get(&node.name).is_some_and(BTreeSet::is_empty) && !results.contains_key(&node.name);
                if ready {
                    waiting.remove(&node.name);
                    let name = node.name.clone();
                    let future = runner(node.clone());
                    let at = started.elapsed();
                    running.push(async move {
                        let begin = Instant::now();
                        let outcome = future.await;
                        (name, outcome, begin.elapsed(), at)
                    });
                }
            }
        }
        let Some((name, outcome, duration, at)) = running.next().await else {
            break;
        };
        let succeeded = outcome.end == NodeEnd::Succeeded;
        results.insert(
            name.clone(),
            NodeResult {
                name: name.clone(),
                end: outcome.end,
                value: outcome.value,
                duration,
                started_after: Some(at),
            },
        );
        if succeeded {
            for prerequisites in waiting.values_mut() {
                prerequisites.remove(&name);
            }
        } else {
            skip_waiters(&name, &mut waiting, &mut results, reverse);
        }
    }
    // Whatever never started: the run was cancelled, or (defensively) a
    // prerequisite outside the plan never finished.
    for node in nodes {
        if !results.contains_key(&node.name) {
            let why = if cancel.is_cancelled() {
                "the run stopped before it started"
            } else {
                "its prerequisites did not complete"
            };
            results.insert(
                node.name.clone(),
                NodeResult {
                    name: node.name.clone(),
                    end: NodeEnd::Skipped(why.to_owned()),
                    value: None,
                    duration: Duration::ZERO,
                    started_after: None,
                },
            );
        }
    }
    let critical_path = critical_path_of(nodes, results.values().map(|r| (r.name.as_str(), r.duration)), reverse);
    let ordered = nodes.iter().filter_map(|n| results.remove(&n.name)).collect();
    Schedule {
        results: ordered,
        wall: started.elapsed(),
        critical_path,
    }
}

/// Marks every node waiting (transitively) on `failed` as skipped.
fn skip_waiters<T>(
    failed: &str,
    waiting: &mut BTreeMap<String, BTreeSet<String>>,
    results: &mut BTreeMap<String, NodeResult<T>>,
    reverse: bool,
) {
    let mut blocked = vec![(failed.to_owned(), failed.to_owned())];
    while let Some((cause, origin)) = blocked.pop() {
        let waiters: Vec<String> = waiting
            .iter()
            .filter(|(_, prerequisites)| prerequisites.contains(&cause))
            .map(|(name, _)| name.clone())
            .collect();
        for waiter in waiters {
            waiting.remove(&waiter);
            let relation = if reverse { "depends on it" } else { "it depends on" };
            let reason = if cause == origin {
                format!("`{origin}` did not succeed and {relation}")
            } else {
                format!("`{origin}` did not succeed (via `{cause}`)")
            };
            results.insert(
                waiter.clone(),
                NodeResult {
                    name: waiter.clone(),
                    end: NodeEnd::Skipped(reason),
                    value: None,
                    duration: Duration::ZERO,
                    started_after: None,
                },
            );
            blocked.push((waiter, origin.clone()));
        }
    }
}

/// The longest chain of node durations along prerequisites (`durations`
/// by node name, in any order; a node without one counts as zero).
pub fn critical_path_of<'a>(
    nodes: &[PlanNode],
    durations: impl IntoIterator<Item = (&'a str, Duration)>,
    reverse: bool,
) -> Duration {
    // Nodes are in plan order (dependencies first); for teardown the plan is
    // already reversed, so prerequisites still come first.
    let durations: BTreeMap<&str, Duration> = durations.into_iter().collect();
    let mut longest: BTreeMap<&str, Duration> = BTreeMap::new();
    for node in nodes {
        let prerequisites = if reverse { &node.dependents } else { &node.depends_on };
        let before = prerequisites
            .iter()
            .filter_map(|p| longest.get(p.as_str()))
            .max()
            .copied()
            .unwrap_or_default();
        let own = durations.get(node.name.as_str()).copied().unwrap_or_default();
        longest.insert(node.name.as_str(), before + own);
    }
    longest.values().max().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::plan::Timeouts;
    use crate::dag::plan::{self, Action, Scope};
    use std::sync::{Arc, Mutex};

    fn plan(action: Action) -> plan::Plan {
        let path = std::path::Path::new("dag.yaml");
        let text = "stacks:
  - name: s
    apps:
      - {name: a, path: p, namespace: a}
      - {name: b, path: p, namespace: b, dependsOn: [a]}
      - {name: c, path: p, namespace: c, dependsOn: [b]}
      - {name: d, path: p, namespace: d}
      - {name: e, path: p, namespace: e, dependsOn: [d]}
";
        let crate::dag::file::DagFile::Graph(graph) =
            crate::dag::file::parse(path, text, crate::dag::model::GraphOrigin::Replaced).unwrap()
        else {
            panic!()
        };
        let resolved = crate::dag::validate::resolve(&graph).unwrap();
        let valid = crate::dag::ValidGraph { graph, resolved };
        plan::build(&valid, action, &Scope::Platform, Timeouts::default()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_skips_dependents_and_spares_independent_branches() {
        let plan = plan(Action::Deploy);
        let order = Arc::new(Mutex::new(Vec::new()));
        let schedule = run(&plan.nodes, false, 4, &CancellationToken::new(), |node| {
            let order = order.clone();
            async move {
                order.lock().unwrap().push(node.name.clone());
                tokio::time::sleep(Duration::from_secs(1)).await;
                let end = if node.name == "b" {
                    NodeEnd::Failed {
                        reason: crate::report::FailureReason::Degraded,
                        message: "boom".into(),
                    }
                } else {
                    NodeEnd::Succeeded
                };
                NodeOutcome::<()> { end, value: None }
            }
        })
        .await;
        let ends: BTreeMap<&str, &NodeEnd> = schedule.results.iter().map(|r| (r.name.as_str(), &r.end)).collect();
        assert_eq!(ends["a"], &NodeEnd::Succeeded);
        assert!(matches!(ends["b"], NodeEnd::Failed { .. }));
        assert_eq!(
            ends["c"],
            &NodeEnd::Skipped("`b` did not succeed and it depends on".into())
        );
        assert_eq!(ends["e"], &NodeEnd::Succeeded);
        assert!(!order.lock().unwrap().contains(&"c".to_owned()));
    }

    #[tokio::test(start_paused = true)]
    async fn nodes_start_when_their_own_dependencies_finish() {
        let plan = plan(Action::Deploy);
        let schedule = run(&plan.nodes, false, 8, &CancellationToken::new(), |node| async move {
            let secs = if node.name == "a" { 5 } else { 1 };
            tokio::time::sleep(Duration::from_secs(secs)).await;
            NodeOutcome::<()> {
                end: NodeEnd::Succeeded,
                value: None,
            }
        })
        .await;
        let started = |n: &str| {
            schedule
                .results
                .iter()
                .find(|r| r.name == n)
                .unwrap()
                .started_after
                .unwrap()
                .as_secs()
        };
        // e waits only for d (1 s), not for the slow a (5 s): no wave barrier.
        assert_eq!(started("e"), 1);
        assert_eq!(started("b"), 5);
        assert_eq!(started("c"), 6);
        assert_eq!(schedule.critical_path.as_secs(), 7);
        assert_eq!(schedule.wall.as_secs(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn teardown_waits_for_dependents_and_concurrency_is_bounded() {
        let plan = plan(Action::Teardown);
        let active = Arc::new(Mutex::new((0usize, 0usize)));
        let finished = Arc::new(Mutex::new(Vec::new()));
        let schedule = run(&plan.nodes, true, 1, &CancellationToken::new(), |node| {
            let active = active.clone();
            let finished = finished.clone();
            async move {
                {
                    let mut a = active.lock().unwrap();
                    a.0 += 1;
                    a.1 = a.1.max(a.0);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                active.lock().unwrap().0 -= 1;
                finished.lock().unwrap().push(node.name.clone());
                NodeOutcome::<()> {
                    end: NodeEnd::Succeeded,
                    value: None,
                }
            }
        })
        .await;
        assert_eq!(active.lock().unwrap().1, 1, "never more than one at a time");
        let finished = finished.lock().unwrap().clone();
        let pos = |n: &str| finished.iter().position(|f| f == n).unwrap();
        assert!(
            pos("c") < pos("b") && pos("b") < pos("a") && pos("e") < pos("d"),
            "{finished:?}"
        );
        assert!(schedule.results.iter().all(|r| r.end == NodeEnd::Succeeded));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_starting_nodes() {
        let plan = plan(Action::Deploy);
        let cancel = CancellationToken::new();
        let schedule = run(&plan.nodes, false, 8, &cancel, |node| {
            let cancel = cancel.clone();
            async move {
                if node.name == "a" {
                    cancel.cancel();
                }
                NodeOutcome::<()> {
                    end: NodeEnd::Succeeded,
                    value: None,
                }
            }
        })
        .await;
        let c = schedule.results.iter().find(|r| r.name == "c").unwrap();
        assert_eq!(c.end, NodeEnd::Skipped("the run stopped before it started".into()));
    }
}
