//! The bundle against the real upstream files of `shared/upstream/`.
//!
//! The two files are parsed once per test binary (they are 2.8 MB together)
//! and every test assembles from clones of that parse; only the tests about
//! reading `BUNDLE_DIR` read files themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::*;
use crate::config::environment;

fn upstream_dir() -> PathBuf {
    test_support::upstream_dir().unwrap_or_else(|| {
        panic!(
            "the upstream manifests were not found; set {} to the directory holding them",
            test_support::UPSTREAM_DIR_VAR
        )
    })
}

/// The upstream files, read, verified and parsed once.
fn upstream() -> &'static [UpstreamFile] {
    static FILES: OnceLock<Vec<UpstreamFile>> = OnceLock::new();
    FILES.get_or_init(|| load::read_all(&upstream_dir(), &Lock::bundled().unwrap()).unwrap())
}

fn environment_with(argocd: &str, workflows: &str) -> EnvironmentConfig {
    let text = format!(
        "name: staging-eu\ndomain: staging.example.com\ngitRepository: https://git.example.com/platform.git\ngitRevision: main\nargocdNamespace: {argocd}\nworkflowsNamespace: {workflows}\n"
    );
    environment::parse(Path::new("environment.yaml"), &text).unwrap()
}

fn inputs<'a>(environment: &'a EnvironmentConfig, secrets: &'a Secrets) -> BundleInputs<'a> {
    BundleInputs {
        bundle_dir: Path::new("/nonexistent"),
        environment,
        tier: "staging",
        secrets,
        destination_namespaces: vec!["vault".to_owned(), "cert-manager".to_owned(), "rook-ceph".to_owned()],
        executor_image: "registry.example.com/executor:0.1.0".to_owned(),
    }
}

fn assemble_from_cache(inputs: &BundleInputs<'_>) -> Result<Bundle, Vec<Problem>> {
    assemble(&Lock::bundled().unwrap(), upstream().to_vec(), inputs)
}

fn gitops_bundle(secrets: &Secrets) -> Bundle {
    let environment = environment_with("gitops", "wf");
    assemble_from_cache(&inputs(&environment, secrets)).unwrap()
}

fn count_kinds<'a>(objects: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for object in objects {
        *counts.entry(object::kind(object).to_owned()).or_insert(0) += 1;
    }
    counts
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

fn file_of(component: Component) -> &'static UpstreamFile {
    upstream().iter().find(|f| f.locked.component == component).unwrap()
}

#[test]
fn lock_checksums_match_the_upstream_files() {
    let dir = upstream_dir();
    for file in Lock::bundled().unwrap().files {
        let bytes = std::fs::read(dir.join(&file.name)).unwrap();
        assert_eq!(load::sha256_hex(&bytes), file.sha256, "{}", file.name);
    }
}

#[test]
fn a_modified_copy_is_refused_with_both_checksums() {
    let lock = Lock::bundled().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for file in &lock.files {
        std::fs::copy(upstream_dir().join(&file.name), dir.path().join(&file.name)).unwrap();
    }
    let argocd = &lock.files[0];
    let path = dir.path().join(&argocd.name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("# an innocent-looking edit\n");
    std::fs::write(&path, &text).unwrap();

    let problems = load::read_all(dir.path(), &lock).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert_eq!(problem.source, crate::config::Source::file(&path));
    let actual = load::sha256_hex(text.as_bytes());
    assert_eq!(
        problem.to_string(),
        format!(
            "{}: sha256: checksum mismatch: expected sha256 {}, found {actual}; this is not the \
             argo-cd v3.5.1 file this executor was built for. Restore it with `bundle/fetch <dir>` \
             (it downloads and verifies {}) or point BUNDLE_DIR at an unmodified copy",
            path.display(),
            argocd.sha256,
            argocd.name
        )
    );
}

#[test]
fn upstream_counts_per_kind() {
    let argocd = &file_of(Component::ArgoCd).objects;
    assert_eq!(argocd.len(), 59);
    assert_eq!(
        count_kinds(argocd),
        counts(&[
            ("ClusterRole", 3),
            ("ClusterRoleBinding", 3),
            ("ConfigMap", 7),
            ("CustomResourceDefinition", 3),
            ("Deployment", 6),
            ("NetworkPolicy", 7),
            ("Role", 6),
            ("RoleBinding", 6),
            ("Secret", 2),
            ("Service", 8),
            ("ServiceAccount", 7),
            ("StatefulSet", 1),
        ])
    );
    // The upstream README says 25 objects; the file holds 24 documents
    // (23 `---` separators, no empty document): the count here is the file's.
    let workflows = &file_of(Component::ArgoWorkflows).objects;
    assert_eq!(workflows.len(), 24);
    assert_eq!(
        count_kinds(workflows),
        counts(&[
            ("ClusterRole", 5),
            ("ClusterRoleBinding", 2),
            ("ConfigMap", 1),
            ("CustomResourceDefinition", 8),
            ("Deployment", 2),
            ("PriorityClass", 1),
            ("Role", 1),
            ("RoleBinding", 1),
            ("Service", 1),
            ("ServiceAccount", 2),
        ])
    );
}

#[test]
fn bundle_counts_are_upstream_plus_additions() {
    let bundle = gitops_bundle(&Secrets::default());
    assert_eq!(bundle.objects().count(), 59 + 24 + 2 + 1 + 7 + 3);
    assert_eq!(
        count_kinds(bundle.objects()),
        counts(&[
            ("AppProject", 1),
            ("ClusterRole", 9),
            ("ClusterRoleBinding", 6),
            ("ConfigMap", 8),
            ("CustomResourceDefinition", 11),
            ("Deployment", 8),
            ("Namespace", 2),
            ("NetworkPolicy", 7),
            ("PriorityClass", 1),
            ("Role", 9),
            ("RoleBinding", 9),
            ("Secret", 2),
            ("Service", 9),
            ("ServiceAccount", 10),
            ("StatefulSet", 1),
            ("WorkflowTemplate", 3),
        ])
    );
    let names: Vec<&str> = bundle.phases.iter().map(|p| p.name).collect();
    assert_eq!(names, PHASES);
    let phase_counts: Vec<usize> = bundle.phases.iter().map(|p| p.objects.len()).collect();
    assert_eq!(phase_counts, [2, 11, 70, 9, 4]);
}

/// Which component's namespace each object belongs in, by identity before placement.
fn expected_namespaces(environment: &EnvironmentConfig) -> BTreeMap<(String, String, String), String> {
    let mut expected = BTreeMap::new();
    for file in upstream() {
        let target = match file.locked.component {
            Component::ArgoCd => &environment.argocd_namespace,
            Component::ArgoWorkflows => &environment.workflows_namespace,
        };
        for object in &file.objects {
            let key = (
                object::group(object).to_owned(),
                object::kind(object).to_owned(),
                object::name(object).to_owned(),
            );
            expected.insert(key, target.clone());
        }
    }
    expected
}

#[test]
fn placement_honours_both_namespaces_for_every_object_and_subject() {
    let environment = environment_with("gitops", "wf");
    let secrets = Secrets::default();
    let bundle = assemble_from_cache(&inputs(&environment, &secrets)).unwrap();
    let scopes = Scopes::from_crds(bundle.objects());
    let expected = expected_namespaces(&environment);
    let service_accounts: Vec<(String, String)> = bundle
        .objects()
        .filter(|o| object::is(o, "", "ServiceAccount"))
        .map(|o| {
            (
                object::namespace(o).unwrap_or_default().to_owned(),
                object::name(o).to_owned(),
            )
        })
        .collect();

    let mut namespaced = 0;
    let mut subjects = 0;
    for object in bundle.objects() {
        let id = ObjectRef::of(object);
        let scope = scopes
            .of(object::group(object), object::kind(object))
            .unwrap_or_else(|| panic!("{id}: unknown scope"));
        match scope {
            place::Scope::Cluster => assert_eq!(object::namespace(object), None, "{id}"),
            place::Scope::Namespaced => {
                namespaced += 1;
                let namespace = object::namespace(object).unwrap_or_else(|| panic!("{id}: no namespace"));
                let key = (id.group.clone(), id.kind.clone(), id.name.clone());
                match expected.get(&key) {
                    Some(want) => assert_eq!(namespace, want, "{id}"),
                    None => assert!(["gitops", "wf"].contains(&namespace), "{id}"),
                }
            }
        }
        if !(object::is(object, "rbac.authorization.k8s.io", "RoleBinding")
            || object::is(object, "rbac.authorization.k8s.io", "ClusterRoleBinding"))
        {
            continue;
        }
        for subject in object["subjects"].as_array().unwrap() {
            assert_eq!(subject["kind"], "ServiceAccount", "{id}");
            subjects += 1;
            let namespace = subject["namespace"]
                .as_str()
                .or(object::namespace(object))
                .unwrap_or_else(|| panic!("{id}: subject without a namespace"));
            let name = subject["name"].as_str().unwrap();
            assert!(
                service_accounts.contains(&(namespace.to_owned(), name.to_owned())),
                "{id}: subject {namespace}/{name} is not a ServiceAccount of the bundle"
            );
        }
    }
    // Argo CD 50, Argo Workflows 8, additions 9.
    assert_eq!(namespaced, 50 + 8 + 9);
    // Argo CD 3 + 6, Argo Workflows 2 + 1, the template pods' bindings 3.
    assert_eq!(subjects, 9 + 3 + 3);
}

/// Every string of `value` with the key it sits under.
fn strings<'a>(key: &'a str, value: &'a Value, out: &mut Vec<(&'a str, &'a str)>) {
    match value {
        Value::String(text) => out.push((key, text)),
        Value::Array(items) => items.iter().for_each(|item| strings(key, item, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| strings(k, v, out)),
        _ => {}
    }
}

#[test]
fn no_other_reference_to_the_upstream_namespaces_remains() {
    let environment = environment_with("gitops", "wf");
    let secrets = Secrets::default();
    let bundle = assemble_from_cache(&inputs(&environment, &secrets)).unwrap();
    let upstream_objects = expected_namespaces(&environment);
    let mut checked = 0;
    for object in bundle.objects().filter(|o| {
        let id = ObjectRef::of(o);
        upstream_objects.contains_key(&(id.group, id.kind, id.name))
            && !object::is(o, "apiextensions.k8s.io", "CustomResourceDefinition")
    }) {
        checked += 1;
        let mut found = Vec::new();
        strings("", object, &mut found);
        for (key, text) in found {
            if key.eq_ignore_ascii_case("namespace") {
                assert!(
                    ["gitops", "wf"].contains(&text),
                    "{}: {key}: {text}",
                    ObjectRef::of(object)
                );
            }
            for upstream in ["argocd", "argo"] {
                for pattern in [format!(".{upstream}.svc"), format!("{upstream}.svc.cluster")] {
                    assert!(!text.contains(&pattern), "{}: {key}: {text}", ObjectRef::of(object));
                }
                assert!(
                    !(text == upstream && key.to_ascii_lowercase().contains("namespace")),
                    "{}: {key}",
                    ObjectRef::of(object)
                );
            }
        }
    }
    assert_eq!(checked, 59 - 3 + 24 - 8);
}

#[test]
fn default_namespaces_and_a_shared_namespace_work() {
    let secrets = Secrets::default();
    let defaults = environment_with("argocd", "argo");
    let bundle = assemble_from_cache(&inputs(&defaults, &secrets)).unwrap();
    let controller = bundle
        .objects()
        .find(|o| object::name(o) == "workflow-controller" && object::kind(o) == "Deployment")
        .unwrap();
    assert_eq!(object::namespace(controller), Some("argo"));

    let shared = environment_with("platform-system", "platform-system");
    let bundle = assemble_from_cache(&inputs(&shared, &secrets)).unwrap();
    assert_eq!(bundle.phase(PHASE_NAMESPACES).unwrap().objects.len(), 1);
    assert!(
        bundle
            .parent
            .pointer("/metadata/annotations/applyset.kubernetes.io~1additional-namespaces")
            .is_none()
    );
}

#[test]
fn every_object_carries_the_inventory_labels() {
    let bundle = gitops_bundle(&Secrets::default());
    assert_eq!(bundle.applyset_id, inventory::bundle_applyset_id("gitops"));
    for object in bundle.objects() {
        let id = ObjectRef::of(object);
        assert_eq!(
            object::label(object, inventory::PART_OF_LABEL),
            Some(bundle.applyset_id.as_str()),
            "{id}"
        );
        assert_eq!(
            object::label(object, inventory::MANAGED_BY_LABEL),
            Some("executor"),
            "{id}"
        );
        assert_eq!(
            object::label(object, inventory::ENVIRONMENT_LABEL),
            Some("staging"),
            "{id}"
        );
    }
    let parent = &bundle.parent;
    assert_eq!(object::namespace(parent), Some("gitops"));
    assert_eq!(
        object::label(parent, inventory::ID_LABEL),
        Some(bundle.applyset_id.as_str())
    );
    let annotations = &parent["metadata"]["annotations"];
    assert_eq!(annotations[inventory::ADDITIONAL_NAMESPACES_ANNOTATION], "wf");
    let group_kinds = annotations[inventory::CONTAINS_GROUP_KINDS_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(group_kinds.starts_with("AppProject.argoproj.io,ClusterRole.rbac.authorization.k8s.io,"));
    assert!(group_kinds.contains(",ConfigMap,"));
    assert_eq!(group_kinds.split(',').count(), 16);
}

#[test]
fn argocd_cm_gets_the_health_checks_and_keeps_its_settings() {
    let bundle = gitops_bundle(&Secrets::default());
    let config = bundle.objects().find(|o| object::name(o) == "argocd-cm").unwrap();
    let data = config["data"].as_object().unwrap();
    assert!(data.contains_key("resource.exclusions"));
    for (group_kind, script) in health_checks::HEALTH_CHECKS {
        assert_eq!(data[&format!("resource.customizations.health.{group_kind}")], script);
    }
    let params = bundle
        .objects()
        .find(|o| object::name(o) == health_checks::ARGOCD_CMD_PARAMS_CM)
        .unwrap();
    assert_eq!(params["data"][health_checks::PERSIST_RESOURCE_HEALTH], "true");
}

#[test]
fn additions_are_where_the_design_wants_them() {
    let bundle = gitops_bundle(&Secrets::default());
    let custom = bundle.phase(PHASE_CUSTOM_RESOURCES).unwrap();
    let ids: Vec<String> = custom.objects.iter().map(|o| ObjectRef::of(o).to_string()).collect();
    assert_eq!(
        ids,
        [
            "AppProject.argoproj.io gitops/platform",
            "WorkflowTemplate.argoproj.io wf/sync-and-wait",
            "WorkflowTemplate.argoproj.io wf/teardown",
            "WorkflowTemplate.argoproj.io wf/validate",
        ]
    );
    let project = &custom.objects[0];
    assert_eq!(
        project["spec"]["sourceRepos"][0],
        "https://git.example.com/platform.git"
    );
    assert_eq!(project["spec"]["destinations"].as_array().unwrap().len(), 3);
    let sync = &custom.objects[1];
    assert_eq!(
        sync["spec"]["arguments"]["parameters"][1]["value"],
        "registry.example.com/executor:0.1.0"
    );
}

#[test]
fn kinds_are_distinct_and_sorted() {
    let bundle = gitops_bundle(&Secrets::default());
    let kinds = kinds(&bundle);
    assert!(kinds.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(kinds.len(), 16);
    assert!(kinds.contains(&("v1".to_owned(), "ConfigMap".to_owned())));
    assert!(kinds.contains(&("argoproj.io/v1alpha1".to_owned(), "WorkflowTemplate".to_owned())));
    assert!(kinds.contains(&("scheduling.k8s.io/v1".to_owned(), "PriorityClass".to_owned())));
}

#[test]
fn repository_secret_only_with_credentials_and_never_in_debug_output() {
    let without = gitops_bundle(&Secrets::default());
    let is_repository = |o: &&Value| object::name(o) == repository::REPOSITORY_SECRET;
    assert!(without.objects().find(is_repository).is_none());

    let dir = tempfile::tempdir().unwrap();
    let password = "pw-Zq8mV3nXr7Lk2Tb9";
    std::fs::write(dir.path().join("git-username"), "platform-robot").unwrap();
    std::fs::write(dir.path().join("git-password"), password).unwrap();
    let secrets = Secrets::load(dir.path()).unwrap();
    let bundle = gitops_bundle(&secrets);
    assert_eq!(bundle.objects().count(), without.objects().count() + 1);
    let secret = bundle.objects().find(is_repository).unwrap();
    assert_eq!(object::namespace(secret), Some("gitops"));
    assert_eq!(secret["stringData"]["password"], password);
    assert_eq!(secret["stringData"]["url"], "https://git.example.com/platform.git");

    assert!(!format!("{bundle:?}").contains(password));
    assert!(!format!("{:?}", bundle.phases).contains(password));
    assert!(!format!("{:?}", bundle.parent).contains(password));
    for object in bundle.objects() {
        let mut without_string_data = object.clone();
        if let Some(fields) = without_string_data.as_object_mut() {
            fields.remove("stringData");
        }
        assert!(
            !format!("{without_string_data:?}").contains(password),
            "{}",
            ObjectRef::of(object)
        );
        if !std::ptr::eq(object, secret) {
            assert!(!format!("{object:?}").contains(password), "{}", ObjectRef::of(object));
        }
    }
}

#[test]
fn unusable_credentials_are_an_input_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("git-username"), "platform-robot").unwrap();
    let secrets = Secrets::load(dir.path()).unwrap();
    let environment = environment_with("gitops", "wf");
    let problems = assemble_from_cache(&inputs(&environment, &secrets)).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains("git-password is missing"));
}

#[test]
fn load_is_deterministic() {
    let environment = environment_with("gitops", "wf");
    let secrets = Secrets::default();
    let dir = upstream_dir();
    let mut inputs = inputs(&environment, &secrets);
    inputs.bundle_dir = &dir;
    let loaded = load(&inputs).unwrap();
    let again = assemble_from_cache(&inputs).unwrap();
    assert_eq!(loaded, again);
    assert_eq!(
        serde_json::to_string(&loaded.phases.iter().map(|p| &p.objects).collect::<Vec<_>>()).unwrap(),
        serde_json::to_string(&again.phases.iter().map(|p| &p.objects).collect::<Vec<_>>()).unwrap()
    );
    // Shuffled destinations give the same project.
    let mut reversed = inputs.clone();
    reversed.destination_namespaces.reverse();
    assert_eq!(assemble_from_cache(&reversed).unwrap(), again);
}

#[test]
fn fetch_script_copies_verified_files_and_refuses_modified_ones() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle/fetch");
    let dest = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("sh")
        .arg(&script)
        .arg("--from")
        .arg(upstream_dir())
        .arg(dest.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for file in Lock::bundled().unwrap().files {
        let bytes = std::fs::read(dest.path().join(&file.name)).unwrap();
        assert_eq!(load::sha256_hex(&bytes), file.sha256);
    }

    let modified = tempfile::tempdir().unwrap();
    for file in Lock::bundled().unwrap().files {
        let mut bytes = std::fs::read(upstream_dir().join(&file.name)).unwrap();
        if file.component == Component::ArgoWorkflows {
            bytes.extend_from_slice(b"# edited\n");
        }
        std::fs::write(modified.path().join(&file.name), bytes).unwrap();
    }
    let refused = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("sh")
        .arg(&script)
        .arg("--from")
        .arg(modified.path())
        .arg(refused.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sha256 mismatch, refused"), "{stderr}");
    assert!(!refused.path().join("argo-workflows-v4.1.2-install.yaml").exists());
    assert!(refused.path().join("argo-cd-v3.5.1-install.yaml").exists());
}
