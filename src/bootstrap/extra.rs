//! Objects the design adds to the upstream manifests: namespaces and the platform's AppProject.
//!
//! - The two **Namespaces** (`argocdNamespace`, `workflowsNamespace`; one
//!   when they are the same), so bootstrap works on a bare cluster.
//! - The **AppProject `platform`** in the Argo CD namespace: every platform
//!   Application belongs to it. It allows exactly the environment's
//!   `gitRepository` as a source and exactly the destination namespaces it is
//!   given (on the cluster Argo CD runs in), and any cluster-scoped kind,
//!   since platform components install CRDs, ClusterRoles and webhooks.
//!
//! The workflow templates and the repository Secret have their own files
//! ([`super::templates`], [`super::repository`]).

use serde_json::{Value, json};

/// Name of the AppProject every platform Application belongs to.
pub const PROJECT_NAME: &str = "platform";

/// The API server address of the cluster Argo CD runs in.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// The Namespaces of Argo CD and Argo Workflows (one if they are the same), sorted.
pub fn namespaces(argocd_namespace: &str, workflows_namespace: &str) -> Vec<Value> {
    let mut names = vec![argocd_namespace, workflows_namespace];
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
            })
        })
        .collect()
}

/// The `platform` AppProject in `argocd_namespace`, allowing `git_repository`
/// and `destinations` (sorted, duplicates removed).
pub fn app_project(argocd_namespace: &str, git_repository: &str, destinations: &[String]) -> Value {
    let mut namespaces: Vec<&str> = destinations.iter().map(String::as_str).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let destinations: Vec<Value> = namespaces
        .into_iter()
        .map(|namespace| json!({"server": IN_CLUSTER, "namespace": namespace}))
        .collect();
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": PROJECT_NAME, "namespace": argocd_namespace},
        "spec": {
            "description": "The platform's applications, deployed by the executor in dependency order.",
            "sourceRepos": [git_repository],
            "destinations": destinations,
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_namespace_when_both_are_the_same() {
        assert_eq!(namespaces("gitops", "wf").len(), 2);
        let one = namespaces("argo", "argo");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0]["metadata"]["name"], "argo");
    }

    #[test]
    fn project_allows_the_repository_and_sorted_destinations() {
        let destinations = vec!["vault".to_owned(), "cert-manager".to_owned(), "vault".to_owned()];
        let project = app_project("gitops", "https://git.example.com/p.git", &destinations);
        assert_eq!(project["metadata"]["namespace"], "gitops");
        assert_eq!(project["spec"]["sourceRepos"][0], "https://git.example.com/p.git");
        let namespaces: Vec<&str> = project["spec"]["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["namespace"].as_str().unwrap())
            .collect();
        assert_eq!(namespaces, ["cert-manager", "vault"]);
    }
}
