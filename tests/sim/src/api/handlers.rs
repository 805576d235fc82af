//! The resource verbs: get, list, watch, create, update, patch, delete and
//! deletecollection, as the HTTP layer hands them over (already
//! authenticated, authorized and past the fault plan).

use super::ApiError;
use super::patch::PatchType;
use super::request::{Query, ResourcePath};
use super::selectors::{FieldSelector, LabelSelector};
use super::table::to_table;
use super::watch::{self, Chunk, WatchParams, present};
use super::write::{self, DeleteOptions, Outcome, WriteCtx};
use crate::auth::User;
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::schema::FieldValidation;
use base64::Engine;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A resource request, ready to serve.
#[derive(Debug)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// The addressed resource.
    pub path: ResourcePath,
    /// Query parameters.
    pub query: Query,
    /// Request body.
    pub body: Bytes,
    /// `Content-Type` header.
    pub content_type: String,
    /// `Accept` header.
    pub accept: String,
    /// The authenticated user.
    pub user: User,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Drop a watch after this long (fault injection).
    pub reset_after: Option<Duration>,
    /// Warnings for the answer's `Warning` headers (unknown fields pruned).
    pub warnings: Arc<std::sync::Mutex<Vec<String>>>,
}

/// What to answer.
#[derive(Debug)]
pub enum Reply {
    /// A JSON body with a status code.
    Json(u16, Value),
    /// A watch stream.
    Watch(mpsc::Receiver<Chunk>),
}

/// The Kubernetes verb of a request.
pub fn verb_of(method: &Method, path: &ResourcePath, query: &Query) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if query.watch() => "watch",
        Method::GET | Method::HEAD if path.name.is_some() => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if path.name.is_some() => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

fn decode_body(body: &Bytes, content_type: &str) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if super::protobuf::is_protobuf(content_type) {
        return super::protobuf::decode(body).map_err(|e| match e {
            super::protobuf::DecodeError::UnknownKind(_) => ApiError::unsupported_media(content_type),
            super::protobuf::DecodeError::Malformed(m) => ApiError::bad_request(m),
        });
    }
    if content_type.contains("protobuf") || content_type.contains("cbor") {
        return Err(ApiError::unsupported_media(content_type));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
            if content_type.contains("yaml") {
                serde_saphyr::from_str::<Value>(text)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
            } else {
                Err(ApiError::bad_request(format!(
                    "error decoding request body: {json_err}"
                )))
            }
        }
    }
}

fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

fn default_manager(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("").trim();
    if prefix.is_empty() {
        "unknown".into()
    } else {
        prefix.to_string()
    }
}

/// Serves one resource request.
///
/// # Errors
/// Any [`ApiError`] the verb produces.
pub async fn handle(cluster: &Arc<Cluster>, req: ApiRequest) -> Result<Reply, ApiError> {
    let p = &req.path;
    let rt = cluster
        .registry
        .lookup(&p.group, &p.version, &p.resource)
        .ok_or_else(|| ApiError::new(404, "NotFound", "the server could not find the requested resource"))?;
    if p.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let verb = verb_of(&req.method, p, &req.query);
    if p.subresource.as_deref() == Some("scale") && has_scale(&rt) {
        return scale(cluster, &rt, &req, verb);
    }
    if let Some(sub) = &p.subresource {
        let ok = (sub == "status" && rt.status_subresource)
            || (sub == "finalize" && rt.group.is_empty() && rt.resource == "namespaces");
        if !ok {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    }
    if rt.create_only {
        if verb != "create" {
            return Err(ApiError::method_not_allowed());
        }
        let body = decode_body(&req.body, &req.content_type)?;
        let answer = if rt.resource == "selfsubjectaccessreviews" {
            req.user.access_review(&body)
        } else {
            req.user.rules_review(&body)
        };
        return Ok(Reply::Json(201, answer));
    }
    let namespace = p.namespace.clone().unwrap_or_default();
    let manager = req
        .query
        .field_manager()
        .map(String::from)
        .unwrap_or_else(|| default_manager(&req.user_agent));
    let ctx = WriteCtx {
        user: &req.user.name,
        manager: &manager,
        dry_run: req.query.dry_run(),
        audit: false,
        field_validation: FieldValidation::parse(req.query.get("fieldValidation")).map_err(ApiError::bad_request)?,
        warnings: Some(&req.warnings),
    };
    if rt.group == super::events_view::GROUP && rt.resource == "events" {
        let core = cluster
            .registry
            .preferred("", "events")
            .ok_or_else(|| ApiError::internal("no core/v1 events"))?;
        let body = decode_body(&req.body, &req.content_type)?;
        return super::events_view::handle(cluster, &core, &req, verb, body, &ctx);
    }
    match verb {
        "get" => {
            let name = p.name.as_deref().unwrap_or("");
            let object = cluster
                .store
                .get(&rt.group_resource(), &namespace, name)
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.resource, name))?;
            let object = present(&rt, &object);
            if wants_table(&req.accept) {
                return Ok(Reply::Json(
                    200,
                    to_table(&rt, &[object], cluster.store.current_rv(), None),
                ));
            }
            Ok(Reply::Json(200, (*object).clone()))
        }
        "list" => list(cluster, &rt, &req),
        "watch" => {
            let params = WatchParams {
                rt: rt.clone(),
                namespace: p.namespace.clone(),
                labels: LabelSelector::parse(req.query.label_selector().unwrap_or(""))?,
                fields: FieldSelector::parse(req.query.field_selector().unwrap_or(""))?,
                resource_version: req.query.resource_version().map(String::from),
                send_initial_events: req.query.send_initial_events(),
                bookmarks: req.query.allow_bookmarks(),
                timeout: Duration::from_secs(req.query.timeout_seconds().unwrap_or(1800)),
                table: wants_table(&req.accept),
                reset_after: req.reset_after,
            };
            Ok(Reply::Watch(watch::start(cluster.clone(), params)))
        }
        "create" => {
            if rt.namespaced && p.namespace.is_none() {
                return Err(ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ));
            }
            let body = decode_body(&req.body, &req.content_type)?;
            let created = write::create(cluster, &rt, p.namespace.as_deref(), body, &ctx)?;
            Ok(Reply::Json(201, (*present(&rt, &created)).clone()))
        }
        "update" => {
            let name = p.name.as_deref().unwrap_or("");
            let body = decode_body(&req.body, &req.content_type)?;
            let outcome = write::update(cluster, &rt, &namespace, name, body, p.subresource.as_deref(), &ctx)?;
            Ok(Reply::Json(200, (*present(&rt, &outcome.object())).clone()))
        }
        "patch" => {
            let name = p.name.as_deref().unwrap_or("");
            let kind = PatchType::from_content_type(&req.content_type)
                .ok_or_else(|| ApiError::unsupported_media(&req.content_type))?;
            if kind == PatchType::Apply && req.query.field_manager().is_none() {
                return Err(ApiError::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            let body = decode_body(&req.body, &req.content_type)?;
            let (outcome, created) = write::patch(
                cluster,
                &rt,
                &namespace,
                name,
                kind,
                &body,
                p.subresource.as_deref(),
                req.query.force(),
                &ctx,
            )?;
            let code = if created { 201 } else { 200 };
            Ok(Reply::Json(code, (*present(&rt, &outcome.object())).clone()))
        }
        "delete" => {
            let name = p.name.as_deref().unwrap_or("");
            let body = decode_body(&req.body, &req.content_type)?;
            let options = DeleteOptions::from_body(&body, req.query.propagation_policy());
            let ctx = WriteCtx {
                dry_run: ctx.dry_run || options.dry_run,
                ..ctx.clone()
            };
            let outcome = write::delete(cluster, &rt, &namespace, name, &options, &ctx)?;
            let code = match outcome {
                Outcome::Removed(_) => 200,
                _ => 200,
            };
            Ok(Reply::Json(code, (*present(&rt, &outcome.object())).clone()))
        }
        "deletecollection" => {
            let body = decode_body(&req.body, &req.content_type)?;
            let options = DeleteOptions::from_body(&body, req.query.propagation_policy());
            let ctx = WriteCtx {
                dry_run: ctx.dry_run || options.dry_run,
                ..ctx.clone()
            };
            let labels = LabelSelector::parse(req.query.label_selector().unwrap_or(""))?;
            let fields = FieldSelector::parse(req.query.field_selector().unwrap_or(""))?;
            let (items, _) = cluster.store.list(&rt.group_resource(), p.namespace.as_deref());
            let mut deleted = Vec::new();
            for item in items.iter().filter(|o| labels.matches(o) && fields.matches(o)) {
                let ns = item["metadata"]["namespace"].as_str().unwrap_or("");
                let name = item["metadata"]["name"].as_str().unwrap_or("");
                match write::delete(cluster, &rt, ns, name, &options, &ctx) {
                    Ok(o) => deleted.push((*present(&rt, &o.object())).clone()),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(Reply::Json(
                200,
                json!({
                    "kind": format!("{}List", rt.kind),
                    "apiVersion": rt.api_version(),
                    "metadata": {"resourceVersion": cluster.store.current_rv().to_string()},
                    "items": deleted,
                }),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Whether the type has a `scale` subresource.
pub fn has_scale(rt: &ResourceType) -> bool {
    rt.group == "apps" && matches!(rt.resource.as_str(), "deployments" | "statefulsets" | "replicasets")
}

fn scale_of(object: &Value) -> Value {
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": object["metadata"]["name"], "namespace": object["metadata"]["namespace"],
            "uid": object["metadata"]["uid"], "resourceVersion": object["metadata"]["resourceVersion"],
            "creationTimestamp": object["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"]},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// The `scale` subresource (`autoscaling/v1` Scale) of workloads.
fn scale(cluster: &Arc<Cluster>, rt: &Arc<ResourceType>, req: &ApiRequest, verb: &str) -> Result<Reply, ApiError> {
    let p = &req.path;
    let namespace = p.namespace.clone().unwrap_or_default();
    let name = p.name.as_deref().unwrap_or("");
    let current = cluster
        .store
        .get(&rt.group_resource(), &namespace, name)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.resource, name))?;
    let replicas = match verb {
        "get" => return Ok(Reply::Json(200, scale_of(&current))),
        "update" => decode_body(&req.body, &req.content_type)?["spec"]["replicas"].clone(),
        "patch" => {
            let kind = PatchType::from_content_type(&req.content_type)
                .filter(|k| *k != PatchType::Apply)
                .ok_or_else(|| ApiError::unsupported_media(&req.content_type))?;
            let patch = decode_body(&req.body, &req.content_type)?;
            super::patch::apply_patch(&scale_of(&current), &patch, kind)?["spec"]["replicas"].clone()
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    if !replicas.is_i64() {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            "spec.replicas",
            "must be an integer",
        ));
    }
    let manager = req
        .query
        .field_manager()
        .map(String::from)
        .unwrap_or_else(|| default_manager(&req.user_agent));
    let ctx = WriteCtx {
        user: &req.user.name,
        manager: &manager,
        dry_run: req.query.dry_run(),
        audit: false,
        field_validation: FieldValidation::Warn,
        warnings: Some(&req.warnings),
    };
    let (outcome, _) = write::patch(
        cluster,
        rt,
        &namespace,
        name,
        PatchType::Merge,
        &json!({"spec": {"replicas": replicas}}),
        None,
        false,
        &ctx,
    )?;
    Ok(Reply::Json(200, scale_of(&outcome.object())))
}

/// `list`: the objects of `rt` matching the request's selectors, a page of them.
///
/// # Errors
/// A selector or continue token that does not parse.
pub(crate) fn list(cluster: &Arc<Cluster>, rt: &Arc<ResourceType>, req: &ApiRequest) -> Result<Reply, ApiError> {
    let labels = LabelSelector::parse(req.query.label_selector().unwrap_or(""))?;
    let fields = FieldSelector::parse(req.query.field_selector().unwrap_or(""))?;
    let (items, rv) = cluster.store.list(&rt.group_resource(), req.path.namespace.as_deref());
    let start: Option<(String, String)> = match req.query.continue_token() {
        None => None,
        Some(token) => {
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| serde_json::from_slice::<(String, String)>(&b).ok())
                .ok_or_else(|| ApiError::bad_request("continue key is not valid"))?;
            Some(decoded)
        }
    };
    let mut selected: Vec<Arc<Value>> = items
        .into_iter()
        .filter(|o| {
            start.as_ref().is_none_or(|(ns, name)| {
                let key = (
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or(""),
                );
                key > (ns.as_str(), name.as_str())
            })
        })
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    let limit = req.query.limit();
    let mut continue_token = None;
    let mut remaining = None;
    if limit > 0 && selected.len() > limit {
        remaining = Some(selected.len() - limit);
        selected.truncate(limit);
        if let Some(last) = selected.last() {
            let key = (
                last["metadata"]["namespace"].as_str().unwrap_or(""),
                last["metadata"]["name"].as_str().unwrap_or(""),
            );
            let raw = serde_json::to_vec(&key).unwrap_or_default();
            continue_token = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
        }
    }
    let selected: Vec<Arc<Value>> = selected.iter().map(|o| present(rt, o)).collect();
    if wants_table(&req.accept) {
        return Ok(Reply::Json(200, to_table(rt, &selected, rv, continue_token.as_deref())));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = &continue_token {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    let items: Vec<&Value> = selected.iter().map(|o| o.as_ref()).collect();
    Ok(Reply::Json(
        200,
        json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}
