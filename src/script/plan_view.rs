//! `ctx.plan` as scripts see it: a typed, shared view of the run's plan.
//!
//! The plan is the one part of `ctx` that grows with the platform. As a
//! Rhai map it was copied whole every time `ctx` was passed to a function
//! (an Application builder is called once per node: quadratic on a large
//! platform). As a custom type it is shared and immutable: copying it
//! copies a pointer. Scripts read it as before (`ctx.plan.nodes`,
//! `ctx.plan.action`, `ctx.plan.scope`, `ctx.plan.stacks`), and may narrow
//! a copy to some of its nodes (`plan.nodes = plan.nodes.filter(...)`) or
//! name another action for it (`plan.action = "teardown"`), as tests do.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};
use serde_json::Value;

use super::convert::to_dynamic;
use super::error::map_field;
use super::host::script_error;
use crate::dag::{Action, Plan, PlanNode};

/// The plan of a run, shared (`ctx.plan`).
#[derive(Debug, Clone)]
pub struct PlanView {
    plan: Arc<Plan>,
    action: Action,
    /// Indexes of the nodes kept, when narrowed.
    kept: Option<Arc<Vec<usize>>>,
}

impl PlanView {
    /// A view of all of `plan`.
    pub fn new(plan: Arc<Plan>) -> PlanView {
        let action = plan.action;
        PlanView {
            plan,
            action,
            kept: None,
        }
    }

    /// The action the plan is for.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The same nodes, for another action (a test running one action's
    /// script with another's plan).
    pub fn set_action(&mut self, action: Action) {
        self.action = action;
    }

    /// The nodes in the view, in plan order.
    pub fn nodes(&self) -> Vec<&PlanNode> {
        match &self.kept {
            None => self.plan.nodes.iter().collect(),
            Some(kept) => kept.iter().filter_map(|i| self.plan.nodes.get(*i)).collect(),
        }
    }

    /// The view as JSON (the plan's own JSON shape).
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(&*self.plan).unwrap_or(Value::Null);
        value["action"] = Value::String(self.action.name().to_owned());
        if self.kept.is_some() {
            value["nodes"] = serde_json::to_value(self.nodes()).unwrap_or(Value::Null);
        }
        value
    }

    fn nodes_array(&self) -> Array {
        self.nodes()
            .into_iter()
            .map(|n| to_dynamic(&serde_json::to_value(n).unwrap_or(Value::Null)))
            .collect()
    }

    fn keep(&mut self, nodes: &Array) -> Result<(), Box<EvalAltResult>> {
        let mut kept = Vec::with_capacity(nodes.len());
        for node in nodes {
            let name = node
                .read_lock::<Map>()
                .map(|m| map_field(&m, "name"))
                .or_else(|| node.clone().into_string().ok())
                .unwrap_or_default();
            let index = self
                .plan
                .nodes
                .iter()
                .position(|n| n.name == name)
                .ok_or_else(|| script_error(format!("plan.nodes: `{name}` is not a node of this run's plan")))?;
            kept.push(index);
        }
        self.kept = Some(Arc::new(kept));
        Ok(())
    }
}

/// Registers `Plan` (the type of `ctx.plan`) with its properties.
pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<PlanView>("Plan")
        .register_get("action", |p: &mut PlanView| -> ImmutableString {
            p.action.name().into()
        })
        .register_set(
            "action",
            |p: &mut PlanView, action: &str| -> Result<(), Box<EvalAltResult>> {
                p.action = action.parse().map_err(script_error)?;
                Ok(())
            },
        )
        .register_get("scope", |p: &mut PlanView| -> ImmutableString {
            p.plan.scope.to_string().into()
        })
        .register_get("graph", |p: &mut PlanView| -> Dynamic {
            to_dynamic(&serde_json::to_value(&p.plan.graph).unwrap_or(Value::Null))
        })
        .register_get("nodes", |p: &mut PlanView| -> Array { p.nodes_array() })
        .register_set("nodes", |p: &mut PlanView, nodes: Array| p.keep(&nodes))
        .register_get("stacks", |p: &mut PlanView| -> Dynamic {
            to_dynamic(&serde_json::to_value(&p.plan.stacks).unwrap_or(Value::Null))
        })
        .register_fn("len", |p: &mut PlanView| -> rhai::INT {
            rhai::INT::try_from(p.nodes().len()).unwrap_or(rhai::INT::MAX)
        })
        .register_fn("to_string", |p: &mut PlanView| -> String {
            format!("plan: {} {} ({} nodes)", p.action, p.plan.scope, p.nodes().len())
        })
        .register_fn("to_debug", |p: &mut PlanView| -> String {
            format!("plan: {} {} ({} nodes)", p.action, p.plan.scope, p.nodes().len())
        });
}

/// The plan a primitive was handed: `ctx.plan` (or a narrowed copy), or a
/// map of the same shape (`#{action, nodes: [#{name, ...}]}`) whose nodes
/// are looked up in `plan`.
///
/// # Errors
/// Anything else, an unknown action, or a node that is not in the run's plan.
pub fn plan_of(value: &Dynamic, plan: &Arc<Plan>) -> Result<PlanView, Box<EvalAltResult>> {
    if let Some(view) = value.clone().try_cast::<PlanView>() {
        return Ok(view);
    }
    let Some(map) = value.read_lock::<Map>() else {
        return Err(script_error(format!(
            "expected the plan (ctx.plan), got {}",
            value.type_name()
        )));
    };
    let mut view = PlanView::new(plan.clone());
    view.action = map_field(&map, "action")
        .parse()
        .map_err(|e: String| script_error(format!("the plan's action: {e} (use ctx.plan)")))?;
    let nodes = map
        .get("nodes")
        .and_then(|n| n.read_lock::<Array>().map(|a| a.clone()))
        .ok_or_else(|| script_error("the plan has no `nodes` (use ctx.plan)"))?;
    view.keep(&nodes)?;
    Ok(view)
}
