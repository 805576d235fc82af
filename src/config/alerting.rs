//! `ALERTMANAGER_URL`, `RUN_URL` and the Alertmanager credentials of
//! `$SECRETS_DIR`: where a failed run's alert goes (docs/observability.md,
//! "Alerts").
//!
//! The credentials are files, never variables, so they are not visible in
//! a Pod's spec or a CI job's environment dump:
//!
//! | file | use |
//! |---|---|
//! | `alertmanager-token` | `Authorization: Bearer <token>` |
//! | `alertmanager-username`, `alertmanager-password` | HTTP basic authentication |
//!
//! They are read with the output settings, before the run, so a run refused
//! as invalid still alerts; every value is a [`Secret`] (registered with the
//! redactor).

use std::path::Path;

use crate::redact::Secret;

use crate::input::input_file;
use crate::input::problem::{Problem, Problems, Source};

/// The file holding a bearer token for the Alertmanager.
pub const TOKEN_FILE: &str = "alertmanager-token";
/// The file holding the basic-auth user name for the Alertmanager.
pub const USERNAME_FILE: &str = "alertmanager-username";
/// The file holding the basic-auth password for the Alertmanager.
pub const PASSWORD_FILE: &str = "alertmanager-password";

/// How the executor authenticates to the Alertmanager.
#[derive(Debug, Clone)]
pub enum AlertCredentials {
    /// HTTP basic authentication.
    Basic {
        /// `alertmanager-username`.
        username: Secret,
        /// `alertmanager-password`.
        password: Secret,
    },
    /// A bearer token (`alertmanager-token`).
    Bearer(Secret),
}

/// Where a failed run posts its alert, and how.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// `ALERTMANAGER_URL`, without a trailing slash.
    pub url: String,
    /// The credentials found in `$SECRETS_DIR`, if any.
    pub credentials: Option<AlertCredentials>,
    /// `RUN_URL`: the alerts' `generatorURL` (e.g. the CI job's page).
    pub run_url: Option<String>,
}

/// Checks an `http(s)://host[:port][/path]` URL given in `var`.
fn http_url(var: &'static str, text: &str, example: &str) -> Result<String, Problem> {
    let problem = |why: String| Problem::new(Source::Var(var), why);
    // Checked first, so the credentials are never quoted in a message.
    if text.contains('@') {
        return Err(problem(
            "the URL carries credentials; put them in $SECRETS_DIR (alertmanager-token, or alertmanager-username and alertmanager-password) instead"
                .to_owned(),
        ));
    }
    let uri: http::Uri = text
        .parse()
        .map_err(|_| problem(format!("`{text}` is not a URL; expected {example}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err(problem(format!("`{text}` is not an http(s) URL; expected {example}")));
    }
    if uri.query().is_some() {
        return Err(problem(format!("`{text}` has a query; expected {example}")));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// A secret file of `dir`, if present; a problem naming it when it cannot be read.
fn secret_file(dir: &Path, name: &str, problems: &mut Problems) -> Option<Secret> {
    let path = dir.join(name);
    match input_file::read_text(&path, input_file::MAX_SECRET, Some(dir)) {
        Ok(text) => {
            let value = text.trim();
            if value.is_empty() {
                problems.push(Problem::new(Source::file(&path), "the secret file is empty"));
                None
            } else {
                Some(Secret::new(value))
            }
        }
        // Absent: not used. Unreadable: `Secrets::load` names every such
        // file of the directory, once.
        Err(_) => None,
    }
}

/// Reads the Alertmanager credentials of `secrets_dir`.
fn credentials(secrets_dir: &Path, problems: &mut Problems) -> Option<AlertCredentials> {
    let token = secret_file(secrets_dir, TOKEN_FILE, problems);
    let username = secret_file(secrets_dir, USERNAME_FILE, problems);
    let password = secret_file(secrets_dir, PASSWORD_FILE, problems);
    match (token, username, password) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            problems.push(Problem::new(
                Source::file(secrets_dir.join(TOKEN_FILE)),
                format!("both a bearer token and basic-auth files are given for the Alertmanager; keep {TOKEN_FILE} or {USERNAME_FILE} and {PASSWORD_FILE}"),
            ));
            None
        }
        (Some(token), None, None) => Some(AlertCredentials::Bearer(token)),
        (None, Some(username), Some(password)) => Some(AlertCredentials::Basic { username, password }),
        (None, Some(_), None) => {
            problems.push(Problem::new(
                Source::file(secrets_dir.join(PASSWORD_FILE)),
                format!("{USERNAME_FILE} is given without {PASSWORD_FILE}; basic authentication needs both"),
            ));
            None
        }
        (None, None, Some(_)) => {
            problems.push(Problem::new(
                Source::file(secrets_dir.join(USERNAME_FILE)),
                format!("{PASSWORD_FILE} is given without {USERNAME_FILE}; basic authentication needs both"),
            ));
            None
        }
        (None, None, None) => None,
    }
}

/// Reads `ALERTMANAGER_URL`, `RUN_URL` and the credentials, recording every
/// problem. `None` when no alert is to be posted: `ALERTMANAGER_URL` is not
/// set (or invalid), or this run is one task of an orchestration Workflow
/// (its driver run alerts for the whole action).
pub fn load(
    alertmanager_url: Option<&str>,
    run_url: Option<&str>,
    secrets_dir: &Path,
    task: bool,
    problems: &mut Problems,
) -> Option<AlertSettings> {
    let run_url = run_url.and_then(|text| {
        http_url("RUN_URL", text, "the run's page, such as https://ci.example.com/job/42")
            .map_err(|p| problems.push(p))
            .ok()
    });
    let url = alertmanager_url.and_then(|text| {
        http_url("ALERTMANAGER_URL", text, "http://alertmanager:9093 or https://...")
            .map_err(|p| problems.push(p))
            .ok()
    })?;
    let credentials = credentials(secrets_dir, problems);
    (!task).then_some(AlertSettings {
        url,
        credentials,
        run_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(url: &str, files: &[(&str, &str)]) -> (Option<AlertSettings>, Vec<Problem>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut problems = Problems::default();
        let settings = load(Some(url), None, dir.path(), false, &mut problems);
        (settings, problems.into_vec())
    }

    #[test]
    fn a_url_with_a_bearer_token_file() {
        let (settings, problems) = load_with("http://am:9093/", &[(TOKEN_FILE, "tok-123456\n")]);
        assert!(problems.is_empty(), "{problems:?}");
        let settings = settings.unwrap();
        assert_eq!(settings.url, "http://am:9093");
        assert!(matches!(settings.credentials, Some(AlertCredentials::Bearer(t)) if t.expose() == "tok-123456"));
    }

    #[test]
    fn bad_urls_name_the_variable() {
        for url in ["am:9093", "ftp://am", "http://user:pw@am:9093", "not a url"] {
            let (settings, problems) = load_with(url, &[]);
            assert!(settings.is_none(), "{url}");
            assert_eq!(problems.len(), 1, "{url}: {problems:?}");
            assert!(problems[0].to_string().contains("ALERTMANAGER_URL"), "{}", problems[0]);
        }
    }

    #[test]
    fn half_of_basic_auth_is_a_problem_naming_the_missing_file() {
        let (_, problems) = load_with("http://am:9093", &[(USERNAME_FILE, "alerts")]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].to_string().contains(PASSWORD_FILE), "{}", problems[0]);
    }

    #[test]
    fn a_workflow_task_posts_no_alert() {
        let dir = tempfile::tempdir().unwrap();
        let mut problems = Problems::default();
        assert!(load(Some("http://am:9093"), None, dir.path(), true, &mut problems).is_none());
        assert!(problems.is_empty());
    }
}
