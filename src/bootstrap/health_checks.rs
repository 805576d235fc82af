//! The health configuration the design requires of Argo CD: checks merged
//! into `argocd-cm`, and resource health recorded in the Application.
//!
//! Argo CD judges a resource's health with, in order, a Lua script from the
//! `argocd-cm` ConfigMap (`resource.customizations.health.<group>_<Kind>`),
//! a Lua script it ships, or a built-in Go check (argo-cd
//! `util/lua/lua.go`, `gitops-engine/pkg/health/health.go`). The bootstrap
//! installs a script only for kinds Argo CD v3.5.1 has no check for
//! (docs/health.md): `Application` (report the child's own health, which
//! Argo CD stopped rolling up in 1.8) and Bank-Vaults' `Vault`. Argo CD's
//! own checks for `CephCluster` and `postgresql` are left to decide: they
//! pass Argo CD's tests, and the executor's bundled Rhai checks follow them.
//! The scripts live beside the lock as `bundle/health/<group>_<Kind>.lua`,
//! run in Argo CD's sandbox (no `string`, `io` or `os` beyond `os.time` and
//! `os.date`), and are held with their Rhai twins to one table of cases
//! (`bundle/health/cases.json`).
//!
//! Argo CD stores each resource's health in its Application's
//! `status.resources[].health` only when `controller.resource.health.persist`
//! is `"true"` in `argocd-cmd-params-cm` (the application controller's
//! `--persist-resource-health`, off by default): the executor reads Argo
//! CD's verdict there, so the bootstrap turns it on.

use std::path::Path;

use serde_json::{Map, Value};

use super::object;
use crate::config::{Problem, Source};

/// The ConfigMap holding Argo CD's settings.
pub const ARGOCD_CM: &str = "argocd-cm";

/// The ConfigMap holding the Argo CD components' command-line parameters.
pub const ARGOCD_CMD_PARAMS_CM: &str = "argocd-cmd-params-cm";

/// The parameter that makes Argo CD record resource health in Applications.
pub const PERSIST_RESOURCE_HEALTH: &str = "controller.resource.health.persist";

/// Prefix of a health customisation key in `argocd-cm`.
pub const HEALTH_KEY_PREFIX: &str = "resource.customizations.health.";

/// The health checks: `<group>_<Kind>` and its Lua script.
pub const HEALTH_CHECKS: [(&str, &str); 2] = [
    (
        "argoproj.io_Application",
        include_str!("../../bundle/health/argoproj.io_Application.lua"),
    ),
    (
        "vault.banzaicloud.com_Vault",
        include_str!("../../bundle/health/vault.banzaicloud.com_Vault.lua"),
    ),
];

/// Adds the health checks to the `argocd-cm` ConfigMap and turns on
/// resource health persistence in `argocd-cmd-params-cm`, among `objects`
/// (the Argo CD file read from `path`).
///
/// # Errors
/// A problem if the file lacks either ConfigMap.
pub fn configure(path: &Path, objects: &mut [Value]) -> Result<(), Problem> {
    let checks = HEALTH_CHECKS.map(|(group_kind, script)| (format!("{HEALTH_KEY_PREFIX}{group_kind}"), script));
    merge_data(path, objects, ARGOCD_CM, &checks)?;
    merge_data(
        path,
        objects,
        ARGOCD_CMD_PARAMS_CM,
        &[(PERSIST_RESOURCE_HEALTH.to_owned(), "true")],
    )
}

/// Sets `entries` in the `data` of ConfigMap `name`, keeping its other keys
/// (a key of ours replaces an upstream one of the same name). Also used for
/// the API token's account ([`super::account`]).
pub(super) fn merge_data(
    path: &Path,
    objects: &mut [Value],
    name: &str,
    entries: &[(String, &str)],
) -> Result<(), Problem> {
    let Some(config) = objects
        .iter_mut()
        .find(|o| object::is(o, "", "ConfigMap") && object::name(o) == name)
    else {
        return Err(Problem::new(
            Source::file(path),
            format!("the Argo CD manifest has no `{name}` ConfigMap to add the executor's configuration to"),
        ));
    };
    let Some(fields) = config.as_object_mut() else {
        return Err(Problem::new(Source::file(path), format!("`{name}` is not a mapping")));
    };
    let data = fields.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Some(data) = data.as_object_mut() {
        for (key, value) in entries {
            data.insert(key.clone(), Value::from(*value));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config_map(name: &str, data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
    }

    #[test]
    fn adds_checks_and_persistence_and_keeps_upstream_keys() {
        let mut objects = vec![
            config_map(ARGOCD_CM, json!({"resource.exclusions": "- x"})),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ARGOCD_CMD_PARAMS_CM}}),
        ];
        configure(Path::new("cd.yaml"), &mut objects).unwrap();
        let data = objects[0]["data"].as_object().unwrap();
        assert_eq!(data["resource.exclusions"], "- x");
        assert_eq!(data.len(), 1 + HEALTH_CHECKS.len());
        assert!(data.contains_key("resource.customizations.health.argoproj.io_Application"));
        assert!(data.contains_key("resource.customizations.health.vault.banzaicloud.com_Vault"));
        assert_eq!(objects[1]["data"], json!({PERSIST_RESOURCE_HEALTH: "true"}));
    }

    #[test]
    fn argo_cds_own_checks_are_not_replaced() {
        // Argo CD v3.5.1 ships checks for these (resource_customizations/
        // ceph.rook.io/CephCluster, acid.zalan.do/postgresql): an override
        // would have to pass Argo CD's tests for them.
        for (group_kind, _) in HEALTH_CHECKS {
            assert!(!["ceph.rook.io_CephCluster", "acid.zalan.do_postgresql"].contains(&group_kind));
        }
    }

    #[test]
    fn refuses_a_missing_configmap() {
        let problem = configure(Path::new("cd.yaml"), &mut []).unwrap_err();
        assert!(problem.message.contains("argocd-cm"));
        let mut only_cm = vec![config_map(ARGOCD_CM, json!({}))];
        let problem = configure(Path::new("cd.yaml"), &mut only_cm).unwrap_err();
        assert!(problem.message.contains(ARGOCD_CMD_PARAMS_CM));
    }

    #[test]
    fn scripts_use_nothing_argo_cds_sandbox_lacks() {
        // Argo CD opens base, table, package and a safe os (time, date)
        // only (util/lua/lua.go); the string, io and debug libraries and the
        // string methods are not there. kube-sim runs these scripts in the
        // same sandbox (tests/sim), this only catches the obvious.
        for (group_kind, script) in HEALTH_CHECKS {
            let code: String = script.lines().filter(|l| !l.trim_start().starts_with("--")).collect();
            for forbidden in [
                "string.",
                "io.",
                "debug.",
                "os.execute",
                "os.getenv",
                ":find(",
                ":match(",
                ":sub(",
            ] {
                assert!(!code.contains(forbidden), "{group_kind} uses {forbidden}");
            }
        }
    }
}
