//! `report::*` — what scripts add to the run's report.

use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, Map, Module};

use super::register;
use crate::report::{Component, ComponentKind, Failure, ObjectRef};
use crate::script::convert::{text, to_json};
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

fn field(map: &Map, name: &str) -> String {
    map.get(name).map(text).filter(|t| t != "()").unwrap_or_default()
}

/// Reads a component map (`#{name, stack, kind, status, health, sync, message, ...}`).
///
/// # Errors
/// Missing name or an unknown kind.
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
        status: field(map, "status"),
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
fn object_ref(map: &Map, reason: &str) -> ObjectRef {
    let metadata = map
        .get("metadata")
        .and_then(|m| m.read_lock::<Map>().map(|m| m.clone()));
    let from_meta = |name: &str| metadata.as_ref().map(|m| field(m, name)).unwrap_or_default();
    ObjectRef {
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

/// The `report` module.
pub fn module(host: &Arc<Host>) -> Module {
    let mut m = Module::new();

    let h = host.clone();
    register(
        &mut m,
        "component",
        &["component: Map", "()"],
        "Adds or replaces a component entry:\n`#{name, stack, kind: \"app\"|\"stack\"|\"bootstrap\", status, health, sync, message}`.",
        move |component: Map| -> Result<()> {
            let component = component_of(&component)?;
            h.with_report(|r| r.upsert(component));
            Ok(())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "failure",
        &[
            "component: &str",
            "reason: &str",
            "message: &str",
            "diagnostics: Array",
            "()",
        ],
        "Records a failure with diagnostics (e.g. conditions, unhealthy resources).",
        move |component: &str, reason: &str, message: &str, diagnostics: Array| {
            let failure = Failure {
                component: component.to_owned(),
                reason: reason.to_owned(),
                message: message.to_owned(),
                diagnostics: diagnostics.iter().map(text).collect(),
            };
            h.with_report(|r| r.failures.push(failure));
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "recommend",
        &["text: &str", "()"],
        "Adds a recommendation (once).",
        move |text: &str| {
            h.with_report(|r| r.recommend(text.to_owned()));
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "metric",
        &["name: &str", "value: Dynamic", "()"],
        "Sets a value in the report's `metrics` section.",
        move |name: &str, value: Dynamic| -> Result<()> {
            let value = to_json(&value).map_err(script_error)?;
            h.with_report(|r| r.metrics.insert(name.to_owned(), value));
            Ok(())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "compliance",
        &["compliance: Dynamic", "()"],
        "Sets the report's `compliance` section (validate).",
        move |value: Dynamic| -> Result<()> {
            let value = to_json(&value).map_err(script_error)?;
            h.with_report(|r| r.compliance = Some(value));
            Ok(())
        },
    );

    let h = host.clone();
    register(
        &mut m,
        "outcome",
        &["status: &str", "()"],
        "Decides the run's outcome: `Succeeded` (exit 0), `Failed` (1), `Partial`\n(2), `Invalid` (3: refuse, e.g. a scope that would orphan dependents) or\n`TimedOut` (4). Without it the executor decides from the\ncomponents: all done → Succeeded, some failed → Partial, none → Failed.",
        move |status: &str| -> Result<()> {
            use crate::outcome::Outcome;
            let outcome = match status {
                "Succeeded" => Outcome::Succeeded,
                "Failed" => Outcome::Failed,
                "Partial" => Outcome::Partial,
                "TimedOut" => Outcome::TimedOut,
                "Invalid" => Outcome::Invalid,
                other => {
                    return Err(script_error(format!(
                        "outcome `{other}`: expected Succeeded, Failed, Partial, Invalid or TimedOut"
                    )));
                }
            };
            h.with_report(|r| r.outcome = Some(outcome));
            Ok(())
        },
    );

    for (name, doc) in [
        (
            "removed",
            "Lists an object (`#{apiVersion, kind, namespace, name}` or the object itself) as removed.",
        ),
        ("retained", "Lists an object as kept on purpose, with the reason."),
        (
            "orphan",
            "Lists an object that should be gone but is not, with the reason.",
        ),
    ] {
        let h = host.clone();
        register(
            &mut m,
            name,
            &["object: Map", "reason: &str", "()"],
            doc,
            move |object: Map, reason: &str| {
                let entry = object_ref(&object, reason);
                h.with_report(|r| {
                    let list = match name {
                        "removed" => &mut r.removed,
                        "retained" => &mut r.retained,
                        _ => &mut r.orphans,
                    };
                    if !list.contains(&entry) {
                        list.push(entry);
                    }
                });
            },
        );
    }
    m
}
