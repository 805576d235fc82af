//! The one engine builder: actions, hooks, health checks, policies and tests
//! all run on engines made here, with the same sandbox.
//!
//! Starts from a raw engine plus Rhai's standard package (not
//! `Engine::new()`), so nothing reaches files, the network, processes or the
//! environment except through the executor's primitives. `eval` is disabled,
//! variables are strict, every limit is set explicitly, `print`/`debug` go to
//! the log, and a progress callback stops a script at its deadline or when
//! the run is cancelled.

use std::sync::Arc;

use rhai::packages::{Package as _, StandardPackage};
use rhai::{Engine, OptimizationLevel};

use super::control;
use super::error::Origins;
use super::resolver::Resolver;
use super::source::Library;

/// Sandbox limits. Defaults are generous for orchestration scripts and stop
/// a runaway script in about a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations per script run (a loop iteration is a few operations).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Expression nesting at global level.
    pub max_expr_depth: usize,
    /// Expression nesting inside functions.
    pub max_function_expr_depth: usize,
    /// Characters in one string.
    pub max_string_size: usize,
    /// Items in one array.
    pub max_array_size: usize,
    /// Entries in one object map.
    pub max_map_size: usize,
    /// Modules one run may load.
    pub max_modules: usize,
    /// Variables in scope.
    pub max_variables: usize,
    /// Functions a script may define.
    pub max_functions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 5_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_function_expr_depth: 64,
            // Rhai counts nested sizes: the bootstrap bundle's CRDs alone are
            // hundreds of thousands of entries.
            max_string_size: 16 * 1024 * 1024,
            max_array_size: 2_000_000,
            max_map_size: 2_000_000,
            max_modules: 64,
            max_variables: 2_000,
            max_functions: 1_000,
        }
    }
}

/// How often (in operations) the progress callback checks the clocks (the
/// heap limit is checked at every operation).
const CHECK_EVERY: u64 = 512;

/// Builds a sandboxed engine whose imports resolve through `library`.
/// Primitives are registered separately (see [`super::primitives`]).
pub fn build(library: &Library, origins: &Origins, limits: Limits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine.set_optimization_level(OptimizationLevel::Simple);
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.set_max_modules(limits.max_modules);
    engine.set_max_variables(limits.max_variables);
    engine.set_max_functions(limits.max_functions);
    engine.set_strict_variables(true);
    engine.disable_symbol("eval");
    engine.on_print(|text| tracing::info!(phase = "script", "{text}"));
    engine.on_debug(|text, source, pos| {
        let at = match (source, pos.line()) {
            (Some(source), Some(line)) => format!("{source}:{line}: "),
            _ => String::new(),
        };
        tracing::debug!(phase = "script", "{at}{text}");
    });
    engine.on_progress(|operations| control::progress(operations, CHECK_EVERY).map(Into::into));
    engine.set_module_resolver(Resolver::new(library.clone(), origins.clone()));
    // Small conveniences missing from Rhai's standard package.
    engine.register_fn("join", |items: rhai::Array, separator: &str| -> String {
        items
            .iter()
            .map(super::convert::text)
            .collect::<Vec<_>>()
            .join(separator)
    });
    // `sync` is reserved by Rhai for future use and `debug` is a keyword
    // function, but `argocd::sync(name)` and `log::debug(message)` are part
    // of the executor's scripting contract: read both as plain names (a
    // call `debug(x)` is still Rhai's, which is a call by that name).
    #[allow(deprecated)] // Rhai marks the token mapper as volatile, not deprecated
    engine.on_parse_token(|token, _, _| match token {
        rhai::Token::Reserved(name) if matches!(name.as_str(), "sync" | "debug") => rhai::Token::Identifier(name),
        other => other,
    });
    engine
}

/// A built engine shared by the threads of a run.
pub type SharedEngine = Arc<Engine>;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn debug_is_both_rhais_keyword_function_and_a_log_level() {
        let mut engine = build(&Library::new(Path::new(".")), &Origins::default(), Limits::default());
        super::super::primitives::register_modules(&mut engine);
        engine
            .run("debug(\"keyword\"); log::debug(\"primitive\"); log::debug(\"fields\", #{component: \"x\"});")
            .unwrap();
        assert!(engine.compile("log::info(\"ok\"); let x = debug(1);").is_ok());
    }
}
