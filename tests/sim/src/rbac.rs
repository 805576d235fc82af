//! ServiceAccount tokens and the RBAC authorizer that judges them.
//!
//! The pod runner mounts a bound token into every pod it starts (as the
//! ServiceAccount admission plugin projects one); a request carrying such a
//! token authenticates as `system:serviceaccount:<ns>:<name>` with the groups
//! `system:serviceaccounts`, `system:serviceaccounts:<ns>` and
//! `system:authenticated`, and is authorized by the Roles, ClusterRoles,
//! RoleBindings and ClusterRoleBindings the cluster holds at that moment —
//! the rules of kubernetes `plugin/pkg/auth/authorizer/rbac/rbac.go`
//! (`RBACAuthorizer.Authorize`, `appliesTo`) and
//! `pkg/apis/rbac/v1/evaluation_helpers.go` (`VerbMatches`,
//! `APIGroupMatches`, `ResourceMatches`, `ResourceNameMatches`). Aggregated
//! ClusterRoles (`aggregationRule.clusterRoleSelectors`) take the union of
//! the rules of the ClusterRoles their selectors match, as the
//! clusterrole-aggregation controller
//! (`pkg/controller/clusterroleaggregation`) would write into them.
//!
//! Like a bound token, one is valid only while its pod (same uid) and its
//! ServiceAccount exist.

use crate::cluster::Cluster;
use crate::resources::GroupResource;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The pod and ServiceAccount a token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundToken {
    /// Namespace of the pod and its ServiceAccount.
    pub namespace: String,
    /// ServiceAccount name.
    pub service_account: String,
    /// Pod name.
    pub pod: String,
    /// Pod uid (a re-created pod of the same name does not inherit it).
    pub pod_uid: String,
}

impl BoundToken {
    /// `system:serviceaccount:<ns>:<name>`.
    pub fn user_name(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.service_account)
    }

    /// The groups a ServiceAccount user has.
    pub fn groups(&self) -> Vec<String> {
        vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{}", self.namespace),
            "system:authenticated".to_string(),
        ]
    }
}

/// Tokens issued to running pods.
#[derive(Debug, Default)]
pub struct SaTokens {
    tokens: Mutex<HashMap<String, BoundToken>>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl SaTokens {
    /// Issues a token shaped like a projected ServiceAccount token (a JWT
    /// whose claims a client may read; the simulator checks it by lookup).
    pub fn issue(&self, bound: BoundToken) -> String {
        let now = jiff::Timestamp::now().as_second();
        let claims = json!({
            "aud": ["https://kubernetes.default.svc.cluster.local"],
            "iss": "https://kubernetes.default.svc.cluster.local",
            "iat": now, "nbf": now, "exp": now + 3607,
            "sub": bound.user_name(),
            "kubernetes.io": {
                "namespace": bound.namespace,
                "pod": {"name": bound.pod, "uid": bound.pod_uid},
                "serviceaccount": {"name": bound.service_account},
            },
        });
        let signature = [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
        let token = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256","kid":"kube-sim"}"#),
            b64(claims.to_string().as_bytes()),
            b64(&signature)
        );
        self.lock().insert(token.clone(), bound);
        token
    }

    /// Forgets the tokens of a pod (it was deleted).
    pub fn revoke_pod(&self, pod_uid: &str) {
        self.lock().retain(|_, b| b.pod_uid != pod_uid);
    }

    /// The binding of a token, if it was issued.
    pub fn lookup(&self, token: &str) -> Option<BoundToken> {
        self.lock().get(token).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BoundToken>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One RBAC `PolicyRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources` (`pods`, `pods/log`, `*`, `*/scale`).
    pub resources: Vec<String>,
    /// `resourceNames` (empty: any).
    pub resource_names: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

impl Rule {
    fn from_json(rule: &Value) -> Self {
        Self {
            verbs: strings(&rule["verbs"]),
            api_groups: strings(&rule["apiGroups"]),
            resources: strings(&rule["resources"]),
            resource_names: strings(&rule["resourceNames"]),
        }
    }

    /// `RuleAllows` of evaluation_helpers.go: verb, group, resource (with
    /// `*/<subresource>`) and resource name.
    pub fn allows(&self, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
        let any = |list: &[String], value: &str| list.iter().any(|x| x == "*" || x == value);
        let subresource = resource.split_once('/').map(|(_, s)| s);
        let resource_ok = self
            .resources
            .iter()
            .any(|r| r == "*" || r == resource || subresource.is_some_and(|s| r.strip_prefix("*/") == Some(s)));
        let name_ok = self.resource_names.is_empty()
            || name.is_some_and(|n| !n.is_empty() && self.resource_names.iter().any(|x| x == n));
        any(&self.verbs, verb) && any(&self.api_groups, group) && resource_ok && name_ok
    }
}

/// What one user may do: rules, each for one namespace (a RoleBinding's) or
/// everywhere (a ClusterRoleBinding's).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    rules: Vec<(Rule, Option<String>)>,
}

impl Grants {
    /// Whether a request is allowed.
    pub fn allows(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>, name: Option<&str>) -> bool {
        self.rules.iter().any(|(rule, scope)| {
            scope.as_deref().is_none_or(|ns| Some(ns) == namespace) && rule.allows(verb, group, resource, name)
        })
    }

    /// A SelfSubjectAccessReview answer.
    pub fn access_review(&self, body: &Value) -> Value {
        let attrs = &body["spec"]["resourceAttributes"];
        let resource = attrs["resource"].as_str().unwrap_or("");
        let resource = match attrs["subresource"].as_str().filter(|s| !s.is_empty()) {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_string(),
        };
        let allowed = attrs.is_object()
            && self.allows(
                attrs["verb"].as_str().unwrap_or(""),
                attrs["group"].as_str().unwrap_or(""),
                &resource,
                attrs["namespace"].as_str().filter(|s| !s.is_empty()),
                attrs["name"].as_str().filter(|s| !s.is_empty()),
            );
        let mut out = body.clone();
        out["apiVersion"] = json!("authorization.k8s.io/v1");
        out["kind"] = json!("SelfSubjectAccessReview");
        out["status"] = if allowed {
            json!({"allowed": true, "reason": "RBAC: allowed by the cluster's bindings"})
        } else {
            json!({"allowed": false})
        };
        out
    }

    /// A SelfSubjectRulesReview answer for the namespace asked about.
    pub fn rules_review(&self, body: &Value) -> Value {
        let namespace = body["spec"]["namespace"].as_str().unwrap_or("");
        let resource_rules: Vec<Value> = self
            .rules
            .iter()
            .filter(|(_, scope)| scope.as_deref().is_none_or(|ns| ns == namespace))
            .map(|(r, _)| {
                let mut v = json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
                if !r.resource_names.is_empty() {
                    v["resourceNames"] = json!(r.resource_names);
                }
                v
            })
            .collect();
        let mut out = body.clone();
        out["apiVersion"] = json!("authorization.k8s.io/v1");
        out["kind"] = json!("SelfSubjectRulesReview");
        out["status"] = json!({
            "resourceRules": resource_rules,
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/", "/openapi", "/openapi/*"]}],
            "incomplete": false,
        });
        out
    }
}

fn list(cluster: &Cluster, resource: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
    cluster
        .store
        .list(&GroupResource::new("rbac.authorization.k8s.io", resource), namespace)
        .0
}

/// `appliesTo` of rbac.go: does a binding subject name this user? A
/// ServiceAccount subject without a namespace takes the binding's.
fn subject_matches(subject: &Value, user: &str, groups: &[String], binding_ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str().unwrap_or("") {
        "User" => name == user,
        "Group" => groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(binding_ns);
            user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels[k].as_str();
    let labels_ok = selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| label(k) == v.as_str()));
    let exprs_ok = selector["matchExpressions"].as_array().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values = strings(&e["values"]);
            match e["operator"].as_str().unwrap_or("") {
                "In" => label(key).is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => label(key).is_none_or(|v| !values.iter().any(|x| x == v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        })
    });
    labels_ok && exprs_ok
}

/// The rules of a ClusterRole, aggregated ones included.
fn cluster_role_rules(cluster: &Cluster, name: &str, seen: &mut BTreeSet<String>) -> Vec<Rule> {
    if !seen.insert(name.to_string()) {
        return vec![];
    }
    let roles = list(cluster, "clusterroles", None);
    let Some(role) = roles.iter().find(|r| crate::api::object::name(r) == name) else {
        return vec![];
    };
    let mut rules: Vec<Rule> = role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Rule::from_json)
        .collect();
    if let Some(selectors) = role["aggregationRule"]["clusterRoleSelectors"].as_array() {
        for other in roles.iter() {
            let other_name = crate::api::object::name(other);
            if other_name != name
                && selectors
                    .iter()
                    .any(|s| selector_matches(s, &other["metadata"]["labels"]))
            {
                rules.extend(cluster_role_rules(cluster, other_name, seen));
            }
        }
    }
    rules
}

fn role_ref_rules(cluster: &Cluster, role_ref: &Value, binding_ns: &str) -> Vec<Rule> {
    let name = role_ref["name"].as_str().unwrap_or("");
    match role_ref["kind"].as_str().unwrap_or("") {
        "ClusterRole" => cluster_role_rules(cluster, name, &mut BTreeSet::new()),
        "Role" => list(cluster, "roles", Some(binding_ns))
            .iter()
            .find(|r| crate::api::object::name(r) == name)
            .map(|r| {
                r["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(Rule::from_json)
                    .collect()
            })
            .unwrap_or_default(),
        _ => vec![],
    }
}

/// Everything the cluster's bindings grant `user` with `groups`.
pub fn grants_for(cluster: &Cluster, user: &str, groups: &[String]) -> Grants {
    let mut grants = Grants::default();
    for binding in list(cluster, "clusterrolebindings", None) {
        let subjects = binding["subjects"].as_array().cloned().unwrap_or_default();
        if subjects.iter().any(|s| subject_matches(s, user, groups, "")) {
            for rule in role_ref_rules(cluster, &binding["roleRef"], "") {
                grants.rules.push((rule, None));
            }
        }
    }
    for binding in list(cluster, "rolebindings", None) {
        let ns = crate::api::object::namespace(&binding).to_string();
        let subjects = binding["subjects"].as_array().cloned().unwrap_or_default();
        if subjects.iter().any(|s| subject_matches(s, user, groups, &ns)) {
            for rule in role_ref_rules(cluster, &binding["roleRef"], &ns) {
                grants.rules.push((rule, Some(ns.clone())));
            }
        }
    }
    grants
}

/// Authenticates a bearer token issued by the pod runner: the user of a
/// ServiceAccount whose pod still exists, with the grants of its bindings.
pub fn authenticate(cluster: &Cluster, header: Option<&str>) -> Option<crate::auth::User> {
    let token = header?
        .strip_prefix("Bearer ")
        .or_else(|| header?.strip_prefix("bearer "))?
        .trim();
    let bound = cluster.runtime.tokens.lookup(token)?;
    let pod = cluster
        .store
        .get(&GroupResource::new("", "pods"), &bound.namespace, &bound.pod)?;
    let sa_exists = cluster
        .store
        .get(
            &GroupResource::new("", "serviceaccounts"),
            &bound.namespace,
            &bound.service_account,
        )
        .is_some();
    if crate::api::object::uid(&pod) != bound.pod_uid || !sa_exists {
        return None;
    }
    let (user, groups) = (bound.user_name(), bound.groups());
    let grants = grants_for(cluster, &user, &groups);
    Some(crate::auth::User::with_grants(&user, groups, Arc::new(grants)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Rule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Rule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: v(names),
        }
    }

    #[test]
    fn rule_matching_follows_evaluation_helpers() {
        let r = rule(&["get"], &[""], &["configmaps"], &["lock"]);
        assert!(r.allows("get", "", "configmaps", Some("lock")));
        assert!(!r.allows("get", "", "configmaps", Some("other")));
        // A rule naming resources never matches a request without a name (list).
        assert!(!r.allows("list", "", "configmaps", None));
        assert!(!rule(&["list"], &[""], &["configmaps"], &["lock"]).allows("list", "", "configmaps", None));
        let sub = rule(&["get"], &["apps"], &["*/scale"], &[]);
        assert!(sub.allows("get", "apps", "deployments/scale", Some("x")));
        assert!(!sub.allows("get", "apps", "deployments", Some("x")));
        // `pods` does not grant `pods/log`.
        assert!(!rule(&["get"], &[""], &["pods"], &[]).allows("get", "", "pods/log", Some("p")));
        assert!(rule(&["*"], &["*"], &["*"], &[]).allows("delete", "argoproj.io", "workflows", Some("w")));
    }

    #[test]
    fn role_binding_rules_apply_in_their_namespace_only() {
        let grants = Grants {
            rules: vec![(rule(&["get"], &[""], &["secrets"], &[]), Some("argo".into()))],
        };
        assert!(grants.allows("get", "", "secrets", Some("argo"), Some("s")));
        assert!(!grants.allows("get", "", "secrets", Some("default"), Some("s")));
        assert!(!grants.allows("get", "", "secrets", None, Some("s")));
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = json!({"rbac.authorization.k8s.io/aggregate-to-admin": "true"});
        assert!(selector_matches(
            &json!({"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}),
            &labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "rbac.authorization.k8s.io/aggregate-to-admin", "operator": "Exists"}]}),
            &labels
        ));
    }
}
