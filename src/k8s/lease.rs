//! One driver per environment: a `coordination.k8s.io` Lease taken before
//! a run's first write.
//!
//! Deploy and teardown hold their cluster behind
//! [`super::guard::WritePolicy::Locked`]: the first write
//! (an apply, patch, create or delete) first takes the Lease
//! `executor-<environment>` in Argo CD's namespace, the way client-go's
//! leader election does (`tools/leaderelection/resourcelock/leaselock.go`
//! upstream): create it, or take it over once its holder stopped renewing
//! for `leaseDurationSeconds`, each write guarded by `resourceVersion` so
//! of two racing runs exactly one wins. A run with nothing to change never
//! writes, so it takes no lease and a no-op re-deploy stays at zero
//! writes. While held, the lease is renewed every few seconds; a killed run
//! stops renewing and its lease expires within [`LEASE_SECONDS`]. At the
//! end the run releases it (holder emptied). A second run waits up to
//! `LOCK_TIMEOUT` (default: not at all) and then fails, naming the holder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::cluster::{Cluster, Kind, ObjectKey};
use super::error::K8sError;

/// How long a lease outlives its last renewal (client-go's default
/// `LeaseDuration` is 15 s).
pub const LEASE_SECONDS: u64 = 15;
/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How often a waiting run looks again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Which lease, held by whom, waited for how long.
#[derive(Debug, Clone)]
pub struct LockSettings {
    /// Argo CD's namespace.
    pub namespace: String,
    /// `executor-<environment name>`.
    pub name: String,
    /// `<host>/<pid>/<trace id>`.
    pub holder: String,
    /// `LOCK_TIMEOUT`: how long to wait for another run's lease.
    pub wait: Duration,
}

impl LockSettings {
    /// The lock of environment `environment` for this process and trace.
    pub fn new(namespace: &str, environment: &str, trace_id: &str, wait: Duration) -> LockSettings {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".to_owned());
        LockSettings {
            namespace: namespace.to_owned(),
            name: format!("executor-{environment}"),
            holder: format!("{host}/{}/{trace_id}", std::process::id()),
            wait,
        }
    }

    fn key(&self) -> ObjectKey {
        ObjectKey::new(lease_kind(), &self.namespace, self.name.clone())
    }
}

fn lease_kind() -> Kind {
    Kind::new("coordination.k8s.io/v1", "Lease")
}

/// A MicroTime, as the API server writes them.
fn micro_now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// Whether `lease` is held by someone other than `me` and still renewed.
fn held_by_other<'a>(lease: &'a Value, me: &str) -> Option<&'a str> {
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty() && *h != me)?;
    let seconds = lease["spec"]["leaseDurationSeconds"].as_i64().unwrap_or(0);
    let renewed = lease["spec"]["renewTime"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())?;
    let expires = renewed.checked_add(jiff::SignedDuration::from_secs(seconds)).ok()?;
    (expires > jiff::Timestamp::now()).then_some(holder)
}

/// The lock: taken once, on the first write; renewed in the background.
pub struct Lock {
    settings: LockSettings,
    taken: OnceCell<()>,
    renewer: Mutex<Option<tokio::task::AbortHandle>>,
    refused: std::sync::atomic::AtomicBool,
    /// The refusal's message, once refused.
    refusal: Mutex<String>,
    /// Cancelled when the lease is refused: the run stops at once.
    cancel: tokio_util::sync::CancellationToken,
    /// When this run started reading the cluster (the lock's creation).
    since: jiff::Timestamp,
    /// Called when the lease is taken from a run that was active after
    /// `since`: what this run read before may be stale.
    on_stale: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

/// Whether another run held `lease` after `since` (renewed or released
/// then): writes of its may postdate what this run read.
fn active_since(lease: &Value, me: &str, since: jiff::Timestamp) -> bool {
    let other = lease["spec"]["holderIdentity"].as_str() != Some(me);
    let renewed = lease["spec"]["renewTime"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    other && renewed.is_none_or(|renewed| renewed >= since)
}

impl Lock {
    /// A lock not taken yet; `cancel` stops the run should it be refused.
    pub fn new(settings: LockSettings, cancel: tokio_util::sync::CancellationToken) -> Arc<Lock> {
        Arc::new(Lock {
            settings,
            taken: OnceCell::new(),
            renewer: Mutex::new(None),
            refused: std::sync::atomic::AtomicBool::new(false),
            refusal: Mutex::new(String::new()),
            cancel,
            since: jiff::Timestamp::now(),
            on_stale: Mutex::new(Vec::new()),
        })
    }

    /// Registers what to forget should the lease come from a run active
    /// since this one started (the run's cache of live objects): after
    /// acquiring, the run re-reads the state it decides on.
    pub fn on_stale(&self, forget: Box<dyn Fn() + Send + Sync>) {
        if let Ok(mut hooks) = self.on_stale.lock() {
            hooks.push(forget);
        }
    }

    /// Why the lease was refused (empty if it was not).
    pub fn refusal(&self) -> String {
        self.refusal.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Whether the lease was refused: another run held it past `LOCK_TIMEOUT`.
    pub fn refused(&self) -> bool {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether this run took the lease.
    pub fn is_taken(&self) -> bool {
        self.taken.initialized()
    }

    /// Takes the lease (once), or waits for it up to `LOCK_TIMEOUT`.
    pub(super) async fn ensure(self: &Arc<Self>, cluster: &Arc<dyn Cluster>) -> Result<(), K8sError> {
        self.taken
            .get_or_try_init(|| async {
                self.acquire(cluster.as_ref()).await?;
                let renewer = tokio::spawn(renew(self.clone(), cluster.clone()));
                if let Ok(mut slot) = self.renewer.lock() {
                    *slot = Some(renewer.abort_handle());
                }
                Ok(())
            })
            .await
            .copied()
    }

    async fn acquire(&self, cluster: &dyn Cluster) -> Result<(), K8sError> {
        let key = self.settings.key();
        let started = tokio::time::Instant::now();
        let mut stale = false;
        loop {
            let now = micro_now();
            let attempt = match cluster.get(&key).await? {
                None => {
                    let lease = json!({
                        "apiVersion": "coordination.k8s.io/v1",
                        "kind": "Lease",
                        "metadata": {"name": self.settings.name, "namespace": self.settings.namespace},
                        "spec": {"holderIdentity": self.settings.holder, "leaseDurationSeconds": LEASE_SECONDS,
                                 "acquireTime": now, "renewTime": now, "leaseTransitions": 0},
                    });
                    match cluster.create(&lease).await {
                        // A bare cluster: Argo CD's namespace comes with the
                        // bootstrap, which has not run yet; create it first.
                        Err(e) if e.is_not_found() => {
                            let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": self.settings.namespace}});
                            cluster.apply(&namespace).await?;
                            cluster.create(&lease).await
                        }
                        other => other,
                    }
                }
                Some(lease) => {
                    stale |= active_since(&lease, &self.settings.holder, self.since);
                    if let Some(holder) = held_by_other(&lease, &self.settings.holder) {
                        if started.elapsed() >= self.settings.wait {
                            let error = K8sError::Locked {
                                lease: key.to_string(),
                                holder: holder.to_owned(),
                            };
                            if let Ok(mut refusal) = self.refusal.lock() {
                                *refusal = error.to_string();
                            }
                            self.refused.store(true, std::sync::atomic::Ordering::SeqCst);
                            self.cancel.cancel();
                            return Err(error);
                        }
                        tracing::info!(phase = "lock", "waiting for {key}, held by {holder}");
                        tokio::time::sleep(RETRY_EVERY).await;
                        continue;
                    }
                    let transitions = lease["spec"]["leaseTransitions"].as_i64().unwrap_or(0) + 1;
                    let patch = json!({
                        "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                        "spec": {"holderIdentity": self.settings.holder, "leaseDurationSeconds": LEASE_SECONDS,
                                 "acquireTime": now, "renewTime": now, "leaseTransitions": transitions},
                    });
                    cluster.merge_patch(&key, &patch).await
                }
            };
            match attempt {
                Ok(_) => {
                    tracing::info!(phase = "lock", "took {key} as {}", self.settings.holder);
                    if stale {
                        tracing::info!(
                            phase = "lock",
                            "another run was active since this one read the cluster: reading again"
                        );
                        if let Ok(hooks) = self.on_stale.lock() {
                            hooks.iter().for_each(|forget| forget());
                        }
                    }
                    return Ok(());
                }
                // Another run got there first: look again.
                Err(e) if matches!(e.code(), Some(409)) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Releases the lease if this run took it: the holder is emptied (the
    /// next run takes it at once), guarded so another holder is left alone.
    pub async fn release(&self, cluster: &dyn Cluster) {
        if let Ok(mut slot) = self.renewer.lock()
            && let Some(renewer) = slot.take()
        {
            renewer.abort();
        }
        if !self.is_taken() {
            return;
        }
        let key = self.settings.key();
        let Ok(Some(lease)) = cluster.get(&key).await else {
            return; // gone with its namespace (a teardown)
        };
        if lease["spec"]["holderIdentity"].as_str() != Some(self.settings.holder.as_str()) {
            return;
        }
        let patch = json!({
            "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
            // renewTime says when this run last wrote, for the next run's
            // "was another run active since I read?" (`active_since`).
            "spec": {"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": micro_now()},
        });
        if let Err(error) = cluster.merge_patch(&key, &patch).await {
            tracing::debug!(phase = "lock", "releasing {key}: {error}");
        }
    }
}

/// Renews the lease until aborted; stops quietly once it is gone (its
/// namespace removed by a teardown).
async fn renew(lock: Arc<Lock>, cluster: Arc<dyn Cluster>) {
    let key = lock.settings.key();
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let patch = json!({"spec": {"renewTime": micro_now()}});
        match cluster.merge_patch(&key, &patch).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return,
            Err(error) => tracing::warn!(phase = "lock", "renewing {key}: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::guard::{Guarded, WritePolicy};
    use crate::script::testing::fake::FakeCluster;

    fn settings(holder: &str) -> LockSettings {
        LockSettings {
            namespace: "argocd".into(),
            name: "executor-prod".into(),
            holder: holder.into(),
            wait: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn the_first_write_takes_the_lease_and_a_second_run_is_refused_naming_the_holder() {
        let fake: Arc<dyn Cluster> = Arc::new(FakeCluster::default());
        let first = Lock::new(settings("ci-1/10/aaa"), Default::default());
        let a = Guarded::new(fake.clone(), WritePolicy::Locked(first.clone()));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "argocd"}});
        assert!(a.get(&ObjectKey::of(&cm).unwrap()).await.unwrap().is_none());
        assert!(!first.is_taken(), "a read takes no lease");
        a.apply(&cm).await.unwrap();
        assert!(first.is_taken());
        let key = settings("").key();
        let lease = fake.get(&key).await.unwrap().unwrap();
        assert_eq!(lease["spec"]["holderIdentity"], "ci-1/10/aaa");

        let b = Guarded::new(
            fake.clone(),
            WritePolicy::Locked(Lock::new(settings("ci-2/20/bbb"), Default::default())),
        );
        let refused = b.apply(&cm).await.unwrap_err();
        assert!(refused.to_string().contains("ci-1/10/aaa"), "{refused}");

        // Released: the next run takes it at once.
        first.release(fake.as_ref()).await;
        b.apply(&cm).await.unwrap();
        let lease = fake.get(&key).await.unwrap().unwrap();
        assert_eq!(lease["spec"]["holderIdentity"], "ci-2/20/bbb");
        assert_eq!(lease["spec"]["leaseTransitions"], 1);
    }

    /// A run that takes the lease from one active since it started reading
    /// forgets what it read; from one long gone, it keeps it.
    #[tokio::test]
    async fn taking_over_from_a_run_active_since_ours_began_makes_us_read_again() {
        let fake: Arc<dyn Cluster> = Arc::new(FakeCluster::default());
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "argocd"}});
        let ours = Lock::new(settings("ci-2/20/bbb"), Default::default());
        let forgotten = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = forgotten.clone();
        ours.on_stale(Box::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        // Another run takes the lease, writes and releases it after ours began.
        let theirs = Lock::new(settings("ci-1/10/aaa"), Default::default());
        Guarded::new(fake.clone(), WritePolicy::Locked(theirs.clone()))
            .apply(&cm)
            .await
            .unwrap();
        theirs.release(fake.as_ref()).await;
        Guarded::new(fake.clone(), WritePolicy::Locked(ours))
            .apply(&cm)
            .await
            .unwrap();
        assert_eq!(forgotten.load(std::sync::atomic::Ordering::SeqCst), 1);

        // A lease last renewed before a run began changes nothing it read.
        let old = json!({"spec": {"holderIdentity": "", "renewTime": "2020-01-01T00:00:00.000000Z"}});
        assert!(!active_since(&old, "me", jiff::Timestamp::now()));
        assert!(!active_since(
            &json!({"spec": {"holderIdentity": "me", "renewTime": micro_now()}}),
            "me",
            jiff::Timestamp::UNIX_EPOCH
        ));
    }

    #[test]
    fn a_lease_not_renewed_for_its_duration_is_free() {
        let old = json!({"spec": {"holderIdentity": "gone", "leaseDurationSeconds": 15,
                                  "renewTime": "2020-01-01T00:00:00.000000Z"}});
        assert_eq!(held_by_other(&old, "me"), None);
        let fresh = json!({"spec": {"holderIdentity": "other", "leaseDurationSeconds": 15, "renewTime": micro_now()}});
        assert_eq!(held_by_other(&fresh, "me"), Some("other"));
        assert_eq!(held_by_other(&fresh, "other"), None, "our own lease is ours");
    }
}
