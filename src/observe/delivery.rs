//! Getting a short-lived process's metrics to Prometheus.
//!
//! - `METRICS_FILE`: the exposition is written at the end of the run,
//!   atomically (temp file + rename), for node_exporter's textfile collector.
//! - `PUSHGATEWAY_URL`: pushed at the end of the run with an HTTP `PUT` to
//!   `<url>/metrics/job/executor/environment/<env>/action/<action>` — grouped
//!   by stable labels, never a run id, so each push replaces the previous
//!   run's metrics of the same action. A failed push is logged and never
//!   changes the exit code.
//! - `METRICS_ADDR`: `/metrics` is served while the run lasts, for runs
//!   inside a cluster scraped by Prometheus.
//!
//! HTTP goes through hyper and rustls, which the Kubernetes client already
//! brings: no second TLS stack.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};

use super::metrics::RunMetrics;

/// Writes the exposition to `path` atomically.
///
/// # Errors
/// The I/O error, with the path.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    crate::report::render::write_atomically(path, text.as_bytes())
        .map_err(|e| format!("cannot write the metrics file {}: {e}", path.display()))
}

/// The Pushgateway URL of a push.
pub fn push_url(base: &str, environment: &str, action: &str) -> String {
    format!(
        "{}/metrics/job/executor/environment/{environment}/action/{action}",
        base.trim_end_matches('/')
    )
}

/// Pushes `text` to the Pushgateway at `base`.
///
/// # Errors
/// A message for a bad URL, a connection failure, a non-2xx answer or a
/// timeout (10 s).
pub async fn push(base: &str, environment: &str, action: &str, text: String) -> Result<(), String> {
    let url = push_url(base, environment, action);
    let client = http_client()?;
    let request = http::Request::put(&url)
        .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(Full::new(Bytes::from(text)))
        .map_err(|e| format!("bad Pushgateway URL {url}: {e}"))?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| format!("pushing metrics to {url} timed out"))?
        .map_err(|e| format!("pushing metrics to {url} failed: {e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(format!(
            "the Pushgateway answered {status} to {url}: {}",
            String::from_utf8_lossy(&body).trim()
        ))
    }
}

/// The HTTP(S) client of every delivery (Pushgateway, Alertmanager, the
/// OTLP exporter): hyper over rustls with the system's roots, HTTP/1.
pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// The HTTP client of deliveries (the Pushgateway, the Alertmanager, OTLP):
/// http or https, with the system's TLS roots.
///
/// # Errors
/// When the system has no usable TLS roots.
pub fn http_client() -> Result<HttpClient, String> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no TLS roots for HTTPS deliveries: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
}

/// Serves `/metrics` on `addr` until the returned task is aborted.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(addr: SocketAddr, metrics: Arc<RunMetrics>) -> Result<tokio::task::JoinHandle<()>, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    tracing::info!(
        phase = "metrics",
        "serving /metrics on {}",
        listener.local_addr().map_or(addr, |a| a)
    );
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move {
                        let response = if request.uri().path() == "/metrics" {
                            http::Response::builder()
                                .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                                .body(Full::new(Bytes::from(metrics.render())))
                        } else {
                            http::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from_static(b"not found\n")))
                        };
                        response.map_err(|e| e.to_string())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    }))
}
