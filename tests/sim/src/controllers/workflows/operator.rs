//! One pass of the workflow operator over a Workflow, after
//! `workflow/controller/operator.go` `operate`: one-time validation, pod
//! reconciliation (`assessNodeStatus`, `inferFailedReason`), execution
//! control for shutdown and the workflow deadline (`exec_control.go`
//! `applyExecutionControl`, `failNodesWithoutCreatedPodsAfterDeadlineOrShutdown`),
//! execution of the entrypoint (`executeTemplate`, with retry nodes as
//! `processNodeRetries` makes them, and `checkParallelism`), and the
//! workflow phase and message that follow the entry node. DAG templates are
//! in [`super::dag`].

use super::nodes::{self, active, fulfilled};
use super::template::{self, Base};
use super::{pod, schema, validate};
use crate::api::object;
use crate::api::write::{self, WriteCtx};
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Why a template did not run now.
#[derive(Debug)]
pub enum Halt {
    /// A parallelism limit: try again when something finishes.
    Parallelism,
    /// The template errored (the node says why).
    Error(String),
}

/// The state of one pass.
pub struct Op<'a> {
    pub(super) cluster: &'a Arc<Cluster>,
    pub(super) user: &'a str,
    pub(super) wf: Value,
    pub(super) spec: Value,
    pub(super) base: Base,
    pub(super) global: BTreeMap<String, String>,
    pub(super) deadline: Option<jiff::Timestamp>,
    pub(super) shutdown: Option<String>,
    /// When the workflow wants to be looked at again, if nothing else happens.
    pub requeue: Option<Duration>,
    pub(super) dag_templates: HashMap<String, Value>,
    pub(super) include_result: bool,
}

fn pods_gr() -> GroupResource {
    GroupResource::new("", "pods")
}

impl<'a> Op<'a> {
    pub(super) fn name(&self) -> String {
        object::name(&self.wf).to_string()
    }

    pub(super) fn namespace(&self) -> String {
        object::namespace(&self.wf).to_string()
    }

    /// A node by name.
    pub(super) fn node(&self, name: &str) -> Option<Value> {
        self.node_by_id(&nodes::node_id(&self.name(), name))
    }

    pub(super) fn node_by_id(&self, id: &str) -> Option<Value> {
        self.wf["status"]["nodes"].get(id).cloned()
    }

    pub(super) fn set_node(&mut self, node: Value) {
        if !self.wf["status"]["nodes"].is_object() {
            self.wf["status"]["nodes"] = json!({});
        }
        let id = node["id"].as_str().unwrap_or("").to_string();
        self.wf["status"]["nodes"][id] = node;
    }

    pub(super) fn all_nodes(&self) -> Vec<Value> {
        self.wf["status"]["nodes"]
            .as_object()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// `addChildNode`.
    pub(super) fn add_child(&mut self, parent: &str, child: &str) {
        let child_id = nodes::node_id(&self.name(), child);
        if let Some(mut p) = self.node(parent) {
            let children = p["children"].as_array().cloned().unwrap_or_default();
            if !children.iter().any(|c| c == &json!(child_id)) {
                let mut children = children;
                children.push(json!(child_id));
                p["children"] = json!(children);
                self.set_node(p);
            }
        }
    }

    /// `markNodePhase`.
    pub(super) fn mark(&mut self, name: &str, phase: &str, message: Option<&str>) -> Option<Value> {
        let mut node = self.node(name)?;
        node["phase"] = json!(phase);
        if let Some(m) = message {
            node["message"] = json!(m);
        }
        if fulfilled(&node) && node["finishedAt"].is_null() {
            node["finishedAt"] = json!(crate::time::now_rfc3339());
        }
        self.set_node(node.clone());
        Some(node)
    }

    /// `initializeNode` (+ `setNode`).
    #[allow(clippy::too_many_arguments)] // the NodeStatus fields set at creation
    pub(super) fn init_node(
        &mut self,
        name: &str,
        kind: &str,
        holder: &Value,
        scope: &str,
        boundary: Option<(&str, &str)>,
        phase: &str,
        message: Option<&str>,
    ) -> Value {
        let node = nodes::new_node(&self.name(), name, kind, holder, scope, boundary, phase, message);
        self.set_node(node.clone());
        node
    }

    /// `initializeNodeOrMarkError`.
    fn error_node(
        &mut self,
        name: &str,
        holder: &Value,
        scope: &str,
        boundary: Option<(&str, &str)>,
        e: String,
    ) -> Halt {
        if self.node(name).is_some() {
            self.mark(name, "Error", Some(&e));
        } else {
            self.init_node(name, "Skipped", holder, scope, boundary, "Error", Some(&e));
        }
        Halt::Error(e)
    }

    pub(super) fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| jiff::Timestamp::now() > d)
    }

    fn active_pods(&self) -> i64 {
        self.all_nodes()
            .iter()
            .filter(|n| n["type"] == "Pod" && active(n))
            .count() as i64
    }

    pub(super) fn active_children(&self, boundary_id: &str) -> i64 {
        self.all_nodes()
            .iter()
            .filter(|n| {
                n["boundaryID"] == boundary_id
                    && matches!(n["type"].as_str(), Some("Pod" | "Steps" | "DAG"))
                    && active(n)
            })
            .count() as i64
    }

    /// `checkParallelism` (workflow and template `parallelism`).
    fn check_parallelism(
        &self,
        t: &Value,
        existing: Option<&Value>,
        boundary: Option<(&str, &str)>,
    ) -> Result<(), Halt> {
        if let Some(p) = self.spec["parallelism"].as_i64()
            && self.active_pods() >= p
        {
            return Err(Halt::Parallelism);
        }
        if let (Some(node), Some(p)) = (existing, t["parallelism"].as_i64())
            && t["dag"].is_object()
            && p > 0
            && self.active_children(node["id"].as_str().unwrap_or("")) >= p
        {
            return Err(Halt::Parallelism);
        }
        if let Some((bid, _)) = boundary
            && existing.is_none_or(|n| !active(n))
            && let Some(p) = self.dag_templates.get(bid).and_then(|bt| bt["parallelism"].as_i64())
            && p > 0
            && self.active_children(bid) >= p
        {
            return Err(Halt::Parallelism);
        }
        Ok(())
    }

    fn retry_strategy(&self, t: &Value) -> Option<Value> {
        [&t["retryStrategy"], &self.spec["retryStrategy"]]
            .into_iter()
            .find(|r| r.is_object())
            .cloned()
    }

    /// `executeTemplate`: the node of `name` after running what it can.
    pub(super) fn execute(
        &mut self,
        name: &str,
        holder: &Value,
        base: &Base,
        args: &Value,
        boundary: Option<(&str, &str)>,
    ) -> Result<Value, Halt> {
        let scope = base.scope();
        let existing = self.node(name);
        let (t, new_base) = match template::resolve(self.cluster, &self.namespace(), base, holder) {
            Ok(x) => x,
            Err(e) => return Err(self.error_node(name, holder, &scope, boundary, e)),
        };
        let processed = match template::process_inputs(&t, args) {
            Ok(p) => p,
            Err(e) => return Err(self.error_node(name, holder, &scope, boundary, e)),
        };
        let mut params = self.global.clone();
        template::input_params(&processed, &mut params);
        params.insert("node.name".into(), name.to_string());
        if let Some(task) = holder["name"].as_str() {
            params.insert("tasks.name".into(), task.to_string());
        }
        let is_pod = processed["container"].is_object();
        let retry = self.retry_strategy(&processed);
        if is_pod && retry.is_none() {
            let tname = processed["name"].as_str().unwrap_or("");
            params.insert("pod.name".into(), nodes::pod_name(&self.name(), name, tname));
        }
        let processed = template::substitute(&processed, &params);
        if let Some(node) = existing.as_ref().filter(|n| fulfilled(n)) {
            return Ok(node.clone());
        }
        self.check_parallelism(&processed, existing.as_ref(), boundary)?;
        if let Some(rs) = retry {
            return self.execute_retry(name, holder, &processed, &params, &rs, &new_base, boundary);
        }
        self.execute_leaf(name, holder, &processed, &new_base, &scope, boundary)
    }

    fn execute_leaf(
        &mut self,
        name: &str,
        holder: &Value,
        t: &Value,
        base: &Base,
        scope: &str,
        boundary: Option<(&str, &str)>,
    ) -> Result<Value, Halt> {
        if t["container"].is_object() {
            return Ok(self.execute_container(name, holder, t, scope, boundary));
        }
        if t["dag"].is_object() {
            return self.execute_dag(name, holder, t, base, scope, boundary);
        }
        let kind = [
            "steps",
            "script",
            "resource",
            "suspend",
            "containerSet",
            "http",
            "plugin",
            "data",
        ]
        .into_iter()
        .find(|k| !t[*k].is_null())
        .unwrap_or("unknown");
        let e = format!("kube-sim simulates container and dag templates, not {kind} templates");
        Err(self.error_node(name, holder, scope, boundary, e))
    }

    /// `executeContainer` + `createWorkflowPod`.
    fn execute_container(
        &mut self,
        name: &str,
        holder: &Value,
        t: &Value,
        scope: &str,
        boundary: Option<(&str, &str)>,
    ) -> Value {
        let node = match self.node(name) {
            Some(n) => n,
            None => {
                let mut n = self.init_node(name, "Pod", holder, scope, boundary, "Pending", None);
                if t["inputs"].as_object().is_some_and(|i| !i.is_empty()) {
                    n["inputs"] = t["inputs"].clone();
                    self.set_node(n.clone());
                }
                n
            }
        };
        let pod_name = nodes::pod_name(&self.name(), name, t["name"].as_str().unwrap_or(""));
        if self
            .cluster
            .store
            .get(&pods_gr(), &self.namespace(), &pod_name)
            .is_some()
        {
            return node;
        }
        if let Some(strategy) = self.shutdown.clone() {
            let msg = format!("workflow shutdown with strategy: {strategy}");
            return self.mark(name, "Failed", Some(&msg)).unwrap_or(node);
        }
        let seconds_left = self
            .deadline
            .map(|d| d.as_second() - jiff::Timestamp::now().as_second());
        let input = pod::PodInput {
            wf: &self.wf,
            spec: &self.spec,
            node_name: name,
            template: t,
            seconds_left,
        };
        let Some(body) = pod::build(&input) else {
            // Past the deadline no pod is made; Argo fails such a Pending node
            // on its next pass (`failNodesWithoutCreatedPodsAfterDeadlineOrShutdown`),
            // which nothing would trigger here, so it fails now.
            return self
                .mark(name, "Failed", Some("Step exceeded its deadline"))
                .unwrap_or(node);
        };
        if let Some(rt) = self.cluster.registry.preferred("", "pods") {
            let ctx = WriteCtx::controller(self.user, "workflow-controller");
            if let Err(e) = write::create(self.cluster, &rt, Some(&self.namespace()), body, &ctx)
                && e.code != 409
            {
                return self.mark(name, "Error", Some(&e.message)).unwrap_or(node);
            }
        }
        node
    }

    #[allow(clippy::too_many_arguments)] // executeTemplate's state for the retry branch
    fn execute_retry(
        &mut self,
        name: &str,
        holder: &Value,
        t: &Value,
        params: &BTreeMap<String, String>,
        rs: &Value,
        base: &Base,
        boundary: Option<(&str, &str)>,
    ) -> Result<Value, Halt> {
        let scope = base.scope();
        if self.node(name).is_none() {
            let mut n = self.init_node(name, "Retry", holder, &scope, boundary, "Running", None);
            if t["inputs"].as_object().is_some_and(|i| !i.is_empty()) {
                n["inputs"] = t["inputs"].clone();
                self.set_node(n);
            }
        }
        // Each finished attempt may start the next one in the same pass.
        for _ in 0..3 {
            let Some(go_on) = super::retry::process(self, name, rs) else {
                break;
            };
            let retry = self.node(name).unwrap_or_default();
            if !go_on || fulfilled(&retry) {
                return Ok(retry);
            }
            let children: Vec<String> = retry["children"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(String::from))
                .collect();
            let last = children.last().and_then(|id| self.node_by_id(id));
            let (child, n) = match last {
                Some(l) if !fulfilled(&l) => (l["name"].as_str().unwrap_or("").to_string(), children.len() - 1),
                _ => {
                    let child = format!("{name}({})", children.len());
                    self.add_child(name, &child);
                    (child, children.len())
                }
            };
            let mut local = params.clone();
            local.insert("retries".into(), n.to_string());
            local.insert("node.name".into(), child.clone());
            let tname = t["name"].as_str().unwrap_or("");
            local.insert("pod.name".into(), nodes::pod_name(&self.name(), &child, tname));
            let attempt = template::substitute(t, &local);
            let node = self.execute_leaf(&child, holder, &attempt, base, &scope, boundary)?;
            if !fulfilled(&node) {
                break;
            }
        }
        Ok(self.node(name).unwrap_or_default())
    }
}

/// What a pass decided.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The Workflow with its new status, labels and annotations, if changed.
    pub updated: Option<Value>,
    /// Look again after this long (deadlines, retry back-off).
    pub requeue: Option<Duration>,
}

/// The workflow spec in effect (`setExecWorkflow`: a `workflowTemplateRef`'s
/// spec with the Workflow's entrypoint and arguments over it).
fn exec_spec(cluster: &Cluster, wf: &Value) -> (Value, Base) {
    let spec = &wf["spec"];
    let Some(r) = spec.get("workflowTemplateRef").filter(|r| r.is_object()) else {
        return (spec.clone(), Base::Workflow(Arc::new(wf.clone())));
    };
    let clustered = r["clusterScope"].as_bool().unwrap_or(false);
    let Some(object) = template::fetch(
        cluster,
        object::namespace(wf),
        r["name"].as_str().unwrap_or(""),
        clustered,
    ) else {
        return (spec.clone(), Base::Workflow(Arc::new(wf.clone())));
    };
    let mut merged = object["spec"].clone();
    for (k, v) in spec.as_object().into_iter().flatten() {
        if k != "arguments" && k != "workflowTemplateRef" {
            merged[k] = v.clone();
        }
    }
    let mut params: Vec<Value> = spec["arguments"]["parameters"].as_array().cloned().unwrap_or_default();
    for p in object["spec"]["arguments"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if !params.iter().any(|x| x["name"] == p["name"]) {
            params.push(p.clone());
        }
    }
    merged["arguments"]["parameters"] = json!(params);
    let base = if clustered {
        Base::Cluster(object)
    } else {
        Base::Namespaced(object)
    };
    (merged, base)
}

fn set_label(wf: &mut Value, key: &str, value: &str) {
    let meta = object::meta_mut(wf);
    let labels = meta.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    labels[key] = json!(value);
}

/// Runs one pass over a Workflow.
pub fn operate(cluster: &Arc<Cluster>, user: &str, current: &Value) -> Outcome {
    if object::label(current, "workflows.argoproj.io/completed") == Some("true") || object::is_deleting(current) {
        return Outcome::default();
    }
    let mut wf = current.clone();
    if !wf["status"].is_object() {
        wf["status"] = json!({});
    }
    let (spec, base) = exec_spec(cluster, &wf);
    let phase = wf["status"]["phase"].as_str().unwrap_or("").to_string();
    if phase.is_empty() || phase == "Unknown" {
        let verdict = schema::check("Workflow", &wf)
            .map_err(|e| format!("cannot unmarshall spec: {e}"))
            .and_then(|()| validate::workflow(cluster, &wf).map_err(|e| format!("invalid spec: {e}")));
        if let Err(message) = verdict {
            complete(&mut wf, "Failed", &message);
            return Outcome {
                updated: Some(wf),
                requeue: None,
            };
        }
        wf["status"]["phase"] = json!("Running");
        wf["status"]["startedAt"] = json!(crate::time::now_rfc3339());
        set_label(&mut wf, "workflows.argoproj.io/phase", "Running");
        set_label(&mut wf, "workflows.argoproj.io/completed", "false");
        let meta = object::meta_mut(&mut wf);
        let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        annotations["workflows.argoproj.io/pod-name-format"] = json!("v2");
    }
    let deadline = spec["activeDeadlineSeconds"].as_i64().and_then(|secs| {
        let started: jiff::Timestamp = wf["status"]["startedAt"].as_str()?.parse().ok()?;
        started.checked_add(jiff::SignedDuration::from_secs(secs)).ok()
    });
    let shutdown = spec["shutdown"].as_str().filter(|s| !s.is_empty()).map(String::from);
    let include_result =
        spec.to_string().contains(".outputs.result") || wf["spec"].to_string().contains(".outputs.result");
    let global = template::global_params(&wf, &spec);
    let mut op = Op {
        cluster,
        user,
        wf,
        spec,
        base,
        global,
        deadline,
        shutdown,
        requeue: None,
        dag_templates: HashMap::new(),
        include_result,
    };
    if let Some(d) = op.deadline
        && !op.deadline_passed()
    {
        let left = d.as_millisecond() - jiff::Timestamp::now().as_millisecond();
        op.requeue = Some(Duration::from_millis(u64::try_from(left.max(0)).unwrap_or(0) + 50));
    }
    super::reconcile::pods(&mut op);
    super::reconcile::execution_control(&mut op);
    let entry = op.spec["entrypoint"].as_str().unwrap_or("").to_string();
    let name = op.name();
    let base = op.base.clone();
    let args = op.spec["arguments"].clone();
    let root = op.execute(&name, &json!({"template": entry}), &base, &args, None);
    finish(&mut op, root);
    let requeue = op.requeue;
    let changed = op.wf != *current;
    Outcome {
        updated: changed.then_some(op.wf),
        requeue,
    }
}

/// The workflow phase from the entry node, once nothing runs any more.
fn finish(op: &mut Op<'_>, root: Result<Value, Halt>) {
    let root = match root {
        Ok(n) => n,
        Err(Halt::Parallelism) => return,
        Err(Halt::Error(e)) => {
            let message = format!("error in entry template execution: {e}");
            complete(&mut op.wf, "Error", &message);
            return;
        }
    };
    if !fulfilled(&root) {
        return;
    }
    // Like taskResultsInProgress: a workflow is not done while a pod of it
    // still runs (a terminated task finishing its SIGTERM handling).
    let ns = op.namespace();
    let running = op.all_nodes().iter().filter(|n| n["type"] == "Pod").any(|n| {
        let pod = nodes::pod_name(&op.name(), n["name"].as_str().unwrap_or(""), nodes::template_of(n));
        op.cluster
            .store
            .get(&pods_gr(), &ns, &pod)
            .is_some_and(|p| op.cluster.runtime.is_running(object::uid(&p)) || p["status"]["phase"] == "Running")
    });
    if running {
        return;
    }
    let phase = match root["phase"].as_str().unwrap_or("") {
        "Failed" => "Failed",
        "Error" => "Error",
        _ => "Succeeded",
    };
    let message = match (&op.shutdown, phase) {
        (Some(s), "Failed" | "Error") => format!("Stopped with strategy '{s}'"),
        _ => root["message"].as_str().unwrap_or("").to_string(),
    };
    complete(&mut op.wf, phase, &message);
}

/// `markWorkflowPhase` for a completed phase.
pub(super) fn complete(wf: &mut Value, phase: &str, message: &str) {
    let now = crate::time::now_rfc3339();
    if wf["status"]["startedAt"].is_null() {
        wf["status"]["startedAt"] = json!(now);
    }
    wf["status"]["phase"] = json!(phase);
    wf["status"]["finishedAt"] = json!(now);
    if message.is_empty() {
        if let Some(s) = wf["status"].as_object_mut() {
            s.remove("message");
        }
    } else {
        wf["status"]["message"] = json!(message);
    }
    wf["status"]["conditions"] = json!([{"type": "Completed", "status": "True"}]);
    set_label(wf, "workflows.argoproj.io/phase", phase);
    set_label(wf, "workflows.argoproj.io/completed", "true");
}
