//! The host: what the primitives of one run share.
//!
//! Scripts run on blocking threads; primitives reach the async Rust core
//! through [`Host::block`], which runs a future on the run's Tokio runtime
//! within the calling script's deadline and the run's cancellation (never
//! `block_on` on an async worker: scripts are always on blocking threads).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rhai::{Dynamic, Engine, EvalAltResult, Position};
use tokio::runtime::Handle;

use super::control;
use super::error::Origins;
use crate::config::Secrets;
use crate::config::environment::Retries;
use crate::dag::Plan;
use crate::k8s::Cluster;
use crate::k8s::error::K8sError;
use crate::k8s::index::LiveIndex;
use crate::k8s::stats::ApiStats;
use crate::k8s::wait::Bounds;
use crate::observe::trace::TraceContext;
use crate::report::{Component, Failure, ListedObject};

/// What scripts add to the report as they run.
#[derive(Debug, Default)]
pub struct ReportParts {
    /// Components by name (last write wins), kept in first-seen order.
    pub components: Vec<Component>,
    /// Failures.
    pub failures: Vec<Failure>,
    /// Recommendations (deduplicated).
    pub recommendations: Vec<String>,
    /// Metrics set by scripts.
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// Compliance section (validate).
    pub compliance: Option<serde_json::Value>,
    /// Removed objects (teardown).
    pub removed: Vec<ListedObject>,
    /// Retained objects (teardown).
    pub retained: Vec<ListedObject>,
    /// Orphans (teardown).
    pub orphans: Vec<ListedObject>,
    /// The outcome a script decided, if it did.
    pub outcome: Option<crate::outcome::Outcome>,
    /// Where the graph ran, when it ran (`report.orchestration`).
    pub orchestration: Option<crate::report::Orchestration>,
    /// When the action's script started: the origin of the report's
    /// `startSeconds` (set by the run; `None` in script tests).
    pub origin: Option<std::time::Instant>,
    /// The bootstrap's apply phases (`report.bootstrapPhases`).
    pub bootstrap_phases: Vec<crate::report::Phase>,
    /// What the bootstrap applied since its component was last recorded
    /// (`bundle::apply`, `bundle::api_token`; taken by `bundle::report`).
    pub bootstrap: BootstrapTally,
}

/// The objects a bootstrap applied, and since when.
#[derive(Debug, Default)]
pub struct BootstrapTally {
    /// Counts by what was done.
    pub objects: crate::k8s::apply::ApplyCounts,
    /// When its first phase began.
    pub began: Option<std::time::Instant>,
}

impl ReportParts {
    /// Adds or replaces a component by name and kind.
    pub fn upsert(&mut self, component: Component) {
        match self
            .components
            .iter_mut()
            .find(|c| c.name == component.name && c.kind == component.kind)
        {
            Some(existing) => *existing = component,
            None => self.components.push(component),
        }
    }

    /// Seconds from the action script's start to `at` (0 without an origin).
    pub fn seconds_at(&self, at: std::time::Instant) -> f64 {
        self.origin.map_or(0.0, |origin| {
            crate::report::round_seconds(at.saturating_duration_since(origin).as_secs_f64())
        })
    }

    /// Adds a recommendation once.
    pub fn recommend(&mut self, text: String) {
        if !self.recommendations.contains(&text) {
            self.recommendations.push(text);
        }
    }
}

/// Settings primitives need from the request.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Whether this is a dry run (no writes).
    pub dry_run: bool,
    /// Retry policy for Argo CD operation errors.
    pub retries: Retries,
    /// Namespace of Argo CD (its Applications live there).
    pub argocd_namespace: String,
    /// `ENVIRONMENT`.
    pub tier: String,
    /// `PV_POLICY` (teardown).
    pub pv_policy: crate::config::PvPolicy,
    /// `CONCURRENCY`: writes and sync requests (and script node functions)
    /// in flight at once.
    pub concurrency: usize,
    /// `ORCHESTRATION=workflow`: the graph runs as an Argo Workflow (deploy
    /// and teardown, not in a dry run or a task).
    pub workflow: Option<Arc<crate::workflow::WorkflowSettings>>,
    /// `workflowsNamespace`, where a teardown looks for a still-running
    /// Workflow of this environment before removing anything (`None` for a
    /// Workflow's own task, which runs inside one).
    pub workflows_namespace: Option<String>,
}

/// Everything the primitives of one run share.
pub struct Host {
    /// The cluster (real or fake).
    pub cluster: Arc<dyn Cluster>,
    /// Live objects seen in this run.
    pub index: LiveIndex,
    /// The runtime primitives block on.
    pub runtime: Handle,
    /// The run's deadline and cancellation.
    pub bounds: Bounds,
    /// Request settings.
    pub settings: RunSettings,
    /// `$SECRETS_DIR`.
    pub secrets: Secrets,
    /// The plan of the action (shared with `ctx.plan`).
    pub plan: Arc<Plan>,
    /// Trace context of the run.
    pub trace: TraceContext,
    /// API request counters (real clusters only).
    pub stats: Option<Arc<ApiStats>>,
    /// What scripts add to the report.
    pub report: Mutex<ReportParts>,
    /// Attempts per node (1 + retries of Argo CD operations).
    pub attempts: Mutex<HashMap<String, u32>>,
    /// Sync requests sent in this run.
    pub sync_requests: std::sync::atomic::AtomicU64,
    /// The syncs requested through `argocd::sync`, until `argocd::wait_healthy`
    /// takes them.
    requested_syncs: Mutex<HashMap<String, crate::orchestrate::sync::Sent>>,
    /// Origins of the scripts, for error messages.
    pub origins: Origins,
    /// The run's engine: weak, as the engine owns the host (its default
    /// tag), for the primitives that run script functions on other threads.
    engine: Weak<Engine>,
    /// Compiled scripts the primitives call (hooks, health checks, policies).
    pub scripts: Arc<super::compile::Compiled>,
    /// The `ctx` value scripts see (hooks receive it too).
    pub ctx: Dynamic,
    /// The bootstrap bundle (deploy only), loaded and verified before the
    /// run; set once by construction, or by a script test's `test::bundle`.
    pub bundle: OnceLock<Arc<crate::bootstrap::Bundle>>,
    /// The run's shared watch of Applications, started by the first wait.
    apps: OnceLock<crate::argocd::store::AppStore>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            dry_run: false,
            retries: Retries::default(),
            argocd_namespace: "argocd".to_owned(),
            tier: "development".to_owned(),
            pv_policy: crate::config::PvPolicy::default(),
            concurrency: crate::config::DEFAULT_CONCURRENCY,
            workflow: None,
            workflows_namespace: None,
        }
    }
}

/// Builds a runtime error for a script.
pub fn script_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    ))
}

/// The parts of one run a [`Host`] is made of, all known before the run
/// starts: nothing is set on a host afterwards.
pub struct HostParts {
    /// The cluster (real or fake).
    pub cluster: Arc<dyn Cluster>,
    /// The runtime primitives block on.
    pub runtime: Handle,
    /// The run's deadline and cancellation.
    pub bounds: Bounds,
    /// Request settings.
    pub settings: RunSettings,
    /// `$SECRETS_DIR`.
    pub secrets: Secrets,
    /// The plan of the action (the one `ctx.plan` shows).
    pub plan: Arc<Plan>,
    /// Trace context of the run.
    pub trace: TraceContext,
    /// API request counters (real clusters only).
    pub stats: Option<Arc<ApiStats>>,
    /// Origins of the scripts, for error messages.
    pub origins: Origins,
    /// Every script the run may call, compiled by the engine being bound.
    pub scripts: Arc<super::compile::Compiled>,
    /// The `ctx` scripts see.
    pub ctx: Dynamic,
    /// The bootstrap bundle (deploy only).
    pub bundle: Option<Arc<crate::bootstrap::Bundle>>,
}

impl HostParts {
    /// The parts of an offline run (script tests, the health conformance
    /// suite, benchmarks) on `cluster`: default settings, no secrets, a new
    /// trace, nothing compiled; set the others with `..` update syntax.
    pub fn offline(cluster: Arc<dyn Cluster>, runtime: Handle, bounds: Bounds, plan: Plan) -> HostParts {
        HostParts {
            cluster,
            runtime,
            bounds,
            settings: RunSettings::default(),
            secrets: Secrets::default(),
            plan: Arc::new(plan),
            trace: TraceContext::new_root(),
            stats: None,
            origins: Origins::default(),
            scripts: Arc::default(),
            ctx: Dynamic::UNIT,
            bundle: None,
        }
    }
}

impl Host {
    /// Binds `engine` (its primitives registered, the run's scripts
    /// compiled by it) to a new host made of `parts`: the host becomes the
    /// engine's default tag, so every primitive this engine calls reaches
    /// this run and no other (two engines in one process never see each
    /// other's state).
    pub fn bind(mut engine: Engine, parts: HostParts) -> (Arc<Engine>, Arc<Host>) {
        let mut bound = None;
        let engine = Arc::new_cyclic(|weak| {
            let host = Arc::new(Host::of(parts, weak.clone()));
            engine.set_default_tag(Dynamic::from(Arc::clone(&host)));
            bound = Some(host);
            engine
        });
        let Some(host) = bound else {
            unreachable!("Arc::new_cyclic runs its closure")
        };
        (engine, host)
    }

    fn of(parts: HostParts, engine: Weak<Engine>) -> Host {
        Host {
            cluster: parts.cluster,
            index: LiveIndex::default(),
            runtime: parts.runtime,
            bounds: parts.bounds,
            settings: parts.settings,
            secrets: parts.secrets,
            plan: parts.plan,
            trace: parts.trace,
            stats: parts.stats,
            report: Mutex::new(ReportParts::default()),
            attempts: Mutex::new(HashMap::new()),
            sync_requests: std::sync::atomic::AtomicU64::new(0),
            requested_syncs: Mutex::new(HashMap::new()),
            origins: parts.origins,
            engine,
            scripts: parts.scripts,
            ctx: parts.ctx,
            bundle: parts.bundle.map(OnceLock::from).unwrap_or_default(),
            apps: OnceLock::new(),
        }
    }

    /// The run's shared watch of Applications in Argo CD's namespace
    /// (started on first use: a run that never waits never opens it).
    pub fn app_store(&self) -> &crate::argocd::store::AppStore {
        self.apps.get_or_init(|| {
            let _entered = self.runtime.enter();
            crate::argocd::store::AppStore::start(self.cluster.clone(), &self.settings.argocd_namespace)
        })
    }

    /// The shared watch of Applications, if the run started it.
    pub fn started_app_store(&self) -> Option<&crate::argocd::store::AppStore> {
        self.apps.get()
    }

    /// The run's engine.
    ///
    /// # Errors
    /// When the engine is gone (the run is over).
    pub fn engine(&self) -> Result<Arc<Engine>, Box<EvalAltResult>> {
        self.engine
            .upgrade()
            .ok_or_else(|| script_error("internal error: the script engine is not available"))
    }

    /// The bounds of the calling script (its node deadline), or the run's.
    pub fn current_bounds(&self) -> Bounds {
        control::current().map_or_else(|| self.bounds.clone(), |scope| scope.bounds)
    }

    /// Runs `future` to completion within the calling script's bounds.
    ///
    /// # Errors
    /// The future's error, a timeout or a cancellation, as a script error.
    pub fn block<T>(
        &self,
        what: &str,
        future: impl Future<Output = Result<T, K8sError>>,
    ) -> Result<T, Box<EvalAltResult>> {
        self.block_k8s(what, future)
            .map_err(|error| super::error::cluster_error(&error))
    }

    /// [`Host::block`], keeping the cluster's typed error.
    ///
    /// # Errors
    /// The future's error, `Timeout` or `Cancelled`.
    pub fn block_k8s<T>(&self, what: &str, future: impl Future<Output = Result<T, K8sError>>) -> Result<T, K8sError> {
        let bounds = self.current_bounds();
        if bounds.cancel.is_cancelled() {
            return Err(K8sError::Cancelled(what.to_owned()));
        }
        self.block_on(bounds.run(what, future))
    }

    /// `block_on` for a primitive's wait: its CPU time is not the script's
    /// ([`super::control::excluded`]). Every primitive that blocks uses this.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        super::control::excluded(|| self.runtime.block_on(future))
    }

    /// Runs `future` to its end without imposing the run's deadline or
    /// cancellation on it: for work that keeps to them itself and must
    /// wind down what it started when they come (the Workflow it stops).
    pub fn block_winding_down<T>(&self, future: impl Future<Output = T>) -> T {
        self.block_on(future)
    }

    /// Counts one more attempt for `node`.
    pub fn count_attempt_for(&self, node: &str) {
        if let Ok(mut attempts) = self.attempts.lock() {
            *attempts.entry(node.to_owned()).or_insert(1) += 1;
        }
    }

    /// The syncs requested through `argocd::sync` and not yet waited for.
    pub fn requested_syncs(&self) -> std::sync::MutexGuard<'_, HashMap<String, crate::orchestrate::sync::Sent>> {
        self.requested_syncs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one more sync request.
    pub fn count_sync_request(&self) {
        self.sync_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Attempts made for `node`.
    pub fn attempts_of(&self, node: &str) -> u32 {
        self.attempts
            .lock()
            .ok()
            .and_then(|a| a.get(node).copied())
            .unwrap_or(1)
    }

    /// Edits the report parts. A lock poisoned by a panicking script thread
    /// still yields its parts: what was reported before the panic is kept,
    /// never silently dropped.
    pub fn with_report<R>(&self, f: impl FnOnce(&mut ReportParts) -> R) -> R {
        f(&mut self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}
