//! The bundle's inventory, as a Kubernetes ApplySet: what bootstrap installed, findable in the cluster.
//!
//! Teardown and orphan detection must find every object bootstrap created
//! without any local state. The bundle follows the ApplySet convention
//! (KEP-3659, as `kubectl apply --applyset` does):
//!
//! - a **parent** object, the ConfigMap `executor-bootstrap` in the Argo CD
//!   namespace, labelled `applyset.kubernetes.io/id: <id>` where the id is
//!   `applyset-<base64url-no-pad(sha256("<name>.<namespace>.<kind>.<group>"))>-v1`
//!   (group empty for a ConfigMap), annotated with
//!   `applyset.kubernetes.io/tooling: executor/<version>`,
//!   `applyset.kubernetes.io/contains-group-kinds` (the members' `Kind.group`,
//!   `Kind` for the core group, sorted and comma-separated) and, when members
//!   live outside the parent's namespace,
//!   `applyset.kubernetes.io/additional-namespaces`;
//! - every **member** labelled `applyset.kubernetes.io/part-of: <id>`.
//!
//! Every object, parent included, is also labelled
//! `app.kubernetes.io/managed-by: executor` and
//! `executor.io/environment: <ENVIRONMENT>`. Labels go on `metadata` only,
//! never on pod templates, so labelling never restarts a workload.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::object;

/// Name of the ApplySet parent ConfigMap.
pub const PARENT_NAME: &str = "executor-bootstrap";
/// Label on the parent: the ApplySet id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member: the id of its ApplySet.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent: the tool that manages the set.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent: the members' group-kinds.
pub const CONTAINS_GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";
/// Annotation on the parent: member namespaces other than its own.
pub const ADDITIONAL_NAMESPACES_ANNOTATION: &str = "applyset.kubernetes.io/additional-namespaces";
/// Label on every object: who manages it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "executor";
/// Label on every object: the environment tier (`ENVIRONMENT`).
pub const ENVIRONMENT_LABEL: &str = "executor.io/environment";

/// The ApplySet id of a parent object, as KEP-3659 defines it.
pub fn applyset_id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.{kind}.{group}").as_bytes());
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The id of the bundle's parent in `namespace`.
pub fn bundle_applyset_id(namespace: &str) -> String {
    applyset_id(PARENT_NAME, namespace, "ConfigMap", "")
}

/// Labels every member with the ApplySet id, the manager and the tier.
pub fn label_members<'a>(members: impl IntoIterator<Item = &'a mut Value>, id: &str, tier: &str) {
    for member in members {
        object::set_label(member, MANAGED_BY_LABEL, MANAGED_BY);
        object::set_label(member, ENVIRONMENT_LABEL, tier);
        object::set_label(member, PART_OF_LABEL, id);
    }
}

/// The parent ConfigMap in `namespace` describing `members`.
pub fn parent<'a>(namespace: &str, tier: &str, members: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut group_kinds = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for member in members {
        group_kinds.insert(object::group_kind(member));
        if let Some(ns) = object::namespace(member).filter(|ns| *ns != namespace) {
            namespaces.insert(ns.to_owned());
        }
    }
    let mut parent = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": PARENT_NAME,
            "namespace": namespace,
            "labels": {
                ID_LABEL: bundle_applyset_id(namespace),
                MANAGED_BY_LABEL: MANAGED_BY,
                ENVIRONMENT_LABEL: tier,
            },
            "annotations": {
                TOOLING_ANNOTATION: format!("executor/{}", env!("CARGO_PKG_VERSION")),
                CONTAINS_GROUP_KINDS_ANNOTATION: group_kinds.into_iter().collect::<Vec<_>>().join(","),
            },
        },
    });
    if !namespaces.is_empty() {
        object::set_annotation(
            &mut parent,
            ADDITIONAL_NAMESPACES_ANNOTATION,
            &namespaces.into_iter().collect::<Vec<_>>().join(","),
        );
    }
    parent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_the_kep_formula() {
        // sha256("executor-bootstrap.argocd.ConfigMap.") in unpadded base64url.
        let digest = Sha256::digest(b"executor-bootstrap.argocd.ConfigMap.");
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        assert_eq!(bundle_applyset_id("argocd"), format!("applyset-{encoded}-v1"));
        let id = bundle_applyset_id("argocd");
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
        assert!(!id.contains(['=', '+', '/']));
        assert!(id.len() <= 63, "a label value has at most 63 characters");
        assert_ne!(bundle_applyset_id("gitops"), id);
    }

    #[test]
    fn ids_of_known_parents() {
        // Computed independently of this code (Python's hashlib and
        // urlsafe_b64encode, padding stripped).
        assert_eq!(
            applyset_id("automata", "", "ApplySet", "starjunk.net"),
            "applyset-xjZyH1FmMYtP-oSkfLUgubxDYIbsrD-IuDRLmezicIo-v1"
        );
        assert_eq!(
            bundle_applyset_id("argocd"),
            "applyset-h5V44L-ycVK_BGZVy1CtIppJ8NiH7dEpYrWWlZu-56Y-v1"
        );
    }

    #[test]
    fn parent_lists_group_kinds_and_other_namespaces() {
        let mut members = vec![
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "namespace": "wf"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "gitops"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}}),
        ];
        label_members(members.iter_mut(), "applyset-x-v1", "staging");
        assert_eq!(object::label(&members[0], PART_OF_LABEL), Some("applyset-x-v1"));
        assert_eq!(object::label(&members[2], ENVIRONMENT_LABEL), Some("staging"));
        let parent = parent("gitops", "staging", &members);
        let annotations = &parent["metadata"]["annotations"];
        assert_eq!(
            annotations[CONTAINS_GROUP_KINDS_ANNOTATION],
            "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Deployment.apps"
        );
        assert_eq!(annotations[ADDITIONAL_NAMESPACES_ANNOTATION], "wf");
        assert_eq!(
            annotations[TOOLING_ANNOTATION],
            format!("executor/{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(parent["metadata"]["labels"][ID_LABEL], bundle_applyset_id("gitops"));
        assert!(object::label(&parent, PART_OF_LABEL).is_none());
    }
}
