//! The audit log: one `audit.k8s.io/v1` Event per request, as JSON lines in
//! a file and in memory, so tests can count exactly what a client sent.
//!
//! Simulated controllers record their own writes here too, under their own
//! service-account user names, so a test can filter for `user.username ==
//! "admin"` and see only the client under test. Watches are recorded when the
//! stream starts.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Why the audit log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be created.
    #[error("cannot create audit log {path}: {source}")]
    Create {
        /// The path asked for.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// The user of an audit event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AuditUser {
    /// User name.
    pub username: String,
    /// Groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The object a request addressed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Plural resource.
    pub resource: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// API group (absent for core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// API version.
    pub api_version: String,
    /// Subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

/// The response status of an audit event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ResponseStatus {
    /// Always empty (`ListMeta`).
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// HTTP status code.
    pub code: u16,
}

/// One audit event (`audit.k8s.io/v1`, `kind: Event`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Always `Event`.
    pub kind: String,
    /// Always `audit.k8s.io/v1`.
    pub api_version: String,
    /// Always `Metadata`.
    pub level: String,
    /// Unique id of the request.
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// Always `ResponseComplete`.
    pub stage: String,
    /// Path and query of the request.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// Kubernetes verb.
    pub verb: String,
    /// Who sent it.
    pub user: AuditUser,
    /// Client addresses.
    #[serde(rename = "sourceIPs", default)]
    pub source_ips: Vec<String>,
    /// Client user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The object addressed, for resource requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    /// The answer.
    pub response_status: ResponseStatus,
    /// When the request arrived (microseconds).
    pub request_received_timestamp: String,
    /// When the answer was complete.
    pub stage_timestamp: String,
    /// Extra facts; kube-sim sets `kube-sim.io/dry-run: "true"` for dry runs
    /// (also those that ask for it in a `DeleteOptions` body).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl AuditEvent {
    /// A new event with the fixed fields filled.
    pub fn new(verb: &str, request_uri: &str, username: &str, received: &str) -> Self {
        Self {
            kind: "Event".into(),
            api_version: "audit.k8s.io/v1".into(),
            level: "Metadata".into(),
            audit_id: uuid::Uuid::new_v4().to_string(),
            stage: "ResponseComplete".into(),
            request_uri: request_uri.into(),
            verb: verb.into(),
            user: AuditUser {
                username: username.into(),
                groups: vec![],
            },
            source_ips: vec!["127.0.0.1".into()],
            user_agent: None,
            object_ref: None,
            response_status: ResponseStatus::default(),
            request_received_timestamp: received.into(),
            stage_timestamp: received.into(),
            annotations: Default::default(),
        }
    }

    /// Whether the request was made with `dryRun`.
    pub fn is_dry_run(&self) -> bool {
        self.request_uri.contains("dryRun=") || self.annotations.get("kube-sim.io/dry-run").is_some_and(|v| v == "true")
    }

    /// Whether the verb changes state.
    pub fn is_mutating(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }
}

/// The audit sink: memory plus an optional JSON-lines file.
#[derive(Debug, Default)]
pub struct AuditLog {
    events: Mutex<Vec<AuditEvent>>,
    file: Mutex<Option<std::fs::File>>,
}

impl AuditLog {
    /// A log kept in memory and, when given, appended to `path`.
    ///
    /// # Errors
    /// [`AuditError::Create`] when the file cannot be created.
    pub fn new(path: Option<&Path>) -> Result<Self, AuditError> {
        let file = match path {
            None => None,
            Some(p) => Some(std::fs::File::create(p).map_err(|source| AuditError::Create {
                path: p.display().to_string(),
                source,
            })?),
        };
        Ok(Self {
            events: Mutex::new(Vec::new()),
            file: Mutex::new(file),
        })
    }

    /// Records one event.
    pub fn record(&self, event: AuditEvent) {
        if let Some(file) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut()
            && let Ok(mut line) = serde_json::to_vec(&event)
        {
            line.push(b'\n');
            let _ = file.write_all(&line);
        }
        self.events.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
