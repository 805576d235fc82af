//! The mechanism of a graph run, in Rust: deploying one node, waiting on
//! the shared Application watch, calling node hooks.
//!
//! Scripts decide *what*: the order of an action's steps, the shape of a
//! node's Application, what a hook does, which policies apply. This module
//! decides *how*: each node's steps as a future that holds no thread while
//! it waits (the waits read one shared watch of Applications, see
//! [`crate::argocd::store`]), writes and sync requests bounded by a
//! semaphore (the load on the API server and Argo CD), hooks and the
//! Application's builder run on blocking threads only for as long as their
//! script runs.

pub mod deploy;
pub mod events;
pub mod hooks;
pub mod judge;
pub mod outcome;
pub mod script_fn;
pub mod sync;
pub mod teardown;
pub mod verify;

use crate::dag::scheduler::{NodeEnd, NodeOutcome};
use crate::report::{ComponentStatus, FailureReason};

/// What became of a node that succeeded: the report's `status`, `health`,
/// `sync` and `message` of its component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeReport {
    /// What the node's run did with it.
    pub status: ComponentStatus,
    /// Health at the end (`Healthy`, or `Unknown` in a dry run).
    pub health: String,
    /// Sync status at the end.
    pub sync: String,
    /// What changed, or why it would.
    pub message: String,
    /// Diagnostics of a failure (with the failure's outcome).
    pub diagnostics: Vec<String>,
    /// Its timed steps (`hook`, `sync`, `wait`), in order, when the deploy
    /// pipeline ran it (the report's `components[].phases`).
    pub phases: Vec<PhaseTime>,
}

/// One timed step of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseTime {
    /// `hook`, `sync` or `wait`.
    pub name: &'static str,
    /// When it began.
    pub began: std::time::Instant,
    /// How long it took.
    pub took: std::time::Duration,
}

/// The steps of a node as they happen: one step is open at a time, and
/// beginning the next one (or [`Timeline::end`]) closes it, so a step
/// that fails is still recorded, up to its failure.
#[derive(Debug, Default)]
pub struct Timeline {
    phases: Vec<PhaseTime>,
    open: Option<(&'static str, std::time::Instant)>,
}

impl Timeline {
    /// Closes the open step and begins `name`.
    pub fn begin(&mut self, name: &'static str) {
        self.end();
        self.open = Some((name, std::time::Instant::now()));
    }

    /// Closes the open step, if any.
    pub fn end(&mut self) {
        if let Some((name, began)) = self.open.take() {
            self.phases.push(PhaseTime {
                name,
                began,
                took: began.elapsed(),
            });
        }
    }

    /// The steps, the open one closed.
    pub fn finish(mut self) -> Vec<PhaseTime> {
        self.end();
        self.phases
    }
}

/// Why a node failed: a short reason, the message, diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// `SyncFailed`, `Degraded`, `Unknown`, `TimedOut`, `HookFailed`, ...
    pub reason: FailureReason,
    /// What happened.
    pub message: String,
    /// What was seen (conditions, unhealthy resources, positions).
    pub diagnostics: Vec<String>,
}

impl std::fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl NodeFailure {
    /// A failure from its parts.
    pub fn new(reason: FailureReason, message: impl Into<String>, diagnostics: Vec<String>) -> NodeFailure {
        NodeFailure {
            reason,
            message: crate::redact::scrub(&message.into()).into_owned(),
            diagnostics,
        }
    }

    /// The scheduler's outcome for this failure.
    pub fn into_outcome(self) -> NodeOutcome<NodeReport> {
        let end = if self.reason == FailureReason::TimedOut {
            NodeEnd::TimedOut(self.message)
        } else {
            NodeEnd::Failed {
                reason: self.reason,
                message: self.message,
            }
        };
        NodeOutcome {
            end,
            value: Some(NodeReport {
                diagnostics: self.diagnostics,
                ..NodeReport::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Timeline;

    #[test]
    fn a_timeline_closes_each_step_when_the_next_begins_and_at_the_end() {
        let mut timeline = Timeline::default();
        timeline.begin("hook");
        timeline.begin("sync");
        timeline.begin("wait");
        // A failure returns here, with `wait` still open: it is recorded.
        let phases = timeline.finish();
        let names: Vec<&str> = phases.iter().map(|p| p.name).collect();
        assert_eq!(names, ["hook", "sync", "wait"]);
        assert!(phases.windows(2).all(|w| w[0].began <= w[1].began));
        assert!(Timeline::default().finish().is_empty());
    }
}
