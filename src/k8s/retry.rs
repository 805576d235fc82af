//! Retrying transient API failures: throttling, server errors, broken
//! connections — bounded by `retries.maxAttempts`, with exponential backoff
//! from `retries.backoff`, honouring the server's `Retry-After`.
//!
//! It is a tower policy under the kube client, so every request is covered
//! the same way. Watches are not retried here: the watcher restarts itself.
//! The waiting is a timer the caller's future owns, so cancelling the run
//! (deadline or signal) also cancels a pending retry.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::BoxError;
use tower::retry::Policy;

use super::stats::ApiStats;

/// Longest single wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// The retry policy of one request (tower clones it per request).
#[derive(Clone)]
pub struct TransientRetry {
    attempts_left: u32,
    next_delay: Duration,
    stats: Arc<ApiStats>,
}

impl TransientRetry {
    /// `max_attempts` in all (the first included), first delay `backoff`.
    pub fn new(max_attempts: u32, backoff: Duration, stats: Arc<ApiStats>) -> Self {
        TransientRetry {
            attempts_left: max_attempts.saturating_sub(1),
            next_delay: backoff,
            stats,
        }
    }

    fn take_delay(&mut self, server_hint: Option<Duration>) -> Duration {
        self.attempts_left -= 1;
        self.stats.record_retry();
        let delay = self.next_delay.max(server_hint.unwrap_or_default()).min(MAX_DELAY);
        self.next_delay = (self.next_delay * 2).min(MAX_DELAY);
        delay
    }
}

fn is_watch<B>(request: &Request<B>) -> bool {
    request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"))
}

fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether a status is worth another attempt for this method. Throttling and
/// "unavailable" mean the request was not processed; other server errors are
/// retried only for methods that are safe to repeat.
fn retryable(method: &Method, status: StatusCode) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => true,
        StatusCode::INTERNAL_SERVER_ERROR | StatusCode::BAD_GATEWAY => {
            matches!(*method, Method::GET | Method::PUT | Method::PATCH | Method::DELETE)
        }
        _ => false,
    }
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for TransientRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        if self.attempts_left == 0 || is_watch(request) {
            return None;
        }
        let delay = match result {
            Ok(response) if retryable(request.method(), response.status()) => {
                let hint = retry_after(response);
                self.take_delay(hint)
            }
            Ok(_) => return None,
            Err(_) => self.take_delay(None),
        };
        tracing::debug!(
            phase = "api",
            "transient failure on {} {}; retrying in {delay:?}",
            request.method(),
            request.uri().path()
        );
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        let body = request.body().try_clone()?;
        let mut clone = Request::builder()
            .method(request.method().clone())
            .uri(request.uri().clone())
            .version(request.version())
            .body(body)
            .ok()?;
        *clone.headers_mut() = request.headers().clone();
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_by_method() {
        assert!(retryable(&Method::POST, StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable(&Method::PATCH, StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!retryable(&Method::POST, StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!retryable(&Method::GET, StatusCode::NOT_FOUND));
        assert!(!retryable(&Method::PATCH, StatusCode::CONFLICT));
    }

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        let stats = Arc::new(ApiStats::default());
        let mut policy = TransientRetry::new(4, Duration::from_millis(100), stats.clone());
        assert_eq!(policy.take_delay(None), Duration::from_millis(100));
        assert_eq!(policy.take_delay(Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(policy.take_delay(None), Duration::from_millis(400));
        assert_eq!(policy.attempts_left, 0);
        assert_eq!(stats.retries(), 3);
    }
}
