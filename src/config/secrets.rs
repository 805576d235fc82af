//! `$SECRETS_DIR`: credentials mounted as files, one value per file.
//!
//! The layout is the one a Kubernetes Secret volume produces: each key is a
//! file (Kubernetes' own `..data` bookkeeping entries are skipped). Every file
//! is read at start-up, so an unreadable one is an input error (exit 3), and
//! every value becomes a [`Secret`] that prints as `<redacted>`.
//!
//! Known file names (all optional):
//!
//! | file | use |
//! |---|---|
//! | `git-username`, `git-password` | HTTPS credentials for `gitRepository` |
//! | `git-ssh-private-key` | SSH key for `gitRepository` |
//! | `registry-dockerconfigjson` | a `.dockerconfigjson` for private registries |
//! | `alertmanager-token`, `alertmanager-username`, `alertmanager-password` | credentials for `ALERTMANAGER_URL` ([`super::alerting`]) |
//!
//! Any other file is available to scripts through `secrets::read(name)`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::redact::Secret;

use crate::input::input_file;
use crate::input::problem::{Problem, Source};

/// Secrets read from the secrets directory, by file name.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    dir: PathBuf,
    values: BTreeMap<String, Secret>,
}

impl Secrets {
    /// Reads every file of `dir`. A missing directory means "no credentials".
    ///
    /// # Errors
    /// A problem per unreadable or non-UTF-8 file, or when `dir` is not a directory.
    pub fn load(dir: &Path) -> Result<Secrets, Vec<Problem>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Secrets {
                    dir: dir.to_owned(),
                    values: BTreeMap::new(),
                });
            }
            Err(error) => {
                return Err(vec![
                    Problem::new(Source::file(dir), format!("cannot read the secrets directory: {error}"))
                        .field("SECRETS_DIR"),
                ]);
            }
        };
        let mut values = BTreeMap::new();
        let mut problems = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                continue;
            }
            match input_file::read_text(&path, input_file::MAX_SECRET, Some(dir)) {
                Ok(text) => {
                    let value = text.strip_suffix('\n').unwrap_or(&text);
                    values.insert(name, Secret::new(value));
                }
                Err(error) => problems.push(Problem::new(Source::file(&path), format!("the secret file {error}"))),
            }
        }
        if problems.is_empty() {
            Ok(Secrets {
                dir: dir.to_owned(),
                values,
            })
        } else {
            Err(problems)
        }
    }

    /// The secret stored in file `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }

    /// The names of the secrets present (never their values).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The directory they were read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_and_skips_kubernetes_bookkeeping() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("git-password"), "s3cr3t-value\n").unwrap();
        std::fs::create_dir(dir.path().join("..2026_11_28")).unwrap();
        std::fs::write(dir.path().join("..data"), "x").unwrap();
        let secrets = Secrets::load(dir.path()).unwrap();
        assert_eq!(secrets.names().collect::<Vec<_>>(), ["git-password"]);
        assert_eq!(secrets.get("git-password").unwrap().expose(), "s3cr3t-value");
    }

    #[test]
    fn missing_directory_means_no_credentials() {
        let secrets = Secrets::load(Path::new("/nonexistent/secrets")).unwrap();
        assert_eq!(secrets.names().count(), 0);
    }

    #[test]
    fn non_utf8_file_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry-dockerconfigjson"), [0xff, 0xfe]).unwrap();
        let problems = Secrets::load(dir.path()).unwrap_err();
        assert!(problems[0].message.contains("UTF-8"));
    }
}
