//! Deciding a run's outcome and completing the report: stack components,
//! request metrics.

use std::collections::BTreeMap;

use crate::config::Action;
use crate::dag::Plan;
use crate::health::{HealthStatus, aggregate};
use crate::outcome::Outcome;
use crate::report::{Component, ComponentKind, ComponentStatus, Report};
use crate::script::host::ReportParts;

/// The outcome of a run whose script did not decide one (the one place
/// outcomes are derived): deploy from its components
/// ([`from_components`]); teardown from what is left (orphans → Partial, a
/// node not removed → Failed, else Succeeded); validate from its verdicts
/// ([`from_verdicts`]).
pub fn decide(action: Action, parts: &ReportParts, deadline_passed: bool) -> Outcome {
    if let Some(outcome) = parts.outcome {
        return outcome;
    }
    match action {
        Action::Teardown => {
            let not_done = parts
                .components
                .iter()
                .any(|c| c.kind == ComponentKind::App && c.status.is_incomplete());
            let left = !parts.orphans.is_empty();
            if deadline_passed && (not_done || left) {
                Outcome::TimedOut
            } else if left {
                Outcome::Partial
            } else if not_done || !parts.failures.is_empty() {
                Outcome::Failed
            } else {
                Outcome::Succeeded
            }
        }
        Action::Validate => from_verdicts(parts),
        Action::Deploy => from_components(&parts.components, deadline_passed),
    }
}

/// Validate's outcome: a recorded failure (a critical component failing,
/// a required policy failed) → Failed; else a component not Healthy
/// (non-critical, or still progressing) → Partial; else Succeeded.
pub fn from_verdicts(parts: &ReportParts) -> Outcome {
    if !parts.failures.is_empty() {
        Outcome::Failed
    } else if parts
        .components
        .iter()
        .any(|c| c.health.parse::<HealthStatus>() != Ok(HealthStatus::Healthy))
    {
        Outcome::Partial
    } else {
        Outcome::Succeeded
    }
}

/// The outcome the components imply: all done → Succeeded; some not done →
/// Partial (TimedOut when the action's deadline passed); none done → Failed.
pub fn from_components(components: &[Component], deadline_passed: bool) -> Outcome {
    let apps: Vec<&Component> = components.iter().filter(|c| c.kind == ComponentKind::App).collect();
    let not_done = apps.iter().filter(|c| c.status.is_incomplete()).count();
    let bootstrap_failed = components
        .iter()
        .any(|c| c.kind == ComponentKind::Bootstrap && c.status.is_incomplete());
    if deadline_passed && (not_done > 0 || bootstrap_failed) {
        return Outcome::TimedOut;
    }
    if bootstrap_failed {
        return Outcome::Failed;
    }
    match (not_done, apps.len()) {
        (0, _) => Outcome::Succeeded,
        (n, total) if n < total => Outcome::Partial,
        _ => Outcome::Failed,
    }
}

/// Adds one component per stack of the plan, aggregating its applications.
pub fn add_stacks(report: &mut Report, plan: &Plan) {
    let mut stacks = Vec::new();
    for stack in &plan.stacks {
        let apps: Vec<&Component> = report
            .components
            .iter()
            .filter(|c| c.kind == ComponentKind::App && stack.apps.contains(&c.name))
            .collect();
        if apps.is_empty() {
            continue;
        }
        let health = aggregate(apps.iter().map(|c| {
            if c.status.is_failure() {
                HealthStatus::Failed
            } else {
                c.health.parse().unwrap_or(HealthStatus::Unknown)
            }
        }));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for app in &apps {
            *counts.entry(app.status.as_str()).or_default() += 1;
        }
        let status = if apps.iter().any(|c| c.status.is_failure()) {
            ComponentStatus::Failed
        } else if apps.iter().any(|c| c.status == ComponentStatus::Skipped) {
            ComponentStatus::Skipped
        } else if apps.iter().all(|c| c.status == apps[0].status) {
            apps[0].status
        } else {
            ComponentStatus::Deployed
        };
        stacks.push(Component {
            name: stack.name.clone(),
            stack: stack.name.clone(),
            kind: ComponentKind::Stack,
            status,
            health: health.to_string(),
            sync: if apps.iter().all(|c| c.sync == "Synced") {
                "Synced".to_owned()
            } else {
                String::new()
            },
            message: counts
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", "),
            duration_seconds: apps.iter().map(|c| c.duration_seconds).fold(0.0, f64::max),
            attempts: 1,
            depends_on: Vec::new(),
            start_seconds: None,
            phases: Vec::new(),
        });
    }
    report.components.extend(stacks);
}
