//! The checks of `workflow/validate/validate.go` (`Workflow`,
//! `validateTemplateHolder`, `validateTemplate`, `validateDAG`, with
//! `util/sorting/topological_sorting.go` for the task order) that the
//! simulated controller relies on, with Argo's messages. The controller
//! fails a Workflow that does not pass with `invalid spec: <message>`
//! (`operator.go` `setExecWorkflow`).

use super::depends;
use super::template::{self, Base};
use crate::cluster::Cluster;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

const TYPES: [&str; 9] = [
    "container",
    "containerSet",
    "steps",
    "script",
    "resource",
    "dag",
    "suspend",
    "http",
    "plugin",
];

struct Ctx<'a> {
    cluster: &'a Cluster,
    namespace: String,
    visited: HashSet<(String, String)>,
}

fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.len() <= 128
}

/// `validateWorkflowFieldNames` (names required, valid, unique).
fn field_names(items: &[Value]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let name = item["name"].as_str().unwrap_or("");
        if name.is_empty() {
            return Err(format!("[{i}].name is required"));
        }
        if !is_field_name(name) {
            return Err(format!(
                "[{i}].name: '{name}' is invalid: name must consist of alpha-numeric characters or '-', and must start with an alpha-numeric character"
            ));
        }
        if !seen.insert(name.to_string()) {
            return Err(format!("[{i}].name '{name}' is not unique"));
        }
    }
    Ok(())
}

/// `TopologicalSorting`'s failures for the tasks of a DAG.
fn sort_tasks(tasks: &[Value]) -> Result<(), String> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in tasks {
        let name = t["name"].as_str().unwrap_or("").to_string();
        if deps.contains_key(&name) {
            return Err(format!("duplicated nodeName {name}"));
        }
        let d = depends::of_task(t)?.map(|e| e.tasks()).unwrap_or_default();
        deps.insert(name, d);
    }
    for d in deps.values().flatten() {
        if !deps.contains_key(d) {
            return Err(format!("invalid dependency {d}"));
        }
    }
    // Kahn's algorithm: a node never freed is on a cycle.
    let mut remaining = deps.clone();
    loop {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|(_, d)| d.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for n in &ready {
            remaining.remove(n);
        }
        for d in remaining.values_mut() {
            for n in &ready {
                d.remove(n);
            }
        }
    }
    if remaining.is_empty() {
        Ok(())
    } else {
        Err("graph with cycle".into())
    }
}

fn validate_dag(ctx: &mut Ctx<'_>, base: &Base, t: &Value) -> Result<(), String> {
    let name = t["name"].as_str().unwrap_or("");
    if t["activeDeadlineSeconds"].is_number() || t["activeDeadlineSeconds"].is_string() {
        return Err(format!(
            "templates.{name}.activeDeadlineSeconds is only valid for leaf templates"
        ));
    }
    let tasks = t["dag"]["tasks"].as_array().cloned().unwrap_or_default();
    if tasks.is_empty() {
        return Err(format!("templates.{name} must have at least one task"));
    }
    sort_tasks(&tasks).map_err(|e| format!("templates.{name} sorting failed: {e}"))?;
    field_names(&tasks).map_err(|e| format!("templates.{name}.tasks{e}"))?;
    let using_depends = tasks
        .iter()
        .any(|x| x["depends"].as_str().is_some_and(|d| !d.is_empty()));
    for task in &tasks {
        let tname = task["name"].as_str().unwrap_or("");
        let has_deps = task["dependencies"].as_array().is_some_and(|d| !d.is_empty());
        if (using_depends || has_deps) && tname.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "templates.{name}.tasks.{tname} name cannot begin with a digit when using either 'depends' or 'dependencies'"
            ));
        }
        if using_depends && has_deps {
            return Err(format!(
                "templates.{name} cannot use both 'depends' and 'dependencies' in the same DAG template"
            ));
        }
        if using_depends && task["continueOn"].is_object() {
            return Err(format!(
                "templates.{name} cannot use 'continueOn' when using 'depends'. Instead use 'dep-task.Failed'/'dep-task.Errored'"
            ));
        }
        holder(ctx, base, task, Some(&task["arguments"])).map_err(|e| format!("templates.{name}.tasks.{tname} {e}"))?;
        if let Some(msg) = depends::of_task(task)?.and_then(|e| e.invalid_result()) {
            return Err(format!("templates.{name}.tasks.{tname} {msg}"));
        }
    }
    Ok(())
}

fn validate_leaf(t: &Value, kind: &str) -> Result<(), String> {
    let name = t["name"].as_str().unwrap_or("");
    if t["parallelism"].is_number() {
        return Err(format!(
            "templates.{name}.parallelism is only valid for steps and dag templates"
        ));
    }
    if matches!(kind, "container" | "script") && t[kind]["image"].as_str().is_none_or(str::is_empty) {
        return Err(format!("templates.{name}.{kind}.image may not be empty"));
    }
    let declared: HashSet<String> = t["inputs"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(|n| format!("inputs.parameters.{n}")))
        .collect();
    let mut tags = vec![];
    template::tags_with_prefix(t, "inputs.parameters.", &mut tags);
    if let Some(tag) = tags.into_iter().find(|tag| !declared.contains(tag)) {
        return Err(format!("templates.{name}: failed to resolve {{{{{tag}}}}}"));
    }
    Ok(())
}

/// `validateTemplate` for a resolved template; `args` are checked when
/// given (the entrypoint), else every input counts as supplied.
fn validate_template(ctx: &mut Ctx<'_>, base: &Base, t: &Value, args: Option<&Value>) -> Result<(), String> {
    let name = t["name"].as_str().unwrap_or("").to_string();
    let kinds: Vec<&str> = TYPES.iter().copied().filter(|k| !t[*k].is_null()).collect();
    if kinds.is_empty() {
        return Err(format!(
            "templates.{name} template type unspecified. choose one of: container, containerSet, steps, script, resource, dag, suspend, template, template ref"
        ));
    }
    if kinds.len() > 1 {
        return Err(format!(
            "templates.{name} multiple template types specified. choose one of: container, containerSet, steps, script, resource, dag, suspend, template, template ref"
        ));
    }
    if let Some(args) = args {
        template::process_inputs(t, args).map_err(|e| format!("templates.{name} {e}"))?;
    }
    if !ctx.visited.insert((base.scope(), name)) {
        return Ok(());
    }
    match kinds[0] {
        "dag" => validate_dag(ctx, base, t),
        kind => validate_leaf(t, kind),
    }
}

/// `validateTemplateHolder`.
fn holder(ctx: &mut Ctx<'_>, base: &Base, h: &Value, args: Option<&Value>) -> Result<(), String> {
    if let Some(r) = h.get("templateRef").filter(|r| r.is_object()) {
        if h["template"].as_str().is_some_and(|s| !s.is_empty()) {
            return Err("template name cannot be specified with templateRef".into());
        }
        if r["name"].as_str().is_none_or(str::is_empty) {
            return Err("resource name is required".into());
        }
        if r["template"].as_str().is_none_or(str::is_empty) {
            return Err("template name is required".into());
        }
    } else if let Some(name) = h["template"].as_str().filter(|s| !s.is_empty())
        && base.template(name).is_none()
    {
        return Err(format!("template name '{name}' undefined"));
    }
    let (t, new_base) = template::resolve(ctx.cluster, &ctx.namespace, base, h).map_err(|_| {
        let r = &h["templateRef"];
        format!(
            "template reference {}.{} not found",
            r["name"].as_str().unwrap_or(""),
            r["template"].as_str().unwrap_or("")
        )
    })?;
    if let Some(policy) = t["retryStrategy"]["retryPolicy"].as_str()
        && !matches!(policy, "Always" | "OnError" | "OnFailure" | "OnTransientError" | "")
    {
        return Err(format!("{policy} is not a valid RetryPolicy"));
    }
    validate_template(ctx, &new_base, &t, args)
}

/// `validate.Workflow`: `Ok`, or Argo's message (without `invalid spec: `).
///
/// # Errors
/// The first problem Argo would report.
pub fn workflow(cluster: &Cluster, wf: &Value) -> Result<(), String> {
    let name = crate::api::object::name(wf);
    if name.len() > 63 {
        return Err(format!(
            "workflow name \"{name}\" must not be more than 63 characters long (currently {})",
            name.len()
        ));
    }
    let namespace = crate::api::object::namespace(wf).to_string();
    let spec = &wf["spec"];
    let templates = spec["templates"].as_array().cloned().unwrap_or_default();
    let mut ctx = Ctx {
        cluster,
        namespace: namespace.clone(),
        visited: HashSet::new(),
    };
    let mut base = Base::Workflow(std::sync::Arc::new(wf.clone()));
    let mut entry = spec["entrypoint"].as_str().unwrap_or("").to_string();
    if let Some(r) = spec.get("workflowTemplateRef").filter(|r| r.is_object()) {
        if !templates.is_empty() {
            return Err("Templates is invalid field in spec if workflow referred WorkflowTemplate reference".into());
        }
        let ref_name = r["name"].as_str().unwrap_or("");
        let clustered = r["clusterScope"].as_bool().unwrap_or(false);
        let object = template::fetch(cluster, &namespace, ref_name, clustered).ok_or_else(|| {
            let what = if clustered {
                "clusterworkflowtemplates"
            } else {
                "workflowtemplates"
            };
            format!("{what}.argoproj.io \"{ref_name}\" not found")
        })?;
        if entry.is_empty() {
            entry = object["spec"]["entrypoint"].as_str().unwrap_or("").to_string();
        }
        base = if clustered {
            Base::Cluster(object)
        } else {
            Base::Namespaced(object)
        };
    }
    field_names(&templates).map_err(|e| format!("spec.templates{e}"))?;
    if entry.is_empty() {
        return Err("spec.entrypoint is required".into());
    }
    holder(
        &mut ctx,
        &base,
        &serde_json::json!({"template": entry}),
        Some(&spec["arguments"]),
    )?;
    for t in &templates {
        let tname = t["name"].as_str().unwrap_or("");
        holder(&mut ctx, &base, &serde_json::json!({"template": tname}), None)
            .map_err(|e| format!("templates.{tname} {e}"))?;
    }
    Ok(())
}

/// `validate.WorkflowTemplate` for the checks above: every template of a
/// WorkflowTemplate (or ClusterWorkflowTemplate) must pass.
///
/// # Errors
/// The first problem Argo would report.
pub fn workflow_template(cluster: &Cluster, object: &Value, clustered: bool) -> Result<(), String> {
    let name = crate::api::object::name(object);
    if name.len() > 63 {
        let what = if clustered {
            "cluster workflow template"
        } else {
            "workflow template"
        };
        return Err(format!(
            "{what} name \"{name}\" must not be more than 63 characters long (currently {})",
            name.len()
        ));
    }
    let templates = object["spec"]["templates"].as_array().cloned().unwrap_or_default();
    field_names(&templates).map_err(|e| format!("spec.templates{e}"))?;
    let arc = std::sync::Arc::new(object.clone());
    let base = if clustered {
        Base::Cluster(arc)
    } else {
        Base::Namespaced(arc)
    };
    let mut ctx = Ctx {
        cluster,
        namespace: crate::api::object::namespace(object).to_string(),
        visited: HashSet::new(),
    };
    for t in &templates {
        let tname = t["name"].as_str().unwrap_or("");
        holder(&mut ctx, &base, &serde_json::json!({"template": tname}), None)
            .map_err(|e| format!("templates.{tname} {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorting_reports_like_topological_sorting() {
        let t = |n: &str, deps: &[&str]| json!({"name": n, "dependencies": deps});
        assert_eq!(sort_tasks(&[t("a", &[]), t("b", &["a"])]), Ok(()));
        assert_eq!(sort_tasks(&[t("a", &["x"])]).unwrap_err(), "invalid dependency x");
        assert_eq!(
            sort_tasks(&[t("a", &["b"]), t("b", &["a"])]).unwrap_err(),
            "graph with cycle"
        );
        assert_eq!(
            sort_tasks(&[t("a", &[]), t("a", &[])]).unwrap_err(),
            "duplicated nodeName a"
        );
    }
}
