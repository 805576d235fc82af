//! `policy::*` — running the compliance policies (bundled in
//! `stdlib/policies/`, or mounted in `$CONFIG_DIR/policies/`).
//!
//! A policy file defines `fn check(input)` and returns either an array of
//! results or `#{severity, description, results}`; each result is
//! `#{status: "pass"|"fail"|"warn", object, message}`. Severity `required`
//! (the default) makes a failure fail validation; `advisory` only reports.

use std::sync::Arc;

use rhai::{Array, CallFnOptions, Dynamic, EvalAltResult, Map, Module, Scope};

use super::register;
use crate::script::convert::text;
use crate::script::host::{Host, script_error};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

fn field(map: &Map, name: &str) -> String {
    map.get(name).map(text).filter(|t| t != "()").unwrap_or_default()
}

/// Normalises what a policy returned into `#{name, origin, severity,
/// description, status, results}`.
fn normalise(name: &str, origin: &str, value: Dynamic) -> Result<Map> {
    let (severity, description, results) = if let Some(map) = value.read_lock::<Map>() {
        let results = map
            .get("results")
            .and_then(|r| r.read_lock::<Array>().map(|a| a.clone()))
            .ok_or_else(|| script_error(format!("policy {name}: the result map has no `results` array")))?;
        let severity = Some(field(&map, "severity"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "required".to_owned());
        (severity, field(&map, "description"), results)
    } else if let Some(array) = value.read_lock::<Array>() {
        ("required".to_owned(), String::new(), array.clone())
    } else {
        return Err(script_error(format!(
            "policy {name}: expected an array of results or #{{severity, description, results}}, got {}",
            value.type_name()
        )));
    };
    if severity != "required" && severity != "advisory" {
        return Err(script_error(format!(
            "policy {name}: severity `{severity}`: expected required or advisory"
        )));
    }
    let mut worst = "pass";
    for result in &results {
        let map = result.read_lock::<Map>().ok_or_else(|| {
            script_error(format!(
                "policy {name}: each result must be a map #{{status, object, message}}"
            ))
        })?;
        match field(&map, "status").as_str() {
            "fail" => worst = "fail",
            "warn" if worst == "pass" => worst = "warn",
            "pass" | "warn" => {}
            other => {
                return Err(script_error(format!(
                    "policy {name}: status `{other}`: expected pass, fail or warn"
                )));
            }
        }
    }
    let mut out = Map::new();
    out.insert("name".into(), Dynamic::from(name.to_owned()));
    out.insert("origin".into(), Dynamic::from(origin.to_owned()));
    out.insert("severity".into(), Dynamic::from(severity));
    out.insert("description".into(), Dynamic::from(description));
    out.insert("status".into(), Dynamic::from(worst.to_owned()));
    out.insert("results".into(), Dynamic::from_array(results));
    Ok(out)
}

/// The `policy` module.
pub fn module(host: &Arc<Host>) -> Module {
    let mut m = Module::new();
    let h = host.clone();
    register(
        &mut m,
        "run_all",
        &["input: Map", "Array"],
        "Runs every compliance policy on `input` (what validate read: `ctx`, the\nApplications, the workloads, the bootstrap versions) and returns\n`[#{name, origin, severity, description, status, results}]`, sorted by\nname. A policy that throws is reported as failed with its error.",
        move |input: Map| -> Result<Array> {
            let Some(scripts) = h.scripts.get() else {
                return Ok(Array::new());
            };
            let engine = h.engine()?;
            let input = Dynamic::from_map(input);
            let mut out = Array::new();
            for (name, script) in &scripts.policies {
                let origin = script.source.origin.to_string();
                let called = engine.call_fn_with_options::<Dynamic>(
                    CallFnOptions::new(),
                    &mut Scope::new(),
                    &script.ast,
                    "check",
                    (input.clone(),),
                );
                let entry = match called
                    .map_err(|e| {
                        let located = crate::script::error::from_rhai(&e, &script.source.display, &h.origins);
                        script_error(located.to_string())
                    })
                    .and_then(|value| normalise(name, &origin, value))
                {
                    Ok(entry) => entry,
                    Err(error) => {
                        let message =
                            crate::script::error::from_rhai(&error, &script.source.display, &h.origins).message;
                        let mut result = Map::new();
                        result.insert("status".into(), Dynamic::from("fail".to_owned()));
                        result.insert("object".into(), Dynamic::from(script.source.display.clone()));
                        result.insert(
                            "message".into(),
                            Dynamic::from(format!("the policy itself failed: {message}")),
                        );
                        let mut entry = Map::new();
                        entry.insert("name".into(), Dynamic::from(name.clone()));
                        entry.insert("origin".into(), Dynamic::from(origin));
                        entry.insert("severity".into(), Dynamic::from("required".to_owned()));
                        entry.insert("description".into(), Dynamic::from(String::new()));
                        entry.insert("status".into(), Dynamic::from("fail".to_owned()));
                        entry.insert("results".into(), Dynamic::from_array(vec![Dynamic::from_map(result)]));
                        entry
                    }
                };
                out.push(Dynamic::from_map(entry));
            }
            Ok(out)
        },
    );
    m
}
