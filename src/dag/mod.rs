//! The dependency graph: model, `dag.yaml` schema, validation, plan and rendering.

pub mod file;
pub mod load;
pub mod model;
pub mod plan;
pub mod render;
pub mod scheduler;
pub mod validate;

pub use load::{ValidGraph, load};
pub use model::{Graph, HookPoint};
pub use plan::{Action, Plan, PlanNode, Scope, Timeouts};

#[cfg(test)]
mod tests;
