//! Namespace placement: the upstream manifests moved into the environment's namespaces.
//!
//! The two upstream files assume fixed namespaces in different ways: Argo CD
//! sets no `metadata.namespace` (it is meant for `kubectl apply -n argocd`)
//! but its ClusterRoleBinding subjects say `namespace: argocd`; Argo
//! Workflows puts every namespaced object in `argo` and its binding subjects
//! say `argo`. Placement makes both honour `argocdNamespace` and
//! `workflowsNamespace`:
//!
//! - a namespaced object gets `metadata.namespace` = the component's
//!   namespace (it must have had none or the upstream one; anything else is
//!   refused, because the rules below would not have been reviewed for it);
//! - a cluster-scoped object has no `metadata.namespace`;
//! - a `RoleBinding`/`ClusterRoleBinding` subject of kind `ServiceAccount`
//!   naming the upstream namespace is moved along. Only that field is
//!   rewritten, never by text replacement: Argo Workflows' controller
//!   ServiceAccount is itself called `argo`.
//!
//! Whether a kind is namespaced comes from a static table of built-in kinds,
//! or, for custom resources, from the `spec.scope` of the CRD defining it. A
//! kind in neither is refused rather than guessed.
//!
//! No other namespace reference exists in these two manifests (checked by
//! the unit tests over every string of every object): Argo CD components
//! reach each other by short Service names (`argocd-repo-server:8081`),
//! NetworkPolicies select pods by label in their own namespace or use an
//! empty `namespaceSelector`, and both controllers learn their namespace
//! from their ServiceAccount token mount.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::lock::Component;
use super::object::{self, ObjectRef};
use crate::config::{Problem, Source};

/// Whether objects of a kind live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-wide: no `metadata.namespace`.
    Cluster,
    /// Inside a namespace.
    Namespaced,
}

/// Built-in cluster-scoped kinds, by (group, kind).
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
];

/// Built-in namespaced kinds, by (group, kind).
const NAMESPACED: &[(&str, &str)] = &[
    ("", "ConfigMap"),
    ("", "Endpoints"),
    ("", "Event"),
    ("", "LimitRange"),
    ("", "PersistentVolumeClaim"),
    ("", "Pod"),
    ("", "PodTemplate"),
    ("", "ReplicationController"),
    ("", "ResourceQuota"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("apps", "ControllerRevision"),
    ("apps", "DaemonSet"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("batch", "CronJob"),
    ("batch", "Job"),
    ("coordination.k8s.io", "Lease"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("events.k8s.io", "Event"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("policy", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
];

/// The scope of every kind the bundle holds: the built-in table plus the
/// custom kinds its CRDs define.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    custom: BTreeMap<(String, String), Scope>,
}

impl Scopes {
    /// Learns the custom kinds defined by the CRDs among `objects`.
    pub fn from_crds<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Scopes {
        let custom = objects
            .into_iter()
            .filter(|o| object::is(o, "apiextensions.k8s.io", "CustomResourceDefinition"))
            .filter_map(|crd| {
                let group = crd.pointer("/spec/group")?.as_str()?;
                let kind = crd.pointer("/spec/names/kind")?.as_str()?;
                let scope = match crd.pointer("/spec/scope")?.as_str()? {
                    "Cluster" => Scope::Cluster,
                    _ => Scope::Namespaced,
                };
                Some(((group.to_owned(), kind.to_owned()), scope))
            })
            .collect();
        Scopes { custom }
    }

    /// The scope of `kind` in `group`, when known.
    pub fn of(&self, group: &str, kind: &str) -> Option<Scope> {
        let key = (group, kind);
        if CLUSTER_SCOPED.contains(&key) {
            Some(Scope::Cluster)
        } else if NAMESPACED.contains(&key) {
            Some(Scope::Namespaced)
        } else {
            self.custom.get(&(group.to_owned(), kind.to_owned())).copied()
        }
    }

    /// Is `kind` in `group` defined by one of the bundle's CRDs?
    pub fn is_custom(&self, group: &str, kind: &str) -> bool {
        self.custom.contains_key(&(group.to_owned(), kind.to_owned()))
    }
}

/// Moves the objects of `component` (read from `path`) into `target`.
///
/// # Errors
/// A problem per object whose kind's scope is unknown or that sits in an
/// unexpected namespace.
pub fn place(
    component: Component,
    path: &Path,
    objects: &mut [Value],
    target: &str,
    scopes: &Scopes,
) -> Result<(), Vec<Problem>> {
    let upstream = component.upstream_namespace();
    let mut problems = Vec::new();
    for object in objects.iter_mut() {
        let (group, kind) = (object::group(object), object::kind(object));
        match scopes.of(group, kind) {
            None => problems.push(Problem::new(
                Source::file(path),
                format!(
                    "{}: the bundle does not know whether this kind is namespaced; \
                     add it to the scope table in src/bootstrap/place.rs",
                    ObjectRef::of(object)
                ),
            )),
            Some(Scope::Cluster) => object::clear_namespace(object),
            Some(Scope::Namespaced) => match object::namespace(object) {
                None => object::set_namespace(object, target),
                Some(namespace) if namespace == upstream => {
                    object::set_namespace(object, target);
                }
                Some(other) => problems.push(Problem::new(
                    Source::file(path),
                    format!(
                        "{}: in namespace `{other}`, where {} objects are expected in \
                         `{upstream}` or in none; review the placement rules for this file",
                        ObjectRef::of(object),
                        component.as_str()
                    ),
                )),
            },
        }
        move_subjects(object, upstream, target);
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// Rewrites the ServiceAccount subjects of a binding from `upstream` to `target`.
fn move_subjects(object: &mut Value, upstream: &str, target: &str) {
    let rbac = "rbac.authorization.k8s.io";
    if !(object::is(object, rbac, "RoleBinding") || object::is(object, rbac, "ClusterRoleBinding")) {
        return;
    }
    let Some(subjects) = object.get_mut("subjects").and_then(Value::as_array_mut) else {
        return;
    };
    for subject in subjects {
        let is_service_account = subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
        let in_upstream = subject.get("namespace").and_then(Value::as_str) == Some(upstream);
        if is_service_account
            && in_upstream
            && let Some(fields) = subject.as_object_mut()
        {
            fields.insert("namespace".to_owned(), Value::from(target));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_scope_is_learned() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Thing"}}});
        let scopes = Scopes::from_crds([&crd]);
        assert_eq!(scopes.of("example.com", "Thing"), Some(Scope::Cluster));
        assert!(scopes.is_custom("example.com", "Thing"));
        assert_eq!(scopes.of("apps", "Deployment"), Some(Scope::Namespaced));
        assert_eq!(scopes.of("example.com", "Other"), None);
    }

    #[test]
    fn unknown_kind_and_foreign_namespace_are_refused() {
        let mut objects = vec![
            json!({"apiVersion": "example.com/v1", "kind": "Mystery", "metadata": {"name": "m"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "elsewhere"}}),
        ];
        let problems = place(
            Component::ArgoWorkflows,
            Path::new("wf.yaml"),
            &mut objects,
            "wf",
            &Scopes::default(),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].message.contains("Mystery.example.com m"));
        assert!(problems[1].message.contains("`elsewhere`"));
    }

    #[test]
    fn subjects_move_only_from_the_upstream_namespace() {
        let mut objects = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "argo", "namespace": "argo"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "argo", "namespace": "argo"},
            {"kind": "ServiceAccount", "name": "other", "namespace": "kube-system"},
            {"kind": "Group", "name": "argo", "namespace": "argo"}
        ]})];
        place(
            Component::ArgoWorkflows,
            Path::new("wf.yaml"),
            &mut objects,
            "wf",
            &Scopes::default(),
        )
        .unwrap();
        let binding = &objects[0];
        assert_eq!(object::namespace(binding), None);
        assert_eq!(binding["subjects"][0]["namespace"], "wf");
        assert_eq!(binding["subjects"][0]["name"], "argo");
        assert_eq!(binding["subjects"][1]["namespace"], "kube-system");
        assert_eq!(binding["subjects"][2]["namespace"], "argo");
    }
}
