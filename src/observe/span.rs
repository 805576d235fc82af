//! The run's spans: the action, its phases, each node and its steps.
//!
//! A span here is an OpenTelemetry [`Context`] holding it: it ends with
//! [`end`] (or when its last context is dropped), its children start from
//! it, and a future runs "inside" it with [`opentelemetry::context::FutureExt::with_context`]. With
//! traces off ([`super::otel::enabled`]) nothing is made and every call
//! costs next to nothing.
//!
//! The ids are the executor's own: the action span has the run's
//! `span_id` (a child of `TRACE_ID`/`SPAN_ID` when given), a node span the
//! `span_id` of the node's log lines, so a log line leads to its span.
//! Attribute names are the `executor.*` ones of docs/observability.md.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Display;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, Status, TraceContextExt as _, TraceFlags, TraceState, Tracer as _};
use opentelemetry::{Context, ContextGuard, KeyValue, SpanId, TraceId};

use super::otel;
use super::trace::TraceContext;

/// The instrumentation scope of every span.
const SCOPE: &str = "executor";

fn span_id(hex: &str) -> Option<SpanId> {
    SpanId::from_hex(hex).ok().filter(|id| *id != SpanId::INVALID)
}

/// Starts the action span of the run: trace id `TRACE_ID` (or the run's
/// own), parent `SPAN_ID` when given, span id the run's.
pub fn action(trace: &TraceContext, action: &str, environment: Option<&str>) -> Context {
    if !otel::enabled() {
        return Context::new();
    }
    let trace_id = TraceId::from_hex(&trace.trace_id).ok();
    let parent = match (trace_id, trace.parent_span_id.as_deref().and_then(span_id)) {
        (Some(trace_id), Some(parent)) => Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            parent,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )),
        _ => Context::new(),
    };
    let mut attributes = vec![KeyValue::new("executor.action", action.to_owned())];
    if let Some(environment) = environment {
        attributes.push(KeyValue::new("executor.environment", environment.to_owned()));
    }
    otel::with_ids(trace_id, span_id(&trace.span_id), || {
        make(Cow::Owned(action.to_owned()), &parent, attributes)
    })
}

fn make(name: Cow<'static, str>, parent: &Context, attributes: Vec<KeyValue>) -> Context {
    let tracer = opentelemetry::global::tracer(SCOPE);
    let span = tracer
        .span_builder(name)
        .with_attributes(attributes)
        .start_with_context(&tracer, parent);
    parent.with_span(span)
}

/// Starts span `name`, a child of `parent`.
pub fn start(name: impl Into<Cow<'static, str>>, parent: &Context, attributes: Vec<KeyValue>) -> Context {
    if !otel::enabled() {
        return parent.clone();
    }
    make(name.into(), parent, attributes)
}

/// Starts span `name`, a child of `parent` with span id `id` (hex; the
/// node's, as on its log lines).
pub fn start_with_id(
    name: impl Into<Cow<'static, str>>,
    parent: &Context,
    id: &str,
    attributes: Vec<KeyValue>,
) -> Context {
    if !otel::enabled() {
        return parent.clone();
    }
    otel::with_ids(None, span_id(id), || make(name.into(), parent, attributes))
}

/// Ends the span of `cx`: status error with `failure` (scrubbed of
/// secrets) when given, `attributes` added first.
pub fn end(cx: &Context, failure: Option<&str>, attributes: Vec<KeyValue>) {
    if !otel::enabled() {
        return;
    }
    let span = cx.span();
    span.set_attributes(attributes);
    if let Some(failure) = failure {
        span.set_status(Status::error(crate::redact::scrub(failure).into_owned()));
    }
    span.end();
}

/// Runs `future` in span `name`, a child of the current span; a failure
/// (`Err`) is the span's error status.
pub async fn child<T, E: Display>(
    name: impl Into<Cow<'static, str>>,
    attributes: Vec<KeyValue>,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    if !otel::enabled() {
        return future.await;
    }
    let cx = start(name, &Context::current(), attributes);
    let result = future.with_context(cx.clone()).await;
    let failure = result.as_ref().err().map(ToString::to_string);
    end(&cx, failure.as_deref(), Vec::new());
    result
}

/// Starts the span of graph node `node` under the current span, with the
/// span id of its log lines; `application_namespace` is where its Argo CD
/// Application lives.
pub fn node(node: &crate::dag::PlanNode, id: &str, application_namespace: &str) -> Context {
    start_with_id(
        node.name.clone(),
        &Context::current(),
        id,
        vec![
            KeyValue::new("executor.node", node.name.clone()),
            KeyValue::new("executor.stack", node.stack.clone()),
            KeyValue::new("executor.application", format!("{application_namespace}/{}", node.name)),
            KeyValue::new("executor.namespace", node.namespace.clone()),
        ],
    )
}

/// Ends a node's span with how it ended (`executor.outcome`: `Succeeded`,
/// `Failed`, `TimedOut`, `Skipped`; the reason and message as the error
/// status) and its attempts.
pub fn end_node(cx: &Context, how: &crate::dag::scheduler::NodeEnd, attempts: u32) {
    use crate::dag::scheduler::NodeEnd;
    let failure = match how {
        NodeEnd::Succeeded => None,
        NodeEnd::Failed { reason, message } => Some(format!("{reason}: {message}")),
        NodeEnd::TimedOut(message) | NodeEnd::Skipped(message) => Some(format!("{}: {message}", how.name())),
    };
    end(
        cx,
        failure.as_deref(),
        vec![
            KeyValue::new("executor.outcome", how.name()),
            KeyValue::new("executor.attempt", i64::from(attempts)),
        ],
    );
}

/// Adds `key` = `value` to the current span (e.g. the revision a node's
/// sync asked for, known midway).
pub fn annotate(key: &'static str, value: String) {
    if otel::enabled() {
        Context::map_current(|cx| cx.span().set_attribute(KeyValue::new(key, value)));
    }
}

thread_local! {
    /// The phase span open on this (script) thread, entered.
    static PHASE: RefCell<Option<(ContextGuard, Context)>> = const { RefCell::new(None) };
}

/// Starts phase `name` of the run on this thread (the action script's),
/// ending the one before: a child of the action span, the parent of what
/// the phase does.
pub fn phase(name: &str) {
    if !otel::enabled() {
        return;
    }
    end_phase();
    let cx = start(
        name.to_owned(),
        &Context::current(),
        vec![KeyValue::new("executor.phase", name.to_owned())],
    );
    let guard = cx.clone().attach();
    PHASE.with(|phase| *phase.borrow_mut() = Some((guard, cx)));
}

/// Ends the phase [`phase`] started on this thread, if any.
pub fn end_phase() {
    end_last_phase(None);
}

/// Ends the phase [`phase`] started on this thread, if any, with
/// `failure` (what stopped the action script) as its error status.
pub fn end_last_phase(failure: Option<&str>) {
    if let Some((guard, cx)) = PHASE.with(|phase| phase.borrow_mut().take()) {
        drop(guard);
        end(&cx, failure, Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_makes_no_span_and_keeps_the_parent() {
        let parent = Context::new();
        let cx = start("x", &parent, Vec::new());
        assert!(!cx.has_active_span());
        phase("preflight");
        end_phase();
    }
}
