//! A pod's volumes written out to a directory of the simulator, once, when
//! the pod starts (later ConfigMap or Secret changes are not propagated):
//! ConfigMap and Secret keys (or their `items`) as files, projected
//! `serviceAccountToken`/`configMap`/`secret`/`downwardAPI` sources,
//! downwardAPI volumes, emptyDirs, hostPaths (the host directory itself) and
//! persistentVolumeClaims (one directory per claim, shared by its pods).
//!
//! Unless `automountServiceAccountToken` is false (on the pod or its
//! ServiceAccount) or a container already mounts something there, every
//! container also gets the `kube-api-access` volume the ServiceAccount
//! admission plugin (`plugin/pkg/admission/serviceaccount/admission.go`)
//! would project: `token`, `ca.crt`, `namespace`.

use super::{SA_MOUNT_PATH, env};
use crate::api::object;
use crate::cluster::Cluster;
use crate::rbac::BoundToken;
use crate::resources::GroupResource;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the implicit API-access volume.
pub const API_ACCESS_VOLUME: &str = "kube-api-access-sim";

/// Host directories of a pod's volumes, by volume name.
pub type Volumes = BTreeMap<String, PathBuf>;

fn write(dir: &Path, rel: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The key → bytes of a ConfigMap or Secret, or the mount error.
fn keys(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    secret: bool,
    optional: bool,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let (resource, lower) = if secret {
        ("secrets", "secret")
    } else {
        ("configmaps", "configmap")
    };
    let Some(obj) = cluster.store.get(&GroupResource::new("", resource), ns, name) else {
        return if optional {
            Ok(vec![])
        } else {
            Err(format!("{lower} \"{name}\" not found"))
        };
    };
    let b64 = |v: &Value| {
        v.as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .unwrap_or_default()
    };
    let mut out = vec![];
    for (k, v) in obj["data"].as_object().into_iter().flatten() {
        out.push((
            k.clone(),
            if secret {
                b64(v)
            } else {
                v.as_str().unwrap_or("").as_bytes().to_vec()
            },
        ));
    }
    for (k, v) in obj["binaryData"].as_object().into_iter().flatten() {
        out.push((k.clone(), b64(v)));
    }
    Ok(out)
}

/// Writes keys, honouring `items` (key → path); a missing listed key fails.
fn write_keys(dir: &Path, keys: &[(String, Vec<u8>)], items: &Value, what: &str) -> Result<(), String> {
    match items.as_array() {
        Some(items) if !items.is_empty() => {
            for item in items {
                let key = item["key"].as_str().unwrap_or("");
                let path = item["path"].as_str().unwrap_or(key);
                let (_, bytes) = keys
                    .iter()
                    .find(|(k, _)| k == key)
                    .ok_or_else(|| format!("configmap references non-existent config key: {key} ({what})"))?;
                write(dir, path, bytes)?;
            }
            Ok(())
        }
        _ => keys.iter().try_for_each(|(k, bytes)| write(dir, k, bytes)),
    }
}

fn downward(pod: &Value, dir: &Path, items: &Value) -> Result<(), String> {
    for item in items.as_array().into_iter().flatten() {
        let path = item["path"].as_str().unwrap_or("");
        let value = item["fieldRef"]["fieldPath"]
            .as_str()
            .and_then(|p| env::field_ref(pod, p))
            .unwrap_or_default();
        write(dir, path, value.as_bytes())?;
    }
    Ok(())
}

fn service_account(pod: &Value) -> String {
    pod["spec"]["serviceAccountName"]
        .as_str()
        .or_else(|| pod["spec"]["serviceAccount"].as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// A token for the pod's ServiceAccount, bound to the pod.
fn token(cluster: &Cluster, pod: &Value) -> String {
    cluster.runtime.tokens.issue(BoundToken {
        namespace: object::namespace(pod).to_string(),
        service_account: service_account(pod),
        pod: object::name(pod).to_string(),
        pod_uid: object::uid(pod).to_string(),
    })
}

fn projected(cluster: &Cluster, pod: &Value, dir: &Path, sources: &Value) -> Result<(), String> {
    let ns = object::namespace(pod);
    for source in sources.as_array().into_iter().flatten() {
        if let Some(sat) = source.get("serviceAccountToken") {
            write(
                dir,
                sat["path"].as_str().unwrap_or("token"),
                token(cluster, pod).as_bytes(),
            )?;
        }
        for (field, secret) in [("configMap", false), ("secret", true)] {
            if let Some(r) = source.get(field) {
                let name = r["name"].as_str().unwrap_or("");
                let optional = r["optional"].as_bool().unwrap_or(false);
                write_keys(dir, &keys(cluster, ns, name, secret, optional)?, &r["items"], name)?;
            }
        }
        if let Some(d) = source.get("downwardAPI") {
            downward(pod, dir, &d["items"])?;
        }
    }
    Ok(())
}

fn materialize(cluster: &Cluster, pod: &Value, v: &Value, dir: &Path) -> Result<PathBuf, String> {
    let ns = object::namespace(pod);
    if let Some(path) = v["hostPath"]["path"].as_str() {
        return Ok(PathBuf::from(path));
    }
    if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
        let shared = dir.join("../../claims").join(ns).join(claim);
        std::fs::create_dir_all(&shared).map_err(|e| format!("cannot create {}: {e}", shared.display()))?;
        return Ok(shared);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if let Some(cm) = v.get("configMap") {
        let name = cm["name"].as_str().unwrap_or("");
        let keys = keys(cluster, ns, name, false, cm["optional"].as_bool().unwrap_or(false))?;
        write_keys(dir, &keys, &cm["items"], name)?;
    } else if let Some(s) = v.get("secret") {
        let name = s["secretName"].as_str().unwrap_or("");
        let keys = keys(cluster, ns, name, true, s["optional"].as_bool().unwrap_or(false))?;
        write_keys(dir, &keys, &s["items"], name)?;
    } else if let Some(p) = v.get("projected") {
        projected(cluster, pod, dir, &p["sources"])?;
    } else if let Some(d) = v.get("downwardAPI") {
        downward(pod, dir, &d["items"])?;
    }
    // emptyDir and anything else: an empty directory.
    Ok(dir.to_path_buf())
}

/// Whether the admission plugin would add the API-access volume.
pub fn wants_api_access(cluster: &Cluster, pod: &Value) -> bool {
    if pod["spec"]["automountServiceAccountToken"] == json!(false) {
        return false;
    }
    let sa = cluster.store.get(
        &GroupResource::new("", "serviceaccounts"),
        object::namespace(pod),
        &service_account(pod),
    );
    if sa.is_some_and(|sa| sa["automountServiceAccountToken"] == json!(false)) {
        return false;
    }
    let mounted = ["initContainers", "containers"].iter().any(|k| {
        pod["spec"][*k].as_array().into_iter().flatten().any(|c| {
            c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some(SA_MOUNT_PATH))
        })
    });
    !mounted
}

/// Writes every volume of the pod under `root`; the mount error the kubelet
/// would report (`FailedMount`) otherwise.
pub fn prepare(cluster: &Cluster, pod: &Value, root: &Path) -> Result<Volumes, String> {
    let mut out = Volumes::new();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or("");
        let path = materialize(cluster, pod, v, &root.join("volumes").join(name))
            .map_err(|e| format!("MountVolume.SetUp failed for volume \"{name}\" : {e}"))?;
        out.insert(name.to_string(), path);
    }
    if wants_api_access(cluster, pod) {
        let dir = root.join("volumes").join(API_ACCESS_VOLUME);
        let ca = cluster.runtime.server().map(|s| s.ca_pem.clone()).unwrap_or_default();
        write(&dir, "token", token(cluster, pod).as_bytes())?;
        write(&dir, "ca.crt", ca.as_bytes())?;
        write(&dir, "namespace", object::namespace(pod).as_bytes())?;
        out.insert(API_ACCESS_VOLUME.to_string(), dir);
    }
    Ok(out)
}

/// One bind mount: host source, container path, read-only.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Host path (a directory, or a file for `subPath` mounts of files).
    pub source: PathBuf,
    /// The container's `mountPath`.
    pub target: String,
    /// `readOnly`.
    pub read_only: bool,
}

/// The mounts of one container, parents before children.
pub fn mounts(container: &Value, volumes: &Volumes) -> Result<Vec<Mount>, String> {
    let mut out = vec![];
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap_or("");
        let source = volumes
            .get(name)
            .ok_or_else(|| format!("volumeMount \"{name}\" refers to a volume the pod does not have"))?;
        let source = match m["subPath"].as_str().filter(|s| !s.is_empty()) {
            Some(sub) => source.join(sub),
            None => source.clone(),
        };
        out.push(Mount {
            source,
            target: m["mountPath"].as_str().unwrap_or("").to_string(),
            read_only: m["readOnly"].as_bool().unwrap_or(false),
        });
    }
    if let Some(dir) = volumes.get(API_ACCESS_VOLUME) {
        out.push(Mount {
            source: dir.clone(),
            target: SA_MOUNT_PATH.to_string(),
            read_only: true,
        });
    }
    out.sort_by_key(|m| m.target.matches('/').count());
    Ok(out)
}
