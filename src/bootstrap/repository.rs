//! The Argo CD repository Secret: credentials for the platform's Git repository.
//!
//! Built from `$SECRETS_DIR` only when credentials are there: `git-username`
//! and `git-password` for an HTTPS URL, `git-ssh-private-key` for an SSH URL
//! (`ssh://…` or `user@host:path`). Argo CD recognises the Secret by its label
//! `argocd.argoproj.io/secret-type: repository`. Half a pair, or credentials
//! that cannot serve the URL's scheme, are input problems (exit 3) rather
//! than a Secret Argo CD would silently not use.
//!
//! This is the only place where secret values leave their [`Secret`]
//! wrapper: they are written into the object's `stringData`, which only the
//! applier sends to the API server. The bundle's `Debug` output never shows
//! them (see [`super::Bundle`]).
//!
//! [`Secret`]: crate::redact::Secret

use serde_json::{Value, json};

use crate::config::{Problem, Secrets, Source};

/// Name of the repository Secret in the Argo CD namespace.
pub const REPOSITORY_SECRET: &str = "platform-repository";

/// `$SECRETS_DIR` file with the HTTPS user name.
pub const GIT_USERNAME: &str = "git-username";
/// `$SECRETS_DIR` file with the HTTPS password or token.
pub const GIT_PASSWORD: &str = "git-password";
/// `$SECRETS_DIR` file with the SSH private key.
pub const GIT_SSH_KEY: &str = "git-ssh-private-key";

/// How a repository URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Https,
    Ssh,
    /// `git://` and `file://`: no credentials apply.
    Anonymous,
}

fn transport(url: &str) -> Transport {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        Transport::Https
    } else if lower.starts_with("git://") || lower.starts_with("file://") {
        Transport::Anonymous
    } else {
        Transport::Ssh
    }
}

/// The repository Secret for `url` in `namespace`, or `None` without credentials.
///
/// # Errors
/// A problem (naming the secret files, never their values) when only one of
/// `git-username`/`git-password` is given, or when the credentials given do
/// not fit the URL's scheme.
pub fn repository_secret(namespace: &str, url: &str, secrets: &Secrets) -> Result<Option<Value>, Problem> {
    let username = secrets.get(GIT_USERNAME);
    let password = secrets.get(GIT_PASSWORD);
    let key = secrets.get(GIT_SSH_KEY);
    let file = |name: &str| Source::file(secrets.dir().join(name));
    match (username, password) {
        (Some(_), None) => {
            return Err(Problem::new(
                file(GIT_PASSWORD),
                format!("{GIT_USERNAME} is given but {GIT_PASSWORD} is missing; give both, or neither"),
            ));
        }
        (None, Some(_)) => {
            return Err(Problem::new(
                file(GIT_USERNAME),
                format!("{GIT_PASSWORD} is given but {GIT_USERNAME} is missing; give both, or neither"),
            ));
        }
        _ => {}
    }
    let mut data = serde_json::Map::new();
    data.insert("type".to_owned(), Value::from("git"));
    data.insert("url".to_owned(), Value::from(url));
    match (transport(url), username.zip(password), key) {
        (_, None, None) => return Ok(None),
        (Transport::Https, Some((username, password)), _) => {
            data.insert("username".to_owned(), Value::from(username.expose()));
            data.insert("password".to_owned(), Value::from(password.expose()));
        }
        (Transport::Ssh, _, Some(key)) => {
            data.insert("sshPrivateKey".to_owned(), Value::from(key.expose()));
        }
        (Transport::Https, None, Some(_)) => {
            return Err(Problem::new(
                file(GIT_SSH_KEY),
                format!(
                    "gitRepository is an HTTPS URL, which an SSH key cannot open; give \
                     {GIT_USERNAME} and {GIT_PASSWORD}, or use the repository's SSH URL"
                ),
            ));
        }
        (Transport::Anonymous, _, _) => {
            let given = if key.is_some() { GIT_SSH_KEY } else { GIT_PASSWORD };
            return Err(Problem::new(
                file(given),
                "gitRepository is a git:// or file:// URL, which takes no credentials; \
                 remove the git-* files from SECRETS_DIR or use an HTTPS or SSH URL",
            ));
        }
        (Transport::Ssh, Some(_), None) => {
            return Err(Problem::new(
                file(GIT_SSH_KEY),
                format!(
                    "gitRepository is an SSH URL, which a user name and password cannot open; \
                     give {GIT_SSH_KEY}, or use the repository's HTTPS URL"
                ),
            ));
        }
    }
    Ok(Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": REPOSITORY_SECRET,
            "namespace": namespace,
            "labels": {"argocd.argoproj.io/secret-type": "repository"},
        },
        "type": "Opaque",
        "stringData": data,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(files: &[(&str, &str)]) -> (tempfile::TempDir, Secrets) {
        let dir = tempfile::tempdir().unwrap();
        for (name, value) in files {
            std::fs::write(dir.path().join(name), value).unwrap();
        }
        let secrets = Secrets::load(dir.path()).unwrap();
        (dir, secrets)
    }

    #[test]
    fn no_credentials_no_secret() {
        let (_dir, secrets) = secrets(&[]);
        assert_eq!(
            repository_secret("gitops", "https://git.example.com/p.git", &secrets).unwrap(),
            None
        );
    }

    #[test]
    fn https_credentials() {
        let (_dir, secrets) = secrets(&[(GIT_USERNAME, "robot\n"), (GIT_PASSWORD, "tok-https-123\n")]);
        let secret = repository_secret("gitops", "https://git.example.com/p.git", &secrets)
            .unwrap()
            .unwrap();
        assert_eq!(secret["metadata"]["namespace"], "gitops");
        assert_eq!(
            secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
            "repository"
        );
        assert_eq!(secret["stringData"]["username"], "robot");
        assert_eq!(secret["stringData"]["password"], "tok-https-123");
        assert!(secret["stringData"].get("sshPrivateKey").is_none());
    }

    #[test]
    fn ssh_key_for_an_ssh_url() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAkeybody\n-----END OPENSSH PRIVATE KEY-----\n";
        let (_dir, secrets) = secrets(&[(GIT_SSH_KEY, key), (GIT_USERNAME, "u"), (GIT_PASSWORD, "p")]);
        let secret = repository_secret("gitops", "git@git.example.com:org/p.git", &secrets)
            .unwrap()
            .unwrap();
        assert!(
            secret["stringData"]["sshPrivateKey"]
                .as_str()
                .unwrap()
                .contains("AAAAkeybody")
        );
        assert!(secret["stringData"].get("password").is_none());
    }

    #[test]
    fn half_a_pair_or_a_mismatched_scheme_is_a_problem() {
        let (_dir, only_user) = secrets(&[(GIT_USERNAME, "robot")]);
        let problem = repository_secret("a", "https://h/p.git", &only_user).unwrap_err();
        assert!(problem.message.contains("git-password is missing"), "{problem}");

        let (_dir, only_key) = secrets(&[(GIT_SSH_KEY, "key-material-xyz")]);
        let problem = repository_secret("a", "https://h/p.git", &only_key).unwrap_err();
        assert!(problem.message.contains("HTTPS URL"), "{problem}");
        assert!(!problem.to_string().contains("key-material-xyz"));

        let (_dir, only_pair) = secrets(&[(GIT_USERNAME, "u"), (GIT_PASSWORD, "pw-value-1")]);
        let problem = repository_secret("a", "ssh://git@h/p.git", &only_pair).unwrap_err();
        assert!(problem.message.contains("SSH URL"), "{problem}");

        let problem = repository_secret("a", "git://h/p.git", &only_pair).unwrap_err();
        assert!(problem.message.contains("no credentials"), "{problem}");
    }
}
