//! The upstream Argo Workflows JSON Schema (`api/jsonschema/schema.json` of
//! v4.1.2, read from `shared/upstream/argo-workflows-v4.1.2-schema.json`:
//! `EXECUTOR_UPSTREAM_DIR`, a `shared/upstream` above the working directory
//! or this crate, or `/work/shared/upstream`), the shape the controller's
//! Go types accept.
//!
//! One deliberate adjustment: the schema renders Kubernetes' `IntOrString`
//! as `{"type": "string"}`, yet the controller's `intstr.IntOrString`
//! unmarshals integers too (`retryStrategy.limit: 3` is ordinary Argo
//! syntax), so the definition is widened to string or integer.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The schema file's name.
pub const SCHEMA_FILE: &str = "argo-workflows-v4.1.2-schema.json";

fn locate() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("EXECUTOR_UPSTREAM_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().map(|a| a.join("shared/upstream")));
    }
    candidates.extend(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared/upstream")),
    );
    candidates.push(PathBuf::from("/work/shared/upstream"));
    candidates
        .into_iter()
        .map(|d| d.join(SCHEMA_FILE))
        .find(|p| p.is_file())
}

struct Schemas {
    by_kind: Vec<(String, jsonschema::Validator)>,
}

fn load() -> Result<Schemas, String> {
    let path = locate().ok_or_else(|| format!("{SCHEMA_FILE} was not found (set EXECUTOR_UPSTREAM_DIR)"))?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut doc: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = json!({"type": ["string", "integer"]});
    let definitions = doc["definitions"].clone();
    let mut by_kind = vec![];
    for kind in ["Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate"] {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#/definitions/io.argoproj.workflow.v1alpha1.{kind}"),
            "definitions": definitions,
        });
        let validator = jsonschema::options()
            .build(&root)
            .map_err(|e| format!("the {kind} schema does not compile: {e}"))?;
        by_kind.push((kind.to_string(), validator));
    }
    Ok(Schemas { by_kind })
}

fn schemas() -> &'static Result<Schemas, String> {
    static SCHEMAS: OnceLock<Result<Schemas, String>> = OnceLock::new();
    SCHEMAS.get_or_init(load)
}

/// Whether the schema file was found (else only Argo's own checks run).
pub fn available() -> Result<(), String> {
    schemas().as_ref().map(|_| ()).map_err(Clone::clone)
}

/// Checks a Workflow, WorkflowTemplate or ClusterWorkflowTemplate (its
/// `status` and server-maintained metadata are not looked at): `Ok`, or the
/// first violation as `<json pointer>: <what is wrong>`. When the schema
/// file cannot be found, nothing is checked.
///
/// # Errors
/// The first schema violation.
pub fn check(kind: &str, object: &Value) -> Result<(), String> {
    let mut subject = object.clone();
    if let Some(o) = subject.as_object_mut() {
        o.remove("status");
    }
    check_with_status(kind, &subject)
}

/// Like [`check`], but the `status` is held to the schema too (what the
/// simulated controller writes must be what Argo's types can hold).
///
/// # Errors
/// The first schema violation.
pub fn check_with_status(kind: &str, object: &Value) -> Result<(), String> {
    let Ok(schemas) = schemas() else {
        return Ok(());
    };
    let Some((_, validator)) = schemas.by_kind.iter().find(|(k, _)| k == kind) else {
        return Ok(());
    };
    let mut subject = object.clone();
    if let Some(meta) = subject["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    match validator.iter_errors(&subject).next() {
        None => Ok(()),
        Some(e) => {
            let at = e.instance_path().to_string();
            Err(format!("{}: {e}", if at.is_empty() { "/" } else { &at }))
        }
    }
}
