//! Watches: a stream of `{"type": ..., "object": ...}` lines fed from the
//! store's change feed, honouring `resourceVersion` (resume, or `410 Gone`
//! when too old), selectors (objects leaving the selection are `DELETED`),
//! bookmarks, `sendInitialEvents`, `timeoutSeconds`, Table output, and a
//! fault plan's mid-stream connection reset.

use super::selectors::{FieldSelector, LabelSelector};
use super::table::to_table;
use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::store::{Change, ChangeKind, StoreError};
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// A watch stream chunk, or the error that aborts the connection.
pub type Chunk = Result<Bytes, std::io::Error>;

/// What a watch asks for.
#[derive(Debug, Clone)]
pub struct WatchParams {
    /// The watched type (version as requested).
    pub rt: Arc<ResourceType>,
    /// Namespace, or all.
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// `resourceVersion` parameter.
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`.
    pub send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// How long the stream lasts.
    pub timeout: Duration,
    /// Render objects as Tables.
    pub table: bool,
    /// Drop the connection after this long (fault injection).
    pub reset_after: Option<Duration>,
}

/// Shows an object at the version the client asked for.
pub fn present(rt: &ResourceType, object: &Arc<Value>) -> Arc<Value> {
    if object["apiVersion"].as_str() == Some(rt.api_version().as_str()) {
        object.clone()
    } else {
        let mut copy = (**object).clone();
        copy["apiVersion"] = json!(rt.api_version());
        Arc::new(copy)
    }
}

struct Watcher {
    params: WatchParams,
    tx: mpsc::Sender<Chunk>,
}

impl Watcher {
    fn selected(&self, object: &Value) -> bool {
        let p = &self.params;
        p.namespace
            .as_deref()
            .is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns))
            && p.labels.matches(object)
            && p.fields.matches(object)
    }

    async fn send(&mut self, kind: &str, object: &Arc<Value>) -> bool {
        let object = present(&self.params.rt, object);
        let body = if self.params.table && kind != "BOOKMARK" && kind != "ERROR" {
            to_table(&self.params.rt, &[object], 0, None)
        } else {
            (*object).clone()
        };
        let mut line = json!({"type": kind, "object": body}).to_string();
        line.push('\n');
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }

    async fn send_change(&mut self, change: &Change) -> bool {
        if change.gr != self.params.rt.group_resource() {
            return true;
        }
        let now = self.selected(&change.object);
        let before = change.old.as_ref().is_some_and(|o| self.selected(o));
        let kind = match change.kind {
            ChangeKind::Added if now => "ADDED",
            ChangeKind::Modified if now && before => "MODIFIED",
            ChangeKind::Modified if now => "ADDED",
            ChangeKind::Modified if before => "DELETED",
            ChangeKind::Deleted if before || now => "DELETED",
            _ => return true,
        };
        self.send(kind, &change.object).await
    }

    async fn bookmark(&mut self, rv: u64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = Arc::new(json!({
            "kind": self.params.rt.kind,
            "apiVersion": self.params.rt.api_version(),
            "metadata": meta,
        }));
        self.send("BOOKMARK", &object).await
    }

    async fn gone(&mut self, message: String) {
        let status = Arc::new(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": "Expired", "code": 410
        }));
        let _ = self.send("ERROR", &status).await;
    }
}

/// Starts a watch and returns its stream.
pub fn start(cluster: Arc<Cluster>, params: WatchParams) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(run(cluster, Watcher { params, tx }));
    rx
}

async fn run(cluster: Arc<Cluster>, mut w: Watcher) {
    let gr = w.params.rt.group_resource();
    let requested: Option<u64> = w
        .params
        .resource_version
        .as_deref()
        .and_then(|s| s.parse().ok())
        .filter(|rv| *rv > 0);
    let (mut rx, mut seen) = if w.params.send_initial_events || requested.is_none() {
        let (items, rx, rv) = cluster.store.snapshot_and_subscribe(&gr, w.params.namespace.as_deref());
        for item in items {
            if w.selected(&item) && !w.send("ADDED", &item).await {
                return;
            }
        }
        if w.params.send_initial_events && w.params.bookmarks && !w.bookmark(rv, true).await {
            return;
        }
        (rx, rv)
    } else {
        let from = requested.unwrap_or(0);
        match cluster.store.subscribe_after(from) {
            Ok((backlog, rx, rv)) => {
                for change in backlog {
                    if !w.send_change(&change).await {
                        return;
                    }
                }
                (rx, rv.max(from))
            }
            Err(e @ StoreError::TooOld { .. }) => {
                w.gone(e.to_string()).await;
                return;
            }
            Err(e) => {
                w.gone(e.to_string()).await;
                return;
            }
        }
    };
    let deadline = tokio::time::sleep(w.params.timeout);
    tokio::pin!(deadline);
    let reset = w.params.reset_after;
    let reset_timer = tokio::time::sleep(reset.unwrap_or(Duration::from_secs(86_400)));
    tokio::pin!(reset_timer);
    let mut bookmarks = tokio::time::interval(Duration::from_secs(5));
    bookmarks.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = &mut reset_timer, if reset.is_some() => {
                let _ = w.tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "kube-sim injected reset"))).await;
                return;
            }
            _ = bookmarks.tick(), if w.params.bookmarks => {
                if !w.bookmark(seen, false).await {
                    return;
                }
            }
            change = rx.recv() => match change {
                Ok(change) => {
                    seen = change.rv;
                    if !w.send_change(&change).await {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    w.gone("too old resource version: watcher fell behind".into()).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            _ = w.tx.closed() => return,
        }
    }
}
