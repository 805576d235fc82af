//! Argo CD's built-in health assessment, for the kinds the reference
//! platform uses: workloads, Services, Ingresses, PVCs, Jobs, Pods, child
//! Applications, and the operator kinds the design gates on (CephCluster,
//! Zalando postgresql, bank-vaults Vault). Kinds without a rule have no
//! health and do not count.

use serde_json::Value;

/// Argo CD health states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// Everything is fine.
    Healthy,
    /// Paused on purpose.
    Suspended,
    /// Not yet ready.
    Progressing,
    /// Does not exist.
    Missing,
    /// Failed.
    Degraded,
    /// Cannot tell.
    Unknown,
}

impl Health {
    /// The status string Argo CD writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Suspended => "Suspended",
            Self::Progressing => "Progressing",
            Self::Missing => "Missing",
            Self::Degraded => "Degraded",
            Self::Unknown => "Unknown",
        }
    }

    /// Parses a status string (unknown text is `Unknown`).
    pub fn parse(text: &str) -> Self {
        match text {
            "Healthy" => Self::Healthy,
            "Suspended" => Self::Suspended,
            "Progressing" => Self::Progressing,
            "Missing" => Self::Missing,
            "Degraded" => Self::Degraded,
            _ => Self::Unknown,
        }
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn progressing(message: String) -> Option<(Health, String)> {
    Some((Health::Progressing, message))
}

/// The health of one live object, or `None` for kinds without a rule.
pub fn assess(group: &str, kind: &str, o: &Value) -> Option<(Health, String)> {
    let status = &o["status"];
    let generation = int(&o["metadata"]["generation"]);
    let observed = int(&status["observedGeneration"]);
    match (group, kind) {
        ("apps", "Deployment") => {
            if o["spec"]["paused"].as_bool() == Some(true) {
                return Some((Health::Suspended, "Deployment is paused".into()));
            }
            if observed < generation {
                return progressing(
                    "Waiting for rollout to finish: observed deployment generation less than desired generation".into(),
                );
            }
            let failed = status["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
            });
            if failed {
                return Some((
                    Health::Degraded,
                    format!("Deployment {:?} exceeded its progress deadline", o["metadata"]["name"]),
                ));
            }
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = int(&status["updatedReplicas"]);
            if updated < want {
                return progressing(format!(
                    "Waiting for rollout to finish: {updated} out of {want} new replicas have been updated..."
                ));
            }
            if int(&status["replicas"]) > updated {
                return progressing(format!(
                    "Waiting for rollout to finish: {} old replicas are pending termination...",
                    int(&status["replicas"]) - updated
                ));
            }
            let available = int(&status["availableReplicas"]);
            if available < updated {
                return progressing(format!(
                    "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
                ));
            }
            Some((Health::Healthy, String::new()))
        }
        ("apps", "StatefulSet") => {
            if observed == 0 || observed < generation {
                return progressing("Waiting for statefulset spec update to be observed...".into());
            }
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int(&status["readyReplicas"]);
            if ready < want {
                return progressing(format!("Waiting for {} pods to be ready...", want - ready));
            }
            if int(&status["updatedReplicas"]) < want {
                return progressing(format!(
                    "Waiting for partitioned roll out to finish: {} out of {want} new pods have been updated...",
                    int(&status["updatedReplicas"])
                ));
            }
            if status["currentRevision"] != status["updateRevision"] {
                return progressing("waiting for statefulset rolling update to complete".into());
            }
            Some((
                Health::Healthy,
                format!(
                    "statefulset rolling update complete {want} pods at revision {}...",
                    status["currentRevision"].as_str().unwrap_or("")
                ),
            ))
        }
        ("apps", "DaemonSet") => {
            if observed == 0 || observed < generation {
                return progressing(
                    "Waiting for rollout to finish: observed daemon set generation less than desired generation".into(),
                );
            }
            let desired = int(&status["desiredNumberScheduled"]);
            if int(&status["updatedNumberScheduled"]) < desired {
                return progressing(format!(
                    "Waiting for daemon set {:?} rollout to finish",
                    o["metadata"]["name"]
                ));
            }
            if int(&status["numberAvailable"]) < desired {
                return progressing(format!(
                    "Waiting for daemon set {:?} rollout to finish: {} of {desired} updated pods are available...",
                    o["metadata"]["name"],
                    int(&status["numberAvailable"])
                ));
            }
            Some((Health::Healthy, String::new()))
        }
        ("apps", "ReplicaSet") => {
            if observed < generation {
                return progressing(
                    "Waiting for rollout to finish: observed replica set generation less than desired generation"
                        .into(),
                );
            }
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            if int(&status["availableReplicas"]) < want {
                return progressing(format!(
                    "Waiting for rollout to finish: {} out of {want} new replicas are available...",
                    int(&status["availableReplicas"])
                ));
            }
            Some((Health::Healthy, String::new()))
        }
        ("", "Service") => {
            if o["spec"]["type"] == "LoadBalancer"
                && status["loadBalancer"]["ingress"].as_array().is_none_or(Vec::is_empty)
            {
                return progressing(String::new());
            }
            Some((Health::Healthy, String::new()))
        }
        ("networking.k8s.io", "Ingress") => {
            if status["loadBalancer"]["ingress"].as_array().is_none_or(Vec::is_empty) {
                return progressing(String::new());
            }
            Some((Health::Healthy, String::new()))
        }
        ("", "PersistentVolumeClaim") => match status["phase"].as_str() {
            Some("Bound") => Some((Health::Healthy, String::new())),
            Some("Lost") => Some((Health::Degraded, "claim lost its volume".into())),
            _ => progressing("Waiting for the claim to be bound".into()),
        },
        ("batch", "Job") => {
            let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c["type"] == "Failed" && c["status"] == "True")
            {
                return Some((Health::Degraded, "Job failed".into()));
            }
            if conditions
                .iter()
                .any(|c| c["type"] == "Complete" && c["status"] == "True")
            {
                return Some((Health::Healthy, "Job completed".into()));
            }
            progressing("Job is running".into())
        }
        ("", "Pod") => match status["phase"].as_str() {
            Some("Succeeded") => Some((Health::Healthy, String::new())),
            Some("Failed") => Some((Health::Degraded, String::new())),
            Some("Running") => {
                let ready = status["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
                Some(if ready {
                    (Health::Healthy, String::new())
                } else {
                    (Health::Progressing, String::new())
                })
            }
            _ => progressing("Pod is pending".into()),
        },
        ("argoproj.io", "Application") => {
            let h = status["health"]["status"]
                .as_str()
                .map(Health::parse)
                .unwrap_or(Health::Unknown);
            Some((h, status["health"]["message"].as_str().unwrap_or("").to_string()))
        }
        ("ceph.rook.io", "CephCluster") => {
            let phase = status["phase"].as_str().unwrap_or("");
            let health = status["ceph"]["health"].as_str().unwrap_or("");
            Some(match (phase, health) {
                (_, "HEALTH_ERR") => (Health::Degraded, "Ceph health is HEALTH_ERR".into()),
                ("Ready" | "Connected", "HEALTH_OK") => (Health::Healthy, "Ceph cluster is ready and HEALTH_OK".into()),
                ("Ready" | "Connected", "HEALTH_WARN") => (Health::Degraded, "Ceph health is HEALTH_WARN".into()),
                ("Failure", _) => (
                    Health::Degraded,
                    status["message"].as_str().unwrap_or("Ceph cluster failed").into(),
                ),
                _ => (
                    Health::Progressing,
                    format!("Ceph cluster phase {phase:?}, health {health:?}"),
                ),
            })
        }
        ("acid.zalan.do", "postgresql") => {
            let state = status["PostgresClusterStatus"].as_str().unwrap_or("");
            let want = o["spec"]["numberOfInstances"].as_i64().unwrap_or(1);
            let ready = status["readyInstances"].as_i64().unwrap_or(0);
            Some(match state {
                "Running" if ready >= want => (Health::Healthy, format!("Running with {ready}/{want} instances ready")),
                "Running" => (Health::Progressing, format!("{ready}/{want} instances ready")),
                s if s.ends_with("Failed") => (Health::Degraded, format!("PostgresClusterStatus is {s}")),
                s => (Health::Progressing, format!("PostgresClusterStatus is {s:?}")),
            })
        }
        ("vault.banzaicloud.com", "Vault") => {
            let initialized = status["initialized"].as_bool() == Some(true);
            let sealed = status["sealed"].as_bool() != Some(false);
            let leader = status["leader"].as_str().is_some_and(|l| !l.is_empty());
            Some(match (initialized, sealed, leader) {
                (true, false, true) => (
                    Health::Healthy,
                    "Vault is initialized, unsealed and has an active node".into(),
                ),
                (true, true, _) => (Health::Degraded, "Vault is sealed".into()),
                _ => (Health::Progressing, "Vault is initializing".into()),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployments_and_operator_kinds() {
        let d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(assess("apps", "Deployment", &d).unwrap().0, Health::Healthy);
        let d = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2}, "status": {"observedGeneration": 2}});
        assert_eq!(assess("apps", "Deployment", &d).unwrap().0, Health::Progressing);
        let c = json!({"status": {"phase": "Ready", "ceph": {"health": "HEALTH_ERR"}}});
        assert_eq!(assess("ceph.rook.io", "CephCluster", &c).unwrap().0, Health::Degraded);
        let p = json!({"spec": {"numberOfInstances": 2}, "status": {"PostgresClusterStatus": "Running", "readyInstances": 2}});
        assert_eq!(assess("acid.zalan.do", "postgresql", &p).unwrap().0, Health::Healthy);
        assert!(assess("", "ConfigMap", &json!({})).is_none());
    }
}
