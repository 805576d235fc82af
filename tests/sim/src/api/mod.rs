//! The Kubernetes REST API: request parsing, verbs, patches, server-side
//! apply, watches, discovery and the error bodies (`Status`) clients expect.
//!
//! [`ApiError`] is the one error type of this layer because every failure a
//! client can see is, in the end, a `Status` object with an HTTP code.

mod admission;
pub mod apply;
pub mod discovery;
pub mod events_view;
pub mod fieldset;
pub mod handlers;
pub mod object;
pub mod patch;
pub mod protobuf;
pub mod request;
pub mod selectors;
pub mod table;
pub mod watch;
pub mod write;

use serde_json::{Value, json};

/// A failed API request, rendered as a `Status` object.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// The `Status.reason` (`NotFound`, `Conflict`, ...).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// `Status.details`, when the error is about one object.
    pub details: Option<Box<Value>>,
    /// `Retry-After` seconds, for 429/503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A new error with no details.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Adds object details (`name`, `group`, `kind`).
    pub fn with_details(mut self, group: &str, resource: &str, name: &str) -> Self {
        self.details = Some(Box::new(json!({"name": name, "group": group, "kind": resource})));
        self
    }

    /// `404 NotFound` for one object.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let what = qualified(group, resource);
        Self::new(404, "NotFound", format!("{what} \"{name}\" not found")).with_details(group, resource, name)
    }

    /// `409 AlreadyExists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let what = qualified(group, resource);
        Self::new(409, "AlreadyExists", format!("{what} \"{name}\" already exists")).with_details(group, resource, name)
    }

    /// `409 Conflict` for a stale resourceVersion.
    pub fn conflict(group: &str, resource: &str, name: &str) -> Self {
        let what = qualified(group, resource);
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {what} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(group, resource, name)
    }

    /// `400 BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `422 Invalid` for one object.
    pub fn invalid(kind: &str, group: &str, name: &str, field: &str, message: &str) -> Self {
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {field}: {message}"),
        );
        e.details = Some(Box::new(json!({
            "name": name, "group": group, "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]
        })));
        e
    }

    /// `403 Forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// `405 MethodNotAllowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// `415 UnsupportedMediaType`.
    pub fn unsupported_media(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
        )
    }

    /// `500 InternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = self.details.as_deref().cloned();
        if let Some(secs) = self.retry_after {
            let d = details.get_or_insert_with(|| json!({}));
            d["retryAfterSeconds"] = json!(secs);
        }
        if let Some(d) = details {
            status["details"] = d;
        }
        status
    }
}

/// `deployments.apps` style resource names, as Kubernetes messages use.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}
