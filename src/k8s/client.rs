//! [`Cluster`] over a real API server, through kube-rs.
//!
//! The client is built from the validated kubeconfig with kube's own config
//! loader (contexts, exec plugins, tokens, client certificates), then wrapped
//! in tower layers: request counting + `traceparent` (inner, so retries are
//! counted), the client-side rate limit (`src/k8s/throttle.rs`, each
//! attempt takes a token) and the transient-failure retry policy (outer).

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use http::HeaderValue;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::KubeConfigOptions;
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;
use tower::retry::RetryLayer;
use tower::util::MapRequestLayer;

use super::catalog::{Catalog, KindInfo, split_api_version};
use super::cluster::{BoxFuture, Cluster, Kind, KindEvent, KindStream, ObjectKey, ObjectState, Propagation};
use super::error::K8sError;
use super::retry::TransientRetry;
use super::stats::{ApiStats, stamp};
use super::throttle::ThrottleLayer;
use crate::config::ClusterAccess;

/// The field manager of every apply the executor makes.
pub const FIELD_MANAGER: &str = "executor";

/// Settings of the API client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Requests per second and burst of the client-side rate limit.
    pub rate: (std::num::NonZeroU32, std::num::NonZeroU32),
    /// `traceparent` to send with every request.
    pub traceparent: Option<String>,
}

/// A cluster reached through kube-rs.
pub struct KubeCluster {
    client: kube::Client,
    catalog: Arc<Catalog>,
    stats: Arc<ApiStats>,
    server: String,
}

/// Why a client could not be built (an input problem: exit 3).
#[derive(Debug, thiserror::Error)]
#[error("cannot use the kubeconfig's context `{context}`: {message}")]
pub struct ConnectError {
    /// The context.
    pub context: String,
    /// What is wrong.
    pub message: String,
}

impl KubeCluster {
    /// Builds the client. Makes no request.
    ///
    /// # Errors
    /// When kube cannot turn the kubeconfig into a client configuration
    /// (unreadable certificate files, bad CA data, ...).
    pub async fn connect(access: &ClusterAccess, settings: &ClientSettings) -> Result<KubeCluster, ConnectError> {
        let error = |message: String| ConnectError {
            context: access.context.clone(),
            message: crate::redact::scrub(&message).into_owned(),
        };
        let mut config = kube::Config::from_custom_kubeconfig(access.kubeconfig.clone(), &KubeConfigOptions::default())
            .await
            .map_err(|e| error(e.to_string()))?;
        // Retries are ours (bounded by retries.maxAttempts, counted in the report).
        config.default_retry = false;
        config.read_timeout = Some(Duration::from_secs(60));
        let stats = Arc::new(ApiStats::default());
        let traceparent = settings
            .traceparent
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok());
        let counting = {
            let stats = stats.clone();
            MapRequestLayer::new(move |request| stamp(&stats, traceparent.as_ref(), request))
        };
        let retry = RetryLayer::new(TransientRetry::new(stats.clone()));
        let throttle = ThrottleLayer::new(settings.rate.0, settings.rate.1);
        let builder = kube::client::ClientBuilder::try_from(config.clone()).map_err(|e| error(e.to_string()))?;
        // Retry needs a cloneable inner service; the buffer provides it.
        let buffer = tower::buffer::BufferLayer::new(1024);
        let client = builder
            .with_layer(&counting)
            .with_layer(&buffer)
            .with_layer(&throttle)
            .with_layer(&retry)
            .build();
        Ok(KubeCluster {
            client,
            catalog: Arc::new(Catalog::new()),
            stats,
            server: config.cluster_url.to_string(),
        })
    }

    /// Request counters of this client.
    pub fn stats(&self) -> Arc<ApiStats> {
        self.stats.clone()
    }

    /// The kinds known so far (CRDs applied in this run are learned here).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The kind's resource, known or discovered (one request per unknown kind).
    async fn info(&self, kind: &Kind) -> Result<KindInfo, K8sError> {
        if let Some(info) = self.catalog.lookup(&kind.api_version, &kind.kind) {
            return Ok(info);
        }
        self.discover(kind).await
    }

    async fn discover(&self, kind: &Kind) -> Result<KindInfo, K8sError> {
        let (group, version) = split_api_version(&kind.api_version);
        let gvk = GroupVersionKind::gvk(group, version, &kind.kind);
        let unknown = || K8sError::UnknownKind {
            api_version: kind.api_version.clone(),
            kind: kind.kind.clone(),
        };
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((resource, capabilities)) => {
                let info = KindInfo {
                    resource,
                    namespaced: capabilities.scope == kube::discovery::Scope::Namespaced,
                };
                self.catalog.insert(&kind.api_version, &kind.kind, info.clone());
                Ok(info)
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Err(unknown()),
            Err(kube::Error::Discovery(_)) => Err(unknown()),
            Err(other) => Err(K8sError::from_kube("get", format!("discovery of {kind}"), other)),
        }
    }

    /// The kind's resource without asking the cluster: known, or guessed
    /// (plural by kube's rules; namespaced when a namespace is given — an
    /// all-namespaces list and a cluster-scoped list share their path).
    /// The flag says whether it was guessed.
    fn known_or_guess(&self, kind: &Kind, namespace: Option<&str>) -> (KindInfo, bool) {
        if let Some(info) = self.catalog.lookup(&kind.api_version, &kind.kind) {
            return (info, false);
        }
        let (group, version) = split_api_version(&kind.api_version);
        let gvk = GroupVersionKind::gvk(group, version, &kind.kind);
        let guess = KindInfo {
            resource: ApiResource::from_gvk(&gvk),
            namespaced: namespace.is_some(),
        };
        (guess, true)
    }

    fn api_with(&self, info: &KindInfo, namespace: Option<&str>) -> Api<DynamicObject> {
        match (info.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &info.resource),
            _ => Api::all_with(self.client.clone(), &info.resource),
        }
    }

    /// Runs `op` with the kind's API. An unknown kind is first tried under
    /// its guessed resource name — no discovery request in the common case;
    /// a 404 then asks discovery, and retries if the guess was wrong.
    async fn with_api<T, F, Fut>(&self, kind: &Kind, namespace: Option<&str>, op: F) -> Result<T, K8sError>
    where
        F: Fn(Api<DynamicObject>, KindInfo) -> Fut,
        Fut: Future<Output = Result<T, K8sError>>,
    {
        let (info, guessed) = self.known_or_guess(kind, namespace);
        let result = op(self.api_with(&info, namespace), info.clone()).await;
        match result {
            Err(error) if guessed && error.is_not_found() => {
                let real = self.discover(kind).await?;
                if real.resource.plural == info.resource.plural && real.namespaced == info.namespaced {
                    Err(error)
                } else {
                    op(self.api_with(&real, namespace), real).await
                }
            }
            Ok(value) if guessed => {
                self.catalog.insert(&kind.api_version, &kind.kind, info);
                Ok(value)
            }
            other => other,
        }
    }

    fn check_scope(info: &KindInfo, key: &ObjectKey) -> Result<(), K8sError> {
        if info.namespaced && key.namespace.is_none() {
            return Err(K8sError::Invalid(format!(
                "{key}: a namespaced kind needs metadata.namespace"
            )));
        }
        Ok(())
    }
}

/// A list response, its items as JSON.
#[derive(serde::Deserialize)]
struct RawList {
    #[serde(default)]
    items: Vec<Value>,
}

fn to_value(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

impl Cluster for KubeCluster {
    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Option<Value>, K8sError>> {
        Box::pin(async move {
            self.with_api(&key.kind, key.namespace.as_deref(), |api, info| async move {
                Self::check_scope(&info, key)?;
                api.get_opt(&key.name)
                    .await
                    .map(|o| o.map(to_value))
                    .map_err(|e| K8sError::from_kube("get", key.to_string(), e))
            })
            .await
        })
    }

    fn list<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<Value>, K8sError>> {
        Box::pin(async move {
            let mut params = ListParams::default();
            if let Some(selector) = label_selector.filter(|s| !s.is_empty()) {
                params = params.labels(selector);
            }
            let params = &params;
            let client = &self.client;
            self.with_api(kind, namespace, |api, _| async move {
                // Straight into JSON values: `DynamicObject`'s flattened
                // fields would buffer every item twice, which on a list of
                // thousands of objects is most of a run's memory.
                let mut request = kube::core::Request::new(api.resource_url())
                    .list(params)
                    .map_err(|e| K8sError::Invalid(e.to_string()))?;
                request.extensions_mut().insert("list");
                let list: RawList = client
                    .request(request)
                    .await
                    .map_err(|e| K8sError::from_kube("list", kind.to_string(), e))?;
                Ok(list
                    .items
                    .into_iter()
                    .map(|item| {
                        // List items carry no type metadata; restore it (first,
                        // as in an object fetched alone).
                        let Value::Object(fields) = item else { return item };
                        let mut typed = serde_json::Map::with_capacity(fields.len() + 2);
                        typed.insert("apiVersion".to_owned(), Value::String(kind.api_version.clone()));
                        typed.insert("kind".to_owned(), Value::String(kind.kind.clone()));
                        typed.extend(fields.into_iter().filter(|(k, _)| k != "apiVersion" && k != "kind"));
                        super::index::slimmed(Value::Object(typed))
                    })
                    .collect())
            })
            .await
        })
    }

    fn create<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            let key = ObjectKey::of(object)?;
            let key = &key;
            let dynamic: DynamicObject =
                serde_json::from_value(object.clone()).map_err(|e| K8sError::Invalid(e.to_string()))?;
            let dynamic = &dynamic;
            let params = &kube::api::PostParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..Default::default()
            };
            self.with_api(&key.kind, key.namespace.as_deref(), |api, info| async move {
                Self::check_scope(&info, key)?;
                api.create(params, dynamic)
                    .await
                    .map(to_value)
                    .map_err(|e| K8sError::from_kube("create", key.to_string(), e))
            })
            .await
        })
    }

    fn apply<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            let key = ObjectKey::of(object)?;
            let key = &key;
            let params = &PatchParams::apply(FIELD_MANAGER).force();
            let live = self
                .with_api(&key.kind, key.namespace.as_deref(), |api, info| async move {
                    Self::check_scope(&info, key)?;
                    api.patch(&key.name, params, &Patch::Apply(object))
                        .await
                        .map_err(|e| K8sError::from_kube("patch", key.to_string(), e))
                })
                .await?;
            if key.kind.kind == "CustomResourceDefinition" {
                let _ = self.catalog.learn_crd(object);
            }
            Ok(to_value(live))
        })
    }

    fn merge_patch<'a>(&'a self, key: &'a ObjectKey, patch: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            self.with_api(&key.kind, key.namespace.as_deref(), |api, info| async move {
                Self::check_scope(&info, key)?;
                api.patch(&key.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .map(to_value)
                    .map_err(|e| K8sError::from_kube("patch", key.to_string(), e))
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey, propagation: Propagation) -> BoxFuture<'a, Result<bool, K8sError>> {
        Box::pin(async move {
            let params = &match propagation {
                Propagation::Background => DeleteParams::background(),
                Propagation::Foreground => DeleteParams::foreground(),
                Propagation::Orphan => DeleteParams::orphan(),
            };
            let result = self
                .with_api(&key.kind, key.namespace.as_deref(), |api, info| async move {
                    Self::check_scope(&info, key)?;
                    match api.delete(&key.name, params).await {
                        Ok(_) => Ok(true),
                        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
                        Err(e) => Err(K8sError::from_kube("delete", key.to_string(), e)),
                    }
                })
                .await;
            match result {
                // A kind the cluster does not serve has nothing to delete.
                Err(K8sError::UnknownKind { .. }) => Ok(false),
                other => other,
            }
        })
    }

    fn watch<'a>(
        &'a self,
        key: &'a ObjectKey,
    ) -> BoxFuture<'a, Result<futures::stream::BoxStream<'a, Result<ObjectState, K8sError>>, K8sError>> {
        Box::pin(async move {
            // A watch needs the right resource name up front: confirm a guess.
            let (mut info, guessed) = self.known_or_guess(&key.kind, key.namespace.as_deref());
            if guessed {
                info = self.info(&key.kind).await?;
            }
            Self::check_scope(&info, key)?;
            let api = self.api_with(&info, key.namespace.as_deref());
            let config = watcher::Config::default().fields(&format!("metadata.name={}", key.name));
            let what = key.to_string();
            let mut seen_in_init: Option<Value> = None;
            // A failed watch is resumed on the next poll; without a backoff
            // a refused connection would be retried in a busy loop that
            // never yields (kube-runtime's watcher docs recommend
            // `default_backoff`).
            let stream = watcher::watcher(api, config)
                .default_backoff()
                .map_err(move |e| K8sError::Connection {
                    verb: "watch",
                    what: what.clone(),
                    message: crate::redact::scrub(&e.to_string()).into_owned(),
                })
                .filter_map(move |event| {
                    let state = match event {
                        Ok(watcher::Event::Apply(object)) => Some(Ok(Some(to_value(object)))),
                        Ok(watcher::Event::Delete(_)) => Some(Ok(None)),
                        Ok(watcher::Event::Init) => {
                            seen_in_init = None;
                            None
                        }
                        Ok(watcher::Event::InitApply(object)) => {
                            seen_in_init = Some(to_value(object));
                            None
                        }
                        Ok(watcher::Event::InitDone) => Some(Ok(seen_in_init.take())),
                        Err(e) => Some(Err(e)),
                    };
                    futures::future::ready(state)
                });
            Ok(stream.boxed())
        })
    }
    fn watch_kind<'a>(
        &'a self,
        kind: &'a Kind,
        namespace: Option<&'a str>,
        label_selector: Option<&'a str>,
    ) -> BoxFuture<'a, Result<KindStream<'a>, K8sError>> {
        Box::pin(async move {
            let (mut info, guessed) = self.known_or_guess(kind, namespace);
            if guessed {
                info = self.info(kind).await?;
            }
            let api = self.api_with(&info, namespace.filter(|_| info.namespaced));
            let mut config = watcher::Config::default();
            if let Some(selector) = label_selector.filter(|s| !s.is_empty()) {
                config = config.labels(selector);
            }
            let what = kind.to_string();
            let api_version = kind.api_version.clone();
            let kind_name = kind.kind.clone();
            // List items carry no type metadata; restore it.
            let typed = move |mut object: DynamicObject| {
                object.types = Some(kube::core::TypeMeta {
                    api_version: api_version.clone(),
                    kind: kind_name.clone(),
                });
                super::index::slimmed(to_value(object))
            };
            let mut initial: Vec<Value> = Vec::new();
            // A failed watch is resumed on the next poll; without a backoff
            // a refused connection would be retried in a busy loop that
            // never yields (kube-runtime's watcher docs recommend
            // `default_backoff`).
            let stream = watcher::watcher(api, config)
                .default_backoff()
                .map_err(move |e| K8sError::Connection {
                    verb: "watch",
                    what: what.clone(),
                    message: crate::redact::scrub(&e.to_string()).into_owned(),
                })
                .filter_map(move |event| {
                    let event = match event {
                        Ok(watcher::Event::Apply(object)) => Some(Ok(KindEvent::Applied(typed(object)))),
                        Ok(watcher::Event::Delete(object)) => Some(Ok(KindEvent::Deleted(typed(object)))),
                        Ok(watcher::Event::Init) => {
                            initial.clear();
                            None
                        }
                        Ok(watcher::Event::InitApply(object)) => {
                            initial.push(typed(object));
                            None
                        }
                        Ok(watcher::Event::InitDone) => Some(Ok(KindEvent::Reset(std::mem::take(&mut initial)))),
                        Err(e) => Some(Err(e)),
                    };
                    futures::future::ready(event)
                });
            Ok(stream.boxed())
        })
    }

    fn logs<'a>(
        &'a self,
        namespace: &'a str,
        pod: &'a str,
        container: &'a str,
        tail_lines: i64,
    ) -> BoxFuture<'a, Result<String, K8sError>> {
        Box::pin(async move {
            let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), namespace);
            let params = kube::api::LogParams {
                container: Some(container.to_owned()),
                tail_lines: Some(tail_lines),
                ..kube::api::LogParams::default()
            };
            pods.logs(pod, &params)
                .await
                .map_err(|e| K8sError::from_kube("get", format!("the log of pod {namespace}/{pod}"), e))
        })
    }

    fn namespaced<'a>(&'a self, kind: &'a Kind) -> BoxFuture<'a, Result<bool, K8sError>> {
        Box::pin(async move { self.info(kind).await.map(|i| i.namespaced) })
    }

    fn review<'a>(&'a self, object: &'a Value) -> BoxFuture<'a, Result<Value, K8sError>> {
        Box::pin(async move {
            let kind = Kind::of(object)?;
            let info = self.info(&kind).await?;
            let url = if info.resource.group.is_empty() {
                format!("/api/{}/{}", info.resource.version, info.resource.plural)
            } else {
                format!(
                    "/apis/{}/{}/{}",
                    info.resource.group, info.resource.version, info.resource.plural
                )
            };
            let body = serde_json::to_vec(object).map_err(|e| K8sError::Invalid(e.to_string()))?;
            let request = http::Request::post(url)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body)
                .map_err(|e| K8sError::Invalid(e.to_string()))?;
            self.client
                .request::<Value>(request)
                .await
                .map_err(|e| K8sError::from_kube("create", kind.to_string(), e))
        })
    }

    fn version(&self) -> BoxFuture<'_, Result<Value, K8sError>> {
        Box::pin(async move {
            self.client
                .apiserver_version()
                .await
                .map(|info| serde_json::to_value(info).unwrap_or(Value::Null))
                .map_err(|e| K8sError::from_kube("get", "/version", e))
        })
    }
}
