//! The simulated repo server: maps `spec.source.repoURL` to a local
//! directory through `repositories:` and reads every YAML document under
//! `spec.source.path` (recursively, in sorted path order), like Argo CD's
//! plain-directory source type with `recurse: true`.

use crate::config::SimConfig;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};

/// Why manifests could not be produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RepoError {
    /// No `repositories:` entry for the URL.
    #[error("repository not found: {0} (kube-sim knows no such repository URL)")]
    UnknownRepository(String),
    /// The path does not exist in the repository.
    #[error("{path}: app path does not exist")]
    MissingPath {
        /// The path asked for.
        path: String,
    },
    /// A file could not be read or parsed.
    #[error("failed to parse {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
}

fn normalize(url: &str) -> String {
    url.trim_end_matches('/').trim_end_matches(".git").to_lowercase()
}

/// The local directory of a repository URL.
pub fn resolve(config: &SimConfig, url: &str) -> Option<PathBuf> {
    config
        .repositories
        .iter()
        .find(|r| normalize(&r.url) == normalize(url))
        .map(|r| r.dir.clone())
}

/// A stable fake commit sha for a repository and revision.
pub fn revision(url: &str, target: &str) -> String {
    let digest =
        Sha1::digest(format!("{}@{}", normalize(url), if target.is_empty() { "HEAD" } else { target }).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads the manifests of an Application source.
///
/// # Errors
/// [`RepoError`] for an unknown repository, a missing path, or a bad file.
pub fn manifests(config: &SimConfig, url: &str, path: &str) -> Result<Vec<Value>, RepoError> {
    let root = resolve(config, url).ok_or_else(|| RepoError::UnknownRepository(url.to_string()))?;
    let dir = root.join(path.trim_start_matches('/'));
    if !dir.is_dir() {
        return Err(RepoError::MissingPath { path: path.to_string() });
    }
    let mut files = Vec::new();
    collect(&dir, &mut files).map_err(|e| RepoError::Parse {
        file: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| RepoError::Parse {
            file: file.display().to_string(),
            message: e.to_string(),
        })?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| RepoError::Parse {
            file: file.display().to_string(),
            message: e.to_string(),
        })?;
        for doc in docs {
            if doc["kind"] == "List" {
                out.extend(doc["items"].as_array().cloned().unwrap_or_default());
            } else if doc.is_object() && doc["kind"].is_string() {
                out.push(doc);
            }
        }
    }
    Ok(out)
}
