//! The [`Request`] assembler: every input of an action, checked, or every
//! problem with them.
//!
//! It reads the variables through the table ([`super::inputs`]), then the
//! files (kubeconfig, `environment.yaml`, `$SECRETS_DIR`, the graph and its
//! criteria), then plans: the one place above [`crate::dag`] that puts
//! them together. It never stops at the first problem.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use super::inputs::{
    ACTION_TIMEOUT, API_BURST, API_QPS, BUNDLE_DIR, CONCURRENCY, CONFIG_DIR, ENVIRONMENT, EXECUTOR_IMAGE,
    EXECUTOR_TASK, KUBECONFIG_DATA, KUBECONFIG_PATH, LOCK_TIMEOUT, ORCHESTRATION, PV_POLICY, SECRETS_DIR, TARGET_SCOPE,
    TEARDOWN_CONFIRM, TEARDOWN_CRDS,
};
use super::settings::{Orchestration, OutputSettings, PvPolicy, Request, default_executor_image};
use super::variable::{Values, Variable};
use super::{ClusterAccess, EnvironmentConfig, Secrets, criteria, environment, kubeconfig};
use crate::dag::{self, Action, Plan, Scope, ValidGraph};
use crate::input::problem::{Problem, Problems, Source};

/// The variables of an action beyond the output settings, read.
struct Variables {
    scope: Scope,
    action_timeout: Option<Duration>,
    lock_timeout: Duration,
    pv_policy: PvPolicy,
    teardown_crds: bool,
    orchestration: Orchestration,
    concurrency: usize,
    api_rate: (NonZeroU32, NonZeroU32),
    task: bool,
}

impl Variables {
    /// Reads them, in the order of their problems in the report.
    fn read(values: &Values, problems: &mut Problems) -> Self {
        if values.text(&ENVIRONMENT.spec).is_none() {
            problems.push(Problem::new(
                Source::Var(ENVIRONMENT.spec.env),
                "not set; expected development, staging or production",
            ));
        }
        let scope = values.read(&TARGET_SCOPE, problems);
        let action_timeout = values.read_optional(&ACTION_TIMEOUT, problems);
        let lock_timeout = values.read(&LOCK_TIMEOUT, problems);
        let pv_policy = values.read(&PV_POLICY, problems);
        let teardown_crds = values.read(&TEARDOWN_CRDS, problems);
        let orchestration = values.read(&ORCHESTRATION, problems);
        let concurrency = values.read(&CONCURRENCY, problems);
        let mut rate =
            |variable: &Variable<NonZeroU32>| values.read_optional(variable, problems).unwrap_or(NonZeroU32::MIN);
        let api_rate = (rate(&API_QPS), rate(&API_BURST));
        let task = values.read(&EXECUTOR_TASK, problems);
        if task && !matches!(scope, Scope::App(_)) {
            problems.push(Problem::new(
                Source::Var(EXECUTOR_TASK.spec.env),
                format!("a task runs one application: TARGET_SCOPE must be app:<name>, not {scope}"),
            ));
        }
        Variables {
            scope,
            action_timeout,
            lock_timeout,
            pv_policy,
            teardown_crds,
            // A task runs its one node locally; the Workflow is its driver's.
            orchestration: if task { Orchestration::Local } else { orchestration },
            concurrency,
            api_rate,
            task,
        }
    }
}

/// What the mounted files and the kubeconfig give, each `None` with its
/// problems recorded.
struct Files {
    cluster: Option<ClusterAccess>,
    environment: Option<EnvironmentConfig>,
    secrets: Option<Secrets>,
    graph: Option<ValidGraph>,
    critical: Option<BTreeMap<String, bool>>,
}

impl Files {
    fn read(values: &Values, config_dir: &std::path::Path, problems: &mut Problems) -> Self {
        let cluster = problems.take(kubeconfig::load(kubeconfig::KubeconfigInput {
            data: values.text(&KUBECONFIG_DATA.spec),
            path: values.path(&KUBECONFIG_PATH).as_deref(),
        }));
        let environment = collect(environment::load(&config_dir.join("environment.yaml")), problems);
        let secrets = collect(Secrets::load(&values.path(&SECRETS_DIR).unwrap_or_default()), problems);
        let graph = collect(dag::load(config_dir), problems);
        let critical = graph
            .as_ref()
            .and_then(|graph| collect(criteria::load(config_dir, graph), problems));
        Files {
            cluster,
            environment,
            secrets,
            graph,
            critical,
        }
    }
}

/// The value, or `None` with its problems recorded.
fn collect<T>(result: Result<T, Vec<Problem>>, problems: &mut Problems) -> Option<T> {
    result.map_err(|more| problems.extend(more)).ok()
}

/// The directory of `environment.yaml`, `dag.yaml` and the overrides.
pub fn config_dir(values: &Values) -> PathBuf {
    values.path(&CONFIG_DIR).unwrap_or_default()
}

/// Loads the graph and computes the plan for `executor plan`: needs no
/// cluster credentials; environment.yaml is read only if present (for its
/// default timeouts).
///
/// # Errors
/// Every problem with the scope, environment.yaml or the graph.
pub fn load_plan(action: Action, values: &Values) -> Result<Plan, Vec<Problem>> {
    let mut problems = Problems::default();
    let config_dir = config_dir(values);
    let scope = values.read(&TARGET_SCOPE, &mut problems);
    let env_path = config_dir.join("environment.yaml");
    let timeouts = if env_path.exists() {
        collect(environment::load(&env_path), &mut problems)
            .map(|env| env.timeouts)
            .unwrap_or_default()
    } else {
        environment::Timeouts::default()
    };
    let graph = collect(dag::load(&config_dir), &mut problems);
    let plan = graph.and_then(|g| problems.take(dag::plan::build(&g, action, &scope, timeouts)));
    match plan {
        Some(plan) if problems.is_empty() => Ok(plan),
        _ => Err(problems.into_vec()),
    }
}

/// Validates every input of an action.
///
/// # Errors
/// Every problem found, in a stable order (variables, then files).
pub fn load(action: Action, values: &Values, output: &OutputSettings) -> Result<Request, Vec<Problem>> {
    let mut problems = Problems::default();
    let config_dir = config_dir(values);
    let variables = Variables::read(values, &mut problems);
    let files = Files::read(values, &config_dir, &mut problems);
    let plan = plan(action, &variables, &files, &mut problems);
    if action == Action::Teardown
        && !output.dry_run
        && let Some(env) = &files.environment
    {
        confirm_teardown(values, env, &mut problems);
    }
    let Files {
        cluster,
        environment,
        secrets,
        graph,
        critical,
    } = files;
    match (output.tier, environment, cluster, secrets, graph, plan) {
        (Some(tier), Some(environment), Some(cluster), Some(secrets), Some(graph), Some(plan))
            if problems.is_empty() =>
        {
            Ok(Request {
                action,
                tier,
                environment,
                scope: variables.scope,
                dry_run: output.dry_run,
                cluster,
                secrets,
                graph,
                plan,
                action_timeout: variables.action_timeout,
                lock_timeout: variables.lock_timeout,
                pv_policy: variables.pv_policy,
                bundle_dir: values.path(&BUNDLE_DIR).unwrap_or_default(),
                config_dir,
                teardown_crds: variables.teardown_crds,
                executor_image: values
                    .text(&EXECUTOR_IMAGE.spec)
                    .map_or_else(default_executor_image, str::to_owned),
                critical: critical.unwrap_or_default(),
                orchestration: variables.orchestration,
                concurrency: variables.concurrency,
                api_rate: variables.api_rate,
                task: variables.task,
                teardown_confirm: values.text(&TEARDOWN_CONFIRM.spec).map(str::to_owned),
            })
        }
        _ => Err(problems.into_vec()),
    }
}

/// The plan of `action` over the graph, in scope; only for a task, its
/// one node (the Workflow ran its dependencies). Without environment.yaml
/// the scope is still checked against the graph, so its problem is
/// reported too, but there is no plan.
fn plan(action: Action, variables: &Variables, files: &Files, problems: &mut Problems) -> Option<Plan> {
    let graph = files.graph.as_ref()?;
    let timeouts = files.environment.as_ref().map(|env| env.timeouts);
    let plan = dag::plan::build(graph, action, &variables.scope, timeouts.unwrap_or_default());
    let mut plan = problems.take(plan).filter(|_| timeouts.is_some())?;
    if variables.task {
        plan.nodes.retain(|n| n.role == dag::plan::Role::Target);
    }
    Some(plan)
}

fn confirm_teardown(values: &Values, env: &EnvironmentConfig, problems: &mut Problems) {
    let var = Source::Var(TEARDOWN_CONFIRM.spec.env);
    match values.text(&TEARDOWN_CONFIRM.spec) {
        Some(token) if token == env.name => {}
        Some(_) => problems.push(Problem::new(
            var,
            format!(
                "does not match the environment's name; to remove the platform set TEARDOWN_CONFIRM={}",
                env.name
            ),
        )),
        None => problems.push(Problem::new(
            var,
            format!(
                "teardown removes the platform and needs explicit confirmation: set TEARDOWN_CONFIRM to the environment's name ({})",
                env.name
            ),
        )),
    }
}
