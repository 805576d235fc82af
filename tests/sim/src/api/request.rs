//! Turns an HTTP method, path and query into what the API server needs to
//! know: which resource, which object, which verb, which options.
//!
//! Kubernetes paths are `/api/v1/...` for the core group and
//! `/apis/<group>/<version>/...` otherwise, optionally with
//! `namespaces/<ns>/` before the resource and a subresource after the name.

use std::collections::BTreeMap;

/// What a request addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A path that is not a resource (`/version`, `/apis`, `/openapi/v3`).
    NonResource(String),
    /// A resource path.
    Resource(ResourcePath),
}

/// The parts of a resource path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourcePath {
    /// API group (empty for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Namespace, for namespaced paths.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, `finalize`).
    pub subresource: Option<String>,
}

/// Splits a path into its target.
pub fn parse_path(path: &str) -> Target {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        [api, version, rest @ ..] if api == "api" && !rest.is_empty() => (String::new(), version.clone(), rest),
        [apis, group, version, rest @ ..] if apis == "apis" && !rest.is_empty() => {
            (group.clone(), version.clone(), rest)
        }
        _ => return Target::NonResource(path.to_string()),
    };
    let mut p = ResourcePath {
        group,
        version,
        ..ResourcePath::default()
    };
    let rest: Vec<String> = rest.to_vec();
    let namespace_subresource = rest.len() == 3 && matches!(rest[2].as_str(), "status" | "finalize");
    let rest = if rest.len() >= 3 && rest[0] == "namespaces" && !namespace_subresource {
        p.namespace = Some(rest[1].clone());
        rest[2..].to_vec()
    } else {
        rest
    };
    match rest.as_slice() {
        [resource] => p.resource = resource.clone(),
        [resource, name] => {
            p.resource = resource.clone();
            p.name = Some(name.clone());
        }
        [resource, name, sub] => {
            p.resource = resource.clone();
            p.name = Some(name.clone());
            p.subresource = Some(sub.clone());
        }
        _ => return Target::NonResource(path.to_string()),
    }
    Target::Resource(p)
}

/// Decodes `%XX` escapes and `+` (as a space) in a path segment or query value.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters of a request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    params: BTreeMap<String, String>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut params = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(percent_decode(k), percent_decode(v));
        }
        Self { params }
    }

    /// One raw parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    /// `watch=true`.
    pub fn watch(&self) -> bool {
        self.flag("watch")
    }

    /// `dryRun=All`.
    pub fn dry_run(&self) -> bool {
        self.get("dryRun").is_some_and(|v| !v.is_empty())
    }

    /// `force=true` (server-side apply).
    pub fn force(&self) -> bool {
        self.flag("force")
    }

    /// `fieldManager`.
    pub fn field_manager(&self) -> Option<&str> {
        self.get("fieldManager").filter(|s| !s.is_empty())
    }

    /// `labelSelector`.
    pub fn label_selector(&self) -> Option<&str> {
        self.get("labelSelector").filter(|s| !s.is_empty())
    }

    /// `fieldSelector`.
    pub fn field_selector(&self) -> Option<&str> {
        self.get("fieldSelector").filter(|s| !s.is_empty())
    }

    /// `limit` (0 = none).
    pub fn limit(&self) -> usize {
        self.get("limit").and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// `continue`.
    pub fn continue_token(&self) -> Option<&str> {
        self.get("continue").filter(|s| !s.is_empty())
    }

    /// `resourceVersion`.
    pub fn resource_version(&self) -> Option<&str> {
        self.get("resourceVersion").filter(|s| !s.is_empty())
    }

    /// `timeoutSeconds`.
    pub fn timeout_seconds(&self) -> Option<u64> {
        self.get("timeoutSeconds").and_then(|s| s.parse().ok())
    }

    /// `allowWatchBookmarks=true`.
    pub fn allow_bookmarks(&self) -> bool {
        self.flag("allowWatchBookmarks")
    }

    /// `sendInitialEvents=true`.
    pub fn send_initial_events(&self) -> bool {
        self.flag("sendInitialEvents")
    }

    /// `propagationPolicy` given as a query parameter.
    pub fn propagation_policy(&self) -> Option<&str> {
        self.get("propagationPolicy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse_path(path) {
            Target::Resource(r) => r,
            Target::NonResource(p) => panic!("{p} is not a resource path"),
        }
    }

    #[test]
    fn paths() {
        let r = res("/apis/apps/v1/namespaces/argocd/deployments/argocd-server/status");
        assert_eq!(
            (
                r.group.as_str(),
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("apps", Some("argocd"), Some("argocd-server"), Some("status"))
        );
        let r = res("/api/v1/namespaces/argocd");
        assert_eq!((r.resource.as_str(), r.name.as_deref()), ("namespaces", Some("argocd")));
        let r = res("/api/v1/namespaces");
        assert_eq!((r.resource.as_str(), r.name), ("namespaces", None));
        let r = res("/api/v1/namespaces/x/finalize");
        assert_eq!(r.subresource.as_deref(), Some("finalize"));
        assert_eq!(parse_path("/apis"), Target::NonResource("/apis".into()));
        assert_eq!(parse_path("/apis/apps/v1"), Target::NonResource("/apis/apps/v1".into()));
    }

    #[test]
    fn query_values_are_decoded() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+%28a%29&watch=1"));
        assert_eq!(q.label_selector(), Some("app=web,tier in (a)"));
        assert!(q.watch());
    }
}
