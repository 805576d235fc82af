//! Asking Argo CD for a sync and waiting until an Application is Synced and
//! Healthy: the one implementation behind a node's deploy and the
//! `argocd::sync` / `argocd::wait_healthy` primitives.
//!
//! A sync is requested the way `argocd app sync` does, through the
//! Application's `operation`, marked with an id Argo CD copies into
//! `status.operationState`, so the wait recognises its own operation. Argo
//! CD drops a request made while another operation runs (it clears
//! `operation` when the running one ends): the request is then made again,
//! a bounded number of times. A failed sync is retried with exponential
//! backoff up to `retries.maxAttempts`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::NodeFailure;
use crate::argocd::store::AppStore;
use crate::argocd::{self as acd, Expectation, SyncRequest, Verdict};
use crate::k8s::K8sError;
use crate::k8s::wait::{Bounds, WaitFailure};
use crate::report::FailureReason;
use crate::script::host::Host;

/// How many times a dropped sync request is made again before giving up.
const MAX_LOST_REQUESTS: u32 = 3;

/// A sync request sent, and the resource version Argo CD's answer had.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The request (time and id).
    pub request: SyncRequest,
    /// `metadata.resourceVersion` of the patched Application.
    pub resource_version: String,
}

/// Requests a sync of Application `name` at `revision`. In a dry run,
/// only says so.
///
/// # Errors
/// The API's error.
pub async fn request(host: &Host, name: &str, revision: &str) -> Result<Option<Sent>, K8sError> {
    if host.settings.dry_run {
        tracing::info!(
            phase = "sync",
            component = name,
            "dry run: would request a sync of {name}"
        );
        return Ok(None);
    }
    let key = acd::app_key(&host.settings.argocd_namespace, name);
    // The time is taken before the request: Argo CD may start (and finish)
    // the sync before the answer arrives, in what is already the next second.
    let request = SyncRequest {
        at: jiff::Timestamp::now(),
        id: crate::observe::trace::random_hex(8),
    };
    let live = host
        .cluster
        .merge_patch(&key, &acd::sync_patch(revision, &request))
        .await?;
    host.index.record(&key, Some(&live));
    host.count_sync_request();
    tracing::info!(phase = "sync", component = name, "sync requested");
    Ok(Some(Sent {
        request,
        resource_version: live["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }))
}

/// Whether `state` is at least as new as the answer to our sync request:
/// that answer itself, a later version, or a state that mentions the
/// request's id. The shared watch may still hold an older state for a
/// moment, which must not be read as "our request was dropped".
fn fresh(state: Option<&Value>, sent: &Sent) -> bool {
    let Some(state) = state else {
        return true;
    };
    let version = state["metadata"]["resourceVersion"].as_str().unwrap_or_default();
    if version == sent.resource_version {
        return true;
    }
    // etcd's resource versions are increasing integers; kube-apiserver
    // documents them as opaque, so this is only one of the ways to tell.
    if let (Ok(seen), Ok(ours)) = (version.parse::<u64>(), sent.resource_version.parse::<u64>())
        && seen >= ours
    {
        return true;
    }
    let mentions = |info: &Value| {
        info.as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| i["name"] == acd::REQUEST_INFO && i["value"] == sent.request.id.as_str())
        })
    };
    mentions(&state["operation"]["info"]) || mentions(&state["status"]["operationState"]["operation"]["info"])
}

fn revision_of(state: Option<&Value>) -> String {
    state
        .and_then(|a| a["spec"]["source"]["targetRevision"].as_str())
        .unwrap_or("HEAD")
        .to_owned()
}

/// Waits until Application `name` is what `expect` asks and Synced and
/// Healthy, with no operation in flight. `sent` is the sync this run just
/// requested, if any. Requests again a sync Argo CD dropped; retries a
/// failed sync up to `retries.maxAttempts` with exponential backoff.
///
/// # Errors
/// `Degraded`/`Unknown` (unhealthy), `SyncFailed` (after the retries or
/// too many dropped requests), `TimedOut`, `Interrupted`.
pub async fn wait_ready(
    host: &Arc<Host>,
    store: &AppStore,
    name: &str,
    mut expect: Expectation,
    mut sent: Option<Sent>,
    bounds: &Bounds,
) -> Result<Arc<Value>, NodeFailure> {
    let retries = host.settings.retries;
    let mut attempt = 1u32;
    let mut lost = 0u32;
    loop {
        if let Some(sent) = &sent {
            expect.request = Some(sent.request.clone());
        }
        let seen_fresh = AtomicBool::new(sent.is_none());
        let mut last_reason = String::new();
        let what = format!("Application {name} to be Synced and Healthy");
        let result = store
            .wait(
                host.cluster.as_ref(),
                name,
                |state| {
                    if !seen_fresh.load(Ordering::Relaxed) {
                        if !sent.as_ref().is_some_and(|s| fresh(state, s)) {
                            return Ok(false);
                        }
                        seen_fresh.store(true, Ordering::Relaxed);
                    }
                    match acd::verdict_of(state, &expect) {
                        Verdict::Ready => Ok(true),
                        Verdict::Waiting(reason) => {
                            if reason != last_reason {
                                tracing::debug!(phase = "wait", component = name, "{reason}");
                                last_reason = reason;
                            }
                            Ok(false)
                        }
                        Verdict::SyncFailed(message) => Err(K8sError::Invalid(format!("sync failed: {message}"))),
                        Verdict::Unhealthy(message) => Err(K8sError::Invalid(message)),
                        Verdict::RequestLost => Err(K8sError::Invalid("the sync request was dropped".to_owned())),
                    }
                },
                bounds,
                &what,
            )
            .await;
        let WaitFailure { error, last } = match result {
            Ok(state) => return Ok(state.unwrap_or_else(|| Arc::new(Value::Null))),
            Err(failure) => failure,
        };
        let diagnostics = last.as_ref().map(acd::diagnostics).unwrap_or_default();
        let verdict = acd::verdict_of(last.as_ref(), &expect);
        match (error, verdict) {
            (K8sError::Invalid(_), Verdict::RequestLost) if lost < MAX_LOST_REQUESTS => {
                lost += 1;
                tracing::info!(
                    phase = "sync",
                    component = name,
                    "the sync request was dropped when an earlier operation ended; requesting it again"
                );
                sent = request(host, name, &revision_of(last.as_ref()))
                    .await
                    .map_err(|e| NodeFailure::new(FailureReason::SyncFailed, e.to_string(), diagnostics.clone()))?;
            }
            (K8sError::Invalid(_), Verdict::RequestLost) => {
                return Err(NodeFailure::new(
                    FailureReason::SyncFailed,
                    format!(
                        "{name}: Argo CD dropped the sync request {lost} times (other operations kept ending over it)"
                    ),
                    diagnostics,
                ));
            }
            (K8sError::Invalid(message), Verdict::SyncFailed(_)) if attempt < retries.max_attempts => {
                let delay = retries.backoff * 2u32.saturating_pow(attempt - 1);
                tracing::warn!(
                    phase = "sync",
                    component = name,
                    "{message}; retrying in {delay:?} (attempt {} of {})",
                    attempt + 1,
                    retries.max_attempts
                );
                host.count_attempt_for(name);
                attempt += 1;
                bounds
                    .run("waiting before retrying the sync", async {
                        tokio::time::sleep(delay).await;
                        Ok(())
                    })
                    .await
                    .map_err(|e| failure_of(e, diagnostics.clone()))?;
                sent = request(host, name, &revision_of(last.as_ref()))
                    .await
                    .map_err(|e| NodeFailure::new(FailureReason::SyncFailed, e.to_string(), diagnostics.clone()))?;
            }
            (K8sError::Invalid(message), Verdict::SyncFailed(_)) => {
                return Err(NodeFailure::new(
                    FailureReason::SyncFailed,
                    format!("{name}: {message} (after {attempt} attempts)"),
                    diagnostics,
                ));
            }
            (K8sError::Invalid(message), _) => {
                let reason = if message.starts_with("Unknown") {
                    FailureReason::Unknown
                } else {
                    FailureReason::Degraded
                };
                return Err(NodeFailure::new(reason, format!("{name}: {message}"), diagnostics));
            }
            (error @ K8sError::Timeout { .. }, verdict) => {
                let still = match verdict {
                    Verdict::Waiting(reason) => format!("; still {reason}"),
                    _ => String::new(),
                };
                return Err(NodeFailure::new(
                    FailureReason::TimedOut,
                    format!("{error}{still}"),
                    diagnostics,
                ));
            }
            (error, _) => return Err(failure_of(error, diagnostics)),
        }
    }
}

/// A failure for an error that ended a step: a timeout or cancellation
/// keeps its kind, anything else is the step's error.
pub fn failure_of(error: K8sError, diagnostics: Vec<String>) -> NodeFailure {
    match error {
        K8sError::Timeout { .. } => NodeFailure::new(FailureReason::TimedOut, error.to_string(), diagnostics),
        K8sError::Cancelled(_) => NodeFailure::new(FailureReason::Interrupted, error.to_string(), diagnostics),
        other => NodeFailure::new(FailureReason::ApiError, other.to_string(), diagnostics),
    }
}
