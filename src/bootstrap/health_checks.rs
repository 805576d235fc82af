//! The health checks the design requires of Argo CD, merged into `argocd-cm`.
//!
//! Argo CD judges a custom resource's health with a Lua script stored in the
//! `argocd-cm` ConfigMap under `resource.customizations.health.<group>_<Kind>`.
//! The design needs four (see docs/bootstrap.md): `Application` (report the
//! child's own health, which Argo CD stopped rolling up in 1.8), Rook's
//! `CephCluster`, Zalando's `postgresql` and Bank-Vaults' `Vault`. The
//! scripts live beside the lock as `bundle/health/<group>_<Kind>.lua` and are
//! embedded here; they are added to the upstream ConfigMap's `data`, keeping
//! every upstream key (a key of ours replaces an upstream one of the same name).

use std::path::Path;

use serde_json::{Map, Value};

use super::object;
use crate::config::{Problem, Source};

/// The ConfigMap holding Argo CD's settings.
pub const ARGOCD_CM: &str = "argocd-cm";

/// Prefix of a health customisation key in `argocd-cm`.
pub const HEALTH_KEY_PREFIX: &str = "resource.customizations.health.";

/// The health checks: `<group>_<Kind>` and its Lua script.
pub const HEALTH_CHECKS: [(&str, &str); 4] = [
    (
        "argoproj.io_Application",
        include_str!("../../bundle/health/argoproj.io_Application.lua"),
    ),
    (
        "ceph.rook.io_CephCluster",
        include_str!("../../bundle/health/ceph.rook.io_CephCluster.lua"),
    ),
    (
        "acid.zalan.do_postgresql",
        include_str!("../../bundle/health/acid.zalan.do_postgresql.lua"),
    ),
    (
        "vault.banzaicloud.com_Vault",
        include_str!("../../bundle/health/vault.banzaicloud.com_Vault.lua"),
    ),
];

/// Adds the health checks to the `argocd-cm` ConfigMap among `objects`
/// (the Argo CD file read from `path`).
///
/// # Errors
/// A problem if the file has no `argocd-cm` ConfigMap.
pub fn configure(path: &Path, objects: &mut [Value]) -> Result<(), Problem> {
    let Some(config) = objects
        .iter_mut()
        .find(|o| object::is(o, "", "ConfigMap") && object::name(o) == ARGOCD_CM)
    else {
        return Err(Problem::new(
            Source::file(path),
            format!("the Argo CD manifest has no `{ARGOCD_CM}` ConfigMap to add the health checks to"),
        ));
    };
    let Some(fields) = config.as_object_mut() else {
        return Err(Problem::new(
            Source::file(path),
            format!("`{ARGOCD_CM}` is not a mapping"),
        ));
    };
    let data = fields.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        for (group_kind, script) in HEALTH_CHECKS {
            data.insert(format!("{HEALTH_KEY_PREFIX}{group_kind}"), Value::from(script));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_checks_and_keeps_upstream_keys() {
        let mut objects = vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm"}, "data": {"resource.exclusions": "- x"}})];
        configure(Path::new("cd.yaml"), &mut objects).unwrap();
        let data = objects[0]["data"].as_object().unwrap();
        assert_eq!(data["resource.exclusions"], "- x");
        assert_eq!(data.len(), 1 + HEALTH_CHECKS.len());
        let application = data["resource.customizations.health.argoproj.io_Application"]
            .as_str()
            .unwrap();
        assert!(application.contains("obj.status.health"));
    }

    #[test]
    fn creates_data_when_absent_and_refuses_a_missing_configmap() {
        let mut objects = vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm"}})];
        configure(Path::new("cd.yaml"), &mut objects).unwrap();
        assert_eq!(objects[0]["data"].as_object().unwrap().len(), HEALTH_CHECKS.len());
        let problem = configure(Path::new("cd.yaml"), &mut []).unwrap_err();
        assert!(problem.message.contains("argocd-cm"));
    }

    #[test]
    fn every_script_returns_a_status() {
        for (group_kind, script) in HEALTH_CHECKS {
            assert!(script.contains("return result"), "{group_kind}");
            assert!(script.contains("status ="), "{group_kind}");
            let (group, kind) = group_kind.split_once('_').unwrap();
            assert!(group.contains('.') && !kind.is_empty(), "{group_kind}");
        }
    }
}
