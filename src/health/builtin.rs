//! Which built-in rule assesses an object: dispatch by API group and kind.
//!
//! The table mirrors Argo CD's built-in health checks
//! (`GetHealthCheckFunc` in `gitops-engine/pkg/health/health.go`, argo-cd
//! main), plus three kinds Argo CD covers with Lua checks it ships
//! (`resource_customizations/`): CronJob, CustomResourceDefinition and
//! Rollout. Each rule checks the versions Argo CD converts (most only the
//! current one) and is Unknown for others, as Argo CD is.
//!
//! An object being deleted is Progressing "Pending deletion" whatever its
//! kind, before any rule or script runs, as in Argo CD (`GetResourceHealth`),
//! unless it holds Argo CD's hook finalizer.

use serde_json::Value;

use super::fields::{at, group_of, string_or_empty};
use super::hooks::has_hook_finalizer;
use super::{Health, HealthStatus, apis, argo, autoscaling, batch, core_objects, rollout, workloads};

/// A rule: a pure function from the object to its health.
type Rule = fn(&Value) -> Health;

/// The built-in rule for a group and kind, if there is one.
fn rule_for(group: &str, kind: &str) -> Option<Rule> {
    let rule: Rule = match (group, kind) {
        ("apps", "Deployment") => workloads::deployment,
        ("apps", "StatefulSet") => workloads::stateful_set,
        ("apps", "DaemonSet") => workloads::daemon_set,
        ("apps", "ReplicaSet") => workloads::replica_set,
        ("", "Pod") => core_objects::pod,
        ("", "PersistentVolumeClaim") => core_objects::persistent_volume_claim,
        ("", "Service") => core_objects::service,
        ("networking.k8s.io" | "extensions", "Ingress") => core_objects::ingress,
        ("batch", "Job") => batch::job,
        ("batch", "CronJob") => batch::cron_job,
        ("apiregistration.k8s.io", "APIService") => apis::api_service,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => apis::custom_resource_definition,
        ("autoscaling", "HorizontalPodAutoscaler") => autoscaling::horizontal_pod_autoscaler,
        ("argoproj.io", "Workflow") => argo::workflow,
        ("argoproj.io", "Rollout") => rollout::rollout,
        _ => return None,
    };
    Some(rule)
}

/// True when a built-in rule exists for an `apiVersion` and `kind`, e.g.
/// `("apps/v1", "Deployment")`.
pub fn has_builtin(api_version: &str, kind: &str) -> bool {
    rule_for(group_of(api_version), kind).is_some()
}

/// Progressing "Pending deletion" when the object has a
/// `metadata.deletionTimestamp` (finalizers are still running), else `None`.
///
/// Applies to every kind, and comes before any other assessment, built-in
/// or scripted, as in Argo CD; a hook holding Argo CD's hook finalizer is
/// assessed normally (Argo CD removes that finalizer itself).
pub fn assess_deletion(obj: &Value) -> Option<Health> {
    if has_hook_finalizer(obj) {
        return None;
    }
    at(obj, &["metadata", "deletionTimestamp"])
        .filter(|v| !v.is_null())
        .map(|_| Health::new(HealthStatus::Progressing, "Pending deletion"))
}

/// Assesses an object with Argo CD's built-in rules.
///
/// The object is a whole Kubernetes object as the API server returns it
/// (`apiVersion`, `kind`, `metadata`, `spec`, `status`). Returns:
/// - Progressing "Pending deletion" for any object being deleted
///   (see [`assess_deletion`]);
/// - the rule's verdict when the object's group and kind have a built-in
///   rule (see `docs/health.md` for the rules);
/// - `None` otherwise: the caller then tries a Rhai health check for the
///   kind, and failing that treats the object as healthy because it exists,
///   as Argo CD does.
///
/// Pure: no I/O, never panics, whatever the shape of `obj`.
pub fn assess_builtin(obj: &Value) -> Option<Health> {
    if let Some(deleting) = assess_deletion(obj) {
        return Some(deleting);
    }
    let group = group_of(string_or_empty(obj, &["apiVersion"]));
    let kind = string_or_empty(obj, &["kind"]);
    rule_for(group, kind).map(|rule| rule(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dispatches_on_group_and_kind_ignoring_the_version() {
        let lb =
            |api_version: &str| json!({"apiVersion": api_version, "kind": "Ingress", "status": {"loadBalancer": {}}});
        for api_version in [
            "networking.k8s.io/v1",
            "networking.k8s.io/v1beta1",
            "extensions/v1beta1",
        ] {
            let health = assess_builtin(&lb(api_version));
            assert_eq!(
                health.map(|h| h.status),
                Some(HealthStatus::Progressing),
                "{api_version}"
            );
        }
    }

    #[test]
    fn every_documented_kind_has_a_rule() {
        for (api_version, kind) in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "ReplicaSet"),
            ("v1", "Pod"),
            ("v1", "PersistentVolumeClaim"),
            ("v1", "Service"),
            ("networking.k8s.io/v1", "Ingress"),
            ("batch/v1", "Job"),
            ("batch/v1", "CronJob"),
            ("apiregistration.k8s.io/v1", "APIService"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("argoproj.io/v1alpha1", "Workflow"),
            ("argoproj.io/v1alpha1", "Rollout"),
        ] {
            assert!(has_builtin(api_version, kind), "{api_version} {kind}");
            let obj = json!({"apiVersion": api_version, "kind": kind});
            assert!(assess_builtin(&obj).is_some(), "{api_version} {kind}");
        }
    }

    #[test]
    fn kinds_without_a_rule_are_left_to_the_caller() {
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("v1", "Namespace"),
            ("ceph.rook.io/v1", "CephCluster"),
            ("acid.zalan.do/v1", "postgresql"),
            // Argo CD has none for its own Application (a bundled check has).
            ("argoproj.io/v1alpha1", "Application"),
            // Argo CD assesses only Ingress in the legacy `extensions` group.
            ("extensions/v1beta1", "Deployment"),
            // The group matters: a Deployment of some other API is not ours.
            ("example.com/v1", "Deployment"),
            // The core group has no Ingress.
            ("v1", "Ingress"),
        ] {
            let obj = json!({"apiVersion": api_version, "kind": kind});
            assert_eq!(assess_builtin(&obj), None, "{api_version} {kind}");
            assert!(!has_builtin(api_version, kind));
        }
    }

    #[test]
    fn malformed_objects_do_not_panic() {
        for obj in [
            json!(null),
            json!(42),
            json!("Deployment"),
            json!([]),
            json!({}),
            json!({"apiVersion": 1, "kind": ["Deployment"]}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "status": "broken", "spec": []}),
            json!({"apiVersion": "v1", "kind": "Pod", "status": {"containerStatuses": "x", "conditions": 3}}),
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "status": [], "metadata": 1}),
        ] {
            let _ = assess_builtin(&obj);
        }
        let broken = json!({"apiVersion": "apps/v1", "kind": "Deployment", "status": "broken"});
        assert!(assess_builtin(&broken).is_some());
    }

    #[test]
    fn deletion_comes_first_for_every_kind() {
        let deleting = |api_version: &str, kind: &str| {
            json!({"apiVersion": api_version, "kind": kind,
                   "metadata": {"name": "x", "deletionTimestamp": "2024-05-01T10:00:00Z"},
                   "status": {"phase": "Bound"}})
        };
        let pending = Some(Health::new(HealthStatus::Progressing, "Pending deletion"));
        assert_eq!(assess_builtin(&deleting("v1", "PersistentVolumeClaim")), pending);
        // Even kinds without a rule: the object is going away, it is not healthy.
        assert_eq!(assess_builtin(&deleting("v1", "ConfigMap")), pending);
        assert_eq!(assess_deletion(&deleting("ceph.rook.io/v1", "CephCluster")), pending);
        let alive = json!({"metadata": {"deletionTimestamp": null}});
        assert_eq!(assess_deletion(&alive), None);
    }
}
