//! The validated settings of a run: the enumerations of the variables, the
//! output settings every run has (even an invalid one) and the [`Request`]
//! an action runs with.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::{ClusterAccess, EnvironmentConfig, Secrets, alerting};
use crate::dag::{Action, Plan, Scope, ValidGraph};
use crate::observe::log::{LogFormat, LogLevel};
use crate::observe::trace::TraceContext;
use crate::report::render::ReportFormat;

/// `ENVIRONMENT`: the kind of environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// development
    Development,
    /// staging
    Staging,
    /// production
    Production,
}

impl FromStr for Tier {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "development" => Ok(Tier::Development),
            "staging" => Ok(Tier::Staging),
            "production" => Ok(Tier::Production),
            other => Err(format!(
                "`{other}` is not an environment; expected development, staging or production"
            )),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Development => "development",
            Tier::Staging => "staging",
            Tier::Production => "production",
        })
    }
}

/// `PV_POLICY`: what teardown does with persistent volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PvPolicy {
    /// Keep PVCs and their volumes (the default).
    #[default]
    Retain,
    /// Delete PVCs so volumes are reclaimed per their class.
    Delete,
}

impl FromStr for PvPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "retain" => Ok(PvPolicy::Retain),
            "delete" => Ok(PvPolicy::Delete),
            _ => Err(format!("`{text}` is not a volume policy; expected retain or delete")),
        }
    }
}

impl fmt::Display for PvPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PvPolicy::Retain => "retain",
            PvPolicy::Delete => "delete",
        })
    }
}

/// `ORCHESTRATION`: where the graph runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orchestration {
    /// In this process (the default).
    #[default]
    Local,
    /// As one Argo Workflow in the cluster.
    Workflow,
}

impl FromStr for Orchestration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "local" => Ok(Orchestration::Local),
            "workflow" => Ok(Orchestration::Workflow),
            other => Err(format!(
                "`{other}` is not an orchestration engine; expected local or workflow"
            )),
        }
    }
}

impl fmt::Display for Orchestration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Orchestration::Local => "local",
            Orchestration::Workflow => "workflow",
        })
    }
}

/// Settings needed before anything else (to log and to report), always
/// available: a bad value falls back to its default and is also a problem.
#[derive(Debug, Clone)]
pub struct OutputSettings {
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `LOG_LEVEL`.
    pub log_level: LogLevel,
    /// `REPORT_FORMAT`.
    pub report_format: ReportFormat,
    /// `REPORT_FILE`.
    pub report_file: Option<PathBuf>,
    /// Trace context from `TRACE_ID`/`SPAN_ID` (a new trace when unset or invalid).
    pub trace: TraceContext,
    /// `ENVIRONMENT`, when valid (recorded on every log line).
    pub tier: Option<Tier>,
    /// `TARGET_SCOPE` as given, for the report.
    pub scope_text: String,
    /// `DRY_RUN`, when valid.
    pub dry_run: bool,
    /// Where metrics go.
    pub metrics: MetricsSettings,
    /// `ALERTMANAGER_URL` and its credentials: where a failed run's alert goes.
    pub alerting: Option<alerting::AlertSettings>,
    /// Where traces go (`None`: traces off).
    pub otel: Option<crate::observe::otel::OtelSettings>,
}

/// `METRICS_FILE`, `PUSHGATEWAY_URL`, `METRICS_ADDR`.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// Write the exposition here at the end (textfile collector).
    pub file: Option<PathBuf>,
    /// Push it here at the end.
    pub pushgateway: Option<String>,
    /// Serve `/metrics` here during the run.
    pub addr: Option<std::net::SocketAddr>,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Request {
    /// The action.
    pub action: Action,
    /// `ENVIRONMENT`.
    pub tier: Tier,
    /// environment.yaml.
    pub environment: EnvironmentConfig,
    /// `TARGET_SCOPE`.
    pub scope: Scope,
    /// `DRY_RUN`.
    pub dry_run: bool,
    /// The kubeconfig.
    pub cluster: ClusterAccess,
    /// Files of `SECRETS_DIR`.
    pub secrets: Secrets,
    /// The validated graph.
    pub graph: ValidGraph,
    /// The plan of this action.
    pub plan: Plan,
    /// `ACTION_TIMEOUT`.
    pub action_timeout: Option<Duration>,
    /// `LOCK_TIMEOUT` (zero: do not wait).
    pub lock_timeout: Duration,
    /// `PV_POLICY`.
    pub pv_policy: PvPolicy,
    /// `CONFIG_DIR`.
    pub config_dir: PathBuf,
    /// `BUNDLE_DIR`.
    pub bundle_dir: PathBuf,
    /// `TEARDOWN_CRDS`.
    pub teardown_crds: bool,
    /// `EXECUTOR_IMAGE`.
    pub executor_image: String,
    /// Criticality of each application (`health-criteria.yaml`).
    pub critical: std::collections::BTreeMap<String, bool>,
    /// `ORCHESTRATION` (always local for a task).
    pub orchestration: Orchestration,
    /// `CONCURRENCY`.
    pub concurrency: usize,
    /// `API_QPS` and `API_BURST`: the client-side rate limit of API requests.
    pub api_rate: (std::num::NonZeroU32, std::num::NonZeroU32),
    /// `EXECUTOR_TASK`: one task of an orchestration Workflow.
    pub task: bool,
    /// `TEARDOWN_CONFIRM` as given (checked against the environment's name).
    pub teardown_confirm: Option<String>,
}

/// The image the workflow templates run when `EXECUTOR_IMAGE` is not set.
pub fn default_executor_image() -> String {
    format!("executor:{}", env!("CARGO_PKG_VERSION"))
}
