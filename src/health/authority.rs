//! Argo CD as the health authority for what it manages: the verdict an
//! Application records for one of its resources.
//!
//! Argo CD assesses every resource of an Application and, with
//! `controller.resource.health.persist: "true"` (set by the bootstrap),
//! records the result in `status.resources[].health` (argo-cd
//! `controller/health.go`, `setApplicationHealth`). An entry without
//! `health` means Argo CD has no check for the kind (the resource counts as
//! healthy because it exists). `status.resourceHealthSource: appTree` means
//! this Argo CD does not record resource health at all: the executor then
//! judges the resource itself (docs/health.md, "Who decides").

use serde_json::Value;

use super::fields::{group_of, string_or_empty};
use super::{Health, HealthStatus};

/// What an Application records about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The Application's name.
    pub app: String,
    /// Argo CD's verdict; `None` when this Argo CD records no resource
    /// health (`resourceHealthSource: appTree`).
    pub health: Option<Health>,
}

/// The resource an Application lists: its `status.resources[]` entry.
fn entry<'a>(app: &'a Value, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<&'a Value> {
    let group = group_of(api_version);
    app["status"]["resources"].as_array()?.iter().find(|r| {
        string_or_empty(r, &["group"]) == group
            && string_or_empty(r, &["kind"]) == kind
            && string_or_empty(r, &["namespace"]) == namespace
            && string_or_empty(r, &["name"]) == name
    })
}

/// What `app` records about the resource, if it lists it.
pub fn recorded(app: &Value, api_version: &str, kind: &str, namespace: &str, name: &str) -> Option<Recorded> {
    let entry = entry(app, api_version, kind, namespace, name)?;
    let app_name = string_or_empty(app, &["metadata", "name"]).to_owned();
    if string_or_empty(app, &["status", "resourceHealthSource"]) == "appTree" {
        return Some(Recorded {
            app: app_name,
            health: None,
        });
    }
    let health = match entry["health"]["status"].as_str() {
        // No health recorded: Argo CD has no check for the kind.
        None | Some("") => Health::healthy(),
        Some(status) => match status.parse::<HealthStatus>() {
            Ok(HealthStatus::Failed) | Err(_) => Health::new(
                HealthStatus::Unknown,
                format!("Argo CD recorded an unknown health status {status:?}"),
            ),
            Ok(status) => Health::new(status, string_or_empty(&entry["health"], &["message"])),
        },
    };
    Some(Recorded {
        app: app_name,
        health: Some(health),
    })
}

/// The first of `apps` that lists the resource, with what it records.
pub fn managing<'a>(
    apps: impl IntoIterator<Item = &'a Value>,
    api_version: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<Recorded> {
    apps.into_iter()
        .find_map(|app| recorded(app, api_version, kind, namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(name: &str, status: Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": name}, "status": status})
    }

    #[test]
    fn reads_the_verdict_argo_cd_records() {
        let certs = app(
            "certs",
            json!({"resources": [
                {"group": "cert-manager.io", "version": "v1", "kind": "Certificate", "namespace": "web", "name": "web-tls",
                 "health": {"status": "Degraded", "message": "Issuing failed"}},
                {"version": "v1", "kind": "ConfigMap", "namespace": "web", "name": "plain"}
            ]}),
        );
        let found = recorded(&certs, "cert-manager.io/v1", "Certificate", "web", "web-tls").unwrap();
        assert_eq!(found.app, "certs");
        assert_eq!(
            found.health,
            Some(Health::new(HealthStatus::Degraded, "Issuing failed"))
        );
        // Listed without health: Argo CD has no check, the resource exists.
        let plain = recorded(&certs, "v1", "ConfigMap", "web", "plain").unwrap();
        assert_eq!(plain.health, Some(Health::healthy()));
        assert!(recorded(&certs, "cert-manager.io/v1", "Certificate", "web", "other").is_none());
        assert!(recorded(&certs, "cert-manager.io/v1", "Issuer", "web", "web-tls").is_none());
    }

    #[test]
    fn an_argo_cd_that_records_no_resource_health_decides_nothing() {
        let tree = app(
            "certs",
            json!({"resourceHealthSource": "appTree", "resources": [
                {"group": "cert-manager.io", "kind": "Certificate", "namespace": "web", "name": "web-tls"}]}),
        );
        let found = recorded(&tree, "cert-manager.io/v1", "Certificate", "web", "web-tls").unwrap();
        assert_eq!(found.health, None);
    }

    #[test]
    fn finds_the_managing_application_among_many() {
        let a = app("a", json!({"resources": []}));
        let b = app(
            "b",
            json!({"resources": [{"group": "apps", "kind": "Deployment", "namespace": "x", "name": "d",
                                  "health": {"status": "Healthy"}}]}),
        );
        let found = managing([&a, &b], "apps/v1", "Deployment", "x", "d").unwrap();
        assert_eq!(found.app, "b");
        assert!(managing([&a], "apps/v1", "Deployment", "x", "d").is_none());
    }
}
