//! A container's environment as the kubelet builds it
//! (`pkg/kubelet/kubelet_pods.go` `makeEnvironmentVariables`): `envFrom`
//! sources first, then `env` (later names win), with `valueFrom`
//! ConfigMap/Secret keys and `fieldRef`s, `$(VAR)` expansion of values
//! (`third_party/forked/golang/expansion`), and the service variables of the
//! `kubernetes` Service pointing at this simulator.

use crate::api::object;
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use base64::Engine;
use serde_json::Value;

/// The `PATH` programs start with (a typical image's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Expands `$(NAME)` from `vars` (`$$` escapes a `$`; unknown names stay).
pub fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('(')
            && let Some(end) = body.find(')')
        {
            let name = &body[..end];
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn lookup(cluster: &Cluster, resource: &str, ns: &str, name: &str) -> Option<std::sync::Arc<Value>> {
    cluster.store.get(&GroupResource::new("", resource), ns, name)
}

fn secret_value(v: &Value) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// One key of a ConfigMap (`data`, then `binaryData`) or Secret.
fn key_ref(cluster: &Cluster, ns: &str, r: &Value, secret: bool) -> Result<Option<String>, String> {
    let name = r["name"].as_str().unwrap_or("");
    let key = r["key"].as_str().unwrap_or("");
    let optional = r["optional"].as_bool().unwrap_or(false);
    let (resource, kind, lower) = if secret {
        ("secrets", "Secret", "secret")
    } else {
        ("configmaps", "ConfigMap", "configmap")
    };
    let Some(obj) = lookup(cluster, resource, ns, name) else {
        return if optional {
            Ok(None)
        } else {
            Err(format!("{lower} \"{name}\" not found"))
        };
    };
    let value = if secret {
        secret_value(&obj["data"][key])
    } else {
        obj["data"][key]
            .as_str()
            .map(String::from)
            .or_else(|| secret_value(&obj["binaryData"][key]))
    };
    match value {
        Some(v) => Ok(Some(v)),
        None if optional => Ok(None),
        None => Err(format!("couldn't find key {key} in {kind} {ns}/{name}")),
    }
}

/// A `fieldRef.fieldPath` of the downward API.
pub fn field_ref(pod: &Value, path: &str) -> Option<String> {
    let quoted = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(String::from)
    };
    if let Some(k) = quoted("metadata.labels['") {
        return object::label(pod, &k).map(String::from);
    }
    if let Some(k) = quoted("metadata.annotations['") {
        return object::annotation(pod, &k).map(String::from);
    }
    let v = match path {
        "metadata.name" => &pod["metadata"]["name"],
        "metadata.namespace" => &pod["metadata"]["namespace"],
        "metadata.uid" => &pod["metadata"]["uid"],
        "spec.nodeName" => &pod["spec"]["nodeName"],
        "spec.serviceAccountName" => &pod["spec"]["serviceAccountName"],
        "status.podIP" => &pod["status"]["podIP"],
        "status.hostIP" => &pod["status"]["hostIP"],
        _ => return None,
    };
    v.as_str().map(String::from)
}

fn env_from(cluster: &Cluster, pod: &Value, container: &Value, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let ns = object::namespace(pod);
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = source["prefix"].as_str().unwrap_or("");
        let (r, resource, lower, secret) = if source["configMapRef"].is_object() {
            (&source["configMapRef"], "configmaps", "configmap", false)
        } else {
            (&source["secretRef"], "secrets", "secret", true)
        };
        let name = r["name"].as_str().unwrap_or("");
        let Some(obj) = lookup(cluster, resource, ns, name) else {
            if r["optional"].as_bool().unwrap_or(false) {
                continue;
            }
            return Err(format!("{lower} \"{name}\" not found"));
        };
        for (k, v) in obj["data"].as_object().into_iter().flatten() {
            let value = if secret {
                secret_value(v)
            } else {
                v.as_str().map(String::from)
            };
            out.push((format!("{prefix}{k}"), value.unwrap_or_default()));
        }
    }
    Ok(())
}

/// The environment of `container` in `pod`, or the reason the kubelet would
/// give for `CreateContainerConfigError`.
pub fn resolve(cluster: &Cluster, pod: &Value, container: &Value) -> Result<Vec<(String, String)>, String> {
    let ns = object::namespace(pod);
    let mut out = vec![
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOSTNAME".to_string(), object::name(pod).to_string()),
        ("HOME".to_string(), "/root".to_string()),
    ];
    if let Some(server) = cluster.runtime.server() {
        let port = server.port.to_string();
        for (k, v) in [
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1".to_string()),
            ("KUBERNETES_SERVICE_PORT", port.clone()),
            ("KUBERNETES_SERVICE_PORT_HTTPS", port.clone()),
            ("KUBERNETES_PORT", format!("tcp://127.0.0.1:{port}")),
            ("KUBERNETES_PORT_443_TCP", format!("tcp://127.0.0.1:{port}")),
            ("KUBERNETES_PORT_443_TCP_PROTO", "tcp".to_string()),
            ("KUBERNETES_PORT_443_TCP_PORT", port.clone()),
            ("KUBERNETES_PORT_443_TCP_ADDR", "127.0.0.1".to_string()),
        ] {
            out.push((k.to_string(), v));
        }
    }
    env_from(cluster, pod, container, &mut out)?;
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap_or("").to_string();
        let from = &var["valueFrom"];
        let value = if let Some(v) = var["value"].as_str() {
            Some(expand(v, &out))
        } else if from["configMapKeyRef"].is_object() {
            key_ref(cluster, ns, &from["configMapKeyRef"], false)?
        } else if from["secretKeyRef"].is_object() {
            key_ref(cluster, ns, &from["secretKeyRef"], true)?
        } else if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
            field_ref(pod, path)
        } else {
            Some(String::new())
        };
        if let Some(value) = value {
            out.push((name, value));
        }
    }
    // Later definitions win, as in a real container.
    let mut seen = std::collections::HashSet::new();
    let mut deduped: Vec<(String, String)> = out.into_iter().rev().filter(|(k, _)| seen.insert(k.clone())).collect();
    deduped.reverse();
    Ok(deduped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_the_kubelet() {
        let vars = vec![("A".to_string(), "x".to_string()), ("B".to_string(), "y".to_string())];
        assert_eq!(expand("$(A)-$(B)", &vars), "x-y");
        assert_eq!(expand("$$(A)", &vars), "$(A)");
        assert_eq!(expand("$(C)", &vars), "$(C)");
        assert_eq!(expand("cost $5", &vars), "cost $5");
        assert_eq!(expand("$(A", &vars), "$(A");
    }

    #[test]
    fn field_paths() {
        let pod = serde_json::json!({"metadata": {"name": "p", "namespace": "n", "labels": {"app": "a"}}, "spec": {"nodeName": "sim-node-1"}});
        assert_eq!(field_ref(&pod, "metadata.name").as_deref(), Some("p"));
        assert_eq!(field_ref(&pod, "metadata.namespace").as_deref(), Some("n"));
        assert_eq!(field_ref(&pod, "metadata.labels['app']").as_deref(), Some("a"));
        assert_eq!(field_ref(&pod, "spec.nodeName").as_deref(), Some("sim-node-1"));
    }
}
