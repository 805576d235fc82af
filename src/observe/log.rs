//! Structured logs on stderr, in the spec's JSON or text shape.
//!
//! JSON lines are flat and start with the spec's keys in its order:
//! `{"timestamp":"…","level":"info","action":"deploy","phase":"bootstrap","component":"argocd","message":"…", …}`
//! (`phase`/`component` only when known; other fields follow). Text lines
//! read `2026-01-07T10:30:00Z INFO [deploy/bootstrap/argocd] message key=value`.
//! `action`, `phase` and `component` come from the enclosing spans, so a node
//! running on its own thread logs with its own component. Every line is
//! scrubbed of secret values before it is written.

use std::fmt;
use std::io::Write as _;
use std::sync::Mutex;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::redact;

/// `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// One readable line per event.
    Text,
}

/// `LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLevel(pub Level);

/// `info`, the default level.
impl Default for LogLevel {
    fn default() -> Self {
        LogLevel(Level::INFO)
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            _ => Err(format!("`{text}` is not a log format; expected text or json")),
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel(Level::DEBUG)),
            "info" => Ok(LogLevel(Level::INFO)),
            "warn" | "warning" => Ok(LogLevel(Level::WARN)),
            "error" => Ok(LogLevel(Level::ERROR)),
            "trace" => Ok(LogLevel(Level::TRACE)),
            _ => Err(format!(
                "`{text}` is not a log level; expected debug, info, warn or error"
            )),
        }
    }
}

/// What every line of the run carries besides the event's own fields.
#[derive(Debug, Clone, Default)]
pub struct RunFields {
    /// The action (`deploy`, ...), unless a span says otherwise.
    pub action: Option<String>,
    /// `ENVIRONMENT`, when valid.
    pub environment: Option<String>,
    /// Trace id of the run.
    pub trace_id: Option<String>,
    /// The run's span id (a node span overrides it with its own).
    pub span_id: Option<String>,
    /// Whether text lines show trace ids (when the caller passed a trace);
    /// JSON lines always carry them.
    pub trace_in_text: bool,
}

/// Installs the global logger. Calling it twice keeps the first.
pub fn init(format: LogFormat, level: LogLevel, run: RunFields) {
    let filter = Targets::new()
        .with_target("executor", level.0)
        .with_default(LevelFilter::from_level(level.0).min(LevelFilter::WARN));
    let layer = LineLayer {
        format,
        run,
        out: Mutex::new(()),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// Whether stderr is a terminal (decides the default `LOG_FORMAT`).
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal()
}

struct LineLayer {
    format: LogFormat,
    run: RunFields,
    out: Mutex<()>,
}

/// Fields recorded on a span, kept in its extensions.
#[derive(Default)]
struct SpanFields(Map<String, Value>);

struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

impl<S> Layer<S> for LineLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = SpanFields::default();
            attrs.record(&mut Collect(&mut fields.0));
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut Collect(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut context = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        context.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let mut own = Map::new();
        event.record(&mut Collect(&mut own));
        for (k, v) in own {
            match (k.as_str(), &v) {
                // Fields passed through from scripts as one JSON object.
                ("script_fields", Value::String(text)) => {
                    if let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(text) {
                        context.extend(extra);
                    }
                }
                // An empty core field means "not given": keep the span's.
                (key, Value::String(text)) if CORE.contains(&key) && text.is_empty() => {}
                _ => {
                    context.insert(k, v);
                }
            }
        }
        let line = match self.format {
            LogFormat::Json => self.json_line(event.metadata().level(), context),
            LogFormat::Text => self.text_line(event.metadata().level(), context),
        };
        let line = redact::scrub(&line);
        let _guard = self.out.lock();
        if super::progress::active() {
            super::progress::println(&line);
        } else {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(line.as_bytes());
        }
    }
}

const CORE: [&str; 3] = ["action", "phase", "component"];

impl LineLayer {
    fn take(&self, fields: &mut Map<String, Value>, key: &str) -> Option<Value> {
        fields.remove(key).or_else(|| match key {
            "action" => self.run.action.clone().map(Value::String),
            "environment" => self.run.environment.clone().map(Value::String),
            "trace_id" => self.run.trace_id.clone().map(Value::String),
            "span_id" => self.run.span_id.clone().map(Value::String),
            _ => None,
        })
    }

    fn json_line(&self, level: &Level, mut fields: Map<String, Value>) -> String {
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(now()));
        line.insert("level".into(), Value::String(level.as_str().to_ascii_lowercase()));
        for key in CORE {
            if let Some(value) = self.take(&mut fields, key) {
                line.insert(key.into(), value);
            }
        }
        let message = fields.remove("message").unwrap_or(Value::String(String::new()));
        line.insert("message".into(), message);
        let tail: Vec<Option<(String, Value)>> = ["environment", "trace_id", "span_id"]
            .into_iter()
            .map(|k| self.take(&mut fields, k).map(|v| (k.to_owned(), v)))
            .collect();
        for (k, v) in fields {
            line.insert(k, v);
        }
        for (k, v) in tail.into_iter().flatten() {
            line.insert(k, v);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        text
    }

    fn text_line(&self, level: &Level, mut fields: Map<String, Value>) -> String {
        let context: Vec<String> = CORE
            .iter()
            .filter_map(|k| self.take(&mut fields, k))
            .map(|v| plain(&v))
            .collect();
        let message = fields.remove("message").map(|v| plain(&v)).unwrap_or_default();
        let mut line = format!("{} {} [{}] {message}", now(), level.as_str(), context.join("/"));
        let tail: Vec<(String, Value)> = if self.run.trace_in_text {
            ["trace_id", "span_id"]
                .into_iter()
                .filter_map(|k| self.take(&mut fields, k).map(|v| (k.to_owned(), v)))
                .collect()
        } else {
            fields.remove("trace_id");
            fields.remove("span_id");
            Vec::new()
        };
        fields.remove("environment");
        for (k, v) in fields.into_iter().chain(tail) {
            let value = plain(&v);
            if value.contains(' ') {
                line.push_str(&format!(" {k}={value:?}"));
            } else {
                line.push_str(&format!(" {k}={value}"));
            }
        }
        line.push('\n');
        line
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn now() -> String {
    crate::report::timestamp(jiff::Timestamp::now())
}
