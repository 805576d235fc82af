//! The table of the executor's variables: one entry per environment
//! variable (each also a flag), in the order of the reference.
//!
//! Each entry is a [`Variable`] with its name, flag, default, parser, `--help`
//! line and reference text; [`INPUTS`] lists them all. The names, flags,
//! defaults and messages are a contract (other tools and the tests rely on
//! them): change them only on purpose. docs/configuration.md's table is
//! [`super::variable::reference()`] of this one (a test fails when it is
//! stale).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use super::settings::{Orchestration, PvPolicy, Tier};
use super::variable::{Input, Variable, from_str, text};
use crate::dag::Scope;
use crate::input::duration::Span;
use crate::observe::log::{LogFormat, LogLevel};
use crate::report::render::ReportFormat;

/// `CONFIG_DIR` when not set.
pub const DEFAULT_CONFIG_DIR: &str = "/config";
/// `SECRETS_DIR` when not set.
pub const DEFAULT_SECRETS_DIR: &str = "/secrets";
/// `BUNDLE_DIR` when not set: where the image keeps the bootstrap bundle.
pub const DEFAULT_BUNDLE_DIR: &str = "/bundle";
/// `CONCURRENCY` when not given: writes and sync requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The largest `CONCURRENCY` accepted.
pub const MAX_CONCURRENCY: usize = 1000;
/// The largest `API_QPS` or `API_BURST` accepted.
pub const MAX_API_RATE: u32 = 100_000;

/// `KUBECONFIG_DATA`.
pub static KUBECONFIG_DATA: Variable<String> = Variable::new("KUBECONFIG_DATA", "kubeconfig-data", "BASE64", text)
    .secret()
    .required("one of the two")
    .help("Base64-encoded kubeconfig (one of this or --kubeconfig-path)")
    .doc("base64-encoded kubeconfig");
/// `KUBECONFIG_PATH`.
pub static KUBECONFIG_PATH: Variable<PathBuf> = Variable::new("KUBECONFIG_PATH", "kubeconfig-path", "FILE", path)
    .path()
    .required("one of the two")
    .help("Path to a mounted kubeconfig file")
    .doc("path of a mounted kubeconfig");
/// `ENVIRONMENT`.
pub static ENVIRONMENT: Variable<Tier> = Variable::new("ENVIRONMENT", "environment", "ENVIRONMENT", from_str)
    .required("yes")
    .help("Target environment: development, staging or production")
    .doc("`development`, `staging` or `production`; recorded in logs, report, metrics and labels");
/// `TARGET_SCOPE`.
pub static TARGET_SCOPE: Variable<Scope> = Variable::new("TARGET_SCOPE", "target-scope", "SCOPE", from_str)
    .default("platform")
    .help("What to act on: platform (default), stack:NAME or app:NAME")
    .doc("`platform`, `stack:<name>` or `app:<name>`");
/// `DRY_RUN`.
pub static DRY_RUN: Variable<bool> = Variable::new("DRY_RUN", "dry-run", "BOOL", boolean)
    .switch()
    .default("false")
    .help("Go up to the point of change, report what would change, change nothing")
    .doc("`true`/`false`: go up to the point of change, change nothing");
/// `LOG_LEVEL`.
pub static LOG_LEVEL: Variable<LogLevel> = Variable::new("LOG_LEVEL", "log-level", "LEVEL", from_str)
    .default("info")
    .help("Log verbosity: debug, info, warn or error")
    .doc("`debug`, `info`, `warn`, `error`");
/// `LOG_FORMAT`.
pub static LOG_FORMAT: Variable<LogFormat> = Variable::new("LOG_FORMAT", "log-format", "FORMAT", from_str)
    .otherwise("`text` on a terminal, else `json`")
    .help("Log format: text or json (default: text on a terminal, json otherwise)")
    .doc("`text` or `json`");
/// `CONFIG_DIR`.
pub static CONFIG_DIR: Variable<PathBuf> = Variable::new("CONFIG_DIR", "config-dir", "DIR", path)
    .path()
    .default(DEFAULT_CONFIG_DIR)
    .help("Directory holding environment.yaml, dag.yaml and script overrides")
    .doc("directory of `environment.yaml`, `dag.yaml`, script overrides");
/// `SECRETS_DIR`.
pub static SECRETS_DIR: Variable<PathBuf> = Variable::new("SECRETS_DIR", "secrets-dir", "DIR", path)
    .path()
    .default(DEFAULT_SECRETS_DIR)
    .help("Directory holding credential files")
    .doc("directory of credential files");
/// `BUNDLE_DIR`.
pub static BUNDLE_DIR: Variable<PathBuf> = Variable::new("BUNDLE_DIR", "bundle-dir", "DIR", path)
    .path()
    .default(DEFAULT_BUNDLE_DIR)
    .help("Directory holding the bootstrap bundle's upstream manifests")
    .doc("directory of the bootstrap bundle's upstream manifests");
/// `REPORT_FILE`.
pub static REPORT_FILE: Variable<PathBuf> = Variable::new("REPORT_FILE", "report-file", "FILE", path)
    .path()
    .otherwise("stdout")
    .help("Write the report to this file instead of stdout")
    .doc("write the report to this file (atomically); its directory must exist and be writable, checked before the run (exit 3 otherwise, the report then on stdout)");
/// `REPORT_FORMAT`.
pub static REPORT_FORMAT: Variable<ReportFormat> =
    Variable::new("REPORT_FORMAT", "report-format", "FORMAT", from_str)
        .default("json")
        .help("Report format: json (default), yaml, text, junit, markdown or html")
        .doc("`json` (the contract, [keys below](#report-keys)), `yaml` (the same keys), `text`, `junit`, `markdown` (with the graph as a Mermaid block) or `html` (one self-contained page: graph, timeline, failures, metrics); examples in [observability.md](observability.md#the-report)");
/// `ACTION_TIMEOUT`.
pub static ACTION_TIMEOUT: Variable<Duration> = Variable::new("ACTION_TIMEOUT", "action-timeout", "DURATION", duration)
    .otherwise("none")
    .help("Overall deadline of the action, e.g. 30m")
    .doc("overall deadline, e.g. `30m`; on expiry exit 4");
/// `LOCK_TIMEOUT`.
pub static LOCK_TIMEOUT: Variable<Duration> = Variable::new("LOCK_TIMEOUT", "lock-timeout", "DURATION", wait)
    .default("0")
    .help("How long deploy and teardown wait for another run's lock on the environment (default 0: fail at once), e.g. 10m")
    .doc("how long deploy and teardown wait for another run's lock on the environment (`0`: fail at once, exit 1 naming the holder); see [operations.md](operations.md#guarantees-and-how-they-are-enforced)");
/// `TEARDOWN_CONFIRM`.
pub static TEARDOWN_CONFIRM: Variable<String> = Variable::new("TEARDOWN_CONFIRM", "teardown-confirm", "NAME", text)
    .required("for teardown")
    .help("Teardown confirmation: must equal the environment's name")
    .doc("must equal `name` in `environment.yaml`");
/// `PV_POLICY`.
pub static PV_POLICY: Variable<PvPolicy> = Variable::new("PV_POLICY", "pv-policy", "POLICY", from_str)
    .default("retain")
    .help("What teardown does with volumes: retain (default) or delete")
    .doc("`retain` or `delete` (teardown)");
/// `TEARDOWN_CRDS`.
pub static TEARDOWN_CRDS: Variable<bool> = Variable::new("TEARDOWN_CRDS", "teardown-crds", "BOOL", boolean)
    .switch()
    .default("false")
    .help("Whether teardown also removes the bootstrap CRDs (default false: they may serve others)")
    .doc("teardown also removes the bootstrap CRDs");
/// `EXECUTOR_IMAGE`.
pub static EXECUTOR_IMAGE: Variable<String> = Variable::new("EXECUTOR_IMAGE", "executor-image", "IMAGE", text)
    .otherwise("`executor:<version>`")
    .help("Image the Argo Workflows templates run (default: this executor's image name)")
    .doc("image the Argo Workflows templates (and `workflow` mode's tasks) run");
/// `ORCHESTRATION`.
pub static ORCHESTRATION: Variable<Orchestration> =
    Variable::new("ORCHESTRATION", "orchestration", "ENGINE", from_str)
        .default("local")
        .help("Where the graph runs: local (default: this process) or workflow (one Argo Workflow in the cluster, each task this image scoped to one node)")
        .doc("`local`: the executor schedules the graph itself; `workflow`: deploy and teardown run the graph as one Argo Workflow in `workflowsNamespace` ([orchestration.md](orchestration.md)); validate ignores it");
/// `API_QPS`.
pub static API_QPS: Variable<NonZeroU32> = Variable::new("API_QPS", "api-qps", "N", rate)
    .default("200")
    .help("API requests per second, all callers together (default 200)")
    .doc("1–100000: API requests per second, every caller together (scripts included), a token bucket as client-go's `rest.Config.QPS`; client-go's default 5 is for long-running controllers, a 2,000-Application deploy averages ~180/s (`src/k8s/throttle.rs`)");
/// `API_BURST`.
pub static API_BURST: Variable<NonZeroU32> = Variable::new("API_BURST", "api-burst", "N", rate)
    .default("400")
    .help("API requests that may go at once after a quiet spell (default 400)")
    .doc("1–100000: requests that may go at once after a quiet spell (client-go's `Burst`)");
/// `CONCURRENCY`.
pub static CONCURRENCY: Variable<usize> = Variable::new("CONCURRENCY", "concurrency", "N", concurrency)
    .default("16")
    .help("Writes and sync requests in flight at once (default 16, 1-1000)")
    .doc("1–1000: node steps that load the API server and Argo CD (Application writes, sync requests, hooks) in flight at once; nodes that only wait for health hold no slot and no thread ([benchmarks.md](benchmarks.md#scale-generated-platforms-of-27-500-and-2000-applications))");
/// `EXECUTOR_TASK`.
pub static EXECUTOR_TASK: Variable<bool> = Variable::new("EXECUTOR_TASK", "task", "BOOL", boolean)
    .switch()
    .hidden()
    .default("false")
    .help("Run as one task of an orchestration Workflow: only the node of TARGET_SCOPE=app:NAME, its dependencies left to the Workflow")
    .doc("set by the WorkflowTemplates, not by hand: run one node of an orchestration Workflow (`TARGET_SCOPE=app:<name>`), leaving its dependencies to the Workflow and only checking the bootstrap");
/// `METRICS_FILE`.
pub static METRICS_FILE: Variable<PathBuf> = Variable::new("METRICS_FILE", "metrics-file", "FILE", path)
    .path()
    .help("Write the metrics (Prometheus text format) to this file at the end")
    .doc("write the metrics at the end (textfile collector)");
/// `PUSHGATEWAY_URL`.
pub static PUSHGATEWAY_URL: Variable<String> =
    Variable::new("PUSHGATEWAY_URL", "pushgateway-url", "URL", pushgateway_url)
        .help("Push the metrics to this Pushgateway at the end")
        .doc("push the metrics at the end (see observability.md)");
/// `METRICS_ADDR`.
pub static METRICS_ADDR: Variable<SocketAddr> = Variable::new("METRICS_ADDR", "metrics-addr", "HOST:PORT", socket_addr)
    .help("Serve /metrics on this address while the run lasts")
    .doc("serve `/metrics` on `host:port` during the run");
/// `ALERTMANAGER_URL` (checked with its credentials by [`super::alerting`]).
pub static ALERTMANAGER_URL: Variable<String> =
    Variable::new("ALERTMANAGER_URL", "alertmanager-url", "URL", text)
        .help("Post an alert to this Alertmanager when the run fails; resolve it when it succeeds (credentials: $SECRETS_DIR/alertmanager-*)")
        .doc("`http(s)://host:port[/path]` of an Alertmanager: a failed run posts the alert `ExecutorActionFailed`, a successful one resolves it ([observability.md](observability.md#alerts)); credentials go in `$SECRETS_DIR`, a URL carrying them is refused");
/// `RUN_URL` (checked by [`super::alerting`]).
pub static RUN_URL: Variable<String> = Variable::new("RUN_URL", "run-url", "URL", text)
    .help("This run's page (e.g. the CI job's URL), linked from its alert")
    .doc("this run's page (e.g. the CI job's URL): the alert's `generatorURL`");
/// `TRACE_ID` (checked with `SPAN_ID` by [`crate::observe::trace`]).
pub static TRACE_ID: Variable<String> = Variable::new("TRACE_ID", "trace-id", "HEX", text)
    .otherwise("a new trace")
    .help("Parent trace id (W3C, 32 hex digits)")
    .doc("parent W3C trace id (32 lowercase hex digits, not all zero)");
/// `SPAN_ID`.
pub static SPAN_ID: Variable<String> = Variable::new("SPAN_ID", "span-id", "HEX", text)
    .help("Parent span id (W3C, 16 hex digits)")
    .doc("parent W3C span id (16 lowercase hex digits, not all zero; needs `TRACE_ID`)");
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (the `OTEL_*` variables are checked
/// together by [`crate::observe::otel::settings`]).
pub static OTEL_EXPORTER_OTLP_ENDPOINT: Variable<String> =
    Variable::new("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-exporter-otlp-endpoint", "URL", text)
        .otherwise("traces off")
        .help("Send the run's spans over OTLP/HTTP to this collector (`/v1/traces` appended)")
        .doc("send the run's spans over OTLP/HTTP (protobuf) to `<url>/v1/traces`, e.g. `http://otel-collector:4318` ([below](#traces-opentelemetry))");
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
pub static OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Variable<String> = Variable::new(
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "otel-exporter-otlp-traces-endpoint",
    "URL",
    text,
)
.help("Send the run's spans to exactly this OTLP/HTTP URL (wins over the endpoint)")
.doc("the full URL spans are posted to (wins over `OTEL_EXPORTER_OTLP_ENDPOINT`)");
/// `OTEL_EXPORTER_OTLP_HEADERS`.
pub static OTEL_EXPORTER_OTLP_HEADERS: Variable<String> =
    Variable::new("OTEL_EXPORTER_OTLP_HEADERS", "otel-exporter-otlp-headers", "HEADERS", text)
        .secret()
        .help("Headers of the OTLP requests, `key=value,...` (secret: never logged)")
        .doc("headers of the OTLP requests, `key=value,key=value` (values percent-encoded, e.g. `Authorization=Bearer%20<token>`); secret: never logged nor reported. Without the variable, read from the file `otel-exporter-otlp-headers` of `$SECRETS_DIR` if present (how a Job, and a workflow task, get it without the credential in the pod spec)");
/// `OTEL_SERVICE_NAME`.
pub static OTEL_SERVICE_NAME: Variable<String> = Variable::new("OTEL_SERVICE_NAME", "otel-service-name", "NAME", text)
    .otherwise("`executor`")
    .help("The traces' service name (default executor)")
    .doc("the spans' `service.name`");
/// `OTEL_RESOURCE_ATTRIBUTES`.
pub static OTEL_RESOURCE_ATTRIBUTES: Variable<String> =
    Variable::new("OTEL_RESOURCE_ATTRIBUTES", "otel-resource-attributes", "PAIRS", text)
        .help("More resource attributes of the traces, `key=value,...`")
        .doc("more resource attributes, `key=value,key=value` (e.g. `deployment.environment=staging`)");

/// Every variable, in the order of the reference and of `--help`.
pub static INPUTS: &[&dyn Input] = &[
    &KUBECONFIG_DATA,
    &KUBECONFIG_PATH,
    &ENVIRONMENT,
    &TARGET_SCOPE,
    &DRY_RUN,
    &LOG_LEVEL,
    &LOG_FORMAT,
    &CONFIG_DIR,
    &SECRETS_DIR,
    &BUNDLE_DIR,
    &REPORT_FILE,
    &REPORT_FORMAT,
    &ACTION_TIMEOUT,
    &LOCK_TIMEOUT,
    &TEARDOWN_CONFIRM,
    &PV_POLICY,
    &TEARDOWN_CRDS,
    &EXECUTOR_IMAGE,
    &ORCHESTRATION,
    &API_QPS,
    &API_BURST,
    &CONCURRENCY,
    &EXECUTOR_TASK,
    &METRICS_FILE,
    &PUSHGATEWAY_URL,
    &METRICS_ADDR,
    &ALERTMANAGER_URL,
    &RUN_URL,
    &TRACE_ID,
    &SPAN_ID,
    &OTEL_EXPORTER_OTLP_ENDPOINT,
    &OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    &OTEL_EXPORTER_OTLP_HEADERS,
    &OTEL_SERVICE_NAME,
    &OTEL_RESOURCE_ATTRIBUTES,
];

fn path(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{text}` is not a boolean; expected true or false")),
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    text.parse::<Span>().map(|span| span.0).map_err(|e| e.to_string())
}

/// A wait that may be zero (`0`, `0s`: do not wait), else a duration.
fn wait(text: &str) -> Result<Duration, String> {
    if text.trim().trim_end_matches('s') == "0" {
        return Ok(Duration::ZERO);
    }
    text.parse::<Span>()
        .map(|span| span.0)
        .map_err(|e| format!("{e}, or 0 not to wait"))
}

fn rate(text: &str) -> Result<NonZeroU32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_API_RATE)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("`{text}` is not a rate; expected a whole number from 1 to {MAX_API_RATE}"))
}

fn concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CONCURRENCY).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a concurrency; expected a whole number from 1 to {MAX_CONCURRENCY}"
        )),
    }
}

fn pushgateway_url(url: &str) -> Result<String, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "`{url}` is not a URL; expected http://host:9091 or https://..."
        ))
    }
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an address; expected host:port such as 0.0.0.0:9464"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::variable::{Fallback, Kind, reference};

    #[test]
    fn every_default_is_a_valid_value() {
        for input in INPUTS {
            if let Fallback::Value(default) = input.spec().fallback {
                assert_eq!(input.check(default), Ok(()), "{}", input.spec().env);
            }
        }
    }

    #[test]
    fn defaults_agree_with_the_constants_other_modules_use() {
        let default = |spec: &super::super::variable::Spec| match spec.fallback {
            Fallback::Value(value) => value.to_owned(),
            other => panic!("{}: {other:?}", spec.env),
        };
        assert_eq!(default(&API_QPS.spec), crate::k8s::throttle::DEFAULT_QPS.to_string());
        assert_eq!(
            default(&API_BURST.spec),
            crate::k8s::throttle::DEFAULT_BURST.to_string()
        );
        assert_eq!(default(&CONCURRENCY.spec), DEFAULT_CONCURRENCY.to_string());
    }

    #[test]
    fn names_flags_and_ids_are_unique_and_secrets_are_marked() {
        let mut envs: Vec<_> = INPUTS.iter().map(|i| i.spec().env).collect();
        let mut flags: Vec<_> = INPUTS.iter().map(|i| i.spec().flag).collect();
        envs.sort_unstable();
        envs.dedup();
        flags.sort_unstable();
        flags.dedup();
        assert_eq!(envs.len(), INPUTS.len());
        assert_eq!(flags.len(), INPUTS.len());
        assert!(KUBECONFIG_DATA.spec.secret && OTEL_EXPORTER_OTLP_HEADERS.spec.secret);
        assert!(
            INPUTS
                .iter()
                .all(|i| !i.spec().help.is_empty() && !i.spec().doc.is_empty())
        );
        assert_eq!(DRY_RUN.spec.kind, Kind::Switch);
    }

    /// docs/configuration.md's table of variables is this table: a change
    /// here without the docs (or the other way round) fails.
    #[test]
    fn the_configuration_reference_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let docs = std::fs::read_to_string(&path).unwrap();
        let table = reference(INPUTS);
        assert!(
            docs.contains(&table),
            "docs/configuration.md's table of variables is stale; it should read:\n{table}"
        );
    }
}
