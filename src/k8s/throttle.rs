//! Client-side rate limiting of every API request, whoever issues it (a
//! script's loop of `k8s::get` included): a token bucket of `API_QPS`
//! requests per second refilled continuously, holding up to `API_BURST`.
//!
//! client-go limits each client the same way (`rest.Config.QPS`/`Burst`,
//! default 5 and 10, a token bucket from k8s.io/client-go/util/flowcontrol);
//! those defaults are for controllers that run forever beside many others.
//! The executor runs for minutes and a 2,000-Application deploy averages
//! about 180 requests a second, so its defaults are 200 and 400
//! (docs/configuration.md). The bucket is `governor`'s GCRA; each retry of
//! a request takes a token too, since it sits inside the retry layer.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tower::{Layer, Service};

/// Requests per second when `API_QPS` is not set.
pub const DEFAULT_QPS: u32 = 200;
/// Requests that may go at once after a quiet spell when `API_BURST` is not set.
pub const DEFAULT_BURST: u32 = 400;

/// Builds the [`Throttle`] of one client.
#[derive(Clone)]
pub struct ThrottleLayer {
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl ThrottleLayer {
    /// `qps` requests per second, bursts of up to `burst` (both at least 1).
    pub fn new(qps: NonZeroU32, burst: NonZeroU32) -> Self {
        ThrottleLayer {
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(qps).allow_burst(burst))),
        }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// A service that waits for a token before each request.
#[derive(Clone)]
pub struct Throttle<S> {
    inner: S,
    limiter: Arc<DefaultDirectRateLimiter>,
}

impl<S, R> Service<R> for Throttle<S>
where
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The service made ready goes with this request; the clone waits
        // for the next `poll_ready` (tower's usual idiom for async calls).
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        Box::pin(async move {
            limiter.until_ready().await;
            ready.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 30 requests through a bucket of 20/s with a burst of 10: the first
    /// ten go at once, the other 20 cannot take less than a second. Only
    /// the lower bound is asserted: a loaded machine may be slower, never
    /// faster than the bucket allows.
    async fn send<S: Service<(), Error = std::convert::Infallible>>(service: &mut S) {
        tower::ServiceExt::ready(service).await.unwrap().call(()).await.unwrap();
    }

    #[tokio::test]
    async fn requests_beyond_the_burst_wait_for_tokens() {
        let noop = tower::service_fn(|_: ()| async { Ok::<_, std::convert::Infallible>(()) });
        let layer = ThrottleLayer::new(NonZeroU32::new(20).unwrap(), NonZeroU32::new(10).unwrap());
        let mut service = layer.layer(noop);
        let started = std::time::Instant::now();
        for _ in 0..10 {
            send(&mut service).await;
        }
        let burst = started.elapsed();
        for _ in 0..20 {
            send(&mut service).await;
        }
        let all = started.elapsed();
        assert!(
            all.as_secs_f64() >= 0.95,
            "30 requests at 20/s after a burst of 10 took {all:?}"
        );
        assert!(burst < all / 2, "the burst went at once: {burst:?} of {all:?}");
    }
}
