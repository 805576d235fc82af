//! Counting API requests by Kubernetes verb, and stamping them with the
//! run's trace context.
//!
//! A tower layer under the retry layer sees every request actually sent
//! (retries included), so the report's request counts and the no-op
//! re-deploy budget are measured, not estimated.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, Method, Request};

/// Request counters of one run.
#[derive(Debug, Default)]
pub struct ApiStats {
    by_verb: Mutex<BTreeMap<&'static str, u64>>,
    retries: AtomicU64,
    reviews: AtomicU64,
}

/// Resources whose `create` asks a question and stores nothing.
const REVIEWS: [&str; 4] = [
    "selfsubjectaccessreviews",
    "selfsubjectrulesreviews",
    "subjectaccessreviews",
    "tokenreviews",
];

/// The verbs that change cluster state.
pub const MUTATING_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

impl ApiStats {
    /// Counts one request.
    pub fn record(&self, verb: &'static str) {
        if let Ok(mut by_verb) = self.by_verb.lock() {
            *by_verb.entry(verb).or_default() += 1;
        }
    }

    /// Counts one retry of a transient failure.
    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests so far, by verb.
    pub fn by_verb(&self) -> BTreeMap<String, u64> {
        self.by_verb
            .lock()
            .map(|m| m.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())
            .unwrap_or_default()
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.by_verb.lock().map(|m| m.values().sum()).unwrap_or(0)
    }

    /// Requests that change cluster state (dry-run requests included: they
    /// use mutating verbs, though they change nothing).
    pub fn mutating(&self) -> u64 {
        let writes: u64 = self
            .by_verb
            .lock()
            .map(|m| MUTATING_VERBS.iter().filter_map(|v| m.get(v)).sum())
            .unwrap_or(0);
        // Access reviews are `create`s that store nothing.
        writes.saturating_sub(self.reviews.load(Ordering::Relaxed))
    }

    /// Retries of transient failures so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

/// The Kubernetes verb of a request, from its method and path.
pub fn kube_verb(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => &[],
    };
    let has_name = match rest {
        ["namespaces", _ns, _resource, _name, ..] => true,
        ["namespaces", _ns, _resource] => false,
        [_resource, _name, ..] => true,
        _ => false,
    };
    match *method {
        Method::GET if watch => "watch",
        Method::GET if has_name || rest.is_empty() => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if has_name => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    }
}

/// Counts a request and adds the `traceparent` header.
pub fn stamp<B>(stats: &ApiStats, traceparent: Option<&HeaderValue>, mut request: Request<B>) -> Request<B> {
    let verb = kube_verb(request.method(), request.uri().path(), request.uri().query());
    stats.record(verb);
    if verb == "create" && REVIEWS.iter().any(|r| request.uri().path().ends_with(r)) {
        stats.reviews.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(value) = traceparent {
        request.headers_mut().insert("traceparent", value.clone());
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_kubernetes_naming() {
        let v = |m: Method, p: &str, q: Option<&str>| kube_verb(&m, p, q);
        assert_eq!(v(Method::GET, "/api/v1/namespaces", None), "list");
        assert_eq!(v(Method::GET, "/api/v1/namespaces/argocd", None), "get");
        assert_eq!(v(Method::GET, "/api/v1/namespaces/argocd/pods", None), "list");
        assert_eq!(v(Method::GET, "/api/v1/namespaces/argocd/pods/p", None), "get");
        assert_eq!(
            v(
                Method::GET,
                "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
                Some("watch=true&fieldSelector=x")
            ),
            "watch"
        );
        assert_eq!(v(Method::GET, "/version", None), "get");
        assert_eq!(
            v(
                Method::PATCH,
                "/apis/apps/v1/namespaces/a/deployments/d",
                Some("fieldManager=executor")
            ),
            "patch"
        );
        assert_eq!(
            v(Method::DELETE, "/api/v1/namespaces/a/configmaps", None),
            "deletecollection"
        );
        assert_eq!(v(Method::DELETE, "/api/v1/namespaces/a", None), "delete");
        assert_eq!(
            v(
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                None
            ),
            "create"
        );
    }

    #[test]
    fn mutating_counts_only_writes() {
        let stats = ApiStats::default();
        for verb in ["get", "list", "watch", "patch", "create", "delete"] {
            stats.record(verb);
        }
        assert_eq!(stats.total(), 6);
        assert_eq!(stats.mutating(), 3);
    }
}
