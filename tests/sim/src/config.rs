//! `sim.yaml`: everything that makes one simulated cluster behave differently
//! from another.
//!
//! The file is read once at start and again on SIGHUP (or [`crate::Sim::reload`]),
//! so tests can change an application's behaviour or the fault plan mid-run.
//! Relative `repositories[].dir` paths resolve against the file's directory,
//! never the process's working directory.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a `sim.yaml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid `sim.yaml`.
    #[error("{path} is not a valid sim.yaml: {message}")]
    Parse {
        /// The file that was read.
        path: PathBuf,
        /// The YAML parser's explanation.
        message: String,
    },
}

/// The whole simulator configuration (`sim.yaml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SimConfig {
    /// Git URLs the Argo CD simulator reads, mapped to local directories.
    pub repositories: Vec<Repository>,
    /// Readiness timing of the workload controllers.
    pub workloads: WorkloadConfig,
    /// Per Argo CD Application behaviour, by Application name.
    pub apps: BTreeMap<String, AppBehaviour>,
    /// Fault injection rules, checked in order for every HTTP request.
    pub faults: Vec<FaultRule>,
    /// Bearer tokens; empty means the defaults `admin` and `viewer`.
    pub tokens: BTreeMap<String, TokenConfig>,
    /// Seed for the fault plan's random draws.
    pub seed: u64,
    /// Operator-managed custom resources the simulator fills status for,
    /// in addition to the built-in CephCluster, postgresql and Vault rules.
    pub custom_resources: Vec<CustomResourceBehaviour>,
    /// Per-object status overrides (e.g. one CephCluster in `HEALTH_ERR`).
    pub objects: Vec<ObjectOverride>,
    /// How many Nodes the cluster has (default 3).
    pub nodes: Option<u32>,
    /// How many change events watches can resume from before `410 Gone`.
    pub watch_history: Option<usize>,
    /// Argo CD simulator tuning.
    pub argocd: ArgoCdConfig,
    /// The pod runner: image reference pattern (`*` matches any characters)
    /// → program run for containers of that image (see [`crate::podrunner`]).
    pub images: BTreeMap<String, PathBuf>,
}

/// One Git repository served from a local directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    /// The URL Applications name in `spec.source.repoURL`.
    pub url: String,
    /// The directory holding the repository's files.
    pub dir: PathBuf,
}

/// Workload controller timing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadConfig {
    /// Delay between a new generation and the workload reporting ready
    /// (default 300ms).
    #[serde(with = "crate::time::serde_duration")]
    pub ready_after: Option<Duration>,
}

impl WorkloadConfig {
    /// The effective readiness delay.
    pub fn ready_after(&self) -> Duration {
        self.ready_after.unwrap_or(Duration::from_millis(300))
    }
}

/// How one Argo CD Application behaves beyond what its manifests say.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AppBehaviour {
    /// Report Progressing until this long after a sync finished.
    #[serde(with = "crate::time::serde_duration")]
    pub healthy_after: Option<Duration>,
    /// Force this health status (`Degraded`, `Progressing`, `Missing`, ...).
    pub health: Option<String>,
    /// The health message to report with a forced status.
    pub message: Option<String>,
    /// Every sync operation fails with this message.
    pub sync_fails: Option<String>,
    /// Deleting the Application never completes (its finalizer stays).
    pub stuck_finalizer: bool,
}

/// One fault injection rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultRule {
    /// Which requests the rule applies to.
    #[serde(rename = "match")]
    pub matches: FaultMatch,
    /// Probability (0..=1) that a matching request is hit.
    pub rate: Option<f64>,
    /// Only the n-th matching request (1-based) is hit.
    pub nth: Option<u64>,
    /// Delay added before the request is served.
    #[serde(with = "crate::time::serde_duration")]
    pub latency: Option<Duration>,
    /// Delay added after the request was served, before the answer goes out
    /// (the change is already visible to others: a slow return path).
    #[serde(with = "crate::time::serde_duration")]
    pub response_latency: Option<Duration>,
    /// Answer with this HTTP status (a `Status` body) instead of serving.
    pub status: Option<u16>,
    /// Drop the connection without an answer (for watches: mid-stream).
    pub reset: bool,
    /// For watches with `reset`: how long the stream runs before the drop.
    #[serde(with = "crate::time::serde_duration")]
    pub reset_after: Option<Duration>,
    /// `Retry-After` seconds sent with 429 and 503 (default 1).
    pub retry_after: Option<u64>,
    /// The `Status` message (default: a message naming the fault).
    pub message: Option<String>,
}

/// The request attributes a fault rule matches; absent fields match anything.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultMatch {
    /// A Kubernetes verb, or `any`.
    pub verb: Option<String>,
    /// A resource plural (`applications`), optionally `group/resource`.
    pub resource: Option<String>,
    /// A subresource (`status`).
    pub subresource: Option<String>,
    /// A namespace.
    pub namespace: Option<String>,
    /// An object name.
    pub name: Option<String>,
    /// A user name (from the token).
    pub user: Option<String>,
}

/// What a bearer token may do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenConfig {
    /// The user name requests authenticate as.
    pub user: String,
    /// Groups of the user.
    pub groups: Vec<String>,
    /// Allowed verbs; absent means every verb.
    pub verbs: Option<Vec<String>>,
    /// Allowed resources (plural names); absent means every resource.
    pub resources: Option<Vec<String>>,
    /// Allowed namespaces; absent means every namespace.
    pub namespaces: Option<Vec<String>>,
    /// RBAC-style rules; when given, they replace `verbs`/`resources`/
    /// `namespaces`: a request is allowed when one rule matches its verb,
    /// API group and resource (and namespace, for rules that name some).
    pub rules: Option<Vec<PolicyRule>>,
}

/// One RBAC-style rule of a token (as in a Role or ClusterRole).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRule {
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// API groups (`""` for core, `*` for all).
    pub api_groups: Vec<String>,
    /// Resources, plural (`*` for all; `resource/subresource` for subresources).
    pub resources: Vec<String>,
    /// Namespaces the rule applies in (a RoleBinding's); empty: everywhere.
    pub namespaces: Vec<String>,
}

impl PolicyRule {
    /// Whether the rule grants `verb` on `group`/`resource` in `namespace`.
    pub fn grants(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> bool {
        let any = |list: &[String], value: &str| list.iter().any(|x| x == value || x == "*");
        any(&self.verbs, verb)
            && any(&self.api_groups, group)
            && any(&self.resources, resource)
            && (self.namespaces.is_empty() || namespace.is_some_and(|ns| any(&self.namespaces, ns)))
    }
}

/// Status the simulator fills in for an operator-managed custom resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomResourceBehaviour {
    /// API group of the kind (`ceph.rook.io`).
    pub group: String,
    /// Kind (`CephCluster`).
    pub kind: String,
    /// Delay before the status is written (default: `workloads.readyAfter`).
    #[serde(with = "crate::time::serde_duration")]
    pub ready_after: Option<Duration>,
    /// Status merged into the object once ready.
    pub status: Value,
}

/// A status override for one object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectOverride {
    /// Kind of the object.
    pub kind: String,
    /// Namespace of the object (absent for cluster-scoped).
    pub namespace: Option<String>,
    /// Name of the object.
    pub name: String,
    /// Status merged in instead of the kind's default ready status.
    pub status: Value,
}

/// Argo CD simulator tuning.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArgoCdConfig {
    /// Service account the controller's writes are audited as.
    pub controller_user: Option<String>,
}

impl SimConfig {
    /// Reads a `sim.yaml`, resolving `repositories[].dir` and `images` programs
    /// against its folder.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read, [`ConfigError::Parse`]
    /// when it is not valid `sim.yaml`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::from_yaml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for repo in &mut config.repositories {
            if repo.dir.is_relative() {
                repo.dir = base.join(&repo.dir);
            }
        }
        for program in config.images.values_mut() {
            if program.is_relative() {
                *program = base.join(&*program);
            }
        }
        Ok(config)
    }

    /// Parses `sim.yaml` text; relative directories stay as written.
    ///
    /// # Errors
    /// The parser's message when the text is not valid `sim.yaml`.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// The effective tokens: the configured ones, or `defaults` (see
    /// [`default_tokens`]) when `tokens:` is empty.
    pub fn effective_tokens(&self, defaults: &BTreeMap<String, TokenConfig>) -> BTreeMap<String, TokenConfig> {
        if self.tokens.is_empty() {
            defaults.clone()
        } else {
            self.tokens.clone()
        }
    }
}

/// Fresh default tokens: user `admin` (everything, group `system:masters`)
/// and user `viewer` (get, list, watch), each with a random 64-character
/// token, as unguessable as a real cluster's. A simulator makes them once and
/// keeps them across reloads, so clients stay authenticated.
pub fn default_tokens() -> BTreeMap<String, TokenConfig> {
    let mut tokens = BTreeMap::new();
    tokens.insert(
        random_token(),
        TokenConfig {
            user: "admin".to_string(),
            groups: vec!["system:masters".to_string()],
            ..TokenConfig::default()
        },
    );
    tokens.insert(
        random_token(),
        TokenConfig {
            user: "viewer".to_string(),
            verbs: Some(vec!["get".into(), "list".into(), "watch".into()]),
            ..TokenConfig::default()
        },
    );
    tokens
}

/// 64 random hexadecimal characters (two version-4 UUIDs, 244 random bits).
fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// The token a client should use for `name`: `name` itself when it is a
/// configured token, else the first token whose user is `name`, else `name`
/// unchanged (so a test can build a kubeconfig with an unknown token).
pub fn token_for(tokens: &BTreeMap<String, TokenConfig>, name: &str) -> String {
    if tokens.contains_key(name) {
        return name.to_string();
    }
    tokens
        .iter()
        .find(|(_, t)| t.user == name)
        .map(|(token, _)| token.clone())
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses() {
        let text = r#"
repositories:
  - url: https://git.example.com/platform.git
    dir: ./fixtures/platform
workloads: {readyAfter: 300ms}
apps:
  vault: {healthyAfter: 2s}
  harbor: {health: Degraded, message: "database unreachable"}
  loki: {health: Progressing}
faults:
  - {match: {verb: patch, resource: applications}, rate: 0.05, status: 503}
  - {match: {verb: any}, latency: 20ms}
  - {match: {verb: create}, nth: 3, status: 500}
  - {match: {verb: any}, rate: 0.01, reset: true}
tokens:
  admin: {user: admin}
  viewer: {user: viewer, verbs: [get, list, watch]}
"#;
        let config = SimConfig::from_yaml(text).unwrap();
        assert_eq!(config.repositories.len(), 1);
        assert_eq!(config.workloads.ready_after(), Duration::from_millis(300));
        assert_eq!(config.apps["vault"].healthy_after, Some(Duration::from_secs(2)));
        assert_eq!(config.faults.len(), 4);
        assert!(config.faults[3].reset);
        assert_eq!(config.tokens["viewer"].verbs.as_ref().unwrap().len(), 3);
    }

    #[test]
    fn image_programs_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.yaml");
        std::fs::write(
            &path,
            "images: {\"executor:*\": ./bin/executor, \"alpine:*\": /bin/sh}\n",
        )
        .unwrap();
        let config = SimConfig::from_file(&path).unwrap();
        assert_eq!(config.images["executor:*"], dir.path().join("./bin/executor"));
        assert_eq!(config.images["alpine:*"], PathBuf::from("/bin/sh"));
    }
}
