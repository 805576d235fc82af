//! What the tasks of an orchestration Workflow need besides the image:
//! the files of `CONFIG_DIR` in a ConfigMap and the credentials of
//! `SECRETS_DIR` in a Secret, both owned by the Workflow so they go when it
//! goes. The caller's cluster credentials are never among them: tasks reach
//! the API server as the `executor-workflow` ServiceAccount.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::Secrets;
use crate::input::input_file;

/// A ConfigMap holds at most 1 MiB; keep a margin for its metadata.
pub const MAX_CONFIG_BYTES: usize = 900 * 1024;

/// The files of `CONFIG_DIR`, as the tasks will see them.
#[derive(Debug, Clone, Default)]
pub struct ConfigFiles {
    /// `(key, relative path, content)`, sorted by path.
    pub files: Vec<(String, String, String)>,
}

impl ConfigFiles {
    /// Reads every regular file under `dir` (sorted, so the digest and the
    /// ConfigMap are the same on every run).
    ///
    /// # Errors
    /// A file that cannot be read or is not UTF-8 text, or a total over
    /// [`MAX_CONFIG_BYTES`].
    pub fn read(dir: &Path) -> Result<ConfigFiles, String> {
        let mut paths = Vec::new();
        collect(dir, dir, &mut paths)?;
        paths.sort();
        let mut files = Vec::new();
        let mut total = 0;
        for (index, relative) in paths.iter().enumerate() {
            let path = dir.join(relative);
            let text = input_file::read_text(&path, input_file::MAX_GRAPH_FILE, None)
                .map_err(|e| format!("{}: {e} (read for the workflow's ConfigMap)", path.display()))?;
            total += text.len();
            if total > MAX_CONFIG_BYTES {
                return Err(format!(
                    "{}: the configuration is larger than {} KiB, which a ConfigMap cannot hold",
                    dir.display(),
                    MAX_CONFIG_BYTES / 1024
                ));
            }
            files.push((format!("f{index}"), relative.to_string_lossy().into_owned(), text));
        }
        Ok(ConfigFiles { files })
    }

    /// The digest of the files (paths and contents).
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for (_, path, text) in &self.files {
            hasher.update(path.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
        }
        hex::encode(&hasher.finalize()[..8])
    }

    /// `(key, path)` pairs for the volume's `items`.
    pub fn items(&self) -> Vec<(String, String)> {
        self.files.iter().map(|(k, p, _)| (k.clone(), p.clone())).collect()
    }

    /// The ConfigMap `name` in `namespace`.
    pub fn config_map(&self, name: &str, namespace: &str) -> Value {
        let data: Map<String, Value> = self
            .files
            .iter()
            .map(|(key, _, text)| (key.clone(), Value::String(text.clone())))
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        })
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        // Kubernetes' own bookkeeping in mounted ConfigMaps (`..data`, ...).
        if name.to_string_lossy().starts_with("..") {
            continue;
        }
        let path = entry.path();
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            collect(root, &path, out)?;
        } else if metadata.is_file()
            && let Ok(relative) = path.strip_prefix(root)
        {
            out.push(relative.to_owned());
        }
    }
    Ok(())
}

/// The Secret `name` in `namespace` holding the credentials of `secrets`.
pub fn secret(secrets: &Secrets, name: &str, namespace: &str) -> Value {
    let data: Map<String, Value> = secrets
        .names()
        .filter_map(|key| {
            secrets.get(key).map(|value| {
                (
                    key.to_owned(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(value.expose())),
                )
            })
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": data,
    })
}

/// Makes `object` owned by the Workflow `workflow` (garbage collected with it).
pub fn owned_by(object: &mut Value, workflow: &Value) {
    object["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "name": workflow["metadata"]["name"],
        "uid": workflow["metadata"]["uid"],
        "blockOwnerDeletion": true,
    }]);
}
