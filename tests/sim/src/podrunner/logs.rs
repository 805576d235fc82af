//! What containers printed (stdout and stderr, interleaved as they came, one
//! entry per line with its time) and the `pods/log` subresource that serves
//! it: `GET /api/v1/namespaces/<ns>/pods/<name>/log` with the query
//! parameters kubectl sends (`container`, `follow`, `tailLines`,
//! `timestamps`, `limitBytes`, `sinceSeconds`, `previous`), answered as
//! `text/plain` like kube-apiserver (`pkg/registry/core/pod/rest/log.go`;
//! the container rules of `pkg/registry/core/pod/strategy.go` `LogLocation`).

use crate::api::ApiError;
use crate::api::object;
use crate::api::request::Query;
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use bytes::Bytes;
use http::{Response, header};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One container's output.
#[derive(Debug)]
pub struct LogBuffer {
    lines: Mutex<Vec<(jiff::Timestamp, Vec<u8>)>>,
    /// Number of lines, and whether the container ended.
    notify: watch::Sender<(usize, bool)>,
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self {
            lines: Mutex::new(Vec::new()),
            notify: watch::channel((0, false)).0,
        }
    }
}

impl LogBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(jiff::Timestamp, Vec<u8>)>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one line (with its newline, if it had one).
    pub fn push(&self, line: Vec<u8>) {
        let n = {
            let mut lines = self.lock();
            lines.push((jiff::Timestamp::now(), line));
            lines.len()
        };
        self.notify.send_modify(|s| s.0 = n);
    }

    /// Marks the container ended (followers stop).
    pub fn close(&self) {
        self.notify.send_modify(|s| s.1 = true);
    }

    /// Everything printed so far, as text.
    pub fn text(&self) -> String {
        let bytes: Vec<u8> = self.lock().iter().flat_map(|(_, l)| l.clone()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// All containers' output, by namespace, pod and container.
#[derive(Debug, Default)]
pub struct Logs {
    buffers: Mutex<HashMap<(String, String, String), Arc<LogBuffer>>>,
}

impl Logs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String, String), Arc<LogBuffer>>> {
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The buffer of a container (created when missing).
    pub fn buffer(&self, ns: &str, pod: &str, container: &str) -> Arc<LogBuffer> {
        self.lock()
            .entry((ns.to_string(), pod.to_string(), container.to_string()))
            .or_default()
            .clone()
    }

    /// The buffer of a container, if it printed or runs.
    pub fn get(&self, ns: &str, pod: &str, container: &str) -> Option<Arc<LogBuffer>> {
        self.lock()
            .get(&(ns.to_string(), pod.to_string(), container.to_string()))
            .cloned()
    }

    /// Forgets a deleted pod's output.
    pub fn remove(&self, ns: &str, pod: &str) {
        self.lock().retain(|(n, p, _), _| !(n == ns && p == pod));
    }
}

fn names(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

/// The container a log request is about (`LogLocation`'s rules).
fn container_of(pod: &Value, query: &Query) -> Result<String, ApiError> {
    let name = object::name(pod);
    let (main, init) = (names(pod, "containers"), names(pod, "initContainers"));
    match query.get("container").filter(|c| !c.is_empty()) {
        Some(c) if main.iter().chain(init.iter()).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if main.len() == 1 => Ok(main[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                main.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

/// Which lines a request wants.
#[derive(Debug, Clone, Copy)]
struct Selection {
    timestamps: bool,
    tail: Option<usize>,
    since: Option<jiff::Timestamp>,
    limit: Option<usize>,
}

impl Selection {
    fn of(query: &Query) -> Self {
        let since = query
            .get("sinceSeconds")
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|s| {
                jiff::Timestamp::now()
                    .checked_sub(jiff::SignedDuration::from_secs(s))
                    .ok()
            });
        Self {
            timestamps: matches!(query.get("timestamps"), Some("true" | "1")),
            tail: query.get("tailLines").and_then(|s| s.parse().ok()),
            since,
            limit: query.get("limitBytes").and_then(|s| s.parse().ok()),
        }
    }

    fn render(&self, lines: &[(jiff::Timestamp, Vec<u8>)]) -> Vec<u8> {
        let picked: Vec<&(jiff::Timestamp, Vec<u8>)> = lines
            .iter()
            .filter(|(t, _)| self.since.is_none_or(|s| *t >= s))
            .collect();
        let skip = self.tail.map_or(0, |n| picked.len().saturating_sub(n));
        let mut out = Vec::new();
        for (t, line) in &picked[skip..] {
            if self.timestamps {
                out.extend_from_slice(format!("{t} ").as_bytes());
            }
            out.extend_from_slice(line);
        }
        if let Some(limit) = self.limit {
            out.truncate(limit);
        }
        out
    }
}

fn plain(body: crate::server::Body) -> Response<crate::server::Body> {
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(body)
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed()))
}

/// Answers a `pods/log` request.
///
/// # Errors
/// 404 for a missing pod, 400 for a container the pod does not have or one
/// that did not start yet.
pub fn respond(
    cluster: &Arc<Cluster>,
    ns: &str,
    name: &str,
    query: &Query,
) -> Result<Response<crate::server::Body>, ApiError> {
    let pod = cluster
        .store
        .get(&GroupResource::new("", "pods"), ns, name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let container = container_of(&pod, query)?;
    if matches!(query.get("previous"), Some("true" | "1")) {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    let selection = Selection::of(query);
    let follow = matches!(query.get("follow"), Some("true" | "1"));
    let Some(buffer) = cluster.runtime.logs.get(ns, name, &container) else {
        if cluster.runtime.is_running(object::uid(&pod)) || pod["status"]["phase"] == "Pending" {
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
            )));
        }
        // A simulated container that never ran printed nothing.
        return Ok(plain(Full::new(Bytes::new()).map_err(|e| match e {}).boxed()));
    };
    if !follow {
        let body = selection.render(&buffer.lock());
        return Ok(plain(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed()));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let (first, mut seen) = {
            let lines = buffer.lock();
            (selection.render(&lines), lines.len())
        };
        if !first.is_empty() && tx.send(Ok(Bytes::from(first))).await.is_err() {
            return;
        }
        let mut updates = buffer.notify.subscribe();
        loop {
            let (count, closed) = *updates.borrow_and_update();
            if count > seen {
                let chunk = {
                    let lines = buffer.lock();
                    let all = Selection {
                        tail: None,
                        since: None,
                        limit: None,
                        ..selection
                    };
                    all.render(&lines[seen..count])
                };
                seen = count;
                if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                    return;
                }
                continue;
            }
            if closed || updates.changed().await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|c| (c.map(Frame::data), rx)) },
    );
    Ok(plain(BodyExt::boxed(StreamBody::new(stream))))
}
