//! Waiting by watching: until a condition holds on an object, within a
//! deadline, cancellable.
//!
//! No sleep loops: the object's watch stream drives the check, the deadline
//! and the run's cancellation race it. When the stream ends (the fake
//! cluster's "no more changes will come") the wait ends as if the deadline
//! had passed — waits on the fake clock finish instantly.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cluster::{Cluster, ObjectKey};
use super::error::K8sError;

/// The limits every blocking operation of a run honours.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// When to give up.
    pub deadline: Instant,
    /// Cancelled on the run's deadline or a signal.
    pub cancel: CancellationToken,
}

impl Bounds {
    /// Bounds ending `after` from now (or at the outer deadline, if sooner).
    #[must_use]
    pub fn within(&self, after: Duration) -> Bounds {
        let deadline = Instant::now()
            .checked_add(after)
            .unwrap_or(self.deadline)
            .min(self.deadline);
        Bounds {
            deadline,
            cancel: self.cancel.clone(),
        }
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Runs `future` within these bounds.
    ///
    /// # Errors
    /// `Timeout` at the deadline, `Cancelled` on cancellation, or the
    /// future's own error.
    pub async fn run<T>(&self, what: &str, future: impl Future<Output = Result<T, K8sError>>) -> Result<T, K8sError> {
        let started = Instant::now();
        tokio::select! {
            result = future => result,
            () = tokio::time::sleep_until(self.deadline) => Err(K8sError::Timeout { what: what.to_owned(), after: started.elapsed() }),
            () = self.cancel.cancelled() => Err(K8sError::Cancelled(what.to_owned())),
        }
    }
}

/// A wait that did not end well, with the last state seen (for diagnostics).
#[derive(Debug)]
pub struct WaitFailure {
    /// Why it ended.
    pub error: K8sError,
    /// The object's last known state (`None`: absent or never seen).
    pub last: Option<Value>,
}

/// Waits until `done` holds for the object's state (`None` = absent).
/// `done` may fail fast by returning an error.
///
/// # Errors
/// A [`WaitFailure`] on timeout, cancellation, a watch error that persists
/// to the deadline, or an error from `done`.
pub async fn wait_for<F>(
    cluster: &dyn Cluster,
    key: &ObjectKey,
    mut done: F,
    bounds: &Bounds,
    what: &str,
) -> Result<Option<Value>, WaitFailure>
where
    F: FnMut(Option<&Value>) -> Result<bool, K8sError>,
{
    let started = Instant::now();
    let mut last: Option<Value> = None;
    let mut last_error: Option<K8sError> = None;
    let timeout = |last_error: Option<K8sError>| match last_error {
        Some(error) => K8sError::Timeout {
            what: format!("{what} (last error: {error})"),
            after: started.elapsed(),
        },
        None => K8sError::Timeout {
            what: what.to_owned(),
            after: started.elapsed(),
        },
    };
    let stream = tokio::select! {
        stream = cluster.watch(key) => stream,
        () = tokio::time::sleep_until(bounds.deadline) => return Err(WaitFailure { error: timeout(None), last }),
        () = bounds.cancel.cancelled() => return Err(WaitFailure { error: K8sError::Cancelled(what.to_owned()), last }),
    };
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(error) => return Err(WaitFailure { error, last }),
    };
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = tokio::time::sleep_until(bounds.deadline) => return Err(WaitFailure { error: timeout(last_error), last }),
            () = bounds.cancel.cancelled() => return Err(WaitFailure { error: K8sError::Cancelled(what.to_owned()), last }),
        };
        match next {
            None => {
                return Err(WaitFailure {
                    error: timeout(last_error),
                    last,
                });
            }
            Some(Err(error)) => {
                tracing::debug!(
                    phase = "wait",
                    "watch of {key} interrupted: {error}; the watcher resumes"
                );
                last_error = Some(error);
            }
            Some(Ok(state)) => {
                last_error = None;
                match done(state.as_ref()) {
                    Ok(true) => return Ok(state),
                    Ok(false) => last = state,
                    Err(error) => return Err(WaitFailure { error, last: state }),
                }
            }
        }
    }
}
