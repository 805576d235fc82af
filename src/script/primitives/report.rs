//! `report::*` — what scripts add to the run's report.

use rhai::Map;
use rhai::plugin::*;

use super::Result;
use crate::report::{Component, ComponentKind, ListedObject};
use crate::script::convert::text;
use crate::script::host::{Host, script_error};

fn field(map: &Map, name: &str) -> String {
    map.get(name).map(text).filter(|t| t != "()").unwrap_or_default()
}

/// Reads a component map (`#{name, stack, kind, status, health, sync, message, ...}`).
///
/// # Errors
/// Missing name, an unknown kind or an unknown (or missing) status.
pub fn component_of(map: &Map) -> Result<Component> {
    let name = field(map, "name");
    if name.is_empty() {
        return Err(script_error("report::component needs a `name`"));
    }
    let kind = match field(map, "kind").as_str() {
        "" | "app" => ComponentKind::App,
        "stack" => ComponentKind::Stack,
        "bootstrap" => ComponentKind::Bootstrap,
        other => {
            return Err(script_error(format!(
                "component kind `{other}`: expected app, stack or bootstrap"
            )));
        }
    };
    Ok(Component {
        name,
        stack: field(map, "stack"),
        kind,
        status: field(map, "status")
            .parse()
            .map_err(|e: crate::report::status::ParseStatusError| script_error(e.to_string()))?,
        health: field(map, "health"),
        sync: field(map, "sync"),
        message: field(map, "message"),
        duration_seconds: map
            .get("durationSeconds")
            .and_then(|d| d.as_float().ok())
            .unwrap_or_default(),
        attempts: map
            .get("attempts")
            .and_then(|a| a.as_int().ok())
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(1),
        depends_on: Vec::new(),
        start_seconds: None,
        phases: Vec::new(),
    })
}

/// Reads an object reference map (`#{apiVersion, kind, namespace, name}`) or a full object.
fn object_ref(map: &Map, reason: &str) -> ListedObject {
    let metadata = map
        .get("metadata")
        .and_then(|m| m.read_lock::<Map>().map(|m| m.clone()));
    let from_meta = |name: &str| metadata.as_ref().map(|m| field(m, name)).unwrap_or_default();
    ListedObject {
        api_version: field(map, "apiVersion"),
        kind: field(map, "kind"),
        namespace: if map.contains_key("namespace") {
            field(map, "namespace")
        } else {
            from_meta("namespace")
        },
        name: if map.contains_key("name") {
            field(map, "name")
        } else {
            from_meta("name")
        },
        reason: reason.to_owned(),
    }
}

/// Which of the teardown lists an object goes in.
#[derive(Clone, Copy)]
enum List {
    Removed,
    Retained,
    Orphans,
}

/// Adds `object` to one of the teardown lists of the report, once.
fn list(host: &Host, which: List, object: &Map, reason: &str) -> Result<()> {
    let entry = object_ref(object, reason);
    host.with_report(|r| {
        let list = match which {
            List::Removed => &mut r.removed,
            List::Retained => &mut r.retained,
            List::Orphans => &mut r.orphans,
        };
        if !list.contains(&entry) {
            list.push(entry);
        }
    });
    Ok(())
}

/// The `report` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};

    use super::super::{Result, with_host};
    use super::{List, component_of, list};
    use crate::outcome::{Outcome, ParseOutcomeError};
    use crate::report::Failure;
    use crate::script::convert::{text, to_json};
    use crate::script::host::script_error;

    /// Adds or replaces a component entry:
    /// `#{name, stack, kind: "app"|"stack"|"bootstrap", status, health, sync, message}`.
    /// `status` is one of the report's statuses (`Deployed`, `Unchanged`,
    /// `Healthy`, ...: docs/observability.md); any other is an error.
    ///
    /// ```rhai
    /// report::component(#{name: "vault", stack: "security", kind: "app",
    ///                     status: "Healthy", health: "Healthy", sync: "Synced", message: ""});
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn component(ctx: NativeCallContext, component: Map) -> Result<()> {
        with_host(&ctx, |h| {
            let component = component_of(&component)?;
            h.with_report(|r| r.upsert(component));
            Ok(())
        })
    }

    /// Records a failure with diagnostics (e.g. conditions, unhealthy resources).
    ///
    /// ```rhai
    /// report::failure("preflight", "Forbidden", "the credentials lack 2 permission(s) deploy needs",
    ///                 ["patch namespaces (core)", "list applications (argoproj.io)"]);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn failure(
        ctx: NativeCallContext,
        component: &str,
        reason: &str,
        message: &str,
        diagnostics: Array,
    ) -> Result<()> {
        with_host(&ctx, |h| {
            let failure = Failure {
                component: component.to_owned(),
                reason: reason.into(),
                message: message.to_owned(),
                diagnostics: diagnostics.iter().map(text).collect(),
            };
            h.with_report(|r| r.failures.push(failure));
            Ok(())
        })
    }

    /// Adds a recommendation (once).
    ///
    /// ```rhai
    /// report::recommend("Include the dependents in TARGET_SCOPE (or remove them first), then run teardown again.");
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn recommend(ctx: NativeCallContext, text: &str) -> Result<()> {
        with_host(&ctx, |h| {
            h.with_report(|r| r.recommend(text.to_owned()));
            Ok(())
        })
    }

    /// Sets a value in the report's `metrics` section.
    ///
    /// ```rhai
    /// report::metric("platformApplications", argocd::apps("app.kubernetes.io/managed-by=executor").len());
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn metric(ctx: NativeCallContext, name: &str, value: Dynamic) -> Result<()> {
        with_host(&ctx, |h| {
            let value = to_json(&value).map_err(script_error)?;
            h.with_report(|r| r.metrics.insert(name.to_owned(), value));
            Ok(())
        })
    }

    /// Sets the report's `compliance` section (validate).
    ///
    /// ```rhai
    /// let policies = policy::run_all(policy::input(ctx));
    /// report::compliance(#{policies: policies});
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn compliance(ctx: NativeCallContext, compliance: Dynamic) -> Result<()> {
        with_host(&ctx, |h| {
            let value = to_json(&compliance).map_err(script_error)?;
            h.with_report(|r| r.compliance = Some(value));
            Ok(())
        })
    }

    /// Decides the run's outcome: `Succeeded` (exit 0), `Failed` (1), `Partial`
    /// (2), `Invalid` (3: refuse, e.g. a scope that would orphan dependents) or
    /// `TimedOut` (4). Without it the executor decides from the
    /// components: all done → Succeeded, some failed → Partial, none → Failed.
    ///
    /// ```rhai
    /// if !teardown::dependents_outside().is_empty() { report::outcome("Invalid"); return; }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn outcome(ctx: NativeCallContext, status: &str) -> Result<()> {
        with_host(&ctx, |h| {
            let outcome: Outcome = status
                .parse()
                .map_err(|e: ParseOutcomeError| script_error(e.to_string()))?;
            h.with_report(|r| r.outcome = Some(outcome));
            Ok(())
        })
    }

    /// Lists an object (`#{apiVersion, kind, namespace, name}` or the object itself) as removed.
    ///
    /// ```rhai
    /// if k8s::delete("v1", "ConfigMap", "argocd", "argocd-cm") {
    ///     report::removed(#{apiVersion: "v1", kind: "ConfigMap", namespace: "argocd", name: "argocd-cm"}, "replaced");
    /// }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn removed(ctx: NativeCallContext, object: Map, reason: &str) -> Result<()> {
        with_host(&ctx, |h| list(h, List::Removed, &object, reason))
    }

    /// Lists an object as kept on purpose, with the reason.
    ///
    /// ```rhai
    /// let pvc = k8s::get("v1", "PersistentVolumeClaim", "vault", "data-vault-0");
    /// if pvc != () { report::retained(pvc, "PV_POLICY=retain"); }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn retained(ctx: NativeCallContext, object: Map, reason: &str) -> Result<()> {
        with_host(&ctx, |h| list(h, List::Retained, &object, reason))
    }

    /// Lists an object that should be gone but is not, with the reason.
    ///
    /// ```rhai
    /// let app = argocd::app("vault");
    /// if app != () { report::orphan(app, "the cascade finalizer did not complete"); }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn orphan(ctx: NativeCallContext, object: Map, reason: &str) -> Result<()> {
        with_host(&ctx, |h| list(h, List::Orphans, &object, reason))
    }
}
