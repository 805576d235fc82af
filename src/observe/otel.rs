//! OpenTelemetry traces over OTLP/HTTP (protobuf), configured by the
//! standard variables; off when no endpoint is set.
//!
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL spans are posted to;
//!   else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended (the
//!   OTLP exporter specification's rule for the signal path).
//! - `OTEL_EXPORTER_OTLP_HEADERS`: `key=value,...` (values percent-decoded);
//!   a secret: every value is registered with the redactor and never logged.
//! - `OTEL_SERVICE_NAME` (default `executor`) and `OTEL_RESOURCE_ATTRIBUTES`
//!   (`key=value,...`): the resource of every span.
//!
//! Spans are sent in batches by the SDK's batch processor through the hyper
//! and rustls client the executor already has (no gRPC, no second HTTP
//! stack), and flushed at the end of the run within [`FLUSH_BOUND`]. A
//! collector that cannot be reached costs one warning, never the run or its
//! exit code. Span and trace ids are the executor's own (the ones on its
//! log lines and in the `traceparent` it writes): see [`super::span`].

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use opentelemetry::{KeyValue, SpanId, TraceId};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, SdkTracerProvider,
};

/// How long the end of the run waits for its spans to reach the collector.
pub const FLUSH_BOUND: Duration = Duration::from_secs(5);

/// `OTEL_SERVICE_NAME` when not set.
pub const DEFAULT_SERVICE_NAME: &str = "executor";

/// Spans kept waiting for export at most (a run of a thousand nodes makes
/// a few thousand spans; past this they are dropped, never blocking).
const MAX_QUEUE: usize = 65_536;

/// Where spans go and what describes them.
#[derive(Clone, PartialEq, Eq)]
pub struct OtelSettings {
    /// The URL spans are posted to.
    pub endpoint: String,
    /// The variable `endpoint` came from (for messages).
    pub endpoint_var: &'static str,
    /// `OTEL_EXPORTER_OTLP_HEADERS`, decoded (secret values).
    pub headers: Vec<(String, String)>,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded.
    pub resource: Vec<(String, String)>,
}

impl std::fmt::Debug for OtelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtelSettings")
            .field("endpoint", &self.endpoint)
            .field("headers", &names)
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .finish()
    }
}

/// The raw values of the variables, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtelInputs<'a> {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub traces_endpoint: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    pub headers: Option<&'a str>,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<&'a str>,
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource_attributes: Option<&'a str>,
}

fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Reads the variables: `Ok(None)` when no endpoint is set (traces off).
/// Header values are registered with the redactor as soon as they are read.
///
/// # Errors
/// Each variable with a bad value, and why (never the headers' values).
pub fn settings(inputs: &OtelInputs<'_>) -> Result<Option<OtelSettings>, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let headers = match given(inputs.headers).map(|text| pairs(text, true)) {
        Some(Ok(headers)) => headers,
        Some(Err(why)) => {
            problems.push(("OTEL_EXPORTER_OTLP_HEADERS", why));
            Vec::new()
        }
        None => Vec::new(),
    };
    for (name, value) in &headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push((
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("`{name}` is not an HTTP header name"),
            ));
        } else if http::HeaderValue::from_str(value).is_err() {
            problems.push((
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("the value of header `{name}` is not a valid HTTP header value"),
            ));
        }
    }
    let resource = match given(inputs.resource_attributes).map(|text| pairs(text, false)) {
        Some(Ok(attributes)) => attributes,
        Some(Err(why)) => {
            problems.push(("OTEL_RESOURCE_ATTRIBUTES", why));
            Vec::new()
        }
        None => Vec::new(),
    };
    let endpoint = match (given(inputs.traces_endpoint), given(inputs.endpoint)) {
        (Some(url), _) => check_url(url)
            .map(|()| Some((url.to_owned(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")))
            .map_err(|why| ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", why)),
        (None, Some(base)) => check_url(base)
            .map(|()| Some((traces_url(base), "OTEL_EXPORTER_OTLP_ENDPOINT")))
            .map_err(|why| ("OTEL_EXPORTER_OTLP_ENDPOINT", why)),
        (None, None) => Ok(None),
    };
    let endpoint = endpoint.unwrap_or_else(|problem| {
        problems.push(problem);
        None
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(endpoint.map(|(endpoint, endpoint_var)| OtelSettings {
        endpoint,
        endpoint_var,
        headers,
        service_name: given(inputs.service_name).unwrap_or(DEFAULT_SERVICE_NAME).to_owned(),
        resource,
    }))
}

impl OtelSettings {
    /// `OTEL_EXPORTER_OTLP_HEADERS` as text again (secret): what a
    /// workflow task reads from its `$SECRETS_DIR`.
    pub fn headers_text(&self) -> String {
        encode_pairs(&self.headers)
    }

    /// `OTEL_RESOURCE_ATTRIBUTES` as text again, for a workflow task.
    pub fn resource_text(&self) -> String {
        encode_pairs(&self.resource)
    }
}

/// `key=value,key=value`, percent-encoding what [`pairs`] decodes.
fn encode_pairs(pairs: &[(String, String)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'%' | b',' | b'=' => format!("%{b:02X}"),
                b if b.is_ascii_graphic() || b == b' ' => char::from(b).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The file of `$SECRETS_DIR` that may hold `OTEL_EXPORTER_OTLP_HEADERS`
/// (the variable wins): how a Kubernetes Job, and a workflow task, get
/// headers without putting a credential in the pod spec in clear.
pub const HEADERS_FILE: &str = "otel-exporter-otlp-headers";

/// The traces URL of a base endpoint: `<base>/v1/traces`.
pub fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

fn check_url(url: &str) -> Result<(), String> {
    let expected = "expected a URL such as http://otel-collector:4318";
    let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a URL; {expected}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(format!("`{url}` is not an http(s) URL; {expected}")),
    }
}

/// Parses `key=value,key=value` (the W3C Baggage shape the OpenTelemetry
/// environment variable specification uses), percent-decoding both parts.
/// `secret`: the values are registered with the redactor and never quoted.
fn pairs(text: &str, secret: bool) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (index, entry) in text.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let position = index + 1;
        let Some((key, value)) = entry.split_once('=') else {
            return Err(if secret {
                format!("entry {position} has no `=`; expected key=value,key=value")
            } else {
                format!("`{entry}` has no `=`; expected key=value,key=value")
            });
        };
        let key =
            percent_decode(key.trim()).ok_or_else(|| format!("entry {position}: bad percent-encoding in the key"))?;
        let value = percent_decode(value.trim()).ok_or_else(|| {
            if secret {
                format!("entry {position}: bad percent-encoding in the value")
            } else {
                format!("`{entry}`: bad percent-encoding in the value")
            }
        })?;
        if secret {
            crate::redact::register(&value);
            // The credential alone, as in `Bearer <token>`.
            if let Some((_, credential)) = value.rsplit_once(' ') {
                crate::redact::register(credential);
            }
            crate::redact::register(entry.split_once('=').map_or("", |(_, v)| v.trim()));
        }
        if key.is_empty() {
            return Err(format!(
                "entry {position} has an empty key; expected key=value,key=value"
            ));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The installed exporter, when traces are on.
static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

struct Pipeline {
    provider: SdkTracerProvider,
    endpoint: String,
    failure: Arc<Mutex<Option<String>>>,
}

/// Whether spans are being exported (decides whether spans are made at all).
pub fn enabled() -> bool {
    PIPELINE.get().is_some()
}

/// Installs the exporter: spans from now on are sent to `settings.endpoint`,
/// over `runtime`'s I/O. A second call keeps the first.
///
/// # Errors
/// When the exporter cannot be built (a message for a warning).
pub fn start(settings: &OtelSettings, runtime: tokio::runtime::Handle) -> Result<(), String> {
    if enabled() {
        return Ok(());
    }
    let failure = Arc::new(Mutex::new(None));
    let client = HyperClient::new(runtime, FLUSH_BOUND, failure.clone())?;
    let headers: HashMap<String, String> = settings.headers.iter().cloned().collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.endpoint.clone())
        .with_timeout(FLUSH_BOUND)
        .with_headers(headers)
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(BatchConfigBuilder::default().with_max_queue_size(MAX_QUEUE).build())
        .build();
    let mut attributes: Vec<KeyValue> = settings
        .resource
        .iter()
        .filter(|(k, _)| k != "service.name")
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    attributes.push(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    let resource = Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attributes)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_id_generator(ExecutorIds)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let _ = PIPELINE.set(Pipeline {
        provider,
        endpoint: settings.endpoint.clone(),
        failure,
    });
    Ok(())
}

/// Sends the spans not sent yet and stops the exporter, waiting at most
/// [`FLUSH_BOUND`]; a failure is a warning. Call it from outside the
/// runtime whose handle [`start`] was given (the runtime must still run).
pub fn flush() {
    let Some(pipeline) = PIPELINE.get() else {
        return;
    };
    let result = pipeline.provider.shutdown_with_timeout(FLUSH_BOUND);
    let failure = pipeline.failure.lock().ok().and_then(|mut f| f.take());
    match (result, failure) {
        (_, Some(why)) => tracing::warn!(
            phase = "traces",
            "could not send the run's spans to {}: {why}",
            pipeline.endpoint
        ),
        (Err(error), None) => tracing::warn!(
            phase = "traces",
            "could not send the run's spans to {} within {}s: {error}",
            pipeline.endpoint,
            FLUSH_BOUND.as_secs()
        ),
        (Ok(()), None) => tracing::debug!(phase = "traces", "spans sent to {}", pipeline.endpoint),
    }
}

thread_local! {
    /// The ids the next span made on this thread takes (see [`with_ids`]).
    static NEXT_IDS: Cell<(Option<TraceId>, Option<SpanId>)> = const { Cell::new((None, None)) };
}

/// Runs `make` (which starts one span) with the span's ids chosen: the
/// executor's own, so spans, log lines and `traceparent` agree. The SDK's
/// tracer asks its id generator for them while it builds the span.
pub(crate) fn with_ids<T>(trace_id: Option<TraceId>, span_id: Option<SpanId>, make: impl FnOnce() -> T) -> T {
    NEXT_IDS.with(|ids| ids.set((trace_id, span_id)));
    let made = make();
    NEXT_IDS.with(|ids| ids.set((None, None)));
    made
}

/// Random ids, unless [`with_ids`] chose them.
#[derive(Debug)]
struct ExecutorIds;

impl IdGenerator for ExecutorIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_IDS
            .with(|ids| {
                let (trace, span) = ids.get();
                ids.set((None, span));
                trace
            })
            .unwrap_or_else(|| RandomIdGenerator::default().new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        NEXT_IDS
            .with(|ids| {
                let (trace, span) = ids.get();
                ids.set((trace, None));
                span
            })
            .unwrap_or_else(|| RandomIdGenerator::default().new_span_id())
    }
}

/// The OTLP exporter's HTTP client: the executor's hyper client, each
/// request run on the run's runtime (the SDK exports from a thread of its
/// own), bounded in time, its first failure kept for the end-of-run warning.
struct HyperClient {
    client: super::delivery::HttpClient,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
    failure: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for HyperClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperClient").field("timeout", &self.timeout).finish()
    }
}

/// The largest answer read from a collector.
const MAX_RESPONSE: usize = 1 << 20;

impl HyperClient {
    fn new(
        runtime: tokio::runtime::Handle,
        timeout: Duration,
        failure: Arc<Mutex<Option<String>>>,
    ) -> Result<Self, String> {
        Ok(HyperClient {
            client: super::delivery::http_client()?,
            runtime,
            timeout,
            failure,
        })
    }

    fn remember(&self, why: &str) {
        if let Ok(mut failure) = self.failure.lock()
            && failure.is_none()
        {
            *failure = Some(crate::redact::scrub(why).into_owned());
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for HyperClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let request = request.map(Full::new);
        let sent = self.runtime.spawn(async move {
            let exchange = async {
                let response = client.request(request).await.map_err(|e| error_chain(&e))?;
                let (parts, body) = response.into_parts();
                let body = Limited::new(body, MAX_RESPONSE)
                    .collect()
                    .await
                    .map_err(|e| format!("reading the answer: {e}"))?
                    .to_bytes();
                Ok::<_, String>(http::Response::from_parts(parts, body))
            };
            tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
        });
        let outcome = sent
            .await
            .map_err(|e| format!("the request's task ended abnormally: {e}"))
            .and_then(|r| r);
        match outcome {
            Ok(response) if !response.status().is_success() => {
                self.remember(&format!(
                    "the collector answered {}: {}",
                    response.status(),
                    String::from_utf8_lossy(response.body()).trim()
                ));
                Ok(response)
            }
            Ok(response) => Ok(response),
            Err(why) => {
                self.remember(&why);
                Err(why.into())
            }
        }
    }
}

/// An error with its causes (hyper's own message alone says little).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(settings(&OtelInputs::default()), Ok(None));
        let only_name = OtelInputs {
            service_name: Some("x"),
            ..OtelInputs::default()
        };
        assert_eq!(settings(&only_name), Ok(None));
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_endpoint_wins() {
        let base = OtelInputs {
            endpoint: Some("http://collector:4318/"),
            ..OtelInputs::default()
        };
        let got = settings(&base).unwrap().unwrap();
        assert_eq!(got.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(got.service_name, "executor");
        let both = OtelInputs {
            endpoint: Some("http://collector:4318"),
            traces_endpoint: Some("https://tempo:4318/otlp/v1/traces"),
            ..OtelInputs::default()
        };
        assert_eq!(
            settings(&both).unwrap().unwrap().endpoint,
            "https://tempo:4318/otlp/v1/traces"
        );
    }

    #[test]
    fn headers_are_decoded_and_their_values_redacted() {
        let inputs = OtelInputs {
            endpoint: Some("http://collector:4318"),
            headers: Some("Authorization=Bearer%20otel-header-secret-1,x-tenant = acme"),
            resource_attributes: Some("deployment.environment=staging,team=platform"),
            ..OtelInputs::default()
        };
        let got = settings(&inputs).unwrap().unwrap();
        assert_eq!(
            got.headers,
            vec![
                ("Authorization".to_owned(), "Bearer otel-header-secret-1".to_owned()),
                ("x-tenant".to_owned(), "acme".to_owned())
            ]
        );
        assert_eq!(got.resource.len(), 2);
        assert_eq!(
            crate::redact::scrub("sent Bearer otel-header-secret-1"),
            "sent <redacted>"
        );
        assert!(!format!("{got:?}").contains("otel-header-secret-1"));
    }

    #[test]
    fn bad_values_name_their_variable_without_the_secret() {
        let inputs = OtelInputs {
            endpoint: Some("collector:4318"),
            headers: Some("Authorization: Bearer otel-header-secret-2"),
            resource_attributes: Some("team"),
            ..OtelInputs::default()
        };
        let problems = settings(&inputs).unwrap_err();
        let vars: Vec<&str> = problems.iter().map(|(v, _)| *v).collect();
        assert_eq!(
            vars,
            [
                "OTEL_EXPORTER_OTLP_HEADERS",
                "OTEL_RESOURCE_ATTRIBUTES",
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            ]
        );
        assert!(problems.iter().all(|(_, why)| !why.contains("otel-header-secret-2")));
        let bad_url = OtelInputs {
            traces_endpoint: Some("ftp://collector/v1/traces"),
            ..OtelInputs::default()
        };
        assert_eq!(
            settings(&bad_url).unwrap_err()[0].0,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        );
    }
}
