//! `ORCHESTRATION=workflow`: the graph runs inside the cluster as one Argo
//! Workflow, and the executor follows it.
//!
//! The same plan as the local scheduler's becomes one `dag` template
//! ([`render`]); each task runs this executor image as a task
//! (`EXECUTOR_TASK=true`) scoped to its node. The executor submits the
//! Workflow with its configuration ([`config`]), follows it by watching,
//! maps its nodes back to the same component results the local scheduler
//! gives, and stops it (`spec.shutdown: Stop`) at `ACTION_TIMEOUT` or on a
//! signal. The Workflow's name derives from the run's inputs: a run started
//! again while its Workflow still runs attaches to it; after a finished one,
//! a new Workflow is submitted, in which completed, healthy nodes finish at
//! once as `Unchanged`.

pub mod config;
pub mod render;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::dag::scheduler::{NodeEnd, NodeResult, Schedule};
use crate::dag::{Action, Plan, PlanNode};
use crate::k8s::wait::{Bounds, WaitFailure, wait_for};
use crate::k8s::{K8sError, Kind, ObjectKey};
use crate::orchestrate::NodeReport;
use crate::report::{ComponentStatus, FailureReason};
use crate::script::host::Host;

/// What the workflow backend needs beyond the run's settings.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// `workflowsNamespace`.
    pub namespace: String,
    /// environment.yaml's `name`.
    pub environment_name: String,
    /// `EXECUTOR_IMAGE`.
    pub image: String,
    /// The files of `CONFIG_DIR`, read before the run.
    pub config: Arc<config::ConfigFiles>,
    /// `TEARDOWN_CONFIRM`, passed on to teardown tasks.
    pub teardown_confirm: Option<String>,
    /// Where the run's spans go: the tasks send theirs there too, into the
    /// same trace (headers through the Workflow's Secret, never in clear).
    pub otel: Option<crate::observe::otel::OtelSettings>,
}

/// `executor plan --format workflow`: the Workflow `ORCHESTRATION=workflow`
/// would submit for `action` (YAML), without a cluster. Deterministic: no
/// trace ids, the name from the inputs.
///
/// # Errors
/// The inputs' problems: the graph, `environment.yaml` (needed: the
/// namespace and name), `ENVIRONMENT`, `CONFIG_DIR`'s files.
pub fn plan_text(action: Action, args: &crate::cli::GlobalArgs) -> Result<String, Vec<crate::config::Problem>> {
    use crate::input::problem::{Problem, Source};
    let plan = crate::config::load_plan(action, args)?;
    let config_dir = crate::config::config_dir(args);
    let environment = crate::config::environment::load(&config_dir.join("environment.yaml"))?;
    let tier = args
        .text(&crate::config::inputs::ENVIRONMENT.spec)
        .ok_or_else(|| {
            vec![Problem::new(
                Source::Var("ENVIRONMENT"),
                "the Workflow is labelled with ENVIRONMENT: set it",
            )]
        })?
        .parse::<crate::config::Tier>()
        .map_err(|m| vec![Problem::new(Source::Var("ENVIRONMENT"), m)])?
        .to_string();
    let files = config::ConfigFiles::read(&config_dir).map_err(|m| vec![Problem::new(Source::Var("CONFIG_DIR"), m)])?;
    let image = args
        .raw(&crate::config::inputs::EXECUTOR_IMAGE.spec)
        .filter(|i| !i.trim().is_empty())
        .map_or_else(crate::config::default_executor_image, str::to_owned);
    let inputs = render::WorkflowInputs {
        plan: &plan,
        tier: &tier,
        environment_name: &environment.name,
        namespace: &environment.workflows_namespace,
        image: &image,
        config_digest: &files.digest(),
        config_files: &files.items(),
        trace: None,
        otel: None,
        deadline_seconds: None,
        teardown: (action == Action::Teardown).then_some(("retain", "<TEARDOWN_CONFIRM>")),
    };
    let workflow = render::workflow(&inputs, &render::base_name(&inputs));
    serde_saphyr::to_string(&workflow).map_err(|e| vec![Problem::new(Source::Args, e.to_string())])
}

/// The lines of a failed task's log read back: all of a one-node run's
/// (its log lines and its pretty-printed JSON report), bounded.
const TASK_LOG_LINES: i64 = 5000;

/// How long a stopped Workflow may take to wind down (its running tasks
/// finish; Argo's default termination grace is 30 s).
const STOP_GRACE: Duration = Duration::from_secs(90);

/// The Workflow kind.
pub fn workflow_kind() -> Kind {
    Kind::new("argoproj.io/v1alpha1", "Workflow")
}

/// Whether a Workflow has ended.
fn finished(workflow: &Value) -> bool {
    matches!(
        workflow["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed" | "Error")
    )
}

/// Runs `nodes` as one Workflow (or follows the one already running for
/// the same inputs) and maps its tasks to node results. `planned` is each
/// node's status should its task succeed (`Deployed`, `Updated`,
/// `Unchanged`; `Removed`, `Absent`).
///
/// # Errors
/// An API error while submitting or following (a task's failure is a node
/// result, not an error).
pub async fn run(
    host: &Arc<Host>,
    settings: &WorkflowSettings,
    action: Action,
    nodes: &[PlanNode],
    planned: &HashMap<String, ComponentStatus>,
) -> Result<(Schedule<NodeReport>, String), K8sError> {
    let started = tokio::time::Instant::now();
    let plan = Plan {
        action,
        nodes: nodes.to_vec(),
        ..(*host.plan).clone()
    };
    let traceparent = host.trace.traceparent();
    // The executor stops the Workflow itself at ACTION_TIMEOUT; Argo's own
    // deadline is the backstop should the executor be gone by then.
    let deadline_seconds = host.bounds.remaining().saturating_add(STOP_GRACE).as_secs();
    let inputs = render::WorkflowInputs {
        plan: &plan,
        tier: &host.settings.tier,
        environment_name: &settings.environment_name,
        namespace: &settings.namespace,
        image: &settings.image,
        config_digest: &settings.config.digest(),
        config_files: &settings.config.items(),
        trace: Some((&host.trace.trace_id, &host.trace.span_id, traceparent)),
        otel: settings.otel.as_ref(),
        deadline_seconds: Some(deadline_seconds),
        teardown: (action == Action::Teardown).then(|| {
            (
                if host.settings.pv_policy == crate::config::PvPolicy::Delete {
                    "delete"
                } else {
                    "retain"
                },
                settings.teardown_confirm.as_deref().unwrap_or_default(),
            )
        }),
    };
    let name = submit_or_attach(host, settings, &inputs).await?;
    let key = ObjectKey::new(workflow_kind(), &settings.namespace, name.clone());
    let workflow = follow(host, &key, nodes).await?;
    let results = map_nodes(host, settings, &workflow, nodes, planned, action).await;
    let critical_path = crate::dag::scheduler::critical_path_of(
        nodes,
        results.iter().map(|r| (r.name.as_str(), r.duration)),
        action == Action::Teardown,
    );
    Ok((
        Schedule {
            results,
            wall: started.elapsed(),
            critical_path,
        },
        format!("{}/{name}", settings.namespace),
    ))
}

/// Submits the Workflow of `inputs`, with its ConfigMap and Secret, or
/// finds the one of the same inputs still running. Returns its name.
async fn submit_or_attach(
    host: &Host,
    settings: &WorkflowSettings,
    inputs: &render::WorkflowInputs<'_>,
) -> Result<String, K8sError> {
    let cluster = host.cluster.as_ref();
    let base = render::base_name(inputs);
    let bounds = host.bounds.clone();
    bounds
        .run(
            "looking for a running Workflow of this environment",
            refuse_if_running(cluster, &settings.namespace, inputs.tier, Some(&base)),
        )
        .await?;
    let selector = format!("{}={base}", render::RUN_LABEL);
    let all = bounds
        .run(
            "listing this run's Workflows",
            cluster.list(&workflow_kind(), Some(&settings.namespace), Some(&selector)),
        )
        .await?;
    let existing: Vec<&Value> = all.iter().collect();
    if let Some(running) = existing.iter().find(|w| !finished(w)) {
        let name = running["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        tracing::info!(
            phase = "orchestration",
            "attaching to Workflow {}/{name}, still running from an earlier start of this run",
            settings.namespace
        );
        // The earlier start may have been killed between submitting the
        // Workflow and writing its configuration, whose absence keeps the
        // task pods waiting (as the kubelet waits for a missing ConfigMap):
        // write it again, the same bytes for the same inputs.
        write_configuration(host, settings, &name, running).await?;
        return Ok(name);
    }
    let taken: BTreeSet<&str> = existing.iter().filter_map(|w| w["metadata"]["name"].as_str()).collect();
    let name = (1..)
        .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
        .find(|candidate| !taken.contains(candidate.as_str()))
        .unwrap_or(base);
    let workflow = render::workflow(inputs, &name);
    let live = bounds.run("submitting the Workflow", cluster.apply(&workflow)).await?;
    write_configuration(host, settings, &name, &live).await?;
    tracing::info!(
        phase = "orchestration",
        "submitted Workflow {}/{name} ({} tasks)",
        settings.namespace,
        inputs.plan.nodes.len()
    );
    Ok(name)
}

/// A Workflow of environment `tier` in `namespace` still running, other
/// than those `except` names (a run's base name, or `action:<action>` for
/// every Workflow of that action): such a Workflow drives the environment,
/// as a run holding its lock does.
///
/// # Errors
/// [`K8sError::Locked`] naming it; an API error listing Workflows (a
/// cluster that does not serve them has none).
pub async fn refuse_if_running(
    cluster: &dyn crate::k8s::Cluster,
    namespace: &str,
    tier: &str,
    except: Option<&str>,
) -> Result<(), K8sError> {
    let selector = format!("{}={tier}", render::ENVIRONMENT_LABEL);
    let all = match cluster.list(&workflow_kind(), Some(namespace), Some(&selector)).await {
        Err(K8sError::UnknownKind { .. }) => return Ok(()),
        Err(e) if e.is_not_found() => return Ok(()),
        other => other?,
    };
    let other = all
        .iter()
        .filter(|w| {
            let labels = &w["metadata"]["labels"];
            except.is_none_or(|except| match except.strip_prefix("action:") {
                Some(action) => labels[render::ACTION_LABEL].as_str() != Some(action),
                None => labels[render::RUN_LABEL].as_str() != Some(except),
            })
        })
        .find(|w| !finished(w));
    match other {
        Some(running) => Err(K8sError::Locked {
            lease: format!(
                "Workflow {namespace}/{}",
                running["metadata"]["name"].as_str().unwrap_or_default()
            ),
            holder: "Argo Workflows (still running: wait for it, or `argo stop` it)".to_owned(),
        }),
        None => Ok(()),
    }
}

/// Writes the ConfigMap and Secret the tasks of Workflow `name` mount,
/// owned by it (`workflow`, as the API server returned it) so they go when
/// it goes.
async fn write_configuration(
    host: &Host,
    settings: &WorkflowSettings,
    name: &str,
    workflow: &Value,
) -> Result<(), K8sError> {
    let cluster = host.cluster.as_ref();
    let mut config_map = settings
        .config
        .config_map(&render::config_map_name(name), &settings.namespace);
    config::owned_by(&mut config_map, workflow);
    host.bounds
        .run("writing the Workflow's configuration", cluster.apply(&config_map))
        .await?;
    let mut secret = config::secret(&host.secrets, &render::secret_name(name), &settings.namespace);
    if let Some(otel) = settings.otel.as_ref().filter(|o| !o.headers.is_empty()) {
        use base64::Engine as _;
        secret["data"][crate::observe::otel::HEADERS_FILE] =
            serde_json::json!(base64::engine::general_purpose::STANDARD.encode(otel.headers_text()));
    }
    config::owned_by(&mut secret, workflow);
    host.bounds
        .run("writing the Workflow's secrets", cluster.apply(&secret))
        .await?;
    Ok(())
}

/// The nodes of a Workflow's status that are the tasks of its DAG, by task
/// name (the node itself for a task run once, its `Retry` node otherwise).
fn task_nodes<'a>(workflow: &'a Value, tasks: &BTreeSet<&str>) -> HashMap<&'a str, &'a Value> {
    let root = workflow["metadata"]["name"].as_str().unwrap_or_default();
    workflow["status"]["nodes"]
        .as_object()
        .map(|nodes| {
            nodes
                .values()
                .filter(|n| n["boundaryID"].as_str() == Some(root))
                .filter_map(|n| n["displayName"].as_str().filter(|d| tasks.contains(d)).map(|d| (d, n)))
                .collect()
        })
        .unwrap_or_default()
}

/// Follows the Workflow by watching it until it ends, showing its tasks'
/// progress. On the run's cancellation (ACTION_TIMEOUT, a signal) it asks
/// Argo Workflows to stop it (`spec.shutdown: Stop`: no new task starts,
/// running task pods are signalled to stop) and follows it to its end, within a grace period.
async fn follow(host: &Host, key: &ObjectKey, nodes: &[PlanNode]) -> Result<Value, K8sError> {
    let cluster = host.cluster.as_ref();
    let tasks: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let mut shown: HashMap<String, &'static str> = HashMap::new();
    let mut show = |workflow: &Value| {
        for (task, node) in task_nodes(workflow, &tasks) {
            let state = match node["phase"].as_str() {
                Some("Running") => "started",
                Some("Succeeded") => "healthy",
                Some("Failed" | "Error") => "failed",
                Some("Omitted" | "Skipped") => "skipped",
                _ => continue,
            };
            if shown.get(task).copied() == Some(state) {
                continue;
            }
            if state == "started" {
                crate::observe::progress::started(task);
            } else {
                crate::observe::progress::finished(task, state);
            }
            shown.insert(task.to_owned(), state);
        }
    };
    let what = format!("Workflow {key} to finish");
    match wait_for(
        cluster,
        key,
        |state| {
            let Some(workflow) = state else {
                return Err(K8sError::Invalid(format!("{key} was deleted while it ran")));
            };
            show(workflow);
            Ok(finished(workflow))
        },
        &host.bounds,
        &what,
    )
    .await
    {
        Ok(Some(workflow)) => return Ok(workflow),
        Ok(None) => return Err(K8sError::Invalid(format!("{key} is gone"))),
        Err(WaitFailure {
            error: K8sError::Cancelled(_) | K8sError::Timeout { .. },
            ..
        }) => {}
        Err(WaitFailure { error, .. }) => return Err(error),
    }
    tracing::warn!(
        phase = "orchestration",
        "stopping Workflow {key}: no new task starts, running ones are signalled to stop"
    );
    let stop = json!({"spec": {"shutdown": "Stop"}});
    let grace = Bounds {
        deadline: tokio::time::Instant::now() + STOP_GRACE,
        cancel: CancellationToken::new(),
    };
    grace
        .run("stopping the Workflow", cluster.merge_patch(key, &stop))
        .await?;
    match wait_for(cluster, key, |s| Ok(s.is_none_or(finished)), &grace, &what).await {
        Ok(Some(workflow)) => Ok(workflow),
        Ok(None) => Err(K8sError::Invalid(format!("{key} is gone"))),
        Err(WaitFailure { last: Some(last), .. }) => Ok(last),
        Err(WaitFailure { error, .. }) => Err(error),
    }
}

/// The results of `nodes` from the ended Workflow.
async fn map_nodes(
    host: &Host,
    settings: &WorkflowSettings,
    workflow: &Value,
    nodes: &[PlanNode],
    planned: &HashMap<String, ComponentStatus>,
    action: Action,
) -> Vec<NodeResult<NodeReport>> {
    let tasks: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let by_task = task_nodes(workflow, &tasks);
    let deadline_passed = tokio::time::Instant::now() >= host.bounds.deadline;
    let mut ends: HashMap<&str, NodeEnd> = HashMap::new();
    let mut results = Vec::with_capacity(nodes.len());
    for node in nodes {
        let task = by_task.get(node.name.as_str()).copied();
        let phase = task.and_then(|t| t["phase"].as_str()).unwrap_or("");
        let message = task.and_then(|t| t["message"].as_str()).unwrap_or("").to_owned();
        let mut report = NodeReport::default();
        let end = match phase {
            "Succeeded" => {
                report.status = planned.get(&node.name).copied().unwrap_or(ComponentStatus::Unchanged);
                report.health = if action == Action::Teardown {
                    "Missing"
                } else {
                    "Healthy"
                }
                .to_owned();
                report.sync = if action == Action::Teardown {
                    String::new()
                } else {
                    "Synced".to_owned()
                };
                NodeEnd::Succeeded
            }
            "Failed" | "Error" if message.contains("shutdown") || message.contains("deadline") => {
                let why = format!("the Workflow was stopped: {message}");
                if deadline_passed {
                    NodeEnd::TimedOut(why)
                } else {
                    NodeEnd::Failed {
                        reason: FailureReason::Interrupted,
                        message: why,
                    }
                }
            }
            "Failed" | "Error" => {
                let (reason, detail) = task_failure(host, settings, workflow, task).await;
                report.diagnostics = application_diagnostics(host, &node.name).await;
                if !message.is_empty() {
                    report.diagnostics.push(format!("task {}: {message}", node.name));
                }
                NodeEnd::Failed {
                    reason,
                    message: if detail.is_empty() {
                        format!("{}: the task failed: {message}", node.name)
                    } else {
                        detail
                    },
                }
            }
            "Omitted" | "Skipped" => NodeEnd::Skipped(skip_reason(node, nodes, &ends, action)),
            "" => NodeEnd::Skipped("the Workflow ended before it started".to_owned()),
            other => {
                let why = format!("the Workflow ended with the task {other}");
                if deadline_passed {
                    NodeEnd::TimedOut(why)
                } else {
                    NodeEnd::Failed {
                        reason: FailureReason::Interrupted,
                        message: why,
                    }
                }
            }
        };
        ends.insert(node.name.as_str(), end.clone());
        let duration = task.map(duration_of).unwrap_or_default();
        results.push(NodeResult {
            name: node.name.clone(),
            end,
            value: Some(report),
            duration,
            started_after: None,
        });
    }
    results
}

/// Why a task did not run: the prerequisite that did not succeed, named as
/// the local scheduler names it.
fn skip_reason(node: &PlanNode, nodes: &[PlanNode], ends: &HashMap<&str, NodeEnd>, action: Action) -> String {
    let before = if action == Action::Teardown {
        &node.dependents
    } else {
        &node.depends_on
    };
    let relation = if action == Action::Teardown {
        "depends on it"
    } else {
        "it depends on"
    };
    let in_plan: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    for cause in before.iter().filter(|c| in_plan.contains(c.as_str())) {
        match ends.get(cause.as_str()) {
            Some(NodeEnd::Skipped(why)) => {
                let origin = why.split('`').nth(1).unwrap_or(cause);
                return format!("`{origin}` did not succeed (via `{cause}`)");
            }
            Some(NodeEnd::Succeeded) | None => {}
            Some(_) => return format!("`{cause}` did not succeed and {relation}"),
        }
    }
    "its prerequisites did not complete".to_owned()
}

fn duration_of(task: &Value) -> Duration {
    let time = |key: &str| task[key].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    match (time("startedAt"), time("finishedAt")) {
        (Some(start), Some(end)) => end.duration_since(start).try_into().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// The reason and message of a failed task, read from its pod's log (see
/// [`task_outcome`]).
async fn task_failure(
    host: &Host,
    settings: &WorkflowSettings,
    workflow: &Value,
    task: Option<&Value>,
) -> (FailureReason, String) {
    let fallback = (FailureReason::TaskFailed, String::new());
    let Some(task) = task else { return fallback };
    // A retried task's last attempt ran the last pod; a Pod node's
    // `children` are the tasks that follow it in the DAG, not attempts.
    let node_id = if task["type"] == "Retry" {
        task["children"]
            .as_array()
            .and_then(|c| c.last())
            .and_then(Value::as_str)
    } else {
        task["id"].as_str()
    }
    .unwrap_or_default();
    let wf_name = workflow["metadata"]["name"].as_str().unwrap_or_default();
    let selector = format!("workflows.argoproj.io/workflow={wf_name}");
    let cluster = host.cluster.as_ref();
    let bounds = Bounds {
        deadline: tokio::time::Instant::now() + Duration::from_secs(10),
        cancel: CancellationToken::new(),
    };
    let pods = match bounds
        .run(
            "finding a failed task's pod",
            cluster.list(&Kind::new("v1", "Pod"), Some(&settings.namespace), Some(&selector)),
        )
        .await
    {
        Ok(pods) => pods,
        Err(error) => {
            tracing::debug!(phase = "orchestration", "cannot list the task pods: {error}");
            return fallback;
        }
    };
    let Some(pod) = pods
        .iter()
        .find(|p| p["metadata"]["annotations"]["workflows.argoproj.io/node-id"].as_str() == Some(node_id))
    else {
        tracing::debug!(phase = "orchestration", "no pod of task node {node_id}");
        return fallback;
    };
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let log = match bounds
        .run(
            "reading a failed task's log",
            cluster.logs(&settings.namespace, pod_name, "main", TASK_LOG_LINES),
        )
        .await
    {
        Ok(log) => log,
        Err(error) => {
            tracing::debug!(phase = "orchestration", "cannot read the log of {pod_name}: {error}");
            return fallback;
        }
    };
    match task_outcome(&log) {
        Some((reason, message)) => (reason, crate::redact::scrub(&message).into_owned()),
        None => {
            tracing::debug!(
                phase = "orchestration",
                "the log of {pod_name} holds neither a report nor an error line"
            );
            fallback
        }
    }
}

/// The reason and message of a failed task from its log: the first failure
/// of its own JSON report (pretty-printed on stdout, in the same log), else
/// the last error line it logged.
fn task_outcome(log: &str) -> Option<(FailureReason, String)> {
    let report = log
        .match_indices("{\n")
        .filter(|(at, _)| *at == 0 || log.as_bytes()[at - 1] == b'\n')
        .find_map(|(at, _)| {
            serde_json::Deserializer::from_str(&log[at..])
                .into_iter::<Value>()
                .next()
                .and_then(Result::ok)
                .filter(|r| r["summary"].is_object())
        });
    if let Some(failure) = report.as_ref().map(|r| &r["failures"][0]).filter(|f| f.is_object()) {
        return Some((
            failure["reason"]
                .as_str()
                .map_or(FailureReason::TaskFailed, FailureReason::from),
            failure["message"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    log.lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["level"] == "error")
        .find_map(|line| {
            line["message"]
                .as_str()
                .map(|m| (FailureReason::TaskFailed, m.to_owned()))
        })
}

/// Why a node's Application is not healthy, read from the cluster.
async fn application_diagnostics(host: &Host, name: &str) -> Vec<String> {
    let key = crate::argocd::app_key(&host.settings.argocd_namespace, name);
    let bounds = Bounds {
        deadline: tokio::time::Instant::now() + Duration::from_secs(10),
        cancel: CancellationToken::new(),
    };
    match bounds
        .run("reading a failed node's Application", host.cluster.get(&key))
        .await
    {
        Ok(Some(app)) => crate::argocd::diagnostics(&app),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{FailureReason, task_outcome};

    #[test]
    fn a_task_failure_comes_from_its_report_else_its_last_error_line() {
        let lines = concat!(
            r#"{"level":"info","message":"deploy app:x"}"#,
            "\n",
            r#"{"level":"error","message":"x: health Degraded"}"#,
            "\n"
        );
        let report = "{\n  \"summary\": {\"status\": \"Failed\"},\n  \"failures\": [{\"reason\": \"Degraded\", \"message\": \"x is Degraded\"}]\n}\n";
        assert_eq!(
            task_outcome(&format!("{lines}{report}")),
            Some((FailureReason::Degraded, "x is Degraded".to_owned()))
        );
        assert_eq!(
            task_outcome(lines),
            Some((FailureReason::TaskFailed, "x: health Degraded".to_owned()))
        );
        assert_eq!(task_outcome("exec format error\n"), None);
    }
}
