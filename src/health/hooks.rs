//! Which objects are sync hooks, as Argo CD decides it
//! (`gitops-engine/pkg/sync/hook/hook.go` and `hook/helm/hook.go` in
//! argo-cd): a hook's health is assessed differently (a Pod hook ignores
//! `argocd.argoproj.io/ignore-restart-policy`), and a hook holding Argo CD's
//! hook finalizer is not "Pending deletion" while being deleted.

use serde_json::Value;

use super::fields::{array_at, str_at};

/// Argo CD's hook annotation (`PreSync,PostSync`, ...).
pub(crate) const HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// Helm's hook annotation, which Argo CD honours too.
pub(crate) const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";
/// The finalizer Argo CD keeps on hooks until the sync phase completes.
pub(crate) const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// Argo CD's hook types; other values of the annotation are ignored.
const HOOK_TYPES: [&str; 5] = ["PreSync", "Sync", "PostSync", "SyncFail", "Skip"];

/// Whether Argo CD treats the object as a hook: an `argocd.argoproj.io/hook`
/// annotation, unless its only type is `Skip`; otherwise a `helm.sh/hook`
/// annotation other than `crd-install`.
pub(crate) fn is_hook(obj: &Value) -> bool {
    if let Some(value) = str_at(obj, &["metadata", "annotations", HOOK_ANNOTATION]) {
        let types: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|t| HOOK_TYPES.contains(t))
            .collect();
        return !(types.contains(&"Skip") && types.len() == 1);
    }
    str_at(obj, &["metadata", "annotations", HELM_HOOK_ANNOTATION]).is_some_and(|v| v != "crd-install")
}

/// Whether the object carries Argo CD's hook finalizer.
pub(crate) fn has_hook_finalizer(obj: &Value) -> bool {
    array_at(obj, &["metadata", "finalizers"])
        .iter()
        .any(|f| f.as_str() == Some(HOOK_FINALIZER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn annotated(annotations: Value) -> Value {
        json!({"metadata": {"annotations": annotations}})
    }

    #[test]
    fn argo_cd_and_helm_hooks() {
        assert!(is_hook(&annotated(json!({HOOK_ANNOTATION: "PostSync"}))));
        assert!(is_hook(&annotated(json!({HOOK_ANNOTATION: "PreSync,Skip"}))));
        assert!(!is_hook(&annotated(json!({HOOK_ANNOTATION: "Skip"}))));
        assert!(is_hook(&annotated(json!({HELM_HOOK_ANNOTATION: "post-install"}))));
        assert!(!is_hook(&annotated(json!({HELM_HOOK_ANNOTATION: "crd-install"}))));
        assert!(!is_hook(&json!({"metadata": {}})));
    }

    #[test]
    fn finds_the_hook_finalizer() {
        assert!(has_hook_finalizer(
            &json!({"metadata": {"finalizers": ["x", HOOK_FINALIZER]}})
        ));
        assert!(!has_hook_finalizer(&json!({"metadata": {"finalizers": ["x"]}})));
    }
}
