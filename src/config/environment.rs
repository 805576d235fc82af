//! `$CONFIG_DIR/environment.yaml`: the target environment's settings.
//!
//! Parsed strictly: unknown fields are errors with a suggestion, durations and
//! names are checked, and every problem carries the file position of the value
//! concerned.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::input::duration::{Span, serde_duration};
use crate::input::input_file::{self, InputFileError};
use crate::input::names;
use crate::input::problem::{Problem, Problems, Source};
use crate::input::yaml;

/// `timeouts:`, the default per-node timeouts of the graph's plans.
pub use crate::dag::plan::{DEFAULT_HEALTH_TIMEOUT, DEFAULT_SYNC_TIMEOUT, Timeouts};

/// Attempts for a transient failure when `retries.maxAttempts` is not set.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// First retry delay when `retries.backoff` is not set.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

/// The validated environment settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentConfig {
    /// Environment identifier (also the teardown confirmation token).
    pub name: String,
    /// Base domain for ingress.
    pub domain: String,
    /// Platform manifests repository URL.
    pub git_repository: String,
    /// Branch, tag or commit of the platform repository.
    pub git_revision: String,
    /// Kubernetes cluster identifier, if given.
    pub cluster_name: Option<String>,
    /// Namespace Argo CD lives in.
    pub argocd_namespace: String,
    /// Namespace Argo Workflows lives in.
    pub workflows_namespace: String,
    /// Default per-node timeouts.
    pub timeouts: Timeouts,
    /// Retry policy for transient failures.
    pub retries: Retries,
}

/// Bounded retries with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retries {
    /// Attempts in all, including the first (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled after each failure.
    #[serde(with = "serde_duration")]
    pub backoff: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: DEFAULT_BACKOFF,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    name: Spanned<String>,
    domain: Spanned<String>,
    git_repository: Spanned<String>,
    git_revision: Spanned<String>,
    cluster_name: Option<Spanned<String>>,
    argocd_namespace: Option<Spanned<String>>,
    workflows_namespace: Option<Spanned<String>>,
    timeouts: Option<TimeoutsFile>,
    retries: Option<RetriesFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutsFile {
    sync: Option<Spanned<String>>,
    health: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RetriesFile {
    max_attempts: Option<Spanned<u32>>,
    backoff: Option<Spanned<String>>,
}

/// Reads and validates `environment.yaml` at `path`.
///
/// # Errors
/// Every problem found: unreadable file, YAML errors, missing or unknown
/// fields, bad names, durations or retry counts.
pub fn load(path: &Path) -> Result<EnvironmentConfig, Vec<Problem>> {
    let text = input_file::read_text(path, input_file::MAX_CONFIG_FILE, None).map_err(|error| {
        let message = if matches!(error, InputFileError::NotFound) {
            "file not found; mount the environment configuration at this path (or set CONFIG_DIR)".to_owned()
        } else {
            format!("the file {error}")
        };
        vec![Problem::new(Source::file(path), message)]
    })?;
    parse(path, &text)
}

/// Validates the text of an environment.yaml read from `path`.
///
/// # Errors
/// As [`load`].
pub fn parse(path: &Path, text: &str) -> Result<EnvironmentConfig, Vec<Problem>> {
    let file: File = yaml::parse(path, text).map_err(|p| vec![p])?;
    let mut problems = Problems::default();
    let at = |value: &Spanned<String>| yaml::source_at(path, &value.referenced);

    let mut check = |value: &Spanned<String>, field: &str, rule: fn(&str) -> Result<(), String>| {
        if let Err(message) = rule(&value.value) {
            problems.push(Problem::new(at(value), message).field(field));
        }
    };
    check(&file.name, "name", names::label_value);
    check(&file.domain, "domain", names::dns_subdomain);
    check(&file.git_repository, "gitRepository", names::git_url);
    check(&file.git_revision, "gitRevision", names::non_empty);
    if let Some(cluster) = &file.cluster_name {
        check(cluster, "clusterName", names::non_empty);
    }
    for (value, field) in [
        (&file.argocd_namespace, "argocdNamespace"),
        (&file.workflows_namespace, "workflowsNamespace"),
    ] {
        if let Some(value) = value {
            check(value, field, names::dns_label);
        }
    }

    let mut duration = |value: &Option<Spanned<String>>, field: &str, default: Duration| {
        let Some(value) = value else { return default };
        match value.value.parse::<Span>() {
            Ok(span) => span.0,
            Err(error) => {
                problems.push(Problem::new(at(value), error.to_string()).field(field));
                default
            }
        }
    };
    let timeouts_file = file.timeouts.unwrap_or(TimeoutsFile {
        sync: None,
        health: None,
    });
    let timeouts = Timeouts {
        sync: duration(&timeouts_file.sync, "timeouts.sync", DEFAULT_SYNC_TIMEOUT),
        health: duration(&timeouts_file.health, "timeouts.health", DEFAULT_HEALTH_TIMEOUT),
    };
    let retries_file = file.retries.unwrap_or(RetriesFile {
        max_attempts: None,
        backoff: None,
    });
    let backoff = duration(&retries_file.backoff, "retries.backoff", DEFAULT_BACKOFF);
    let max_attempts = match &retries_file.max_attempts {
        None => DEFAULT_MAX_ATTEMPTS,
        Some(value) if (1..=100).contains(&value.value) => value.value,
        Some(value) => {
            problems.push(
                Problem::new(
                    yaml::source_at(path, &value.referenced),
                    format!("{} is out of range; expected 1 to 100", value.value),
                )
                .field("retries.maxAttempts"),
            );
            DEFAULT_MAX_ATTEMPTS
        }
    };

    if !problems.is_empty() {
        return Err(problems.into_vec());
    }
    Ok(EnvironmentConfig {
        name: file.name.value,
        domain: file.domain.value,
        git_repository: file.git_repository.value,
        git_revision: file.git_revision.value,
        cluster_name: file.cluster_name.map(|c| c.value),
        argocd_namespace: file.argocd_namespace.map_or_else(|| "argocd".to_owned(), |n| n.value),
        workflows_namespace: file.workflows_namespace.map_or_else(|| "argo".to_owned(), |n| n.value),
        timeouts,
        retries: Retries { max_attempts, backoff },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name: staging-eu\ndomain: staging.example.com\ngitRepository: https://git.example.com/platform.git\ngitRevision: main\n";

    fn parse_text(text: &str) -> Result<EnvironmentConfig, Vec<Problem>> {
        parse(Path::new("environment.yaml"), text)
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let config = parse_text(MINIMAL).unwrap();
        assert_eq!(config.argocd_namespace, "argocd");
        assert_eq!(config.workflows_namespace, "argo");
        assert_eq!(config.timeouts, Timeouts::default());
        assert_eq!(config.retries, Retries::default());
    }

    #[test]
    fn all_fields_are_read() {
        let text = format!(
            "{MINIMAL}clusterName: eu-1\nargocdNamespace: gitops\nworkflowsNamespace: wf\ntimeouts: {{sync: 90s, health: 1h}}\nretries: {{maxAttempts: 3, backoff: 500ms}}\n"
        );
        let config = parse_text(&text).unwrap();
        assert_eq!(config.cluster_name.as_deref(), Some("eu-1"));
        assert_eq!(config.argocd_namespace, "gitops");
        assert_eq!(config.timeouts.sync, Duration::from_secs(90));
        assert_eq!(config.timeouts.health, Duration::from_secs(3600));
        assert_eq!(config.retries.max_attempts, 3);
        assert_eq!(config.retries.backoff, Duration::from_millis(500));
    }

    #[test]
    fn every_bad_value_is_reported_with_its_position() {
        let text = "name: Bad_Name!\ndomain: staging.example.com\ngitRepository: https://git.example.com/p.git\ngitRevision: main\ntimeouts: {sync: 3x, health: 0s}\nretries: {maxAttempts: 0}\n";
        let problems = parse_text(text).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(rendered.len(), 4, "{rendered:#?}");
        assert!(rendered[0].starts_with("environment.yaml:1:7: name: "), "{rendered:#?}");
        assert!(
            rendered[1].starts_with("environment.yaml:5:18: timeouts.sync: `3x` is not a duration"),
            "{rendered:#?}"
        );
        assert!(rendered[2].contains("timeouts.health: `0s` must be greater than zero"));
        assert!(rendered[3].contains("retries.maxAttempts: 0 is out of range"));
    }

    #[test]
    fn missing_required_field_is_named() {
        let problems = parse_text("name: a\ndomain: b.example.com\ngitRevision: main\n").unwrap_err();
        assert!(
            problems[0].message.contains("missing field `gitRepository`"),
            "{problems:?}"
        );
    }
}
