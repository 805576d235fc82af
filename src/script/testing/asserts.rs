//! What script tests may call besides the primitives: `test::*` to arrange
//! the fake cluster, and the assertions `assert`, `assert_eq`,
//! `expect_applied`, `expect_deleted`, `expect_no_writes`.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext};
use serde_json::Value;

use super::fake::{AppPreset, FakeCluster};
use crate::script::convert::{text, to_dynamic, to_json};
use crate::script::host::{Host, script_error};
use crate::script::plan_view::PlanView;
use crate::script::primitives::{register, with_host};
use crate::script::source::Library;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Renders a value for an assertion message.
fn shown(value: &Dynamic) -> String {
    match to_json(value) {
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_else(|_| value.to_string()),
        Err(_) => value.to_string(),
    }
}

/// Paths where two JSON values differ (for readable `assert_eq` failures).
fn differences(left: &Value, right: &Value, path: &str, out: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            let mut keys: Vec<&String> = l.keys().chain(r.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (l.get(key), r.get(key)) {
                    (Some(a), Some(b)) => differences(a, b, &child, out),
                    (Some(a), None) => out.push(format!("{child}: {a} ≠ (missing)")),
                    (None, Some(b)) => out.push(format!("{child}: (missing) ≠ {b}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(l), Value::Array(r)) if l.len() == r.len() => {
            for (index, (a, b)) in l.iter().zip(r).enumerate() {
                differences(a, b, &format!("{path}[{index}]"), out);
            }
        }
        (a, b) if a != b => out.push(format!("{}: {a} ≠ {b}", if path.is_empty() { "value" } else { path })),
        _ => {}
    }
}

fn equal(left: &Dynamic, right: &Dynamic) -> (bool, Vec<String>) {
    match (to_json(left), to_json(right)) {
        (Ok(l), Ok(r)) => {
            let mut out = Vec::new();
            differences(&l, &r, "", &mut out);
            (l == r, out)
        }
        _ => (left.to_string() == right.to_string(), Vec::new()),
    }
}

fn assert_eq_message(left: &Dynamic, right: &Dynamic, context: &str) -> Option<String> {
    let (same, diffs) = equal(left, right);
    if same {
        return None;
    }
    let mut message = format!(
        "assert_eq failed{context}\n  left:  {}\n  right: {}",
        shown(left),
        shown(right)
    );
    if !diffs.is_empty() && diffs.len() < 20 {
        message.push_str("\n  differences:");
        for d in diffs {
            message.push_str(&format!("\n    {d}"));
        }
    }
    Some(message)
}

fn has_write(fake: &FakeCluster, verbs: &[&str], kind: &str, name: &str) -> bool {
    fake.writes()
        .iter()
        .any(|w| verbs.contains(&w.verb) && w.key.kind.kind == kind && w.key.name == name)
}

fn write_list(fake: &FakeCluster) -> String {
    let writes: Vec<String> = fake.writes().iter().map(|w| format!("{} {}", w.verb, w.key)).collect();
    if writes.is_empty() {
        "none".to_owned()
    } else {
        writes.join("; ")
    }
}

/// Registers the assertions on `engine` (global functions).
pub fn register_asserts(engine: &mut Engine, fake: &Arc<FakeCluster>) {
    engine.register_fn("assert", |ok: bool| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(script_error("assertion failed"))
        }
    });
    engine.register_fn("assert", |ok: bool, message: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(script_error(format!("assertion failed: {message}")))
        }
    });
    engine.register_fn("assert_eq", |left: Dynamic, right: Dynamic| -> Result<()> {
        assert_eq_message(&left, &right, "").map_or(Ok(()), |m| Err(script_error(m)))
    });
    engine.register_fn(
        "assert_eq",
        |left: Dynamic, right: Dynamic, message: &str| -> Result<()> {
            assert_eq_message(&left, &right, &format!(": {message}")).map_or(Ok(()), |m| Err(script_error(m)))
        },
    );
    let f = fake.clone();
    engine.register_fn("expect_applied", move |kind: &str, name: &str| -> Result<()> {
        if has_write(&f, &["apply", "patch"], kind, name) {
            Ok(())
        } else {
            Err(script_error(format!(
                "expected {kind} {name} to be written; writes: {}",
                write_list(&f)
            )))
        }
    });
    let f = fake.clone();
    engine.register_fn("expect_deleted", move |kind: &str, name: &str| -> Result<()> {
        if has_write(&f, &["delete"], kind, name) {
            Ok(())
        } else {
            Err(script_error(format!(
                "expected {kind} {name} to be deleted; writes: {}",
                write_list(&f)
            )))
        }
    });
    let f = fake.clone();
    engine.register_fn("expect_no_writes", move || -> Result<()> {
        let writes = f.writes();
        if writes.is_empty() {
            Ok(())
        } else {
            Err(script_error(format!("expected no writes; writes: {}", write_list(&f))))
        }
    });
}

/// The report parts a test run collected, as a map.
fn report_map(host: &Host, action: crate::dag::Action) -> Dynamic {
    let value = host.with_report(|r| {
        serde_json::json!({
            "components": r.components,
            "failures": r.failures,
            "recommendations": r.recommendations,
            "compliance": r.compliance,
            "removed": r.removed,
            "retained": r.retained,
            "orphans": r.orphans,
            // As a run decides it (a script's decision, else derived).
            "outcome": crate::orchestrate::outcome::decide(action, r, false).as_str(),
            "metrics": r.metrics,
        })
    });
    to_dynamic(&value)
}

/// The `test` module: run an action, arrange the fake cluster and read
/// the context. Its functions reach the test's host as primitives do,
/// through the engine's tag (`primitives::with_host`).
pub fn module(fake: &Arc<FakeCluster>, ctx: &Dynamic, library: &Library) -> Module {
    let mut m = Module::new();
    run_fns(&mut m, ctx, library);
    context_fns(&mut m, ctx);
    arrange_fns(&mut m, fake);
    m
}

/// `test::report`, `test::run_action`, `test::bundle`.
fn run_fns(m: &mut Module, ctx: &Dynamic, library: &Library) {
    register(
        m,
        "report",
        &["Map"],
        "What the test's scripts reported so far: `#{components, failures,\nrecommendations, compliance, removed, retained, orphans, outcome, metrics}`.",
        |context: NativeCallContext| with_host(&context, |h| Ok(report_map(h, h.plan.action))),
    );
    let lib = library.clone();
    let c = ctx.clone();
    register(
        m,
        "run_action",
        &["name: &str", "Map"],
        "Runs the action script `name` (`deploy`, `validate`, `teardown`; a\nmounted override wins) top to bottom with the test's `ctx`, and returns\nthe report parts as `test::report()` does. Errors the script throws\npropagate.",
        move |context: NativeCallContext, name: &str| -> Result<Dynamic> {
            with_host(&context, |h| run_action(h, context.engine(), &lib, &c, name))
        },
    );
    register(
        m,
        "bundle",
        &["phases: Map", "()"],
        "Gives `bundle::phases()` a small bundle for the test: `#{<phase>: [objects]}`\nwith phase names `namespaces`, `crds`, `configuration`, `workloads`,\n`custom-resources`.",
        |context: NativeCallContext, phases: Map| -> Result<()> {
            with_host(&context, |h| {
                h.bundle
                    .set(Arc::new(test_bundle(h, &phases)?))
                    .map_err(|_| script_error("test::bundle may be called once per test"))
            })
        },
    );
}

/// Runs the action script `name` with the test's `ctx` (its action and
/// plan set to `name`'s); the report parts it left.
fn run_action(h: &Host, engine: &Engine, lib: &Library, ctx: &Dynamic, name: &str) -> Result<Dynamic> {
    let action: crate::dag::Action = name.parse().map_err(script_error)?;
    let source = lib.tree(&format!("{name}.rhai")).map_err(script_error)?;
    let script =
        crate::script::compile::compile(engine, source, &h.origins).map_err(|e| script_error(e.to_string()))?;
    let mut ctx = ctx.read_lock::<Map>().map(|m| m.clone()).unwrap_or_default();
    ctx.insert("action".into(), Dynamic::from(name.to_owned()));
    if let Some(mut plan) = ctx.get("plan").and_then(|p| p.clone().try_cast::<PlanView>()) {
        plan.set_action(action);
        ctx.insert("plan".into(), Dynamic::from(plan));
    }
    let mut scope = crate::script::compile::script_scope(Dynamic::from_map(ctx));
    engine.run_ast_with_scope(&mut scope, &script.ast)?;
    Ok(report_map(h, action))
}

/// The bundle `test::bundle` describes: its phases' objects, by name.
fn test_bundle(h: &Host, phases: &Map) -> Result<crate::bootstrap::Bundle> {
    let mut built = Vec::new();
    for name in crate::bootstrap::PHASES {
        let objects = match phases.get(name) {
            Some(list) => list
                .read_lock::<Array>()
                .map(|a| a.iter().map(to_json).collect::<std::result::Result<Vec<_>, _>>())
                .transpose()
                .map_err(script_error)?
                .unwrap_or_default(),
            None => Vec::new(),
        };
        built.push(crate::bootstrap::Phase { name, objects });
    }
    let namespace = &h.settings.argocd_namespace;
    Ok(crate::bootstrap::Bundle {
        parent: serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": crate::bootstrap::inventory::PARENT_NAME, "namespace": namespace},
        }),
        phases: built,
        versions: std::collections::BTreeMap::new(),
        applyset_id: crate::bootstrap::inventory::bundle_applyset_id(namespace),
    })
}

/// `test::ctx`, `test::node`.
fn context_fns(m: &mut Module, ctx: &Dynamic) {
    let c = ctx.clone();
    register(
        m,
        "ctx",
        &["Map"],
        "The `ctx` a deploy of the bundled (or `$CONFIG_DIR`) graph would see.",
        move || c.clone(),
    );
    let c = ctx.clone();
    register(
        m,
        "node",
        &["name: &str", "Map"],
        "The plan node `name` of `test::ctx()`.",
        move |name: &str| -> Result<Dynamic> {
            let plan = c
                .read_lock::<Map>()
                .and_then(|m| m.get("plan").and_then(|p| p.clone().try_cast::<PlanView>()))
                .ok_or_else(|| script_error("test::ctx() has no plan"))?;
            plan.nodes()
                .into_iter()
                .find(|n| n.name == name)
                .map(crate::orchestrate::hooks::node_value)
                .ok_or_else(|| script_error(format!("no node `{name}` in the plan")))
        },
    );
}

/// `test::add`, `test::add_yaml`, `test::set_app`, `test::objects`,
/// `test::writes`: the fake cluster's contents.
fn arrange_fns(m: &mut Module, fake: &Arc<FakeCluster>) {
    let f = fake.clone();
    register(
        m,
        "add",
        &["object: Map", "()"],
        "Puts an object in the fake cluster (not counted as a write).",
        move |object: Map| -> Result<()> {
            let object = to_json(&Dynamic::from_map(object)).map_err(script_error)?;
            f.seed(object).map_err(|e| script_error(e.to_string()))
        },
    );
    let f = fake.clone();
    register(
        m,
        "add_yaml",
        &["text: &str", "()"],
        "Puts the objects of a (multi-document) YAML text in the fake cluster.",
        move |text: &str| -> Result<()> {
            for object in parse_documents(text).map_err(script_error)? {
                f.seed(object).map_err(|e| script_error(e.to_string()))?;
            }
            Ok(())
        },
    );
    let f = fake.clone();
    register(
        m,
        "set_app",
        &["name: &str", "state: Map", "()"],
        "Sets what the fake Argo CD reports for Application `name`:\n`#{health, message, sync, sync_fails}` (default Healthy, Synced).",
        move |name: &str, state: Map| {
            let field = |key: &str| state.get(key).map(text).filter(|t| t != "()");
            f.set_app(
                name,
                AppPreset {
                    health: field("health"),
                    message: field("message"),
                    sync: field("sync"),
                    sync_fails: field("sync_fails"),
                },
            );
        },
    );
    let f = fake.clone();
    register(
        m,
        "objects",
        &["kind: &str", "Array"],
        "Every object of `kind` in the fake cluster.",
        move |kind: &str| -> Array { f.objects_of(kind).iter().map(to_dynamic).collect() },
    );
    let f = fake.clone();
    register(
        m,
        "writes",
        &["Array"],
        "The writes so far, as `\"<verb> <apiVersion> <Kind> <namespace>/<name>\"`.",
        move || -> Array {
            f.writes()
                .iter()
                .map(|w| Dynamic::from(format!("{} {}", w.verb, w.key)))
                .collect()
        },
    );
}

/// Objects of a multi-document YAML text.
///
/// # Errors
/// A YAML error.
pub fn parse_documents(text: &str) -> std::result::Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}
