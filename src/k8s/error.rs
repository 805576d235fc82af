//! Errors of cluster operations, each naming the operation and the object.

use std::time::Duration;

/// What went wrong talking to the cluster.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum K8sError {
    /// The API server answered with an error status.
    #[error("{verb} {what}: {code} {reason}: {message}")]
    Api {
        /// The Kubernetes verb (`get`, `patch`, ...).
        verb: &'static str,
        /// The object or collection, e.g. `apps/v1 Deployment argocd/argocd-server`.
        what: String,
        /// HTTP status code.
        code: u16,
        /// The Status reason (`NotFound`, `Conflict`, ...).
        reason: String,
        /// The Status message.
        message: String,
    },
    /// The API server could not be reached, or the connection broke.
    #[error("{verb} {what}: cannot reach the API server: {message}")]
    Connection {
        /// The Kubernetes verb.
        verb: &'static str,
        /// The object or collection.
        what: String,
        /// The underlying error.
        message: String,
    },
    /// The TLS handshake failed: the server's certificate is not trusted by
    /// the kubeconfig's CA, expired, or names another host. Never retried.
    #[error(
        "{verb} {what}: the API server's TLS certificate is not accepted ({message}); check the kubeconfig's certificate-authority and server"
    )]
    Tls {
        /// The Kubernetes verb.
        verb: &'static str,
        /// The object or collection.
        what: String,
        /// The TLS layer's reason (e.g. `invalid peer certificate: UnknownIssuer`).
        message: String,
    },
    /// The cluster does not serve this kind.
    #[error("the cluster does not serve {kind} in {api_version}")]
    UnknownKind {
        /// `group/version`.
        api_version: String,
        /// Kind.
        kind: String,
    },
    /// The object given is not a valid Kubernetes object.
    #[error("invalid object: {0}")]
    Invalid(String),
    /// A wait ran out of time.
    #[error("timed out after {} waiting for {what}", crate::input::duration::format_duration(*after))]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it waited.
        after: Duration,
    },
    /// The run was cancelled (deadline or signal) while this was in progress.
    #[error("cancelled while {0}")]
    Cancelled(String),
    /// Another run drives this environment (see [`super::lease`]).
    #[error(
        "another run is driving this environment: {lease} is held by {holder}; wait for it to finish (or set LOCK_TIMEOUT to wait)"
    )]
    Locked {
        /// The Lease.
        lease: String,
        /// Its holder: `<host>/<pid>/<trace id>`.
        holder: String,
    },
    /// A write asked of a run that may only read (see [`super::guard`]).
    #[error("{verb} {what} refused: {why} never changes the cluster")]
    ReadOnly {
        /// The Kubernetes verb (`apply`, `patch`, `delete`).
        verb: &'static str,
        /// The object.
        what: String,
        /// Which kind of run: `validate`, `a dry run`.
        why: &'static str,
    },
}

/// The error and its causes as one line (`a: b: c`, repeats dropped: the
/// top-level text alone is often just "client error (Connect)"), and
/// whether the TLS layer refused the server (a `rustls::Error` in the
/// chain, or inside an I/O error of it).
pub fn causes(error: &(dyn std::error::Error + 'static)) -> (String, bool) {
    let mut parts: Vec<String> = Vec::new();
    let mut tls = false;
    let mut current = Some(error);
    while let Some(error) = current {
        // An I/O error's `source()` skips the error it wraps, and the
        // connector nests them (`Other` around `InvalidData` around
        // rustls' error): look inside each.
        let mut inner: &(dyn std::error::Error + 'static) = error;
        while let Some(wrapped) = inner.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            inner = wrapped;
        }
        tls |= inner.downcast_ref::<rustls::Error>().is_some();
        let text = error.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = error.source();
    }
    (parts.join(": "), tls)
}

impl K8sError {
    /// The HTTP status code, for API errors.
    pub fn code(&self) -> Option<u16> {
        match self {
            K8sError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for errors a retry may fix (throttling, server errors, broken connections).
    pub fn is_transient(&self) -> bool {
        match self {
            K8sError::Api { code, .. } => matches!(code, 429 | 500 | 502 | 503 | 504),
            K8sError::Connection { .. } => true,
            _ => false,
        }
    }

    /// True when the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// Converts a kube error, naming the operation.
    pub fn from_kube(verb: &'static str, what: impl Into<String>, error: kube::Error) -> Self {
        let what = what.into();
        match error {
            kube::Error::Api(status) => K8sError::Api {
                verb,
                what,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => {
                let (message, tls) = causes(&other);
                let message = crate::redact::scrub(&message).into_owned();
                if tls {
                    K8sError::Tls { verb, what, message }
                } else {
                    K8sError::Connection { verb, what, message }
                }
            }
        }
    }
}
