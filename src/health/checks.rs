//! The Rhai health checks bundled in the image (`stdlib/health/`), and how a
//! check's file is named.
//!
//! The naming follows Argo CD's resource customisation keys: `<group>_<Kind>`
//! with the API group as written in `apiVersion` and the kind exactly as
//! served (case matters: Zalando's kind is `postgresql`). Core kinds have an
//! empty group, so a check for Services is `_Service.rhai`.
//!
//! The contract every check keeps (other code relies on it): the file
//! defines `fn health(obj)`, where `obj` is the whole object as a Rhai object
//! map (converted from JSON with `rhai::serde::to_dynamic`), and returns
//! `#{status: "<HealthStatus>", message: "<text>"}`, which converts to a
//! [`Health`](super::Health) with `rhai::serde::from_dynamic`. Checks run with
//! strict variables, without `eval` and without imports.

use super::fields::group_of;

/// One health check bundled in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundledCheck {
    /// The file name, `<group>_<Kind>.rhai`.
    pub file_name: &'static str,
    /// The Rhai source.
    pub source: &'static str,
}

/// Where the bundled checks live in the bundle tree.
const FOLDER: &str = "stdlib/health/";

/// Every bundled health check, sorted by file name: the `stdlib/health/`
/// files `build.rs` embeds with every other bundled script.
pub fn bundled_checks() -> impl Iterator<Item = BundledCheck> {
    crate::embedded::bundled_names().filter_map(|name| {
        let file_name = name.strip_prefix(FOLDER).filter(|f| !f.contains('/'))?;
        let source = crate::embedded::bundled(name)?;
        Some(BundledCheck { file_name, source })
    })
}

/// The file name of the health check for an `apiVersion` and `kind`:
/// `("ceph.rook.io/v1", "CephCluster")` → `ceph.rook.io_CephCluster.rhai`,
/// `("v1", "Service")` → `_Service.rhai`.
pub fn check_file_name(api_version: &str, kind: &str) -> String {
    format!("{}_{kind}.rhai", group_of(api_version))
}

/// The bundled health check for an `apiVersion` and `kind`, if there is one.
pub fn bundled_check(api_version: &str, kind: &str) -> Option<BundledCheck> {
    let name = check_file_name(api_version, kind);
    bundled_checks().find(|check| check.file_name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_argo_cd_customisation_keys() {
        assert_eq!(
            check_file_name("ceph.rook.io/v1", "CephCluster"),
            "ceph.rook.io_CephCluster.rhai"
        );
        assert_eq!(
            check_file_name("acid.zalan.do/v1", "postgresql"),
            "acid.zalan.do_postgresql.rhai"
        );
        assert_eq!(check_file_name("v1", "Service"), "_Service.rhai");
    }

    #[test]
    fn finds_bundled_checks_by_api_version_and_kind() {
        assert!(bundled_check("ceph.rook.io/v1", "CephCluster").is_some());
        assert!(bundled_check("acid.zalan.do/v1", "postgresql").is_some());
        assert!(bundled_check("vault.banzaicloud.com/v1alpha1", "Vault").is_some());
        assert!(bundled_check("argoproj.io/v1alpha1", "Application").is_some());
        assert!(bundled_check("acid.zalan.do/v1", "Postgresql").is_none());
        assert!(bundled_check("apps/v1", "Deployment").is_none());
    }

    #[test]
    fn bundled_checks_are_sorted_and_define_health() {
        let names: Vec<_> = bundled_checks().map(|c| c.file_name).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for check in bundled_checks() {
            assert!(check.source.contains("fn health(obj)"), "{}", check.file_name);
            // A bundled check never shadows a built-in rule: the order
            // between the two then cannot matter (docs/health.md).
            let key = check.file_name.trim_end_matches(".rhai");
            let (group, kind) = key.split_once('_').unwrap_or_default();
            assert!(!super::super::has_builtin(&format!("{group}/v1"), kind), "{key}");
        }
    }
}
