//! `log::*` — structured log lines from scripts.
//!
//! `component` and `phase` in the fields map become the line's own fields;
//! other fields follow them. Inside a graph node, lines carry the node as
//! their component unless the script says otherwise. `log::phase` marks
//! where the run's phases start, for its trace (`crate::observe::span`).

use rhai::{Map, Module};

use super::register;
use crate::script::convert::{text, to_json};

fn emit(level: tracing::Level, message: &str, fields: &Map) {
    let field = |name: &str| fields.get(name).map(text).unwrap_or_default();
    let component = field("component");
    let phase = field("phase");
    let extra: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "component" && k.as_str() != "phase")
        .map(|(k, v)| {
            (
                k.to_string(),
                to_json(v).unwrap_or_else(|_| serde_json::Value::String(text(v))),
            )
        })
        .collect();
    let extra = if extra.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(extra).to_string()
    };
    macro_rules! at {
        ($mac:ident) => {
            tracing::$mac!(
                phase = phase.as_str(),
                component = component.as_str(),
                script_fields = extra.as_str(),
                "{message}"
            )
        };
    }
    match level {
        tracing::Level::ERROR => at!(error),
        tracing::Level::WARN => at!(warn),
        tracing::Level::DEBUG => at!(debug),
        _ => at!(info),
    }
}

/// The `log` module.
pub fn module() -> Module {
    let mut m = Module::new();
    for (name, level) in [
        ("info", tracing::Level::INFO),
        ("warn", tracing::Level::WARN),
        ("error", tracing::Level::ERROR),
        ("debug", tracing::Level::DEBUG),
    ] {
        register(
            &mut m,
            name,
            &["message: &str", "()"],
            &format!(
                "Logs `message` at {name} level, with the current action, phase and component.\n\n```rhai\nlog::{name}(\"bootstrap: Argo CD is up to date\");\n```"
            ),
            move |message: &str| emit(level, message, &Map::new()),
        );
        register(
            &mut m,
            name,
            &["message: &str", "fields: Map", "()"],
            &format!(
                "Logs `message` at {name} level with extra fields; `component` and\n`phase` become the line's own fields.\n\n```rhai\nlog::{name}(\"vault unsealed\", #{{component: \"vault\", phase: \"post_sync\", shards: 3}});\n```"
            ),
            move |message: &str, fields: Map| emit(level, message, &fields),
        );
    }
    register(
        &mut m,
        "phase",
        &["name: &str", "()"],
        "Starts the run's phase `name` (`preflight`, `state`, `bootstrap`,\n`orchestration`, `verification`), ending the one before: a span of the\nrun's trace when traces are on (`OTEL_EXPORTER_OTLP_ENDPOINT`), the\nparent of what the phase does. Log lines are not changed.\n\n```rhai\nlog::phase(\"preflight\");\n```",
        |name: &str| crate::observe::span::phase(name),
    );
    m
}
