//! The read-only Argo CD API token the bootstrap generates (spec: "ArgoCD
//! token: API access for validation, generated during bootstrap"), end to
//! end on kube-sim through the real binary: the account, its role, the id
//! recorded in `argocd-secret`, a JWT Argo CD would accept in the Secret,
//! kept by a no-op re-deploy, replaced once revoked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::harness::{Platform, demo_environment, demo_sim_config, describe};

const NS: &str = "gitops";

/// An object as the simulated API server holds it.
fn stored(platform: &Platform, resource: &str, name: &str) -> Value {
    let gr = kube_sim::resources::GroupResource::new("", resource);
    let object = platform.sim.cluster().store.get(&gr, NS, name);
    (*object.unwrap_or_else(|| panic!("no {resource} {NS}/{name}"))).clone()
}

fn secret_text(secret: &Value, key: &str) -> String {
    let encoded = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no data.{key} in {}", secret["metadata"]["name"]));
    String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap()
}

fn listed_ids(platform: &Platform) -> Vec<String> {
    let settings = stored(platform, "secrets", "argocd-secret");
    let list: Vec<Value> = serde_json::from_str(&secret_text(&settings, "accounts.executor.tokens")).unwrap();
    list.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}

/// The stored token, checked with the `jsonwebtoken` crate as Argo CD
/// v3.5.1's `sessionmanager.Parse` checks it (util/session/sessionmanager.go
/// lines 232-300): HS256 with the bytes of `server.secretkey`, issuer
/// "argocd", subject "executor:apiKey", a `jti` listed under
/// `accounts.executor.tokens` in argocd-secret. Returns the token and its id.
fn accepted_token(platform: &Platform) -> (String, String) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let settings = stored(platform, "secrets", "argocd-secret");
    let key = secret_text(&settings, "server.secretkey");
    let token = secret_text(&stored(platform, "secrets", "executor-argocd-token"), "token");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["argocd"]);
    validation.sub = Some("executor:apiKey".to_owned());
    validation.set_required_spec_claims(&["iss", "sub", "iat"]);
    let claims = decode::<Value>(&token, &DecodingKey::from_secret(key.as_bytes()), &validation)
        .unwrap_or_else(|e| panic!("Argo CD would refuse the token: {e}"))
        .claims;
    let id = claims["jti"].as_str().unwrap().to_owned();
    assert!(
        listed_ids(platform).contains(&id),
        "the token's id {id} is listed in argocd-secret"
    );
    (token, id)
}

fn deployed(platform: &Platform) -> crate::harness::Run {
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "deploy\n{}", run.stderr);
    run
}

#[test]
fn deploy_issues_a_read_only_api_token_and_a_no_op_rerun_keeps_it() {
    let mut platform = Platform::start(demo_sim_config());
    platform
        .sandbox
        .config_file("environment.yaml", &demo_environment("argocdNamespace: gitops\n"));
    // Debug logs too must not show the token or the signing key.
    platform.sandbox.set("LOG_LEVEL", "debug");
    let first = deployed(&platform);

    let cm = stored(&platform, "configmaps", "argocd-cm");
    assert_eq!(cm["data"]["accounts.executor"], "apiKey");
    let rbac = stored(&platform, "configmaps", "argocd-rbac-cm");
    assert_eq!(rbac["data"]["policy.executor.csv"], "g, executor, role:readonly\n");
    assert!(
        rbac["data"].get("policy.csv").is_none(),
        "policy.csv stays the operator's"
    );

    let (token, id) = accepted_token(&platform);
    assert_eq!(listed_ids(&platform), std::slice::from_ref(&id));
    let secret = stored(&platform, "secrets", "executor-argocd-token");
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"], "executor",
        "an inventory member, removed by teardown"
    );
    let key = secret_text(&stored(&platform, "secrets", "argocd-secret"), "server.secretkey");
    for (stream, text) in [("stdout", &first.stdout), ("stderr", &first.stderr)] {
        assert!(!text.contains(&token), "the token appears in {stream}");
        assert!(!text.contains(&key), "server.secretkey appears in {stream}");
    }
    assert!(
        first.stderr.contains(&id),
        "the run logs the token's id\n{}",
        first.stderr
    );

    // Again: nothing written, the same token.
    let version = secret["metadata"]["resourceVersion"].clone();
    let mark = platform.audit().len();
    deployed(&platform);
    let writes = platform.writes_since(mark);
    assert!(
        writes.is_empty(),
        "a re-deploy must not write:\n{:#?}",
        describe(&writes)
    );
    let (again, _) = accepted_token(&platform);
    assert_eq!(again, token);
    assert_eq!(
        stored(&platform, "secrets", "executor-argocd-token")["metadata"]["resourceVersion"],
        version
    );
}

/// Revocation as `argocd account delete-token` does it (server/account/
/// account.go `DeleteToken`: the id leaves `accounts.executor.tokens`):
/// the next deploy sees Argo CD would refuse the stored token and issues a
/// new one, keeping the account's other tokens.
#[test]
fn a_revoked_token_is_replaced_and_the_accounts_other_tokens_are_kept() {
    let platform = Platform::start(demo_sim_config());
    platform
        .sandbox
        .config_file("environment.yaml", &demo_environment("argocdNamespace: gitops\n"));
    deployed(&platform);
    let (old_token, old_id) = accepted_token(&platform);

    let cluster = platform.sim.cluster();
    let secrets = cluster.registry.preferred("", "secrets").unwrap();
    let others = STANDARD.encode(r#"[{"id":"made-by-an-operator","iat":1}]"#);
    let ctx = kube_sim::api::write::WriteCtx::controller("admin", "argocd");
    kube_sim::api::write::modify(cluster, &secrets, NS, "argocd-secret", None, &ctx, |s| {
        s["data"]["accounts.executor.tokens"] = Value::from(others.clone());
    })
    .unwrap();

    let mark = platform.audit().len();
    let run = deployed(&platform);
    let (token, id) = accepted_token(&platform);
    assert_ne!(token, old_token);
    assert_ne!(id, old_id);
    assert_eq!(listed_ids(&platform), ["made-by-an-operator".to_owned(), id]);
    // Besides the environment's Lease (taken and released around writes).
    let written: Vec<String> = describe(&platform.writes_since(mark))
        .into_iter()
        .filter(|w| !w.contains("/leases/"))
        .collect();
    assert_eq!(
        written.len(),
        2,
        "argocd-secret and the token's Secret only: {written:#?}"
    );
    assert!(
        written[0].contains("/secrets/argocd-secret"),
        "the id is recorded first: {written:#?}"
    );
    assert!(written[1].contains("/secrets/executor-argocd-token"), "{written:#?}");
    let report = run.report();
    let bootstrap = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "bootstrap")
        .unwrap();
    assert_eq!(bootstrap["status"], "Updated", "{bootstrap}");
}
