//! A script function (a Rhai closure such as `|node| platform::application(node, ctx)`)
//! that Rust calls later, from another thread.
//!
//! Rhai calls a function pointer within the state of the script that made
//! it (its imports and functions); this keeps that state. Calls are made
//! one at a time: the values the closure captured (`ctx`) are then shared
//! by every call instead of copied for each, which on a large plan is the
//! difference between linear and quadratic.

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, Module, NativeCallContext, Position, Shared};

use crate::k8s::wait::Bounds;
use crate::script::control;

/// A script function to call from Rust.
pub struct ScriptFn {
    engine: Arc<Engine>,
    function: FnPtr,
    imports: Vec<(ImmutableString, Shared<Module>)>,
    libs: Vec<Shared<Module>>,
    /// Held across a call, so one blocking thread at most runs this
    /// function (and nodes waiting their turn hold none).
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ScriptFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptFn")
            .field("function", &self.function)
            .finish_non_exhaustive()
    }
}

impl ScriptFn {
    /// Keeps `function` with the script state of the call it was passed in.
    pub fn capture(context: &NativeCallContext, engine: Arc<Engine>, function: FnPtr) -> ScriptFn {
        let global = context.global_runtime_state();
        ScriptFn {
            engine,
            function,
            imports: global.iter_imports_raw().map(|(n, m)| (n.clone(), m.clone())).collect(),
            libs: global.lib.to_vec(),
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// Calls the function with `args` on this (blocking) thread, within
    /// `bounds` (the progress callback stops it at the deadline).
    fn call(&self, bounds: Bounds, node: Option<String>, args: Vec<Dynamic>) -> Result<Dynamic, Box<EvalAltResult>> {
        control::within(control::Scope { bounds, node }, || {
            let mut global = self.engine.new_global_runtime_state();
            for lib in &self.libs {
                global.lib.push(lib.clone());
            }
            for (alias, module) in self.imports.iter().rev() {
                global.push_import(alias.clone(), module.clone());
            }
            let context = NativeCallContext::new_with_all_fields(&self.engine, "dag", None, &global, Position::NONE);
            self.function.call_raw(&context, None, args)
        })
    }

    /// Calls the function with `args` on a blocking thread, one call at a
    /// time, within `bounds` (the progress callback stops it at the deadline).
    ///
    /// # Errors
    /// Whatever the function throws, or its deadline; a worker that ended
    /// abnormally is a script error too.
    pub async fn call_async(
        self: &Arc<Self>,
        bounds: Bounds,
        node: Option<String>,
        args: Vec<Dynamic>,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let _turn = self.one_at_a_time.lock().await;
        let this = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            this.call(bounds, node, args)
        })
        .await
        .unwrap_or_else(|error| {
            Err(crate::script::host::script_error(format!(
                "the script's worker ended abnormally: {error}"
            )))
        })
    }
}
