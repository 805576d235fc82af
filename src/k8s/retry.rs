//! Retrying transient API failures: throttling, unavailable servers, broken
//! connections — with a short jittered exponential backoff of its own,
//! honouring the server's `Retry-After`.
//!
//! The backoff follows client-go's `retry.DefaultBackoff` (10 ms, factor 5,
//! jitter 10 %; k8s.io/client-go/util/retry/util.go), with more steps and a
//! 5 s cap so that an API server answering one request in five with an
//! error still converges. It is separate from `retries.*` of
//! environment.yaml, which governs Argo CD operation retries: a failed
//! request costs tens of milliseconds, not the seconds an operation retry
//! waits. Errors that cannot be transient are not retried: any status but
//! 429/5xx (401, 403, 404, 409, 422 ...) and transport errors of the TLS
//! handshake (a CA that does not verify the server will not start to).
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

/// Attempts per request, the first included.
pub const ATTEMPTS: u32 = 8;
/// First retry delay.
const FIRST_DELAY: Duration = Duration::from_millis(10);
/// Growth of the delay per retry.
const FACTOR: u32 = 5;
/// Longest computed wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Longest wait a server's `Retry-After` may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The retry policy of one request (tower clones it per request).
#[derive(Clone)]
pub struct TransientRetry {
    attempts_left: u32,
    next_delay: Duration,
    stats: Arc<ApiStats>,
}

impl TransientRetry {
    /// The policy of a fresh request.
    pub fn new(stats: Arc<ApiStats>) -> Self {
        TransientRetry {
            attempts_left: ATTEMPTS - 1,
            next_delay: FIRST_DELAY,
            stats,
        }
    }

    fn take_delay(&mut self, server_hint: Option<Duration>) -> Duration {
        self.attempts_left -= 1;
        self.stats.record_retry();
        // ±10 % jitter, so clients that failed together do not retry together.
        let jittered = self.next_delay.mul_f64(0.9 + fastrand::f64() * 0.2);
        let delay = jittered.max(server_hint.unwrap_or_default().min(MAX_RETRY_AFTER));
        self.next_delay = (self.next_delay * FACTOR).min(MAX_DELAY);
        delay
    }
}

/// Whether a transport error may go away by itself: a reset or refused
/// connection may, a TLS verification failure (a `rustls::Error` in the
/// chain, see [`super::error::causes`]) will not.
fn transient_transport(error: &BoxError) -> bool {
    !super::error::causes(error.as_ref()).1
}

fn is_watch<B>(request: &Request<B>) -> bool {
    request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"))
}

/// `Retry-After` in seconds (the form kube-apiserver sends).
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
            Err(error) if transient_transport(error) => self.take_delay(None),
            Err(_) => return None,
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
    fn backoff_grows_fivefold_with_jitter_and_honours_retry_after() {
        let stats = Arc::new(ApiStats::default());
        let mut policy = TransientRetry::new(stats.clone());
        let first = policy.take_delay(None);
        assert!((9..=11).contains(&first.as_millis()), "{first:?}");
        let second = policy.take_delay(Some(Duration::from_secs(2)));
        assert_eq!(second, Duration::from_secs(2), "Retry-After wins when longer");
        let third = policy.take_delay(None);
        assert!((225..=275).contains(&third.as_millis()), "{third:?}");
        let capped = policy.take_delay(Some(Duration::from_secs(3600)));
        assert_eq!(capped, MAX_RETRY_AFTER);
        while policy.attempts_left > 1 {
            policy.take_delay(None);
        }
        assert!(policy.take_delay(None) <= MAX_DELAY.mul_f64(1.1));
        assert_eq!(stats.retries(), u64::from(ATTEMPTS - 1));
    }

    #[test]
    fn a_refused_certificate_is_not_transient_but_a_reset_is() {
        // How hyper's connector hands rustls' refusal up: inside an I/O error.
        let tls: BoxError = Box::new(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert!(!transient_transport(&tls));
        let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(transient_transport(&reset));
    }
}
