//! The scripts embedded in the binary at build time (`scripts/`, `stdlib/`;
//! see `build.rs`): one embedding that the script finder and the health
//! checks both read.

include!(concat!(env!("OUT_DIR"), "/bundled_scripts.rs"));

/// A bundled script by its path in the bundle tree (`deploy.rhai`,
/// `stdlib/health/ceph.rook.io_CephCluster.rhai`).
pub fn bundled(name: &str) -> Option<&'static str> {
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Every bundled script path, sorted within each folder.
pub fn bundled_names() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|(n, _)| *n)
}
