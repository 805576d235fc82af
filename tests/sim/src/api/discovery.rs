//! Discovery and OpenAPI: what kubectl and kube-rs read before they can talk
//! about any resource.
//!
//! Both forms are served: the legacy documents, and the aggregated
//! `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` at `/api` and `/apis` for
//! clients that ask for it in `Accept` (kubectl does, and kube-rs's
//! `Discovery::run_aggregated` requires it). OpenAPI v3 lists every group/version with PATCH operations that
//! accept `fieldValidation`, which is what kubectl checks before letting the
//! server validate; OpenAPI v2 is an empty protobuf document.

use crate::cluster::Cluster;
use serde_json::{Value, json};

/// The content type of aggregated discovery documents.
pub const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// A non-resource answer.
#[derive(Debug)]
pub enum Document {
    /// JSON.
    Json(Value),
    /// JSON with a specific content type.
    TypedJson(&'static str, Value),
    /// Raw bytes with a content type.
    Raw(&'static str, Vec<u8>),
}

/// Serves a non-resource path, or `None` for an unknown one.
pub fn serve(cluster: &Cluster, path: &str, host: &str, accept: &str) -> Option<Document> {
    let path = path.trim_end_matches('/');
    let reg = &cluster.registry;
    let wants_aggregated = accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=APIGroupDiscoveryList") && first.contains("v=v2"));
    if wants_aggregated && (path == "/api" || path == "/apis") {
        return Some(Document::TypedJson(AGGREGATED_V2, aggregated(cluster, path == "/api")));
    }
    let doc = match path {
        "/version" => json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-sim",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
            "platform": "linux/amd64"
        }),
        "/healthz" | "/livez" | "/readyz" => {
            return Some(Document::Raw("text/plain", b"ok".to_vec()));
        }
        "/api" => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]
        }),
        "/apis" => {
            let groups: Vec<Value> = reg
                .groups()
                .into_iter()
                .map(|(g, versions)| group_doc(&g, &versions))
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        "/api/v1" => resource_list(cluster, "", "v1"),
        "/openapi/v2" => {
            return Some(Document::Raw(
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                Vec::new(),
            ));
        }
        "/openapi/v3" => {
            let mut paths = serde_json::Map::new();
            let hash = reg.revision();
            paths.insert(
                "api/v1".into(),
                json!({"serverRelativeURL": format!("/openapi/v3/api/v1?hash={hash:016X}")}),
            );
            for (g, versions) in reg.groups() {
                for v in versions {
                    paths.insert(
                        format!("apis/{g}/{v}"),
                        json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash={hash:016X}")}),
                    );
                }
            }
            json!({"paths": paths})
        }
        _ => {
            if let Some(gv) = path.strip_prefix("/openapi/v3/") {
                let (group, version) = match gv.split('/').collect::<Vec<_>>().as_slice() {
                    ["api", v] => (String::new(), v.to_string()),
                    ["apis", g, v] => (g.to_string(), v.to_string()),
                    _ => return None,
                };
                if !reg.has_group_version(&group, &version) {
                    return None;
                }
                openapi_v3(cluster, &group, &version)
            } else if let Some(rest) = path.strip_prefix("/apis/") {
                let parts: Vec<&str> = rest.split('/').collect();
                match parts.as_slice() {
                    [g] => {
                        let (_, versions) = reg.groups().into_iter().find(|(name, _)| name == g)?;
                        let mut doc = group_doc(g, &versions);
                        doc["kind"] = json!("APIGroup");
                        doc["apiVersion"] = json!("v1");
                        doc
                    }
                    [g, v] if reg.has_group_version(g, v) => resource_list(cluster, g, v),
                    _ => return None,
                }
            } else {
                return None;
            }
        }
    };
    Some(Document::Json(doc))
}

/// The aggregated discovery list of the core group (`/api`) or of all
/// other groups (`/apis`).
fn aggregated(cluster: &Cluster, core: bool) -> Value {
    let reg = &cluster.registry;
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        reg.groups()
    };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|version| {
                    let resources: Vec<Value> = reg
                        .in_group_version(&group, version)
                        .iter()
                        .map(|t| {
                            let kind = json!({"group": group, "version": version, "kind": t.kind});
                            let mut subresources = Vec::new();
                            if t.status_subresource {
                                subresources.push(json!({"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}));
                            }
                            if crate::api::handlers::has_scale(t) {
                                subresources.push(json!({
                                    "subresource": "scale",
                                    "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                                    "verbs": ["get", "patch", "update"],
                                }));
                            }
                            let mut r = json!({
                                "resource": t.resource,
                                "responseKind": kind,
                                "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": t.singular,
                                "verbs": t.verbs(),
                            });
                            if !t.short_names.is_empty() {
                                r["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                r["categories"] = json!(t.categories);
                            }
                            if !subresources.is_empty() {
                                r["subresources"] = json!(subresources);
                            }
                            r
                        })
                        .collect();
                    json!({"version": version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

fn resource_list(cluster: &Cluster, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for t in cluster.registry.in_group_version(group, version) {
        let mut r = json!({
            "name": t.resource,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs(),
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        if crate::api::handlers::has_scale(&t) {
            resources.push(json!({
                "name": format!("{}/scale", t.resource),
                "singularName": "",
                "namespaced": t.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.resource),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn openapi_v3(cluster: &Cluster, group: &str, version: &str) -> Value {
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for t in cluster.registry.in_group_version(group, version) {
        let gvk = json!({"group": group, "version": version, "kind": t.kind});
        let item = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.resource)
        } else {
            format!("{prefix}/{}/{{name}}", t.resource)
        };
        let params = json!([
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}}
        ]);
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", t.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}}
            })
        };
        paths.insert(
            item,
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        let schema_name = format!(
            "{}.{}.{}",
            if group.is_empty() { "core" } else { group },
            version,
            t.kind
        );
        let mut schema = t
            .schema
            .as_deref()
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(schema_name, schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}
