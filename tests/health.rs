//! Health end to end on kube-sim, whose Argo CD runs the `argocd-cm` checks
//! in Argo CD's Lua sandbox: a broken installed check breaks the deploy as
//! it would in a real Argo CD, and Argo CD's verdict decides resource gates
//! (docs/health.md, "Who decides").

use std::collections::BTreeMap;

use crate::harness::{Platform, demo_sim_config};

fn components(report: &serde_json::Value, kind: &str) -> BTreeMap<String, serde_json::Value> {
    report["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

fn failure<'a>(report: &'a serde_json::Value, component: &str) -> &'a serde_json::Value {
    report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["component"] == component)
        .unwrap_or_else(|| panic!("no failure for {component}: {report}"))
}

fn kubectl(platform: &Platform, args: &[&str]) -> std::process::Output {
    std::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &platform.sandbox.env["KUBECONFIG_PATH"])
        .output()
        .unwrap()
}

#[test]
fn a_broken_installed_check_makes_its_applications_unknown_and_fails_the_deploy() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED a_broken_installed_check...: kubectl is not installed");
        return;
    }
    let platform = Platform::start(demo_sim_config());
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Plant the postgresql check the bootstrap used to install: it calls
    // string.find, which Argo CD's sandbox does not open.
    let broken = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sim/fixtures/health/broken-postgresql.lua"),
    )
    .unwrap();
    let patch = serde_json::json!({"data": {"resource.customizations.health.acid.zalan.do_postgresql": broken}});
    let out = kubectl(
        &platform,
        &[
            "patch",
            "configmap",
            "argocd-cm",
            "-n",
            "argocd",
            "--type",
            "merge",
            "-p",
            &patch.to_string(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The executor's next deploy finds its own settings unchanged, but the
    // postgres-clusters Application cannot be assessed.
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let report = run.report();
    let apps = components(&report, "app");
    assert_eq!(apps["postgres-clusters"]["status"], "Failed");
    for dependent in ["keycloak", "harbor", "backstage", "temporal"] {
        assert_eq!(apps[dependent]["status"], "Skipped", "{dependent}");
    }
    let failed = failure(&report, "postgres-clusters");
    assert_eq!(failed["reason"], "Unknown", "{failed}");
    let diagnostics: Vec<&str> = failed["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    assert!(
        diagnostics.iter().any(
            |d| d.contains("resource.customizations.health.acid.zalan.do_postgresql")
                && d.contains("attempt to index global 'string'")
        ),
        "{diagnostics:#?}"
    );
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with("postgresql databases/platform-postgres: Unknown")),
        "{diagnostics:#?}"
    );
}

const CERTIFICATE_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Certificate, listKind: CertificateList, plural: certificates, singular: certificate}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
";

#[test]
fn a_certificate_argo_cd_reports_degraded_fails_its_resource_gate() {
    // Two Applications: `certs` manages the Certificate, `web` gates on it.
    // The executor has no rule for Certificates (it would call one Healthy
    // because it exists); Argo CD's check reports it Degraded.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("certs")).unwrap();
    std::fs::create_dir_all(repo.path().join("web")).unwrap();
    std::fs::write(repo.path().join("certs/crd.yaml"), CERTIFICATE_CRD).unwrap();
    std::fs::write(
        repo.path().join("certs/certificate.yaml"),
        "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: web-tls\n  namespace: web\n  annotations: {argocd.argoproj.io/sync-wave: \"1\"}\nspec: {secretName: web-tls, dnsNames: [web.demo.example.com], issuerRef: {name: letsencrypt, kind: ClusterIssuer}}\n",
    )
    .unwrap();
    std::fs::write(
        repo.path().join("web/web.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {greeting: hello}\n",
    )
    .unwrap();
    let mut config = demo_sim_config();
    config.repositories = vec![kube_sim::config::Repository {
        url: "https://git.example.com/platform.git".into(),
        dir: repo.path().to_path_buf(),
    }];
    config.apps.clear();
    config.objects = serde_json::from_value(serde_json::json!([{
        "kind": "Certificate", "namespace": "web", "name": "web-tls",
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Failed",
                                   "message": "Issuing certificate failed: the issuer letsencrypt is not ready"}]}
    }]))
    .unwrap();
    let mut platform = Platform::start(config);
    platform.sandbox.config_file(
        "dag.yaml",
        "stacks:
  - name: edge
    apps:
      - {name: certs, path: certs, namespace: web}
      - name: web
        path: web
        namespace: web
        timeouts: {health: 20s}
        resources:
          - {apiVersion: cert-manager.io/v1, kind: Certificate, name: web-tls}
",
    );
    // Deploy `certs` alone: Argo CD reports it Degraded, because of the Certificate.
    platform.sandbox.set("TARGET_SCOPE", "app:certs");
    let run = platform.run(&["deploy"]);
    // Every node in scope failed: exit 1 (docs/operations.md).
    assert_eq!(run.code, 1, "{}", run.report());
    let report = run.report();
    let failed = failure(&report, "certs");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("Caused by cert-manager.io/Certificate:web/web-tls"),
        "{failed}"
    );

    // Then `web`: its own Application is Healthy, its gate is not.
    platform.sandbox.set("TARGET_SCOPE", "app:web");
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 1, "{}", run.report());
    let report = run.report();
    let failed = failure(&report, "web");
    assert_eq!(failed["reason"], "Degraded", "{failed}");
    assert_eq!(
        failed["message"],
        "Certificate web/web-tls: Degraded (Argo CD, Application certs): Issuing certificate failed: the issuer letsencrypt is not ready",
        "{failed}"
    );

    // The same gate judged by the executor itself passes: it has no
    // Certificate rule, the object exists.
    platform.sandbox.config_file(
        "dag.yaml",
        "stacks:
  - name: edge
    apps:
      - {name: certs, path: certs, namespace: web}
      - name: web
        path: web
        namespace: web
        resources:
          - {apiVersion: cert-manager.io/v1, kind: Certificate, name: web-tls, check: executor}
",
    );
    let run = platform.run(&["deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // validate reads Argo CD's verdict too.
    platform.sandbox.config_file(
        "dag.yaml",
        "stacks:
  - name: edge
    apps:
      - {name: web, path: web, namespace: web, resources: [{apiVersion: cert-manager.io/v1, kind: Certificate, name: web-tls}]}
",
    );
    platform.sandbox.unset("TARGET_SCOPE");
    let run = platform.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let web_report = components(&run.report(), "app")["web"].clone();
    assert_eq!(web_report["health"], "Degraded", "{web_report}");
}
