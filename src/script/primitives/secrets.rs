//! `secrets::*` — credentials from `$SECRETS_DIR`, as values that print as
//! `<redacted>` everywhere but can be passed to primitives.

use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, Module};

use super::register;
use crate::script::convert::SecretValue;
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The `secrets` module.
pub fn module(host: &Arc<Host>) -> Module {
    let mut m = Module::new();
    let h = host.clone();
    register(
        &mut m,
        "read",
        &["name: &str", "SecretValue"],
        "The secret in file `name` of `$SECRETS_DIR`. It prints as `<redacted>`\n(in `print`, string interpolation, logs and reports) but keeps its value\nwhen placed in an object given to `k8s::apply`. Throws if there is no such file.\n\n```rhai\nlet password = secrets::read(\"git-password\");\nprint(`password: ${password}`);   // password: <redacted>\n```",
        move |name: &str| -> Result<Dynamic> {
            h.secrets
                .get(name)
                .map(|s| Dynamic::from(SecretValue(s.clone())))
                .ok_or_else(|| script_error(format!("no secret `{name}` in {}", h.secrets.dir().display())))
        },
    );
    let h = host.clone();
    register(
        &mut m,
        "has",
        &["name: &str", "bool"],
        "Whether `$SECRETS_DIR` has a file `name`.",
        move |name: &str| h.secrets.get(name).is_some(),
    );
    let h = host.clone();
    register(
        &mut m,
        "names",
        &["Array"],
        "The names of the secrets present (never their values).",
        move || -> Array { h.secrets.names().map(|n| Dynamic::from(n.to_owned())).collect() },
    );
    m
}
