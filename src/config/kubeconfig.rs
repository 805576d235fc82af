//! Cluster credentials: `KUBECONFIG_DATA` (base64) or `KUBECONFIG_PATH`.
//!
//! Exactly one must be given. `KUBECONFIG_PATH` may also name a projected
//! service-account volume (a directory): in-cluster credentials, as a
//! workflow task uses. The text is parsed with kube's own `Kubeconfig`
//! type so contexts, exec plugins, tokens and client certificates behave as
//! they do for kubectl. Every credential in it is registered for redaction the
//! moment it is parsed, and parse errors never echo the file's content.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use kube::config::Kubeconfig;
use secrecy::ExposeSecret;
use serde_saphyr::{SnippetMode, render_options};

use crate::input::input_file::{self, InputFileError};
use crate::input::problem::{Problem, Source};
use crate::redact;

/// The two ways of passing a kubeconfig, as given.
#[derive(Debug, Clone, Copy)]
pub struct KubeconfigInput<'a> {
    /// `KUBECONFIG_DATA`: base64 of the kubeconfig text.
    pub data: Option<&'a str>,
    /// `KUBECONFIG_PATH`: a mounted kubeconfig file.
    pub path: Option<&'a Path>,
}

/// A validated kubeconfig and where it came from.
#[derive(Clone)]
pub struct ClusterAccess {
    /// The parsed kubeconfig (credentials registered for redaction).
    pub kubeconfig: Kubeconfig,
    /// The context used (the kubeconfig's current context).
    pub context: String,
    /// The API server URL of that context.
    pub server: String,
    /// `KUBECONFIG_PATH`'s file, when that was the source.
    pub path: Option<PathBuf>,
}

impl ClusterAccess {
    /// The variable the credentials came from, to name in problems.
    pub fn variable(&self) -> &'static str {
        if self.path.is_some() {
            "KUBECONFIG_PATH"
        } else {
            "KUBECONFIG_DATA"
        }
    }
}

impl std::fmt::Debug for ClusterAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAccess")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Reads and checks the kubeconfig.
///
/// # Errors
/// Both or neither variable set, invalid base64, unreadable file, text that is
/// not a kubeconfig, or no usable current context.
pub fn load(input: KubeconfigInput<'_>) -> Result<ClusterAccess, Problem> {
    let (text, source, path) = match (input.data, input.path) {
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                Source::Var("KUBECONFIG_DATA"),
                "both KUBECONFIG_DATA and KUBECONFIG_PATH are set; set exactly one",
            ));
        }
        (None, None) => {
            return Err(Problem::new(
                Source::Var("KUBECONFIG_DATA"),
                "no cluster credentials: set KUBECONFIG_DATA (base64 kubeconfig) or KUBECONFIG_PATH (mounted file)",
            ));
        }
        (Some(data), None) => (decode(data)?, Source::Var("KUBECONFIG_DATA"), None),
        (None, Some(path)) if path.is_dir() => return in_cluster(path),
        (None, Some(path)) => (read(path)?, Source::file(path), Some(path.to_owned())),
    };
    let kubeconfig = parse(&text, &source)?;
    register_credentials(&kubeconfig);
    let (context, server) = current_server(&kubeconfig, &source)?;
    Ok(ClusterAccess {
        kubeconfig,
        context,
        server,
        path,
    })
}

/// The variables a pod's environment carries for the API server, as the
/// kubelet sets them (and client-go's `rest.InClusterConfig` reads them).
const SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";
const SERVICE_PORT: &str = "KUBERNETES_SERVICE_PORT";

/// `KUBECONFIG_PATH` naming a directory: a projected service-account volume
/// (`token`, `ca.crt`; usually `/var/run/secrets/kubernetes.io/serviceaccount`).
/// The executor then reaches the API server as that ServiceAccount, the way
/// client-go's in-cluster configuration does: the server from
/// `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, the CA and the token
/// read from the directory (the token file re-read as the kubelet rotates
/// it). A workflow task runs this way, with no credential stored anywhere.
fn in_cluster(dir: &Path) -> Result<ClusterAccess, Problem> {
    let problem = |message: String| Problem::new(Source::file(dir), message);
    for file in ["token", "ca.crt"] {
        if !dir.join(file).is_file() {
            return Err(problem(format!(
                "KUBECONFIG_PATH is a directory but has no `{file}`: expected a kubeconfig file, or a service-account volume with `token` and `ca.crt`"
            )));
        }
    }
    let env = |name: &'static str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                Problem::new(
                    Source::Var(name),
                    format!("{name} is not set: in-cluster credentials (KUBECONFIG_PATH={}) need the API server's address, which the kubelet gives every pod", dir.display()),
                )
            })
    };
    let (host, port) = (env(SERVICE_HOST)?, env(SERVICE_PORT)?);
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let server = format!("https://{host}:{port}");
    let token = input_file::read_text(&dir.join("token"), input_file::MAX_KUBECONFIG, Some(dir))
        .map_err(|e| problem(format!("the service-account token {e}")))?;
    redact::register(token.trim());
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: in-cluster\nclusters:\n- name: in-cluster\n  cluster: {{server: '{server}', certificate-authority: '{}'}}\nusers:\n- name: service-account\n  user: {{tokenFile: '{}'}}\ncontexts:\n- name: in-cluster\n  context: {{cluster: in-cluster, user: service-account}}\n",
        dir.join("ca.crt").display(),
        dir.join("token").display()
    );
    let kubeconfig = parse(&text, &Source::file(dir))?;
    Ok(ClusterAccess {
        kubeconfig,
        context: "in-cluster".to_owned(),
        server,
        path: Some(dir.to_owned()),
    })
}

fn decode(data: &str) -> Result<String, Problem> {
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|error| {
            Problem::new(
                Source::Var("KUBECONFIG_DATA"),
                format!("not valid base64 ({error}); expected the output of `base64 -w0 kubeconfig`"),
            )
        })?;
    String::from_utf8(bytes).map_err(|_| {
        Problem::new(
            Source::Var("KUBECONFIG_DATA"),
            "the decoded kubeconfig is not UTF-8 text",
        )
    })
}

fn read(path: &Path) -> Result<String, Problem> {
    input_file::read_text(path, input_file::MAX_KUBECONFIG, None).map_err(|error| {
        let message = match error {
            InputFileError::NotFound => "file not found (KUBECONFIG_PATH)".to_owned(),
            error => format!("the kubeconfig (KUBECONFIG_PATH) {error}"),
        };
        Problem::new(Source::file(path), message)
    })
}

fn parse(text: &str, source: &Source) -> Result<Kubeconfig, Problem> {
    let at = |line: u64, column: u64| match source {
        Source::File { path, .. } => Source::File {
            path: path.clone(),
            position: Some((line, column)),
        },
        other => other.clone(),
    };
    if text.trim().is_empty() {
        return Err(Problem::new(source.clone(), "the kubeconfig is empty"));
    }
    serde_saphyr::from_str::<Kubeconfig>(text).map_err(|error| {
        let plain = error.render_with_options(render_options! { snippets: SnippetMode::Off });
        let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
        Problem::new(
            at(line, column),
            format!(
                "not a valid kubeconfig (line {line}, column {column}): {}",
                without_quoted_values(&plain)
            ),
        )
    })
}

/// Serde messages may quote the offending value; a kubeconfig's values can be
/// credentials, so quoted text is elided.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    let out = out
        .trim()
        .trim_start_matches("error: ")
        .trim_end_matches('.')
        .to_owned();
    match out.split_once(": ") {
        Some((head, tail)) if head.starts_with("line ") => tail.to_owned(),
        _ => out,
    }
}

fn register_credentials(kubeconfig: &Kubeconfig) {
    for named in &kubeconfig.auth_infos {
        let Some(auth) = &named.auth_info else {
            continue;
        };
        for secret in [&auth.token, &auth.password, &auth.client_key_data]
            .into_iter()
            .flatten()
        {
            redact::register(secret.expose_secret());
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(secret.expose_secret().trim())
                && let Ok(text) = String::from_utf8(decoded)
            {
                redact::register(&text);
            }
        }
    }
}

fn current_server(kubeconfig: &Kubeconfig, source: &Source) -> Result<(String, String), Problem> {
    let problem = |message: String| Problem::new(source.clone(), message);
    let context_name = kubeconfig
        .current_context
        .as_deref()
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            problem("the kubeconfig has no current-context; set `current-context` to one of its contexts".to_owned())
        })?;
    let context = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| {
            let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
            problem(format!(
                "current-context `{context_name}` is not among the contexts ({})",
                if known.is_empty() {
                    "none defined".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })?;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            problem(format!(
                "context `{context_name}` names cluster `{}`, which is not defined",
                context.cluster
            ))
        })?;
    if let Some(user) = &context.user
        && !kubeconfig.auth_infos.iter().any(|u| &u.name == user)
    {
        return Err(problem(format!(
            "context `{context_name}` names user `{user}`, which is not defined"
        )));
    }
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| problem(format!("cluster `{}` has no server URL", context.cluster)))?;
    if server.parse::<http::Uri>().is_err() {
        return Err(problem(format!(
            "cluster `{}` has an invalid server URL",
            context.cluster
        )));
    }
    // A CA that is not a certificate would make every request fail the TLS
    // handshake (kube-rs skips what it cannot parse): name it here.
    if let Some(data) = &cluster.certificate_authority_data {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        if !decoded.is_some_and(|pem| pem.contains("-----BEGIN CERTIFICATE-----")) {
            return Err(problem(format!(
                "cluster `{}`: certificate-authority-data is not a base64-encoded PEM certificate (expected `-----BEGIN CERTIFICATE-----` once decoded)",
                context.cluster
            )));
        }
    }
    Ok((context_name.to_owned(), server))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\ncurrent-context: sim\ncontexts:\n- name: sim\n  context: {cluster: sim, user: admin}\nclusters:\n- name: sim\n  cluster: {server: 'http://127.0.0.1:6443'}\nusers:\n- name: admin\n  user: {token: kubeconfig-token-value}\n";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn reads_base64_and_registers_the_token() {
        let data = b64(KUBECONFIG);
        let access = load(KubeconfigInput {
            data: Some(&data),
            path: None,
        })
        .unwrap();
        assert_eq!(access.context, "sim");
        assert_eq!(access.server, "http://127.0.0.1:6443");
        assert_eq!(redact::scrub("token kubeconfig-token-value"), "token <redacted>");
    }

    #[test]
    fn both_or_neither_is_refused() {
        let both = load(KubeconfigInput {
            data: Some("x"),
            path: Some(Path::new("/k")),
        });
        assert!(both.unwrap_err().message.contains("both"));
        let neither = load(KubeconfigInput { data: None, path: None });
        assert!(neither.unwrap_err().message.contains("no cluster credentials"));
    }

    #[test]
    fn bad_inputs_are_explained_without_echoing_content() {
        let bad_b64 = load(KubeconfigInput {
            data: Some("%%%"),
            path: None,
        })
        .unwrap_err();
        assert!(bad_b64.message.contains("not valid base64"));

        let not_yaml = b64("users: [\"secret-token-xyz\"");
        let error = load(KubeconfigInput {
            data: Some(&not_yaml),
            path: None,
        })
        .unwrap_err();
        assert!(error.message.contains("not a valid kubeconfig"), "{}", error.message);
        assert!(!error.message.contains("secret-token-xyz"), "{}", error.message);

        let no_context = b64(&KUBECONFIG.replace("current-context: sim\n", ""));
        let error = load(KubeconfigInput {
            data: Some(&no_context),
            path: None,
        })
        .unwrap_err();
        assert!(error.message.contains("no current-context"), "{}", error.message);
    }
}
