//! Which kinds the cluster serves, under which resource name and scope.
//!
//! Built-in kinds and the Argo kinds are known statically, so the common case
//! costs no discovery request (a no-op re-deploy has a small request budget).
//! Kinds defined by CRDs the run applies are learned from the CRD objects
//! themselves; anything else is discovered once per group/version and kept
//! for the rest of the run (never across runs).

use std::collections::HashMap;
use std::sync::RwLock;

use kube::core::{ApiResource, GroupVersionKind};

use super::error::K8sError;

/// A kind the cluster serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindInfo {
    /// The kube resource description (group, version, kind, plural).
    pub resource: ApiResource,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

/// `(group, version, kind, plural, namespaced)` of the kinds we know without asking.
#[rustfmt::skip]
const BUILT_IN: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "Pod", "pods", true),
    ("", "v1", "Event", "events", true),
    ("events.k8s.io", "v1", "Event", "events", true),
    ("", "v1", "Endpoints", "endpoints", true),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("", "v1", "PersistentVolume", "persistentvolumes", false),
    ("", "v1", "Node", "nodes", false),
    ("", "v1", "LimitRange", "limitranges", true),
    ("", "v1", "ResourceQuota", "resourcequotas", true),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("apps", "v1", "ReplicaSet", "replicasets", true),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false),
    ("apiregistration.k8s.io", "v1", "APIService", "apiservices", false),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", false),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true),
    ("coordination.k8s.io", "v1", "Lease", "leases", true),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false),
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false),
    ("argoproj.io", "v1alpha1", "Application", "applications", true),
    ("argoproj.io", "v1alpha1", "AppProject", "appprojects", true),
    ("argoproj.io", "v1alpha1", "ApplicationSet", "applicationsets", true),
    ("argoproj.io", "v1alpha1", "Workflow", "workflows", true),
    ("argoproj.io", "v1alpha1", "WorkflowTemplate", "workflowtemplates", true),
    ("argoproj.io", "v1alpha1", "ClusterWorkflowTemplate", "clusterworkflowtemplates", false),
    ("argoproj.io", "v1alpha1", "CronWorkflow", "cronworkflows", true),
    ("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports", true),
    ("wgpolicyk8s.io", "v1alpha2", "ClusterPolicyReport", "clusterpolicyreports", false),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false),
];

/// Splits `group/version` (or `v1`) into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Kinds known so far in this run.
#[derive(Debug, Default)]
pub struct Catalog {
    known: RwLock<HashMap<(String, String), KindInfo>>,
}

impl Catalog {
    /// A catalog of the built-in and Argo kinds.
    pub fn new() -> Self {
        let known = BUILT_IN
            .iter()
            .map(|(group, version, kind, plural, namespaced)| {
                let api_version = if group.is_empty() {
                    (*version).to_owned()
                } else {
                    format!("{group}/{version}")
                };
                let gvk = GroupVersionKind::gvk(group, version, kind);
                (
                    (api_version, (*kind).to_owned()),
                    KindInfo {
                        resource: ApiResource::from_gvk_with_plural(&gvk, plural),
                        namespaced: *namespaced,
                    },
                )
            })
            .collect();
        Catalog {
            known: RwLock::new(known),
        }
    }

    /// The kind, if known without asking the cluster.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<KindInfo> {
        self.known
            .read()
            .ok()?
            .get(&(api_version.to_owned(), kind.to_owned()))
            .cloned()
    }

    /// The `apiVersion` serving `kind` in `group`, if known (first served version).
    pub fn api_version_of(&self, group: &str, kind: &str) -> Option<String> {
        let known = self.known.read().ok()?;
        let mut found: Vec<&String> = known
            .keys()
            .filter(|(api_version, k)| k == kind && split_api_version(api_version).0 == group)
            .map(|(api_version, _)| api_version)
            .collect();
        found.sort();
        found.first().map(|s| (*s).clone())
    }

    /// Records a kind (from discovery or a CRD).
    pub fn insert(&self, api_version: &str, kind: &str, info: KindInfo) {
        if let Ok(mut known) = self.known.write() {
            known.insert((api_version.to_owned(), kind.to_owned()), info);
        }
    }

    /// Learns the kinds a CRD object defines (every served version).
    ///
    /// # Errors
    /// When the object is not a well-formed CRD.
    pub fn learn_crd(&self, crd: &serde_json::Value) -> Result<(), K8sError> {
        let spec = &crd["spec"];
        let group = spec["group"]
            .as_str()
            .ok_or_else(|| K8sError::Invalid("CRD without spec.group".into()))?;
        let kind = spec["names"]["kind"]
            .as_str()
            .ok_or_else(|| K8sError::Invalid("CRD without spec.names.kind".into()))?;
        let plural = spec["names"]["plural"]
            .as_str()
            .ok_or_else(|| K8sError::Invalid("CRD without spec.names.plural".into()))?;
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        for version in spec["versions"].as_array().into_iter().flatten() {
            if version["served"].as_bool() == Some(false) {
                continue;
            }
            let Some(name) = version["name"].as_str() else {
                continue;
            };
            let gvk = GroupVersionKind::gvk(group, name, kind);
            self.insert(
                &format!("{group}/{name}"),
                kind,
                KindInfo {
                    resource: ApiResource::from_gvk_with_plural(&gvk, plural),
                    namespaced,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_built_ins_and_learns_crds() {
        let catalog = Catalog::new();
        let deployment = catalog.lookup("apps/v1", "Deployment").unwrap();
        assert_eq!(deployment.resource.plural, "deployments");
        assert!(deployment.namespaced);
        assert!(!catalog.lookup("v1", "Namespace").unwrap().namespaced);
        assert!(catalog.lookup("ceph.rook.io/v1", "CephCluster").is_none());
        catalog
            .learn_crd(&serde_json::json!({
                "spec": {"group": "ceph.rook.io", "scope": "Namespaced",
                         "names": {"kind": "CephCluster", "plural": "cephclusters"},
                         "versions": [{"name": "v1", "served": true}]}
            }))
            .unwrap();
        assert_eq!(
            catalog
                .lookup("ceph.rook.io/v1", "CephCluster")
                .unwrap()
                .resource
                .plural,
            "cephclusters"
        );
    }
}
