//! Printing a plan: a table for people, Mermaid or DOT for a picture, JSON for tools.
//!
//! Output is a pure function of the plan: no timestamps, no map iteration
//! order, so the same inputs print the same bytes.

use std::fmt::Write as _;

use super::plan::{Action, Plan, Role};
use crate::input::duration::format_duration;

/// The formats a plan prints in (`executor plan --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    /// A table, one line per application in execution order.
    Text,
    /// The plan as JSON.
    Json,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

/// Renders `plan` in `format`.
pub fn render(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => text(plan),
        PlanFormat::Json => {
            let mut out = serde_json::to_string_pretty(plan).unwrap_or_default();
            out.push('\n');
            out
        }
        PlanFormat::Mermaid => mermaid(plan),
        PlanFormat::Dot => dot(plan),
    }
}

fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan: {} {} — {} in {}, {} (graph: {})",
        plan.action,
        plan.scope,
        plural(plan.nodes.len(), "application"),
        plural(plan.stacks.len(), "stack"),
        plural(plan.levels(), "level"),
        match plan.graph {
            super::model::GraphOrigin::Bundled => "bundled",
            super::model::GraphOrigin::Replaced => "dag.yaml",
            super::model::GraphOrigin::Overlaid => "bundled + dag.yaml overlay",
        }
    );
    if plan.action == Action::Teardown {
        let _ = writeln!(
            out,
            "Order: dependents first; a node is removed only after every node that depends on it is gone."
        );
    } else {
        let _ = writeln!(
            out,
            "Order: a node starts as soon as every node it depends on is Healthy."
        );
    }
    let name_width = plan
        .nodes
        .iter()
        .map(|n| n.name.len())
        .max()
        .unwrap_or(0)
        .max("application".len());
    let stack_width = plan
        .nodes
        .iter()
        .map(|n| n.stack.len())
        .max()
        .unwrap_or(0)
        .max("stack".len());
    let relation = if plan.action == Action::Teardown {
        "after (dependents)"
    } else {
        "after (depends on)"
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>3}  {:>5}  {:<name_width$}  {:<stack_width$}  {:>6}  {:>6}  {}",
        "#", "level", "application", "stack", "sync", "health", relation
    );
    for (index, node) in plan.nodes.iter().enumerate() {
        let after = if plan.action == Action::Teardown {
            &node.dependents
        } else {
            &node.depends_on
        };
        let mut name = node.name.clone();
        match node.role {
            Role::Target => {}
            Role::Dependency => name.push_str(" *"),
            Role::Dependent => name.push_str(" +"),
        }
        let _ = writeln!(
            out,
            "{:>3}  {:>5}  {:<name_width$}  {:<stack_width$}  {:>6}  {:>6}  {}",
            index + 1,
            node.level,
            name,
            node.stack,
            format_duration(node.sync_timeout),
            format_duration(node.health_timeout),
            if after.is_empty() {
                "-".to_owned()
            } else {
                after.join(", ")
            }
        );
        for (point, path) in &node.hooks {
            let _ = writeln!(out, "{:>w$}hook {point}: {path}", "", w = 15);
        }
        for gate in &node.resources {
            let namespace = gate.namespace.as_deref().unwrap_or(&node.namespace);
            let _ = writeln!(
                out,
                "{:>w$}gate: {} {} {namespace}/{}",
                "",
                gate.api_version,
                gate.kind,
                gate.name,
                w = 15
            );
        }
        if !node.auto_sync {
            let _ = writeln!(out, "{:>w$}automated sync disabled", "", w = 15);
        }
    }
    if plan.nodes.iter().any(|n| n.role == Role::Dependency) {
        let _ = writeln!(out, "\n* included as a dependency of the scope");
    }
    if plan.nodes.iter().any(|n| n.role == Role::Dependent) {
        let _ = writeln!(out, "\n+ included because it depends on the scope (removed first)");
    }
    out
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn mermaid_id(name: &str) -> String {
    name.replace(['-', '.'], "_")
}

fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart LR\n");
    for stack in &plan.stacks {
        let _ = writeln!(out, "  subgraph stack_{}[\"{}\"]", mermaid_id(&stack.name), stack.name);
        for app in &stack.apps {
            let _ = writeln!(out, "    {}[\"{}\"]", mermaid_id(app), app);
        }
        let _ = writeln!(out, "  end");
    }
    for node in &plan.nodes {
        for dep in &node.depends_on {
            let _ = writeln!(out, "  {} --> {}", mermaid_id(dep), mermaid_id(&node.name));
        }
    }
    out
}

fn dot(plan: &Plan) -> String {
    let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n");
    for stack in &plan.stacks {
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{}\" {{\n    label=\"{}\";",
            stack.name, stack.name
        );
        for app in &stack.apps {
            let _ = writeln!(out, "    \"{app}\";");
        }
        let _ = writeln!(out, "  }}");
    }
    for node in &plan.nodes {
        for dep in &node.depends_on {
            let _ = writeln!(out, "  \"{dep}\" -> \"{}\";", node.name);
        }
    }
    out.push_str("}\n");
    out
}
