//! The primitives: what scripts may do, one Rhai package per namespace.
//!
//! `k8s`, `argocd`, `health`, `dag`, `bundle`, `policy`, `report`,
//! `secrets`, `teardown`: each file's `#[export_module] pub mod api`, one
//! Rust function per primitive whose doc comment (with a script example)
//! `executor scripts docs` turns into `docs/scripting-api.md`; `log` is
//! registered from a loop over the levels. A primitive that needs the run
//! reaches its [`Host`] with `with_host`. None panics: failures are script
//! errors the script may catch, or that fail the node or action at the
//! script's line (docs/architecture.md, "The boundary between scripts and
//! the core").

pub mod api_token;
pub mod argocd;
pub mod bundle;
pub mod dag;
pub mod gate;
pub mod health;
pub mod k8s;
pub mod log;
pub mod policy;
pub mod report;
pub mod secrets;
pub mod teardown;

use std::sync::Arc;
use std::time::Duration;

use rhai::{
    Dynamic, Engine, EvalAltResult, FuncRegistration, Module, NativeCallContext, Position, RhaiFunc, RhaiNativeFunc,
    Shared, Variant,
};

use super::host::{Host, script_error};

/// Registers a documented, volatile function into `module`.
///
/// Rhai fills in the call's position for errors of functions it finds in
/// the global namespace, but not for namespace-qualified calls such as
/// `k8s::wait(...)` (rhai 1.27 `func/func_call.rs`,
/// `exec_qualified_fn_call_raw`); every primitive is called that way, so the
/// wrapper here gives a primitive's error the script position of its call.
pub(crate) fn register<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
    module: &mut Module,
    name: &str,
    params: &[&str],
    doc: &str,
    func: FUNC,
) where
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
{
    let comments: Vec<String> = doc.lines().map(|l| format!("/// {}", l.trim())).collect();
    FuncRegistration::new(name)
        .with_params_info(params)
        .with_comments([comments.join("\n")])
        .set_into_module_raw(
            module,
            FUNC::param_types(),
            at_call_position(func.into_rhai_function(false, true)),
        );
}

/// A native function as Rhai stores it (`rhai::func::native::FnAny`, which
/// rhai does not export).
type NativeFn = dyn Fn(Option<NativeCallContext>, &mut [&mut Dynamic]) -> Result<Dynamic> + Send + Sync;

/// `func`, its errors placed at the position of the script's call.
fn at_call_position(func: RhaiFunc) -> RhaiFunc {
    let wrap = |inner: Shared<NativeFn>| -> Shared<NativeFn> {
        Shared::new(move |context: Option<NativeCallContext>, args: &mut [&mut Dynamic]| {
            let position = context
                .as_ref()
                .map_or(Position::NONE, NativeCallContext::call_position);
            inner(context, args).map_err(|mut error| {
                if error.position().is_none() {
                    error.set_position(position);
                }
                error
            })
        })
    };
    match func {
        RhaiFunc::Pure {
            func,
            is_pure,
            is_volatile,
            ..
        } => RhaiFunc::Pure {
            func: wrap(func),
            has_context: true,
            is_pure,
            is_volatile,
        },
        RhaiFunc::Method {
            func,
            is_pure,
            is_volatile,
            ..
        } => RhaiFunc::Method {
            func: wrap(func),
            has_context: true,
            is_pure,
            is_volatile,
        },
        other => other,
    }
}

/// A primitive's result.
pub(crate) type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Runs a primitive's body with the run's [`Host`], which reaches it as the
/// engine's tag (set by [`Host::bind`]: one host per engine, so two
/// engines in one process never see each other's run), and places its error
/// at the script's call (see [`register`] for why Rhai does not).
pub(crate) fn with_host<T>(context: &NativeCallContext, body: impl FnOnce(&Arc<Host>) -> Result<T>) -> Result<T> {
    let host = context
        .tag()
        .and_then(|tag| tag.read_lock::<Arc<Host>>().map(|h| Arc::clone(&h)))
        .ok_or_else(|| script_error("internal error: a primitive was called outside a run"))?;
    body(&host).map_err(|mut error| {
        if error.position().is_none() {
            error.set_position(context.call_position());
        }
        error
    })
}

/// Registers the primitive modules and the `SecretValue` type. A primitive
/// reaches its run through the engine's default tag, set by
/// [`Host::bind`]; on an engine no host is bound to (what the reference is
/// generated from) a primitive that needs the run throws.
pub fn register_modules(engine: &mut Engine) {
    super::plan_view::register(engine);
    redacted::<super::convert::SecretValue>(engine);
    redacted::<super::convert::EncodedSecretValue>(engine);
    for (name, module) in modules() {
        engine.register_static_module(name, module.into());
    }
}

/// Registers a secret handle type, `SecretValue` to scripts, whose every
/// conversion to text is `<redacted>`.
fn redacted<T: Variant + Clone>(engine: &mut Engine) {
    engine.register_type_with_name::<T>("SecretValue");
    engine.register_fn("to_string", |_: &mut T| crate::redact::REDACTED.to_owned());
    engine.register_fn("to_debug", |_: &mut T| crate::redact::REDACTED.to_owned());
}

/// What the reference calls a plan argument: `ctx.plan`, or a map of its
/// shape (`#{action, nodes}`).
pub(crate) type Plan = Dynamic;

/// The primitive modules by namespace, for registration and documentation.
pub fn modules() -> Vec<(&'static str, Module)> {
    vec![
        ("k8s", rhai::exported_module!(k8s::api)),
        ("argocd", rhai::exported_module!(argocd::api)),
        ("health", rhai::exported_module!(health::api)),
        ("dag", rhai::exported_module!(dag::api)),
        ("log", log::module()),
        ("report", rhai::exported_module!(report::api)),
        ("secrets", rhai::exported_module!(secrets::api)),
        ("bundle", rhai::exported_module!(bundle::api)),
        ("policy", rhai::exported_module!(policy::api)),
        ("teardown", rhai::exported_module!(teardown::api)),
    ]
}

/// A duration argument: a string like `"5m"` or a number of seconds.
///
/// # Errors
/// Anything else, or a non-positive duration.
pub fn duration_arg(value: &Dynamic) -> Result<Duration> {
    if let Ok(seconds) = value.as_int() {
        return u64::try_from(seconds)
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| script_error(format!("timeout {seconds} must be a positive number of seconds")));
    }
    if let Ok(seconds) = value.as_float() {
        return (seconds > 0.0)
            .then(|| Duration::from_secs_f64(seconds))
            .ok_or_else(|| script_error(format!("timeout {seconds} must be positive")));
    }
    if value.is_string() {
        let text = value.clone().into_string().unwrap_or_default();
        return text
            .parse::<crate::input::duration::Span>()
            .map(|s| s.0)
            .map_err(|e| script_error(e.to_string()));
    }
    Err(script_error(format!(
        "expected a duration such as \"5m\" or a number of seconds, got {}",
        value.type_name()
    )))
}
