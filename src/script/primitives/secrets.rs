//! `secrets::*` — credentials from `$SECRETS_DIR`, as values that print as
//! `<redacted>` everywhere but can be passed to primitives.

use rhai::plugin::*;

/// The `secrets` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, NativeCallContext};

    use super::super::{Result, with_host};
    use crate::script::convert::SecretValue;
    use crate::script::host::script_error;

    /// The secret in file `name` of `$SECRETS_DIR`. It prints as `<redacted>`
    /// (in `print`, string interpolation, logs and reports) but keeps its value
    /// when placed in an object given to `k8s::apply`. Throws if there is no such file.
    ///
    /// ```rhai
    /// let password = secrets::read("git-password");
    /// print(`password: ${password}`);   // password: <redacted>
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn read(ctx: NativeCallContext, name: &str) -> Result<SecretValue> {
        with_host(&ctx, |h| {
            h.secrets
                .get(name)
                .map(|s| SecretValue(s.clone()))
                .ok_or_else(|| script_error(format!("no secret `{name}` in {}", h.secrets.dir().display())))
        })
    }

    /// Whether `$SECRETS_DIR` has a file `name`.
    ///
    /// ```rhai
    /// if secrets::has("git-password") {
    ///     k8s::apply(#{apiVersion: "v1", kind: "Secret", metadata: #{name: "repo-creds", namespace: ctx.config.argocdNamespace},
    ///                  stringData: #{password: secrets::read("git-password")}});
    /// }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn has(ctx: NativeCallContext, name: &str) -> Result<bool> {
        with_host(&ctx, |h| Ok(h.secrets.get(name).is_some()))
    }

    /// The names of the secrets present (never their values).
    ///
    /// ```rhai
    /// log::info(`secrets present: ${secrets::names()}`);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn names(ctx: NativeCallContext) -> Result<Array> {
        with_host(&ctx, |h| {
            Ok(h.secrets.names().map(|n| Dynamic::from(n.to_owned())).collect())
        })
    }
}
