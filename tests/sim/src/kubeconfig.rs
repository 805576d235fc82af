//! The kubeconfig a client needs to reach a simulator: one cluster, one
//! user with a bearer token, one context named `kube-sim`. It points at
//! `https://` because client-go sends bearer tokens only over TLS.

/// The kubeconfig YAML for `server`, with user `kube-sim-<user>`
/// authenticating with `token`; `ca_pem` is the CA of an `https://` server.
/// The token appears in the `token:` field only, never in a name.
pub fn render(server: &str, ca_pem: Option<&str>, user: &str, token: &str) -> String {
    use base64::Engine;
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-sim
  cluster:
    server: {server}
{ca}users:
- name: kube-sim-{user}
  user:
    token: {token}
contexts:
- name: kube-sim
  context:
    cluster: kube-sim
    user: kube-sim-{user}
    namespace: default
current-context: kube-sim
preferences: {{}}
"
    )
}
