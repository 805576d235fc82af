//! Authentication (bearer tokens from `sim.yaml`) and authorization (the
//! token's verb, resource and namespace rules), including the answers to
//! SelfSubjectAccessReview and SelfSubjectRulesReview.

use crate::api::ApiError;
use crate::config::TokenConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An authenticated user and what it may do.
#[derive(Debug, Clone)]
pub struct User {
    /// User name (audit `user.username`).
    pub name: String,
    /// Groups.
    pub groups: Vec<String>,
    rules: TokenConfig,
    /// Set for ServiceAccount tokens: authorized by the cluster's RBAC.
    rbac: Option<std::sync::Arc<crate::rbac::Grants>>,
}

impl User {
    /// A user with every permission (simulated controllers).
    pub fn system(name: &str) -> Self {
        Self {
            name: name.to_string(),
            groups: vec!["system:masters".into()],
            rules: TokenConfig {
                user: name.to_string(),
                ..TokenConfig::default()
            },
            rbac: None,
        }
    }

    /// A ServiceAccount user whose requests the cluster's RBAC authorizes
    /// (see [`crate::rbac`]).
    pub fn with_grants(name: &str, groups: Vec<String>, grants: std::sync::Arc<crate::rbac::Grants>) -> Self {
        Self {
            name: name.to_string(),
            groups,
            rules: TokenConfig::default(),
            rbac: Some(grants),
        }
    }

    /// Whether the user may do `verb` on `group`/`resource` (`res/sub` for a
    /// subresource) named `name` in `namespace`.
    pub fn allows_named(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> bool {
        match &self.rbac {
            Some(grants) => grants.allows(verb, group, resource, namespace, name),
            None => self.allows(verb, group, resource, namespace),
        }
    }

    /// Whether the user may do `verb` on `group`/`resource` in `namespace`.
    pub fn allows(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> bool {
        if let Some(grants) = &self.rbac {
            return grants.allows(verb, group, resource, namespace, None);
        }
        if let Some(rules) = &self.rules.rules {
            return rules.iter().any(|r| r.grants(verb, group, resource, namespace));
        }
        let verb_ok = self
            .rules
            .verbs
            .as_ref()
            .is_none_or(|vs| vs.iter().any(|v| v == verb || v == "*"));
        let resource_ok = self
            .rules
            .resources
            .as_ref()
            .is_none_or(|rs| rs.iter().any(|r| r == resource || r == "*"));
        let ns_ok = match (&self.rules.namespaces, namespace) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(list), Some(ns)) => list.iter().any(|n| n == ns || n == "*"),
        };
        verb_ok && resource_ok && ns_ok
    }

    /// The `403` a denied request gets.
    pub fn forbidden(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> ApiError {
        let scope = match namespace {
            Some(ns) => format!(" in the namespace \"{ns}\""),
            None => " at the cluster scope".to_string(),
        };
        let group_text = if group.is_empty() {
            "\"\"".to_string()
        } else {
            format!("\"{group}\"")
        };
        ApiError::forbidden(format!(
            "{resource} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group {group_text}{scope}",
            self.name
        ))
    }

    /// Answers a SelfSubjectAccessReview body.
    pub fn access_review(&self, body: &Value) -> Value {
        if let Some(grants) = &self.rbac {
            return grants.access_review(body);
        }
        let attrs = &body["spec"]["resourceAttributes"];
        let allowed = if attrs.is_object() {
            let resource = attrs["resource"].as_str().unwrap_or("");
            let resource = match attrs["subresource"].as_str().filter(|s| !s.is_empty()) {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.to_owned(),
            };
            self.allows(
                attrs["verb"].as_str().unwrap_or(""),
                attrs["group"].as_str().unwrap_or(""),
                &resource,
                attrs["namespace"].as_str().filter(|s| !s.is_empty()),
            ) || (self.rules.rules.is_none()
                && self.rules.verbs.is_none()
                && self.rules.resources.is_none()
                && self.rules.namespaces.is_none())
        } else {
            self.rules.verbs.is_none()
        };
        let mut out = body.clone();
        out["apiVersion"] = json!("authorization.k8s.io/v1");
        out["kind"] = json!("SelfSubjectAccessReview");
        out["status"] = if allowed {
            json!({"allowed": true, "reason": "allowed by kube-sim token rules"})
        } else {
            json!({"allowed": false})
        };
        out
    }

    /// Answers a SelfSubjectRulesReview body.
    pub fn rules_review(&self, body: &Value) -> Value {
        if let Some(grants) = &self.rbac {
            return grants.rules_review(body);
        }
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_else(|| vec!["*".into()]);
        let mut out = body.clone();
        out["apiVersion"] = json!("authorization.k8s.io/v1");
        out["kind"] = json!("SelfSubjectRulesReview");
        let namespace = body["spec"]["namespace"].as_str().unwrap_or("");
        let resource_rules: Vec<Value> = match &self.rules.rules {
            Some(rules) => rules
                .iter()
                .filter(|r| r.namespaces.is_empty() || r.namespaces.iter().any(|n| n == namespace || n == "*"))
                .map(|r| json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources}))
                .collect(),
            None => vec![json!({
                "verbs": list(&self.rules.verbs),
                "apiGroups": ["*"],
                "resources": list(&self.rules.resources),
            })],
        };
        out["status"] = json!({
            "resourceRules": resource_rules,
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
        out
    }
}

/// Finds the user of an `Authorization` header.
///
/// # Errors
/// `401 Unauthorized` for a missing or unknown token.
pub fn authenticate(tokens: &BTreeMap<String, TokenConfig>, header: Option<&str>) -> Result<User, ApiError> {
    let token = header
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim);
    match token.and_then(|t| tokens.get(t)) {
        Some(rules) => Ok(User {
            name: if rules.user.is_empty() {
                token.unwrap_or_default().to_string()
            } else {
                rules.user.clone()
            },
            groups: rules.groups.clone(),
            rules: rules.clone(),
            rbac: None,
        }),
        None => Err(ApiError::new(401, "Unauthorized", "Unauthorized")),
    }
}
