//! The primitives: what scripts may do, one Rhai module per namespace.
//!
//! `k8s`, `argocd`, `health`, `dag`, `log`, `report`, `secrets` (and
//! `bundle`). Every function is documented here in Rhai's metadata, from
//! which `executor scripts docs` generates `docs/scripting-api.md`. None
//! panics: failures are script errors the script may catch, or that fail the
//! node or action with the script's position.

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

use rhai::{Dynamic, Engine, EvalAltResult, FuncRegistration, Module, RhaiNativeFunc, Variant};

use super::host::{Host, script_error};

/// Registers a documented, volatile function into `module`.
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
        .with_volatility(true)
        .with_params_info(params)
        .with_comments([comments.join("\n")])
        .set_into_module(module, func);
}

/// Registers every primitive module and the `SecretValue` type.
pub fn register_all(engine: &mut Engine, host: &Arc<Host>) {
    super::plan_view::register(engine);
    redacted::<super::convert::SecretValue>(engine);
    redacted::<super::convert::EncodedSecretValue>(engine);
    for (name, module) in modules(host) {
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

/// The primitive modules by namespace, for registration and documentation.
pub fn modules(host: &Arc<Host>) -> Vec<(&'static str, Module)> {
    vec![
        ("k8s", k8s::module(host)),
        ("argocd", argocd::module(host)),
        ("health", health::module(host)),
        ("dag", dag::module(host)),
        ("log", log::module()),
        ("report", report::module(host)),
        ("secrets", secrets::module(host)),
        ("bundle", bundle::module(host)),
        ("policy", policy::module(host)),
        ("teardown", teardown::module(host, host.settings.pv_policy)),
    ]
}

/// A duration argument: a string like `"5m"` or a number of seconds.
///
/// # Errors
/// Anything else, or a non-positive duration.
pub fn duration_arg(value: &Dynamic) -> Result<Duration, Box<EvalAltResult>> {
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
            .parse::<crate::config::duration::Span>()
            .map(|s| s.0)
            .map_err(|e| script_error(e.to_string()));
    }
    Err(script_error(format!(
        "expected a duration such as \"5m\" or a number of seconds, got {}",
        value.type_name()
    )))
}
