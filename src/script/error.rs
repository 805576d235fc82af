//! Script errors as operators read them: `path:line:column: message (bundled|override)`.
//!
//! Rhai nests errors (an error in a module function called from the action
//! script, ...). The innermost position is where the problem is; the chain of
//! calls is kept as context.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use rhai::{EvalAltResult, Position};

use super::control::{TERMINATED_CANCELLED, TERMINATED_COMPUTE, TERMINATED_DEADLINE, TERMINATED_MEMORY};
use super::source::Origin;
use crate::report::FailureReason;

/// Which scripts are bundled and which are overrides, by their display name.
#[derive(Debug, Default, Clone)]
pub struct Origins(Arc<RwLock<HashMap<String, Origin>>>);

impl Origins {
    /// Records a script's origin.
    pub fn record(&self, display: &str, origin: Origin) {
        if let Ok(mut map) = self.0.write() {
            map.insert(display.to_owned(), origin);
        }
    }

    /// A script's origin (mounted files default to override).
    pub fn of(&self, display: &str) -> Origin {
        self.0
            .read()
            .ok()
            .and_then(|m| m.get(display).copied())
            .unwrap_or(Origin::Override)
    }
}

/// How a script run ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptErrorKind {
    /// Does not compile.
    Syntax,
    /// Threw, or a primitive failed.
    Runtime,
    /// Hit a sandbox limit (operations, depth, sizes).
    Limit,
    /// Ran past its deadline.
    Timeout,
    /// The run was cancelled.
    Cancelled,
    /// The API server answered a primitive's request with an error status.
    Api {
        /// The HTTP status code (404, 409, 422, ...).
        status: u16,
    },
}

/// A script error with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// What kind of failure.
    pub kind: ScriptErrorKind,
    /// The script where it happened (display path).
    pub path: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The message.
    pub message: String,
    /// Bundled or override.
    pub origin: Origin,
    /// Calls that led there, outermost first (`in f() at path:line:col`).
    pub trace: Vec<String>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {} ({})", self.path, self.message, self.origin)?,
            None => write!(f, "{}: {} ({})", self.path, self.message, self.origin)?,
        }
        for call in &self.trace {
            write!(f, "; {call}")?;
        }
        Ok(())
    }
}

fn position(pos: Position) -> Option<(usize, usize)> {
    match (pos.line(), pos.position()) {
        (Some(line), Some(column)) => Some((line, column)),
        (Some(line), None) => Some((line, 1)),
        _ => None,
    }
}

/// The message of one error level, without Rhai's own position suffix.
fn own_message(error: &EvalAltResult) -> String {
    match error {
        EvalAltResult::ErrorRuntime(value, _) => {
            if value.is_string() {
                value.clone().into_string().unwrap_or_default()
            } else if let Some(map) = value.read_lock::<rhai::Map>() {
                // A structured failure thrown by a primitive: #{reason, message, diagnostics}.
                map.get("message")
                    .map_or_else(|| value.to_string(), super::convert::text)
            } else {
                value.to_string()
            }
        }
        EvalAltResult::ErrorParsing(kind, _) => kind.to_string(),
        EvalAltResult::ErrorTerminated(token, _) => {
            let token = token.clone().into_string().unwrap_or_default();
            match token.as_str() {
                TERMINATED_CANCELLED => "cancelled: the run is stopping".to_owned(),
                TERMINATED_COMPUTE => format!(
                    "stopped: the script computed for more than {}s (time waiting on the cluster not counted); a loop that never ends?",
                    super::control::COMPUTE_BUDGET.as_secs()
                ),
                TERMINATED_MEMORY => format!(
                    "stopped: the executor's heap passed {} MiB while the script ran; a script building ever-larger values?",
                    crate::memory::SCRIPT_HEAP_LIMIT >> 20
                ),
                _ => "stopped at its deadline".to_owned(),
            }
        }
        other => {
            let mut text = other.to_string();
            if let Some(index) = text.rfind(" (line ") {
                text.truncate(index);
            }
            text
        }
    }
}

fn kind_of(error: &EvalAltResult) -> ScriptErrorKind {
    match error {
        EvalAltResult::ErrorParsing(..) => ScriptErrorKind::Syntax,
        EvalAltResult::ErrorTerminated(token, _) => match token.clone().into_string().unwrap_or_default().as_str() {
            TERMINATED_DEADLINE => ScriptErrorKind::Timeout,
            TERMINATED_COMPUTE | TERMINATED_MEMORY => ScriptErrorKind::Limit,
            _ => ScriptErrorKind::Cancelled,
        },
        EvalAltResult::ErrorTooManyOperations(_)
        | EvalAltResult::ErrorTooManyModules(_)
        | EvalAltResult::ErrorTooManyVariables(_)
        | EvalAltResult::ErrorStackOverflow(_)
        | EvalAltResult::ErrorDataTooLarge(..) => ScriptErrorKind::Limit,
        EvalAltResult::ErrorRuntime(value, _) => {
            // A structured failure with reason `TimedOut` (a gate), or a
            // primitive's error, which says what it is in its Rhai tag.
            if let Some(map) = value.read_lock::<rhai::Map>()
                && map
                    .get("reason")
                    .is_some_and(|r| FailureReason::from(super::convert::text(r).as_str()) == FailureReason::TimedOut)
            {
                return ScriptErrorKind::Timeout;
            }
            match value.tag() {
                TAG_TIMEOUT => ScriptErrorKind::Timeout,
                TAG_CANCELLED => ScriptErrorKind::Cancelled,
                status => u16::try_from(status)
                    .ok()
                    .filter(|s| (400..600).contains(s))
                    .map_or(ScriptErrorKind::Runtime, |status| ScriptErrorKind::Api { status }),
            }
        }
        _ => ScriptErrorKind::Runtime,
    }
}

/// The Rhai tag (`Dynamic::tag`) of a primitive's error whose wait ran out
/// of time. Scripts see the message; Rust reads the kind from the tag, never
/// from the text. An API error's tag is its HTTP status.
const TAG_TIMEOUT: i32 = -1;
/// The Rhai tag of a primitive's error when the run was cancelled.
const TAG_CANCELLED: i32 = -2;

/// A primitive's error from the cluster: the message scripts see, its kind
/// in the value's tag (timeout, cancelled, or the API's HTTP status).
pub fn cluster_error(error: &crate::k8s::K8sError) -> Box<EvalAltResult> {
    use crate::k8s::K8sError;
    let mut value = rhai::Dynamic::from(error.to_string());
    value.set_tag(match error {
        K8sError::Timeout { .. } => TAG_TIMEOUT,
        K8sError::Cancelled(_) => TAG_CANCELLED,
        K8sError::Api { code, .. } => i32::from(*code),
        _ => 0,
    });
    Box::new(EvalAltResult::ErrorRuntime(value, Position::NONE))
}

/// Turns a Rhai error raised while running `script` into a [`ScriptError`].
pub fn from_rhai(error: &EvalAltResult, script: &str, origins: &Origins) -> ScriptError {
    let mut path = script.to_owned();
    let mut trace = Vec::new();
    let mut current = error;
    loop {
        match current {
            EvalAltResult::ErrorInFunctionCall(name, source, inner, pos) => {
                let at = position(*pos).map_or_else(String::new, |(l, c)| format!(":{l}:{c}"));
                trace.push(format!("in call to {name}() at {path}{at}"));
                if !source.is_empty() {
                    path.clone_from(source);
                }
                current = inner;
            }
            EvalAltResult::ErrorInModule(module, inner, pos) => {
                let at = position(*pos).map_or_else(String::new, |(l, c)| format!(":{l}:{c}"));
                trace.push(format!("in module `{module}` imported at {path}{at}"));
                path = origins_display(origins, module).unwrap_or_else(|| module.to_string());
                current = inner;
            }
            other => {
                trace.reverse();
                return ScriptError {
                    kind: kind_of(other),
                    origin: origins.of(&path),
                    position: position(other.position()),
                    message: crate::redact::scrub(&own_message(other)).into_owned(),
                    path,
                    trace,
                };
            }
        }
    }
}

/// The display name of a module imported as `module` (e.g. `stdlib/argocd`).
fn origins_display(origins: &Origins, module: &str) -> Option<String> {
    let name = if module.ends_with(".rhai") {
        module.to_owned()
    } else {
        format!("{module}.rhai")
    };
    let map = origins.0.read().ok()?;
    map.keys().find(|display| display.ends_with(&name)).cloned()
}

/// A text field of a map (`""` when absent or unit).
pub fn map_field(map: &rhai::Map, name: &str) -> String {
    map.get(name)
        .map(super::convert::text)
        .filter(|t| t != "()")
        .unwrap_or_default()
}

/// Reads a thrown value: a map `#{reason, message, diagnostics}` (its
/// reason `None` when it gives none), or `None` for anything else.
pub fn thrown(error: &EvalAltResult) -> Option<(Option<FailureReason>, String, Vec<String>)> {
    let mut current = error;
    loop {
        match current {
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _) | EvalAltResult::ErrorInModule(_, inner, _) => {
                current = inner
            }
            EvalAltResult::ErrorRuntime(value, _) => {
                let map = value.read_lock::<rhai::Map>()?;
                let diagnostics = map
                    .get("diagnostics")
                    .and_then(|d| {
                        d.read_lock::<rhai::Array>()
                            .map(|a| a.iter().map(super::convert::text).collect())
                    })
                    .unwrap_or_default();
                let reason = Some(map_field(&map, "reason"))
                    .filter(|r| !r.is_empty())
                    .map(|r| FailureReason::from(r.as_str()));
                return Some((reason, map_field(&map, "message"), diagnostics));
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure

    use std::time::Duration;

    use super::*;
    use crate::k8s::K8sError;

    /// Runs `script` with `fail()` raising `error` as a primitive does, and
    /// classifies what comes out.
    fn kind_after(script: &str, error: K8sError) -> (ScriptErrorKind, String) {
        let mut engine = rhai::Engine::new();
        engine.register_fn("fail", move || -> Result<(), Box<EvalAltResult>> {
            Err(cluster_error(&error))
        });
        let failure = engine.run(script).unwrap_err();
        let located = from_rhai(&failure, "t.rhai", &Origins::default());
        (located.kind, located.message)
    }

    #[test]
    fn a_primitive_error_keeps_its_kind_through_a_script_that_rethrows_it() {
        let timeout = || K8sError::Timeout {
            what: "x".into(),
            after: Duration::from_secs(3),
        };
        assert_eq!(kind_after("fail()", timeout()).0, ScriptErrorKind::Timeout);
        assert_eq!(
            kind_after("try { fail() } catch (e) { throw e }", timeout()).0,
            ScriptErrorKind::Timeout
        );
        assert_eq!(
            kind_after("fail()", K8sError::Cancelled("reading".into())).0,
            ScriptErrorKind::Cancelled
        );
        let conflict = K8sError::Api {
            verb: "patch",
            what: "v1 ConfigMap a/b".into(),
            code: 409,
            reason: "Conflict".into(),
            message: "the object has been modified".into(),
        };
        let (kind, message) = kind_after("fail()", conflict);
        assert_eq!(kind, ScriptErrorKind::Api { status: 409 });
        assert!(message.contains("the object has been modified"), "{message}");
    }

    #[test]
    fn a_message_that_merely_reads_like_a_timeout_is_a_script_error() {
        // The kind is never read back from text: a script's own words, or a
        // primitive's message rebuilt into a new string, are script errors.
        let timeout = K8sError::Timeout {
            what: "x".into(),
            after: Duration::from_secs(3),
        };
        assert_eq!(
            kind_after(r#"throw "timed out waiting for my patience""#, timeout.clone()).0,
            ScriptErrorKind::Runtime
        );
        assert_eq!(
            kind_after("try { fail() } catch (e) { throw `wrapped: ${e}` }", timeout).0,
            ScriptErrorKind::Runtime
        );
    }
}
