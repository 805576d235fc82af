//! Where the real upstream manifests are, for tests and benchmarks.
//!
//! The repository keeps no copy of the Argo CD and Argo Workflows install
//! files; tests read the unmodified ones from `shared/upstream/` beside the
//! checkout (see that directory's README). Unit tests, integration tests and
//! benchmarks all locate it the same way, through [`upstream_dir`].

use std::path::{Path, PathBuf};

/// Overrides the search: the directory holding the upstream files.
pub const UPSTREAM_DIR_VAR: &str = "EXECUTOR_UPSTREAM_DIR";

/// Overrides the search: the directory holding Argo CD's health cases
/// (`shared/conformance/argocd-health`).
pub const CONFORMANCE_DIR_VAR: &str = "EXECUTOR_CONFORMANCE_DIR";

/// Argo CD's health test cases (see that directory's README):
/// `$EXECUTOR_CONFORMANCE_DIR` when set, else the first existing
/// `shared/conformance/argocd-health` under an ancestor of this package's
/// directory, else `/work/shared/conformance/argocd-health` if it exists.
pub fn conformance_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFORMANCE_DIR_VAR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let relative = Path::new("shared").join("conformance").join("argocd-health");
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|ancestor| ancestor.join(&relative))
        .chain(std::iter::once(Path::new("/work").join(&relative)))
        .find(|dir| dir.is_dir())
}

/// The directory of the upstream files: `$EXECUTOR_UPSTREAM_DIR` when set,
/// else the first existing `shared/upstream` under an ancestor of this
/// package's directory, else `/work/shared/upstream` if it exists.
pub fn upstream_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(UPSTREAM_DIR_VAR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|ancestor| ancestor.join("shared").join("upstream"))
        .chain(std::iter::once(PathBuf::from("/work/shared/upstream")))
        .find(|dir| dir.is_dir())
}
