//! The read-only Argo CD local account whose API token the bootstrap
//! generates (spec: "ArgoCD token: API access for validation, generated
//! during bootstrap"; the token itself is [`super::token`]).
//!
//! Argo CD (v3.5.1) reads local accounts from `argocd-cm`: a key
//! `accounts.<name>` lists the account's capabilities, comma-separated, and
//! `apiKey` lets it hold API tokens but not log in
//! (`util/settings/accounts.go`, `parseAccounts`, and the capability
//! constants `AccountCapabilityLogin`/`AccountCapabilityApiKey`). Its tokens'
//! ids live in `argocd-secret` under `accounts.<name>.tokens`.
//!
//! What the account may do is Argo CD RBAC, from `argocd-rbac-cm`. Argo CD
//! builds its policy from `policy.csv` followed by every other key named
//! `policy.<anything>.csv`, in key order (`util/rbac/rbac.go`, `PolicyCSV`).
//! The bootstrap therefore adds its own key, [`POLICY_KEY`], and never
//! touches `policy.csv`, which stays the operator's. It grants the account
//! the built-in `role:readonly` (`assets/builtin-policy.csv`: `get` on
//! applications, clusters, repositories, projects, ...), nothing else. A
//! `policy.default` the operator sets applies to this account too, as to
//! every authenticated user.

use std::path::Path;

use serde_json::Value;

use super::health_checks::{ARGOCD_CM, merge_data};
use crate::config::Problem;

/// The local account's name. Argo CD splits `accounts.<name>.<suffix>`
/// keys on `.`, so the name has none.
pub const ACCOUNT: &str = "executor";

/// The `argocd-cm` key declaring the account.
pub const ACCOUNT_KEY: &str = "accounts.executor";

/// The account's capabilities: API tokens only, no login.
pub const CAPABILITIES: &str = "apiKey";

/// The ConfigMap holding Argo CD's RBAC policy.
pub const ARGOCD_RBAC_CM: &str = "argocd-rbac-cm";

/// The bootstrap's own policy key in `argocd-rbac-cm`, appended by Argo
/// CD after `policy.csv`.
pub const POLICY_KEY: &str = "policy.executor.csv";

/// The policy: the account gets Argo CD's built-in read-only role.
pub const POLICY: &str = "g, executor, role:readonly\n";

/// Declares the account in `argocd-cm` and its role in `argocd-rbac-cm`,
/// among `objects` (the Argo CD file read from `path`); every other key of
/// both ConfigMaps is kept.
///
/// # Errors
/// A problem if the file lacks either ConfigMap.
pub fn configure(path: &Path, objects: &mut [Value]) -> Result<(), Problem> {
    merge_data(path, objects, ARGOCD_CM, &[(ACCOUNT_KEY.to_owned(), CAPABILITIES)])?;
    merge_data(path, objects, ARGOCD_RBAC_CM, &[(POLICY_KEY.to_owned(), POLICY)])
}

/// Whether the `argocd-cm` among `objects` declares the account with the
/// `apiKey` capability (what [`configure`] writes).
pub fn declared<'a>(objects: impl IntoIterator<Item = &'a Value>) -> bool {
    objects
        .into_iter()
        .filter(|o| super::object::is(o, "", "ConfigMap") && super::object::name(o) == ARGOCD_CM)
        .filter_map(|cm| cm.pointer("/data")?.get(ACCOUNT_KEY)?.as_str())
        .any(|capabilities| capabilities.split(',').any(|c| c.trim() == CAPABILITIES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
    }

    #[test]
    fn the_account_and_its_role_are_added_beside_the_operators_keys() {
        let mut objects = vec![
            config_map(ARGOCD_CM, json!({"url": "https://argocd.example.com"})),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ARGOCD_RBAC_CM}}),
        ];
        assert!(!declared(&objects));
        configure(Path::new("argo-cd.yaml"), &mut objects).unwrap();
        assert_eq!(objects[0]["data"]["accounts.executor"], "apiKey");
        assert_eq!(objects[0]["data"]["url"], "https://argocd.example.com");
        assert_eq!(
            objects[1]["data"]["policy.executor.csv"],
            "g, executor, role:readonly\n"
        );
        // policy.csv is the operator's: the bootstrap never sets it.
        assert!(objects[1]["data"].get("policy.csv").is_none());
        assert!(declared(&objects));
    }

    #[test]
    fn a_manifest_without_the_rbac_config_map_is_refused() {
        let mut objects = vec![config_map(ARGOCD_CM, json!({}))];
        let problem = configure(Path::new("argo-cd.yaml"), &mut objects).unwrap_err();
        assert!(problem.message.contains("argocd-rbac-cm"), "{}", problem.message);
    }

    /// Argo CD builds the policy from `policy.csv` then every other
    /// `policy.*.csv` key (util/rbac/rbac.go `PolicyCSV`, v3.5.1): our key
    /// matches that pattern and is not `policy.csv`.
    #[test]
    fn the_policy_key_is_one_argo_cd_appends() {
        assert!(POLICY_KEY.starts_with("policy.") && POLICY_KEY.ends_with(".csv"));
        assert_ne!(POLICY_KEY, "policy.csv");
        assert_eq!(ACCOUNT_KEY, format!("accounts.{ACCOUNT}"));
        assert!(!ACCOUNT.contains('.'));
    }
}
