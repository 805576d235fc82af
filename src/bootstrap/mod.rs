//! The bootstrap bundle: Argo CD and Argo Workflows install manifests and the
//! configuration the platform needs, placed and labelled for this environment.
//!
//! This module is a pure transformation, inputs → objects; it never touches
//! the cluster (the applier does). [`load()`]:
//!
//! 1. reads every file of the embedded lock from `BUNDLE_DIR`, refusing a
//!    missing file or a checksum mismatch ([`load`](mod@load), [`lock`]);
//! 2. places the upstream objects in `argocdNamespace`/`workflowsNamespace`,
//!    binding subjects included ([`place`]);
//! 3. adds the health checks to `argocd-cm` ([`health_checks`]), the
//!    read-only account of the Argo CD API token to `argocd-cm` and
//!    `argocd-rbac-cm` ([`account`]; the token itself is made once Argo CD
//!    runs, [`token`]), the
//!    Namespaces and the `platform` AppProject ([`extra`]), the reusable
//!    WorkflowTemplates ([`templates`]) and, when credentials exist, the
//!    repository Secret ([`repository`]);
//! 4. labels everything as one ApplySet and builds its parent ([`inventory`]);
//! 5. sorts the objects into [`Phase`]s in apply order.
//!
//! The same inputs always give the same objects in the same order.
//! docs/bootstrap.md describes the bundle for operators.

pub mod account;
pub mod extra;
pub mod health_checks;
pub mod inventory;
pub mod load;
pub mod lock;
pub mod object;
pub mod place;
pub mod repository;
pub mod templates;
pub mod test_support;
pub mod token;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::config::{EnvironmentConfig, Problem, Secrets};
use load::UpstreamFile;
use lock::{Component, Lock};
use object::ObjectRef;
use place::Scopes;

/// Phase of the Namespaces.
pub const PHASE_NAMESPACES: &str = "namespaces";
/// Phase of the CustomResourceDefinitions; wait for `Established` after it.
pub const PHASE_CRDS: &str = "crds";
/// Phase of RBAC, ServiceAccounts, ConfigMaps, Secrets, PriorityClasses,
/// NetworkPolicies and Services.
pub const PHASE_CONFIGURATION: &str = "configuration";
/// Phase of Deployments and StatefulSets.
pub const PHASE_WORKLOADS: &str = "workloads";
/// Phase of the objects whose kinds the bundle's CRDs define (AppProject, WorkflowTemplates).
pub const PHASE_CUSTOM_RESOURCES: &str = "custom-resources";

/// The phases, in apply order.
pub const PHASES: [&str; 5] = [
    PHASE_NAMESPACES,
    PHASE_CRDS,
    PHASE_CONFIGURATION,
    PHASE_WORKLOADS,
    PHASE_CUSTOM_RESOURCES,
];

/// Built-in kinds that run pods, applied after everything they refer to.
const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "DaemonSet"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("batch", "CronJob"),
    ("batch", "Job"),
    ("", "Pod"),
];

/// What the bundle is built from.
#[derive(Debug, Clone)]
pub struct BundleInputs<'a> {
    /// `BUNDLE_DIR`: the directory holding the locked upstream files.
    pub bundle_dir: &'a Path,
    /// environment.yaml: namespaces and the Git repository.
    pub environment: &'a EnvironmentConfig,
    /// `ENVIRONMENT` (`development`, `staging`, `production`), used as a label value.
    pub tier: &'a str,
    /// `$SECRETS_DIR`: Git credentials for the repository Secret.
    pub secrets: &'a Secrets,
    /// Namespaces the platform's Applications deploy to (the AppProject's
    /// destinations); order and duplicates do not matter.
    pub destination_namespaces: Vec<String>,
    /// The executor image the WorkflowTemplates run by default.
    pub executor_image: String,
}

/// Objects that may be applied in parallel, after every earlier phase.
#[derive(Clone, PartialEq)]
pub struct Phase {
    /// One of [`PHASES`].
    pub name: &'static str,
    /// The objects, sorted by group, kind, namespace and name.
    pub objects: Vec<Value>,
}

/// The bootstrap bundle for one environment.
///
/// Apply [`Bundle::parent`] after the `namespaces` phase and before the
/// others (the ApplySet parent must exist before its members, and it lives in
/// the Argo CD namespace), then the remaining phases in order. `Debug` shows
/// only object identities, never object contents, so it can be logged.
#[derive(Clone, PartialEq)]
pub struct Bundle {
    /// The ApplySet parent ConfigMap (not a member of any phase).
    pub parent: Value,
    /// Every member object, in apply order.
    pub phases: Vec<Phase>,
    /// Component (`argo-cd`, `argo-workflows`) → upstream version.
    pub versions: BTreeMap<String, String>,
    /// The ApplySet id every member is labelled with.
    pub applyset_id: String,
}

impl Bundle {
    /// Every member object, phase by phase.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.phases.iter().flat_map(|phase| phase.objects.iter())
    }

    /// The phase called `name`.
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|phase| phase.name == name)
    }
}

impl fmt::Debug for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let objects: Vec<String> = self.objects.iter().map(|o| ObjectRef::of(o).to_string()).collect();
        f.debug_struct("Phase")
            .field("name", &self.name)
            .field("objects", &objects)
            .finish()
    }
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("parent", &ObjectRef::of(&self.parent).to_string())
            .field("phases", &self.phases)
            .field("versions", &self.versions)
            .field("applyset_id", &self.applyset_id)
            .finish()
    }
}

/// Builds the bundle: reads and verifies `BUNDLE_DIR`, then places, completes
/// and labels the objects.
///
/// # Errors
/// Every problem found (exit 3): missing files, checksum mismatches, files
/// that do not parse, placement problems, unusable Git credentials, objects
/// that collide.
pub fn load(inputs: &BundleInputs<'_>) -> Result<Bundle, Vec<Problem>> {
    let lock = Lock::bundled().map_err(|problem| vec![problem])?;
    let files = load::read_all(inputs.bundle_dir, &lock)?;
    assemble(&lock, files, inputs)
}

/// Builds the bundle from files already read and verified (see [`load()`]).
///
/// # Errors
/// As [`load()`], except for reading.
pub fn assemble(lock: &Lock, files: Vec<UpstreamFile>, inputs: &BundleInputs<'_>) -> Result<Bundle, Vec<Problem>> {
    let environment = inputs.environment;
    let argocd_namespace = environment.argocd_namespace.as_str();
    let workflows_namespace = environment.workflows_namespace.as_str();
    let mut problems = Vec::new();

    let scopes = Scopes::from_crds(files.iter().flat_map(|file| file.objects.iter()));
    let mut objects = Vec::new();
    for mut file in files {
        let component = file.locked.component;
        let target = match component {
            Component::ArgoCd => argocd_namespace,
            Component::ArgoWorkflows => workflows_namespace,
        };
        if let Err(more) = place::place(component, &file.path, &mut file.objects, target, &scopes) {
            problems.extend(more);
        }
        if component == Component::ArgoCd
            && let Err(problem) = health_checks::configure(&file.path, &mut file.objects)
        {
            problems.push(problem);
        }
        if component == Component::ArgoCd
            && let Err(problem) = account::configure(&file.path, &mut file.objects)
        {
            problems.push(problem);
        }
        objects.extend(file.objects);
    }

    objects.extend(extra::namespaces(argocd_namespace, workflows_namespace));
    objects.push(extra::app_project(
        argocd_namespace,
        &environment.git_repository,
        &inputs.destination_namespaces,
    ));
    objects.extend(templates::workflow_rbac(workflows_namespace, argocd_namespace));
    objects.extend(templates::workflow_templates(
        workflows_namespace,
        &inputs.executor_image,
        inputs.tier,
    ));
    match repository::repository_secret(argocd_namespace, &environment.git_repository, inputs.secrets) {
        Ok(Some(secret)) => objects.push(secret),
        Ok(None) => {}
        Err(problem) => problems.push(problem),
    }
    problems.extend(collisions(&objects));
    if !problems.is_empty() {
        return Err(problems);
    }

    let applyset_id = inventory::bundle_applyset_id(argocd_namespace);
    inventory::label_members(objects.iter_mut(), &applyset_id, inputs.tier);
    let parent = inventory::parent(argocd_namespace, inputs.tier, &objects);
    Ok(Bundle {
        parent,
        phases: into_phases(objects, &scopes),
        versions: lock.versions(),
        applyset_id,
    })
}

/// The distinct `(apiVersion, kind)` pairs of the bundle, parent included,
/// sorted: what a read of the current state must list.
pub fn kinds(bundle: &Bundle) -> Vec<(String, String)> {
    std::iter::once(&bundle.parent)
        .chain(bundle.objects())
        .map(|o| (object::api_version(o).to_owned(), object::kind(o).to_owned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Two objects with the same identity: only possible when both components
/// share a namespace and name something alike, or an addition repeats an
/// upstream object.
fn collisions(objects: &[Value]) -> Vec<Problem> {
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for object in objects {
        let id = ObjectRef::of(object);
        if !seen.insert(id.clone()) {
            problems.push(Problem::new(
                crate::config::Source::file("bundled:bootstrap"),
                format!(
                    "{id} appears twice in the bootstrap bundle; give Argo CD and Argo \
                     Workflows different namespaces (argocdNamespace, workflowsNamespace)"
                ),
            ));
        }
    }
    problems
}

/// The index in [`PHASES`] of an object.
fn phase_index(object: &Value, scopes: &Scopes) -> usize {
    let (group, kind) = (object::group(object), object::kind(object));
    if (group, kind) == ("", "Namespace") {
        0
    } else if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition") {
        1
    } else if scopes.is_custom(group, kind) {
        4
    } else if WORKLOADS.contains(&(group, kind)) {
        3
    } else {
        2
    }
}

fn into_phases(objects: Vec<Value>, scopes: &Scopes) -> Vec<Phase> {
    let mut sorted: Vec<Vec<(ObjectRef, Value)>> = PHASES.iter().map(|_| Vec::new()).collect();
    for object in objects {
        let index = phase_index(&object, scopes);
        if let Some(phase) = sorted.get_mut(index) {
            phase.push((ObjectRef::of(&object), object));
        }
    }
    PHASES
        .iter()
        .zip(sorted)
        .map(|(name, mut objects)| {
            objects.sort_by(|a, b| a.0.cmp(&b.0));
            Phase {
                name,
                objects: objects.into_iter().map(|(_, object)| object).collect(),
            }
        })
        .collect()
}
