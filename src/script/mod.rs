//! Scripting: the sandboxed Rhai engine, where scripts come from, how they
//! are compiled and run, and the primitives they call.

pub mod calls;
pub mod compile;
pub mod context;
pub mod control;
pub mod convert;
pub mod docs;
pub mod engine;
pub mod error;
pub mod host;
pub mod plan_view;
pub mod primitives;
pub mod resolver;
pub mod run;
pub mod source;
pub mod testing;
