//! Running an action script: top to bottom, with `ctx` in scope, within the
//! run's deadline and cancellation.

use std::sync::Arc;

use rhai::{Dynamic, Engine};

use super::compile::{Script, script_scope};
use super::control;
use super::error::{ScriptError, from_rhai};
use super::host::Host;

/// Runs `script` on the current (blocking) thread.
///
/// # Errors
/// The script's uncaught error, located.
pub fn run_action(host: &Arc<Host>, engine: &Engine, script: &Script, ctx: Dynamic) -> Result<(), ScriptError> {
    let mut scope = script_scope(ctx);
    let bounds = host.bounds.clone();
    control::within(control::Scope { bounds, node: None }, || {
        engine
            .run_ast_with_scope(&mut scope, &script.ast)
            .map_err(|error| from_rhai(&error, &script.source.display, &host.origins))
    })
}
