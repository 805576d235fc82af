//! Where scripts come from: bundled in the binary, or mounted by an operator.
//!
//! The bundle tree holds the action scripts (`deploy.rhai`, `validate.rhai`,
//! `teardown.rhai`) and the standard library (`stdlib/...`). A file at the
//! same relative path under `$CONFIG_DIR/scripts/` replaces the bundled one.
//! Hook scripts named in `dag.yaml` live under `$CONFIG_DIR`; custom health
//! checks under `$CONFIG_DIR/health/` (`<group>_<Kind>.rhai`); compliance
//! policies under `$CONFIG_DIR/policies/`. Every lookup is confined to its
//! root: absolute paths and `..` are refused.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::input::{input_file, paths};

pub use crate::embedded::{bundled, bundled_names};

/// Where a script's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Shipped inside the executor.
    Bundled,
    /// Mounted by the operator, replacing or extending the bundled scripts.
    Override,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Bundled => "bundled",
            Origin::Override => "override",
        })
    }
}

/// One script's text and identity.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its path in the bundle tree (`deploy.rhai`, `stdlib/argocd.rhai`) or,
    /// for mounted-only scripts, relative to its root.
    pub name: String,
    /// How errors name it: the repository path for bundled scripts, the file
    /// path for mounted ones.
    pub display: String,
    /// The script text.
    pub text: String,
    /// Bundled or override.
    pub origin: Origin,
}

fn display_bundled(name: &str) -> String {
    match name.strip_prefix("stdlib/") {
        Some(rest) => format!("stdlib/{rest}"),
        None => format!("scripts/{name}"),
    }
}

/// Finds scripts for a run.
#[derive(Debug, Clone)]
pub struct Library {
    config_dir: PathBuf,
}

impl Library {
    /// A library whose overrides live under `config_dir`.
    pub fn new(config_dir: &Path) -> Self {
        Library {
            config_dir: config_dir.to_owned(),
        }
    }

    /// The operator's configuration directory.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    fn read(path: &Path, name: &str, display: String, origin: Origin) -> Result<Source, String> {
        input_file::read_text(path, input_file::MAX_SCRIPT, None)
            .map(|text| Source {
                name: name.to_owned(),
                display,
                text,
                origin,
            })
            .map_err(|e| format!("{} {e}", path.display()))
    }

    /// A script of the bundle tree (`deploy.rhai`, `stdlib/x.rhai`): the
    /// override under `$CONFIG_DIR/scripts/` if there is one, else the
    /// bundled file.
    ///
    /// # Errors
    /// A message when the name escapes its root, the override is unreadable,
    /// or no such script exists.
    pub fn tree(&self, name: &str) -> Result<Source, String> {
        let override_path = paths::confined(&self.config_dir.join("scripts"), name)?;
        if override_path.is_file() {
            let display = override_path.display().to_string();
            return Self::read(&override_path, name, display, Origin::Override);
        }
        match bundled(name) {
            Some(text) => Ok(Source {
                name: name.to_owned(),
                display: display_bundled(name),
                text: text.to_owned(),
                origin: Origin::Bundled,
            }),
            None => Err(format!(
                "no script `{name}`: neither bundled nor mounted at {}",
                override_path.display()
            )),
        }
    }

    /// A hook script named in `dag.yaml`, relative to `$CONFIG_DIR`.
    ///
    /// # Errors
    /// When the path escapes `$CONFIG_DIR` or cannot be read.
    pub fn hook(&self, relative: &str) -> Result<Source, String> {
        let path = paths::confined(&self.config_dir, relative)?;
        let display = path.display().to_string();
        Self::read(&path, relative, display, Origin::Override)
    }

    /// Health checks by key (`<group>_<Kind>`): bundled `stdlib/health/`,
    /// replaced or extended by `$CONFIG_DIR/health/`.
    ///
    /// # Errors
    /// Unreadable mounted files.
    pub fn health_checks(&self) -> Result<Vec<(String, Source)>, String> {
        self.collection("stdlib/health/", &self.config_dir.join("health"))
    }

    /// Compliance policies by name: bundled `stdlib/policies/`, replaced or
    /// extended by `$CONFIG_DIR/policies/`.
    ///
    /// # Errors
    /// Unreadable mounted files.
    pub fn policies(&self) -> Result<Vec<(String, Source)>, String> {
        self.collection("stdlib/policies/", &self.config_dir.join("policies"))
    }

    fn collection(&self, bundled_prefix: &str, mounted: &Path) -> Result<Vec<(String, Source)>, String> {
        let mut found: std::collections::BTreeMap<String, Source> = std::collections::BTreeMap::new();
        for name in bundled_names() {
            let Some(file) = name.strip_prefix(bundled_prefix) else {
                continue;
            };
            if file.contains('/') || file.ends_with(".test.rhai") {
                continue;
            }
            if let (Some(key), Some(text)) = (file.strip_suffix(".rhai"), bundled(name)) {
                found.insert(
                    key.to_owned(),
                    Source {
                        name: name.to_owned(),
                        display: display_bundled(name),
                        text: text.to_owned(),
                        origin: Origin::Bundled,
                    },
                );
            }
        }
        if let Ok(entries) = std::fs::read_dir(mounted) {
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for path in files {
                let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                    continue;
                };
                if file.starts_with('.') || file.ends_with(".test.rhai") || !path.is_file() {
                    continue;
                }
                let Some(key) = file.strip_suffix(".rhai") else {
                    continue;
                };
                let display = path.display().to_string();
                let source = Self::read(&path, file, display, Origin::Override)?;
                found.insert(key.to_owned(), source);
            }
        }
        Ok(found.into_iter().collect())
    }
}
