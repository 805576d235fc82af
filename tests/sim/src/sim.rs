//! Starting and stopping a simulator: the async [`Sim`] for tests that own a
//! tokio runtime, and the blocking [`SimThread`] that brings its own.
//!
//! Several simulators can run in one process, each on its own port with its
//! own store, controllers and audit log.

use crate::audit::{AuditError, AuditEvent, AuditLog};
use crate::cluster::Cluster;
use crate::config::SimConfig;
use crate::controllers;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a simulator could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}: {source}")]
    WriteKubeconfig {
        /// The path asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be made.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The background runtime of a [`SimThread`] failed.
    #[error("kube-sim background thread failed: {0}")]
    Thread(String),
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Behaviour (`sim.yaml`).
    pub config: SimConfig,
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where to append audit events as JSON lines, besides memory.
    pub audit_log: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            config: SimConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            audit_log: None,
        }
    }
}

impl SimOptions {
    /// Options with a configuration and everything else default.
    pub fn with_config(config: SimConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Sim {
    url: String,
    ca_pem: String,
    cluster: Arc<Cluster>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sim {
    /// Binds, seeds the cluster (namespaces, nodes, a default StorageClass),
    /// starts the controllers and serves.
    ///
    /// # Errors
    /// [`SimError::Bind`] or [`SimError::Audit`].
    pub async fn start(options: SimOptions) -> Result<Self, SimError> {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: options.listen,
            source,
        })?;
        let audit = AuditLog::new(options.audit_log.as_deref())?;
        let tls = crate::tls::ServerTls::generate()?;
        let cluster = Arc::new(Cluster::new(options.config, audit));
        cluster.runtime.set_server(crate::podrunner::ServerInfo {
            port: addr.port(),
            ca_pem: tls.ca_pem.clone(),
        });
        controllers::seed(&cluster);
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = controllers::start(&cluster, rx.clone());
        let ca_pem = tls.ca_pem.clone();
        tasks.push(tokio::spawn(crate::server::run(listener, cluster.clone(), tls, rx)));
        Ok(Self {
            url: format!("http://{addr}"),
            ca_pem,
            cluster,
            shutdown,
            tasks,
        })
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The shared cluster state (store, registry, audit), for tests that
    /// look inside.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The same port over TLS (`https://127.0.0.1:<port>`).
    pub fn https_url(&self) -> String {
        self.url.replacen("http://", "https://", 1)
    }

    /// The PEM of the CA that signed the TLS certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig (context `kube-sim`) for `user`: the token of the user
    /// of that name (`admin`, `viewer` with the default tokens), or `user`
    /// itself when it is a configured token (or unknown, for 401 tests). It
    /// points at [`Sim::https_url`] with the CA embedded.
    pub fn kubeconfig(&self, user: &str) -> String {
        self.cluster.kubeconfig(&self.https_url(), &self.ca_pem, user)
    }

    /// The bearer token [`Sim::kubeconfig`] would use for `user`.
    pub fn token(&self, user: &str) -> String {
        self.cluster.token_for(user)
    }

    /// Writes [`Sim::kubeconfig`] to a file.
    ///
    /// # Errors
    /// [`SimError::WriteKubeconfig`].
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>, user: &str) -> Result<(), SimError> {
        std::fs::write(path.as_ref(), self.kubeconfig(user)).map_err(|source| SimError::WriteKubeconfig {
            path: path.as_ref().to_path_buf(),
            source,
        })
    }

    /// Every audit event so far.
    pub fn audit(&self) -> Vec<AuditEvent> {
        self.cluster.audit.events()
    }

    /// Changes behaviour (apps, faults, tokens, timings) at run time.
    pub fn reload(&self, config: SimConfig) {
        self.cluster.reload(config);
    }

    /// Stops serving and stops the controllers.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

/// A simulator on its own thread and runtime, for synchronous tests.
/// Dropping it shuts it down.
#[derive(Debug)]
pub struct SimThread {
    url: String,
    ca_pem: String,
    cluster: Arc<Cluster>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimThread {
    /// Starts a simulator on a background thread.
    ///
    /// # Errors
    /// Whatever [`Sim::start`] returns, or [`SimError::Thread`].
    pub fn start(options: SimOptions) -> Result<Self, SimError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(SimError::Thread(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Sim::start(options).await {
                        Ok(sim) => {
                            let _ = ready_tx.send(Ok((sim.url.clone(), sim.ca_pem.clone(), sim.cluster.clone())));
                            let _ = stop_rx.await;
                            sim.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| SimError::Thread(e.to_string()))?;
        let (url, ca_pem, cluster) = ready_rx.recv().map_err(|e| SimError::Thread(e.to_string()))??;
        Ok(Self {
            url,
            ca_pem,
            cluster,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The shared cluster state.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The same port over TLS.
    pub fn https_url(&self) -> String {
        self.url.replacen("http://", "https://", 1)
    }

    /// The PEM of the CA that signed the TLS certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig for `user` (see [`Sim::kubeconfig`]).
    pub fn kubeconfig(&self, user: &str) -> String {
        self.cluster.kubeconfig(&self.https_url(), &self.ca_pem, user)
    }

    /// The bearer token [`SimThread::kubeconfig`] would use for `user`.
    pub fn token(&self, user: &str) -> String {
        self.cluster.token_for(user)
    }

    /// Writes [`SimThread::kubeconfig`] to a file.
    ///
    /// # Errors
    /// [`SimError::WriteKubeconfig`].
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>, user: &str) -> Result<(), SimError> {
        std::fs::write(path.as_ref(), self.kubeconfig(user)).map_err(|source| SimError::WriteKubeconfig {
            path: path.as_ref().to_path_buf(),
            source,
        })
    }

    /// Every audit event so far.
    pub fn audit(&self) -> Vec<AuditEvent> {
        self.cluster.audit.events()
    }

    /// Changes behaviour at run time.
    pub fn reload(&self, config: SimConfig) {
        self.cluster.reload(config);
    }

    /// Stops the simulator and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SimThread {
    fn drop(&mut self) {
        self.stop_now();
    }
}
