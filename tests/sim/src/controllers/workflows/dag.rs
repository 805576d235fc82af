//! DAG templates, after `workflow/controller/dag.go`: task nodes are named
//! `<dag node>.<task>`; a task whose `depends` (or `dependencies`) cannot
//! hold any more becomes an `Omitted` node of type Skipped ("omitted:
//! depends condition not met"), a false `when` a `Skipped` one; a new task
//! node is a child of its dependencies' outbound nodes (root tasks: of the
//! DAG node); the DAG's phase is `assessDAGPhase`'s (a breadth-first walk
//! from the DAG's children in which omitted branches inherit their parent's
//! phase, failing fast on a failed target), and its `outboundNodes` are its
//! targets' outbound nodes.

use super::depends::{self, Expr};
use super::nodes::{self, completed, failed_or_error, fulfilled};
use super::operator::{Halt, Op};
use super::template::{self, Base};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

struct Dag {
    name: String,
    id: String,
    tasks: Vec<Value>,
    exprs: BTreeMap<String, Option<Expr>>,
    base: Base,
    scope: String,
    visited: HashSet<String>,
}

impl Dag {
    fn task(&self, name: &str) -> Value {
        self.tasks
            .iter()
            .find(|t| t["name"].as_str() == Some(name))
            .cloned()
            .unwrap_or_default()
    }

    fn deps(&self, name: &str) -> BTreeSet<String> {
        self.exprs
            .get(name)
            .cloned()
            .flatten()
            .map(|e| e.tasks())
            .unwrap_or_default()
    }

    fn node_name(&self, task: &str) -> String {
        format!("{}.{task}", self.name)
    }

    /// Every task `name` depends on, transitively.
    fn ancestry(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = self.deps(name).into_iter().collect();
        while let Some(t) = todo.pop() {
            if out.insert(t.clone()) {
                todo.extend(self.deps(&t));
            }
        }
        out
    }
}

/// The when-clause after substitution: `true`, `false`, or `a == b` /
/// `a != b` comparisons of literals.
fn when_holds(when: &str) -> Result<bool, String> {
    let w = when.trim();
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
    match w {
        "true" => Ok(true),
        "false" => Ok(false),
        _ if w.contains("!=") => {
            let (a, b) = w.split_once("!=").unwrap_or((w, ""));
            Ok(unquote(a) != unquote(b))
        }
        _ if w.contains("==") => {
            let (a, b) = w.split_once("==").unwrap_or((w, ""));
            Ok(unquote(a) == unquote(b))
        }
        _ => Err(format!(
            "kube-sim cannot evaluate when '{when}' (literals and ==/!= only)"
        )),
    }
}

impl Op<'_> {
    /// `getOutboundNodes`.
    fn outbound(&self, id: &str) -> Vec<String> {
        let Some(node) = self.node_by_id(id) else {
            return vec![];
        };
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        };
        match node["type"].as_str() {
            Some("Skipped" | "Pod" | "Suspend") => vec![id.to_string()],
            Some("Retry") if !ids(&node["children"]).is_empty() => {
                ids(&node["children"]).last().cloned().into_iter().collect()
            }
            _ => ids(&node["outboundNodes"])
                .iter()
                .flat_map(|o| self.outbound(o))
                .collect(),
        }
    }

    fn connect(&mut self, dag: &Dag, task: &str, child: &str) {
        let deps = dag.deps(task);
        if deps.is_empty() {
            self.add_child(&dag.name.clone(), child);
            return;
        }
        for dep in deps {
            let dep_id = nodes::node_id(&self.name(), &dag.node_name(&dep));
            for out in self.outbound(&dep_id) {
                if let Some(parent) = self.node_by_id(&out).and_then(|n| n["name"].as_str().map(String::from)) {
                    self.add_child(&parent, child);
                }
            }
        }
    }

    /// The `tasks.<name>.*` variables of a task's ancestors.
    fn task_params(&self, dag: &Dag, task: &str) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        for a in dag.ancestry(task) {
            let Some(n) = self.node(&dag.node_name(&a)) else {
                continue;
            };
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            p.insert(format!("tasks.{a}.id"), s(&n["id"]));
            p.insert(format!("tasks.{a}.status"), s(&n["phase"]));
            p.insert(format!("tasks.{a}.startedAt"), s(&n["startedAt"]));
            p.insert(format!("tasks.{a}.finishedAt"), s(&n["finishedAt"]));
            p.insert(format!("tasks.{a}.hostNodeName"), s(&n["hostNodeName"]));
            let outputs = if n["type"] == "Retry" {
                n["children"]
                    .as_array()
                    .and_then(|c| c.last())
                    .and_then(|id| id.as_str())
                    .and_then(|id| self.node_by_id(id))
                    .map(|c| c["outputs"].clone())
                    .unwrap_or_default()
            } else {
                n["outputs"].clone()
            };
            if let Some(code) = outputs["exitCode"].as_str() {
                p.insert(format!("tasks.{a}.exitCode"), code.to_string());
                p.insert(format!("tasks.{a}.outputs.exitCode"), code.to_string());
            }
            if let Some(r) = outputs["result"].as_str() {
                p.insert(format!("tasks.{a}.outputs.result"), r.to_string());
            }
        }
        p
    }

    /// `executeDAGTask`.
    fn dag_task(&mut self, dag: &mut Dag, task_name: &str) {
        if !dag.visited.insert(task_name.to_string()) {
            return;
        }
        let node_name = dag.node_name(task_name);
        let node = self.node(&node_name);
        if node.as_ref().is_some_and(fulfilled) {
            return;
        }
        let task = dag.task(task_name);
        let boundary = (dag.id.clone(), dag.name.clone());
        let b = Some((boundary.0.as_str(), boundary.1.as_str()));
        if let Some(expr) = dag.exprs.get(task_name).cloned().flatten() {
            for dep in expr.tasks() {
                self.dag_task(dag, &dep);
            }
            if node.is_none() {
                let mut phases = BTreeMap::new();
                for dep in expr.tasks() {
                    match self.node(&dag.node_name(&dep)) {
                        Some(n) if fulfilled(&n) => phases.insert(dep, n["phase"].as_str().unwrap_or("").to_string()),
                        _ => return,
                    };
                }
                let continues = |t: &str| {
                    let c = &dag.task(t)["continueOn"];
                    (
                        c["error"].as_bool().unwrap_or(false),
                        c["failed"].as_bool().unwrap_or(false),
                    )
                };
                if !expr.eval(&|t| phases.get(t).cloned().unwrap_or_default(), &continues) {
                    let msg = "omitted: depends condition not met";
                    self.init_node(&node_name, "Skipped", &task, &dag.scope, b, "Omitted", Some(msg));
                    self.connect(dag, task_name, &node_name);
                    return;
                }
            }
        }
        let resolved = template::substitute(&task, &self.task_params(dag, task_name));
        if node.is_none() {
            self.connect(dag, task_name, &node_name);
            if let Some(when) = resolved["when"].as_str().filter(|w| !w.trim().is_empty()) {
                match when_holds(when) {
                    Ok(true) => {}
                    Ok(false) => {
                        let msg = format!("when '{when}' evaluated false");
                        self.init_node(&node_name, "Skipped", &task, &dag.scope, b, "Skipped", Some(&msg));
                        return;
                    }
                    Err(e) => {
                        self.init_node(&node_name, "Skipped", &task, &dag.scope, b, "Error", Some(&e));
                        return;
                    }
                }
            }
        }
        let base = dag.base.clone();
        if let Err(Halt::Error(e)) = self.execute(&node_name, &resolved, &base, &resolved["arguments"], b) {
            let msg = format!("task '{node_name}' errored: {e}");
            self.mark(&node_name, "Error", Some(&msg));
        }
    }

    /// `assessDAGPhase`.
    fn assess(&self, dag: &Dag, targets: &[String]) -> &'static str {
        if self.shutdown.is_some() {
            return "Failed";
        }
        let target_ids: BTreeMap<String, String> = targets
            .iter()
            .map(|t| (nodes::node_id(&self.name(), &dag.node_name(t)), t.clone()))
            .collect();
        let mut branch: BTreeMap<String, String> = BTreeMap::new();
        let root = self.node_by_id(&dag.id).unwrap_or_default();
        let ids = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        };
        let mut queue: VecDeque<(String, String)> = ids(&root["children"])
            .into_iter()
            .map(|c| (c, "Succeeded".into()))
            .collect();
        let mut seen = HashSet::new();
        while let Some((id, phase)) = queue.pop_front() {
            if !seen.insert((id.clone(), phase.clone())) {
                continue;
            }
            let Some(node) = self.node_by_id(&id) else {
                return "Running";
            };
            if !fulfilled(&node) {
                return "Running";
            }
            let mut phase = phase;
            if completed(&node) {
                phase = node["phase"].as_str().unwrap_or("").to_string();
            }
            if target_ids.contains_key(&id) {
                let prev = branch.entry(id.clone()).or_default();
                if !failed_or_error(prev) {
                    *prev = phase.clone();
                }
            }
            let next = if node["type"] == "Retry" {
                ids(&node["children"])
                    .iter()
                    .flat_map(|c| self.node_by_id(c).map(|n| ids(&n["children"])).unwrap_or_default())
                    .collect()
            } else {
                ids(&node["children"])
            };
            queue.extend(next.into_iter().map(|c| (c, phase.clone())));
        }
        let mut result = "Succeeded";
        for (id, task) in &target_ids {
            match branch.get(id).map(String::as_str) {
                None | Some("") => result = "Running",
                Some(p) if failed_or_error(p) => {
                    let c = &dag.task(task)["continueOn"];
                    let continues =
                        (p == "Failed" && c["failed"] == json!(true)) || (p == "Error" && c["error"] == json!(true));
                    if !continues {
                        return if p == "Failed" { "Failed" } else { "Error" };
                    }
                }
                _ => {}
            }
        }
        result
    }

    /// `executeDAG`.
    pub(super) fn execute_dag(
        &mut self,
        name: &str,
        holder: &Value,
        t: &Value,
        base: &Base,
        scope: &str,
        boundary: Option<(&str, &str)>,
    ) -> Result<Value, Halt> {
        let node = match self.node(name) {
            Some(n) => n,
            None => self.init_node(name, "DAG", holder, scope, boundary, "Running", None),
        };
        let id = node["id"].as_str().unwrap_or("").to_string();
        self.dag_templates.insert(id.clone(), t.clone());
        let tasks = t["dag"]["tasks"].as_array().cloned().unwrap_or_default();
        let mut exprs = BTreeMap::new();
        for task in &tasks {
            let n = task["name"].as_str().unwrap_or("").to_string();
            exprs.insert(n, depends::of_task(task).ok().flatten());
        }
        let mut dag = Dag {
            name: name.to_string(),
            id,
            tasks,
            exprs,
            base: base.clone(),
            scope: base.scope(),
            visited: HashSet::new(),
        };
        let targets: Vec<String> = match t["dag"]["target"].as_str().filter(|s| !s.is_empty()) {
            Some(target) => target.split(' ').map(String::from).collect(),
            None => {
                let all: BTreeSet<String> = dag.exprs.keys().cloned().collect();
                let used: BTreeSet<String> = all.iter().flat_map(|n| dag.deps(n)).collect();
                all.difference(&used).cloned().collect()
            }
        };
        for target in &targets {
            self.dag_task(&mut dag, target);
        }
        let phase = self.assess(&dag, &targets);
        if phase == "Running" {
            return Ok(self.node(name).unwrap_or(node));
        }
        let mut outbound = vec![];
        for target in &targets {
            let tid = nodes::node_id(&self.name(), &dag.node_name(target));
            if self.node_by_id(&tid).is_some() {
                outbound.extend(self.outbound(&tid));
            }
        }
        if let Some(mut n) = self.node(name) {
            n["outboundNodes"] = json!(outbound);
            self.set_node(n);
        }
        Ok(self.mark(name, phase, None).unwrap_or(node))
    }
}

#[cfg(test)]
mod tests {
    use super::when_holds;

    #[test]
    fn when_clauses() {
        assert_eq!(when_holds("true"), Ok(true));
        assert_eq!(when_holds("\"a\" == \"a\""), Ok(true));
        assert_eq!(when_holds("Succeeded != Succeeded"), Ok(false));
        assert!(when_holds("{{x}} > 3").is_err());
    }
}
