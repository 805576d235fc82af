//! The bundle's lock file: which upstream files, at which versions, with which checksums.
//!
//! `bundle/bundle.lock.yaml` is embedded in the binary. It is the only
//! description of the upstream manifests the repository keeps (their contents
//! are fetched at image build time by `bundle/fetch`), and the executor
//! trusts a file of `BUNDLE_DIR` only when its sha256 is the one recorded
//! here. The lock is checked when it is read: one entry per component, plain
//! file names, 64-digit lowercase hex checksums.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::config::{Problem, Source};
use crate::input::yaml;

/// The lock file's name, in `bundle/` and as the source of its problems.
pub const LOCK_FILE: &str = "bundle.lock.yaml";

/// The embedded lock file.
const LOCK_TEXT: &str = include_str!("../../bundle/bundle.lock.yaml");

/// An upstream project the bundle installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// Argo CD: the deployment authority.
    ArgoCd,
    /// Argo Workflows: the in-cluster workflow engine.
    ArgoWorkflows,
}

impl Component {
    /// The component's name as the lock and the report spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::ArgoCd => "argo-cd",
            Component::ArgoWorkflows => "argo-workflows",
        }
    }

    /// The namespace the upstream manifest assumes: its objects carry it (or
    /// none, for Argo CD) and its binding subjects name it.
    pub fn upstream_namespace(self) -> &'static str {
        match self {
            Component::ArgoCd => "argocd",
            Component::ArgoWorkflows => "argo",
        }
    }
}

/// One pinned upstream file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedFile {
    /// File name inside `BUNDLE_DIR` (and in `../shared/upstream/`).
    pub name: String,
    /// The project it installs.
    pub component: Component,
    /// The upstream release, e.g. `v3.5.1`.
    pub version: String,
    /// Where the file comes from: the file itself, or for an assembled file
    /// the repository and tag of its sources.
    pub url: String,
    /// For a file assembled with kustomize: its kustomization's directory under `bundle/`.
    #[serde(default)]
    pub assemble: Option<String>,
    /// For an assembled file: the kustomize targets it is built from.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Lowercase hex sha256 of the file's bytes.
    pub sha256: String,
}

/// The parsed lock file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The pinned files, in the order the bundle reads them.
    pub files: Vec<LockedFile>,
}

impl Lock {
    /// The lock embedded in this binary.
    ///
    /// # Errors
    /// A problem (naming `bundled:bundle.lock.yaml`) if the embedded text is
    /// not a valid lock; the unit tests keep that from shipping.
    pub fn bundled() -> Result<Lock, Problem> {
        Lock::parse(Path::new(concat!("bundled:", "bundle.lock.yaml")), LOCK_TEXT)
    }

    /// Parses and checks a lock file's text read from `path`.
    ///
    /// # Errors
    /// YAML or schema errors with their position; a bad file name, checksum
    /// or duplicate component.
    pub fn parse(path: &Path, text: &str) -> Result<Lock, Problem> {
        let lock: Lock = yaml::parse(path, text)?;
        let mut seen = BTreeMap::new();
        for file in &lock.files {
            let problem = |message: String| Problem::new(Source::file(path), message);
            if file.name.is_empty() || file.name.starts_with('.') || file.name.contains(['/', '\\']) {
                return Err(problem(format!("`{}` is not a plain file name", file.name)).field("name"));
            }
            if file.sha256.len() != 64
                || !file
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(
                    problem(format!("the sha256 of {} is not 64 lowercase hex digits", file.name)).field("sha256"),
                );
            }
            if seen.insert(file.component, &file.name).is_some() {
                return Err(problem(format!(
                    "component {} is locked twice; keep one file per component",
                    file.component.as_str()
                ))
                .field("component"));
            }
        }
        for component in [Component::ArgoCd, Component::ArgoWorkflows] {
            if !seen.contains_key(&component) {
                return Err(Problem::new(
                    Source::file(path),
                    format!("no file is locked for {}", component.as_str()),
                ));
            }
        }
        Ok(lock)
    }

    /// Component → version, for the report and `executor version`.
    pub fn versions(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .map(|f| (f.component.as_str().to_owned(), f.version.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_lock_pins_both_components() {
        let lock = Lock::bundled().unwrap();
        let versions = lock.versions();
        assert_eq!(versions["argo-cd"], "v3.5.1");
        assert_eq!(versions["argo-workflows"], "v4.1.2");
        for file in &lock.files {
            assert!(
                file.name.contains(&file.version),
                "{} should name its version",
                file.name
            );
        }
    }

    #[test]
    fn assembled_file_lists_the_kustomization_sources() {
        let lock = Lock::bundled().unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle");
        for file in &lock.files {
            let Some(assemble) = &file.assemble else {
                assert!(file.sources.is_empty(), "{}", file.name);
                continue;
            };
            let path = dir.join(assemble).join("kustomization.yaml");
            let text = std::fs::read_to_string(&path).unwrap();
            let kustomization: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
            let resources: Vec<&str> = kustomization["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert_eq!(resources, file.sources, "{}", path.display());
            for source in &file.sources {
                assert!(source.ends_with(&format!("?ref={}", file.version)));
            }
            for image in kustomization["images"].as_array().unwrap() {
                assert_eq!(image["newTag"], file.version.as_str());
            }
        }
    }

    #[test]
    fn refuses_bad_checksums_and_duplicates() {
        let base = "files:\n  - name: a.yaml\n    component: argo-cd\n    version: v1\n    url: https://example.com/a\n    sha256: ";
        let sha = "a".repeat(64);
        let text = format!("{base}{}\n", "A".repeat(64));
        let problem = Lock::parse(Path::new("lock"), &text).unwrap_err();
        assert!(problem.message.contains("64 lowercase hex"), "{problem}");

        let twice = format!("{base}{sha}\n{}{sha}\n", &base["files:\n".len()..]);
        let problem = Lock::parse(Path::new("lock"), &twice).unwrap_err();
        assert!(problem.message.contains("locked twice"), "{problem}");

        let one = format!("{base}{sha}\n");
        let problem = Lock::parse(Path::new("lock"), &one).unwrap_err();
        assert!(
            problem.message.contains("no file is locked for argo-workflows"),
            "{problem}"
        );

        let bad_name = one.replace("a.yaml", "../a.yaml");
        let problem = Lock::parse(Path::new("lock"), &bad_name).unwrap_err();
        assert!(problem.message.contains("plain file name"), "{problem}");
    }
}
