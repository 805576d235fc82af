//! The write path every mutation goes through, whether it came over HTTP or
//! from a simulated controller: defaulting, admission checks, generation,
//! status-subresource rules, managed fields, finalizers and deletion.
//!
//! Keeping one path means the controllers obey the same rules as clients
//! (a controller cannot, say, bypass finalizers), and no-op writes are
//! detected in one place so they never bump `resourceVersion`.

use super::ApiError;
use super::admission::{
    check_namespace, check_type, crd_status, ensure_crd_names_free, is_namespace, normalize, random_suffix, valid_name,
    validate_metadata,
};
use super::apply::{self, Writer};
use super::object::{self, is_deleting, meta_mut};
use super::patch::{PatchType, apply_patch};
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::schema::FieldValidation;
use crate::store::{StoreError, rv_of};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::Mutex;

/// Who writes, and how.
#[derive(Debug, Clone)]
pub struct WriteCtx<'a> {
    /// User name (controllers: their service account).
    pub user: &'a str,
    /// Field manager for managedFields.
    pub manager: &'a str,
    /// `dryRun=All`: compute, but store nothing.
    pub dry_run: bool,
    /// Record the write in the audit log (controllers; HTTP requests are
    /// audited by the server).
    pub audit: bool,
    /// What to do with fields a custom resource's schema does not declare.
    pub field_validation: FieldValidation,
    /// Where the warnings of the write go (`Warning` headers); controllers
    /// ignore theirs, as client-go's default handler only logs them.
    pub warnings: Option<&'a Mutex<Vec<String>>>,
}

impl<'a> WriteCtx<'a> {
    /// A controller's context: its user is also its field manager.
    pub fn controller(user: &'a str, manager: &'a str) -> Self {
        Self {
            user,
            manager,
            dry_run: false,
            audit: true,
            field_validation: FieldValidation::Warn,
            warnings: None,
        }
    }

    fn warn(&self, messages: Vec<String>) {
        if let Some(w) = self.warnings {
            w.lock().unwrap_or_else(|e| e.into_inner()).extend(messages);
        }
    }
}

/// Prunes, defaults and validates a custom resource against its version's
/// structural schema (see [`crate::schema`]).
fn admit_custom(rt: &ResourceType, object: &mut Value, ctx: &WriteCtx<'_>) -> Result<(), ApiError> {
    let Some(schema) = rt.schema.as_deref().filter(|_| rt.custom) else {
        return Ok(());
    };
    let warnings = crate::schema::admit(schema, object, &rt.kind, &rt.group, &rt.version, ctx.field_validation)?;
    ctx.warn(warnings);
    Ok(())
}

/// Deletion options (body `DeleteOptions` or query parameters).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `Foreground`, `Background` or `Orphan`.
    pub propagation: Option<String>,
    /// Required uid.
    pub precondition_uid: Option<String>,
    /// Required resourceVersion.
    pub precondition_rv: Option<String>,
    /// `dryRun` given in the body.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body.
    pub fn from_body(body: &Value, query_policy: Option<&str>) -> Self {
        let mut propagation = body["propagationPolicy"].as_str().map(String::from);
        if propagation.is_none() && body["orphanDependents"].as_bool() == Some(true) {
            propagation = Some("Orphan".into());
        }
        Self {
            propagation: propagation.or_else(|| query_policy.map(String::from)),
            precondition_uid: body["preconditions"]["uid"].as_str().map(String::from),
            precondition_rv: body["preconditions"]["resourceVersion"].as_str().map(String::from),
            dry_run: body["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
        }
    }
}

fn store_error(e: StoreError, rt: &ResourceType, name: &str) -> ApiError {
    match e {
        StoreError::AlreadyExists => ApiError::already_exists(&rt.group, &rt.resource, name),
        StoreError::NotFound => ApiError::not_found(&rt.group, &rt.resource, name),
        StoreError::Conflict => ApiError::conflict(&rt.group, &rt.resource, name),
        StoreError::TooOld { .. } => ApiError::new(410, "Expired", e.to_string()),
    }
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.resource == "customresourcedefinitions"
}

/// Creates an object.
///
/// # Errors
/// `400` for a body that does not fit the URL, `404` for a missing namespace,
/// `403` for a terminating one, `409` when the name is taken, `422` for an
/// invalid name.
pub fn create(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    mut body: Value,
    ctx: &WriteCtx<'_>,
) -> Result<Arc<Value>, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    check_type(rt, &body)?;
    let meta = meta_mut(&mut body);
    if let (Some(url_ns), Some(body_ns)) = (namespace, meta.get("namespace").and_then(Value::as_str))
        && url_ns != body_ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if rt.namespaced {
        let ns = namespace
            .map(String::from)
            .or_else(|| meta.get("namespace").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| "default".into());
        meta.insert("namespace".into(), json!(ns));
    }
    let name_empty = meta.get("name").and_then(Value::as_str).is_none_or(str::is_empty);
    if name_empty && let Some(prefix) = meta.get("generateName").and_then(Value::as_str) {
        let name = format!("{prefix}{}", random_suffix());
        meta.insert("name".into(), json!(name));
    }
    let name = meta.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    if let Err(message) = valid_name(&name, rt) {
        return Err(ApiError::invalid(&rt.kind, &rt.group, &name, "metadata.name", &message));
    }
    for k in [
        "uid",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        meta.remove(k);
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    let now = crate::time::now_rfc3339();
    meta.insert("creationTimestamp".into(), json!(now));
    if rt.has_generation {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    if rt.namespaced {
        check_namespace(cluster, object::namespace(&body))?;
    }
    if rt.status_subresource
        && !is_namespace(rt)
        && let Some(m) = body.as_object_mut()
    {
        m.remove("status");
    }
    if is_namespace(rt) {
        body["spec"] = json!({"finalizers": ["kubernetes"]});
        body["status"] = json!({"phase": "Active"});
    }
    if is_crd(rt) {
        object::add_finalizer(&mut body, "customresourcecleanup.apiextensions.k8s.io");
        body["status"] = crd_status(&body);
        if !ctx.dry_run {
            ensure_crd_names_free(&body)?;
        }
    }
    normalize(cluster, rt, &mut body, None);
    admit_custom(rt, &mut body, ctx)?;
    let writer = writer_for(rt, ctx.manager, None);
    if body["metadata"]["managedFields"].is_null() {
        apply::track_update(None, &mut body, &writer, &now);
    }
    validate_metadata(rt, &body)?;
    finish_create(cluster, rt, body, ctx)
}

fn finish_create(
    cluster: &Cluster,
    rt: &ResourceType,
    body: Value,
    ctx: &WriteCtx<'_>,
) -> Result<Arc<Value>, ApiError> {
    let name = object::name(&body).to_string();
    let namespace = object::namespace(&body).to_string();
    if ctx.dry_run {
        if cluster.store.get(&rt.group_resource(), &namespace, &name).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.resource, &name));
        }
        return Ok(Arc::new(body));
    }
    let stored = cluster
        .store
        .create(&rt.group_resource(), body)
        .map_err(|e| store_error(e, rt, &name))?;
    after_commit(cluster, rt, &stored, false);
    if ctx.audit {
        cluster.audit_internal(ctx.user, "create", rt, &namespace, &name, None, 201);
    }
    Ok(stored)
}

fn writer_for<'a>(rt: &'a ResourceType, manager: &'a str, subresource: Option<&'a str>) -> Writer<'a> {
    Writer {
        manager,
        api_version: rt.api_version(),
        subresource,
        schema: rt.schema.as_deref(),
        status_subresource: rt.status_subresource,
    }
}

/// How managed fields are kept for a write.
enum Tracking {
    /// Record an Update by the writer.
    Update,
    /// The object already carries its managedFields (server-side apply).
    Done,
}

/// The result of an update.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Nothing changed; nothing was written.
    Unchanged(Arc<Value>),
    /// The new state was stored.
    Stored(Arc<Value>),
    /// The last finalizer went away and the object is gone.
    Removed(Arc<Value>),
}

impl Outcome {
    /// The object to answer with.
    pub fn object(&self) -> Arc<Value> {
        match self {
            Self::Unchanged(o) | Self::Stored(o) | Self::Removed(o) => o.clone(),
        }
    }
}

fn finish_update(
    cluster: &Cluster,
    rt: &ResourceType,
    old: &Arc<Value>,
    mut new: Value,
    subresource: Option<&str>,
    tracking: Tracking,
    ctx: &WriteCtx<'_>,
) -> Result<Outcome, ApiError> {
    let name = object::name(old).to_string();
    let namespace = object::namespace(old).to_string();
    if subresource == Some("status") {
        let status = new.get("status").cloned();
        let managed = new["metadata"]["managedFields"].clone();
        new = (**old).clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        if matches!(tracking, Tracking::Done) {
            meta_mut(&mut new).insert("managedFields".into(), managed);
        }
    } else if rt.status_subresource && !is_namespace(rt) {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if !new.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    {
        let old_meta = &old["metadata"];
        let meta = meta_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    meta.insert(k.into(), v.clone());
                }
                None => {
                    meta.remove(k);
                }
            }
        }
        meta.insert("resourceVersion".into(), old_meta["resourceVersion"].clone());
    }
    normalize(cluster, rt, &mut new, Some(old));
    admit_custom(rt, &mut new, ctx)?;
    if rt.has_generation {
        let without_status = rt.status_subresource;
        if object::spec_part(old, without_status) != object::spec_part(&new, without_status) {
            meta_mut(&mut new).insert("generation".into(), json!(object::generation(old) + 1));
        }
    }
    let now = crate::time::now_rfc3339();
    if matches!(tracking, Tracking::Update) {
        let writer = writer_for(rt, ctx.manager, subresource);
        apply::track_update(Some(old), &mut new, &writer, &now);
    }
    if is_crd(rt) && subresource.is_none() {
        let status = crd_status(&new);
        if old["status"]["acceptedNames"] != status["acceptedNames"] {
            new["status"] = status;
        }
    }
    if new == **old {
        return Ok(Outcome::Unchanged(old.clone()));
    }
    validate_metadata(rt, &new)?;
    let finished = is_deleting(&new)
        && object::finalizers(&new).is_empty()
        && !(is_namespace(rt) && new["spec"]["finalizers"].as_array().is_some_and(|f| !f.is_empty()));
    if ctx.dry_run {
        return Ok(Outcome::Stored(Arc::new(new)));
    }
    let gr = rt.group_resource();
    let verb = if matches!(tracking, Tracking::Done) {
        "patch"
    } else {
        "update"
    };
    if finished {
        let removed = cluster
            .store
            .remove(&gr, &namespace, &name, Some(rv_of(old)))
            .map_err(|e| store_error(e, rt, &name))?;
        after_commit(cluster, rt, &removed, true);
        if ctx.audit {
            cluster.audit_internal(ctx.user, verb, rt, &namespace, &name, subresource, 200);
        }
        return Ok(Outcome::Removed(removed));
    }
    let stored = cluster
        .store
        .replace(&gr, new, rv_of(old))
        .map_err(|e| store_error(e, rt, &name))?;
    after_commit(cluster, rt, &stored, false);
    if ctx.audit {
        cluster.audit_internal(ctx.user, verb, rt, &namespace, &name, subresource, 200);
    }
    Ok(Outcome::Stored(stored))
}

fn after_commit(cluster: &Cluster, rt: &ResourceType, object: &Value, removed: bool) {
    if !is_crd(rt) {
        return;
    }
    let group = object["spec"]["group"].as_str().unwrap_or("");
    let plural = object["spec"]["names"]["plural"].as_str().unwrap_or("");
    if removed {
        cluster.registry.remove_crd(group, plural);
    } else if let Err(e) = cluster.registry.install_crd(object) {
        tracing::warn!("CRD {} not served: {e}", object::name(object));
    }
}

fn current(cluster: &Cluster, rt: &ResourceType, namespace: &str, name: &str) -> Result<Arc<Value>, ApiError> {
    cluster
        .store
        .get(&rt.group_resource(), namespace, name)
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.resource, name))
}

/// Replaces an object (PUT), checking `metadata.resourceVersion` if given.
///
/// # Errors
/// `404`, `409` on a stale resourceVersion, `400` on a name mismatch.
pub fn update(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    body: Value,
    subresource: Option<&str>,
    ctx: &WriteCtx<'_>,
) -> Result<Outcome, ApiError> {
    check_type(rt, &body)?;
    if object::name(&body) != name && !object::name(&body).is_empty() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            object::name(&body)
        )));
    }
    let old = current(cluster, rt, namespace, name)?;
    if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && rv != old["metadata"]["resourceVersion"].as_str().unwrap_or("")
    {
        return Err(ApiError::conflict(&rt.group, &rt.resource, name));
    }
    if subresource == Some("finalize") && is_namespace(rt) {
        let mut new = (*old).clone();
        new["spec"]["finalizers"] = body["spec"]["finalizers"].clone();
        return finish_update(cluster, rt, &old, new, None, Tracking::Update, ctx);
    }
    finish_update(cluster, rt, &old, body, subresource, Tracking::Update, ctx)
}

/// Patches an object; server-side apply may create it.
///
/// # Errors
/// `404` (non-apply patches of missing objects), `409` apply conflicts or a
/// stale resourceVersion in the patch, `415` strategic patches of custom
/// resources, `400`/`422` malformed patches.
#[allow(clippy::too_many_arguments)] // mirrors the PATCH request's parameters
pub fn patch(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    kind: PatchType,
    patch: &Value,
    subresource: Option<&str>,
    force: bool,
    ctx: &WriteCtx<'_>,
) -> Result<(Outcome, bool), ApiError> {
    if kind == PatchType::Strategic && rt.custom {
        return Err(ApiError::unsupported_media(
            "application/strategic-merge-patch+json (strategic merge patch is not supported for custom resources)",
        ));
    }
    for _attempt in 0..8 {
        let old = cluster.store.get(&rt.group_resource(), namespace, name);
        let result = match (kind, old) {
            (PatchType::Apply, None) => {
                if subresource.is_some() {
                    return Err(ApiError::not_found(&rt.group, &rt.resource, name));
                }
                check_type(rt, patch)?;
                if !object::name(patch).is_empty() && object::name(patch) != name {
                    return Err(ApiError::bad_request(
                        "the name of the object does not match the name on the URL",
                    ));
                }
                let writer = writer_for(rt, ctx.manager, None);
                let now = crate::time::now_rfc3339();
                let mut applied = apply::apply(None, patch, &writer, force, &now)?.object;
                let meta = meta_mut(&mut applied);
                meta.insert("name".into(), json!(name));
                if rt.namespaced {
                    meta.insert("namespace".into(), json!(namespace));
                }
                return create(cluster, rt, Some(namespace).filter(|n| !n.is_empty()), applied, ctx)
                    .map(|o| (Outcome::Stored(o), true));
            }
            (PatchType::Apply, Some(old)) => {
                check_type(rt, patch)?;
                let writer = writer_for(rt, ctx.manager, subresource);
                let now = crate::time::now_rfc3339();
                let applied = apply::apply(Some(&old), patch, &writer, force, &now)?.object;
                finish_update(cluster, rt, &old, applied, subresource, Tracking::Done, ctx)
            }
            (_, None) => return Err(ApiError::not_found(&rt.group, &rt.resource, name)),
            (kind, Some(old)) => {
                let patched = apply_patch(&old, patch, kind)?;
                if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
                    && rv != old["metadata"]["resourceVersion"].as_str().unwrap_or("")
                {
                    return Err(ApiError::conflict(&rt.group, &rt.resource, name));
                }
                finish_update(cluster, rt, &old, patched, subresource, Tracking::Update, ctx)
            }
        };
        match result {
            Err(e) if e.code == 409 && e.reason == "Conflict" && !e.message.starts_with("Apply failed") => {
                continue;
            }
            other => return other.map(|o| (o, false)),
        }
    }
    Err(ApiError::conflict(&rt.group, &rt.resource, name))
}

/// Deletes an object: at once, or by marking it (`deletionTimestamp`) when
/// finalizers or a propagation policy must run first.
///
/// # Errors
/// `404`, `409` on a failed precondition.
pub fn delete(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
    ctx: &WriteCtx<'_>,
) -> Result<Outcome, ApiError> {
    for _attempt in 0..8 {
        let old = current(cluster, rt, namespace, name)?;
        if options
            .precondition_uid
            .as_deref()
            .is_some_and(|u| u != object::uid(&old))
            || options
                .precondition_rv
                .as_deref()
                .is_some_and(|rv| Some(rv) != old["metadata"]["resourceVersion"].as_str())
        {
            return Err(ApiError::conflict(&rt.group, &rt.resource, name));
        }
        let mut new = (*old).clone();
        match options.propagation.as_deref() {
            Some("Foreground") => object::add_finalizer(&mut new, "foregroundDeletion"),
            Some("Orphan") => object::add_finalizer(&mut new, "orphan"),
            _ => {}
        }
        let pending = !object::finalizers(&new).is_empty() || is_namespace(rt);
        if !pending {
            if ctx.dry_run {
                return Ok(Outcome::Removed(old));
            }
            let gr = rt.group_resource();
            match cluster.store.remove(&gr, namespace, name, Some(rv_of(&old))) {
                Ok(removed) => {
                    after_commit(cluster, rt, &removed, true);
                    if ctx.audit {
                        cluster.audit_internal(ctx.user, "delete", rt, namespace, name, None, 200);
                    }
                    return Ok(Outcome::Removed(removed));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_error(e, rt, name)),
            }
        }
        if is_deleting(&old) && new == *old {
            return Ok(Outcome::Unchanged(old));
        }
        if !is_deleting(&new) {
            let meta = meta_mut(&mut new);
            meta.insert("deletionTimestamp".into(), json!(crate::time::now_rfc3339()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if is_namespace(rt) {
                new["status"]["phase"] = json!("Terminating");
            }
        }
        if ctx.dry_run {
            return Ok(Outcome::Stored(Arc::new(new)));
        }
        let gr = rt.group_resource();
        match cluster.store.replace(&gr, new, rv_of(&old)) {
            Ok(stored) => {
                if ctx.audit {
                    cluster.audit_internal(ctx.user, "delete", rt, namespace, name, None, 200);
                }
                return Ok(Outcome::Stored(stored));
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(store_error(e, rt, name)),
        }
    }
    Err(ApiError::conflict(&rt.group, &rt.resource, name))
}

/// Read-modify-write for controllers: applies `change` to the current object
/// and stores it, retrying on conflicts. `None` when the object is gone.
///
/// # Errors
/// Whatever the write path refuses.
pub fn modify(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    subresource: Option<&str>,
    ctx: &WriteCtx<'_>,
    mut change: impl FnMut(&mut Value),
) -> Result<Option<Outcome>, ApiError> {
    for _attempt in 0..16 {
        let Some(old) = cluster.store.get(&rt.group_resource(), namespace, name) else {
            return Ok(None);
        };
        let mut new = (*old).clone();
        change(&mut new);
        if new == *old {
            return Ok(Some(Outcome::Unchanged(old)));
        }
        match finish_update(cluster, rt, &old, new, subresource, Tracking::Update, ctx) {
            Err(e) if e.code == 409 => continue,
            Err(e) if e.code == 404 => return Ok(None),
            other => return other.map(Some),
        }
    }
    Err(ApiError::conflict(&rt.group, &rt.resource, name))
}
