//! One simulated cluster's shared state: the store, the served types, the
//! audit log, the current `sim.yaml` and the fault plan.
//!
//! The HTTP layer and every simulated controller hold an `Arc<Cluster>`;
//! reloading the configuration swaps the config and fault plan atomically
//! and tells the controllers through a watch channel.

use crate::audit::{AuditEvent, AuditLog, ObjectRef};
use crate::config::{SimConfig, TokenConfig};
use crate::faults::Faults;
use crate::resources::{Registry, ResourceType};
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// The state shared by the API server and the controllers.
#[derive(Debug)]
pub struct Cluster {
    /// All objects.
    pub store: Store,
    /// Served resource types.
    pub registry: Registry,
    /// The audit log.
    pub audit: AuditLog,
    /// The pod runner's processes, logs and ServiceAccount tokens.
    pub runtime: crate::podrunner::Runtime,
    config: RwLock<Arc<SimConfig>>,
    faults: RwLock<Arc<Faults>>,
    tokens: RwLock<Arc<BTreeMap<String, TokenConfig>>>,
    default_tokens: BTreeMap<String, TokenConfig>,
    reloads: watch::Sender<u64>,
    next_ip: AtomicU32,
}

impl Cluster {
    /// A cluster with no objects yet.
    pub fn new(config: SimConfig, audit: AuditLog) -> Self {
        let store = Store::new(config.watch_history.unwrap_or(10_000));
        let faults = Faults::new(config.faults.clone(), config.seed);
        let default_tokens = crate::config::default_tokens();
        let tokens = config.effective_tokens(&default_tokens);
        Self {
            store,
            registry: Registry::new(),
            audit,
            runtime: crate::podrunner::Runtime::default(),
            config: RwLock::new(Arc::new(config)),
            faults: RwLock::new(Arc::new(faults)),
            tokens: RwLock::new(Arc::new(tokens)),
            default_tokens,
            reloads: watch::channel(0).0,
            next_ip: AtomicU32::new(10),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<SimConfig> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current fault plan.
    pub fn faults(&self) -> Arc<Faults> {
        self.faults.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current tokens.
    pub fn tokens(&self) -> Arc<BTreeMap<String, TokenConfig>> {
        self.tokens.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The bearer token for `name` (a token, or a user name such as
    /// `admin`; see [`crate::config::token_for`]).
    pub fn token_for(&self, name: &str) -> String {
        crate::config::token_for(&self.tokens(), name)
    }

    /// A kubeconfig for `user` (see [`Cluster::token_for`]) at `server`.
    pub fn kubeconfig(&self, server: &str, ca_pem: &str, user: &str) -> String {
        let token = self.token_for(user);
        let tokens = self.tokens();
        let name = tokens
            .get(&token)
            .map(|t| t.user.as_str())
            .filter(|u| !u.is_empty())
            .unwrap_or("user");
        crate::kubeconfig::render(server, Some(ca_pem), name, &token)
    }

    /// Replaces the configuration (and fault plan) and wakes the controllers.
    pub fn reload(&self, config: SimConfig) {
        let faults = Faults::new(config.faults.clone(), config.seed);
        let tokens = config.effective_tokens(&self.default_tokens);
        *self.faults.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(faults);
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        self.reloads.send_modify(|n| *n += 1);
    }

    /// A receiver that changes whenever the configuration is reloaded.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    /// A fresh cluster IP for a Service.
    pub fn allocate_ip(&self, prefix: &str) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::SeqCst);
        format!("{prefix}.{}.{}", (n / 250) % 250, n % 250 + 1)
    }

    /// Records a write made by a simulated controller, as if it had been a
    /// request of `user`.
    #[allow(clippy::too_many_arguments)] // one per audit field
    pub fn audit_internal(
        &self,
        user: &str,
        verb: &str,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        subresource: Option<&str>,
        code: u16,
    ) {
        let mut uri = if rt.group.is_empty() {
            format!("/api/{}", rt.version)
        } else {
            format!("/apis/{}/{}", rt.group, rt.version)
        };
        if !namespace.is_empty() {
            uri.push_str(&format!("/namespaces/{namespace}"));
        }
        uri.push_str(&format!("/{}", rt.resource));
        if verb != "create" && !name.is_empty() {
            uri.push_str(&format!("/{name}"));
        }
        if let Some(s) = subresource {
            uri.push_str(&format!("/{s}"));
        }
        let now = crate::time::now_micro();
        let mut event = AuditEvent::new(verb, &uri, user, &now);
        event.user_agent = Some("kube-sim-controller".into());
        event.object_ref = Some(ObjectRef {
            resource: rt.resource.clone(),
            namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
            name: (!name.is_empty()).then(|| name.to_string()),
            api_group: (!rt.group.is_empty()).then(|| rt.group.clone()),
            api_version: rt.version.clone(),
            subresource: subresource.map(String::from),
        });
        event.response_status.code = code;
        self.audit.record(event);
    }
}
