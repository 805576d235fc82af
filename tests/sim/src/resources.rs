//! The resource types the simulated API server serves: the built-in kinds and
//! whatever kinds CustomResourceDefinitions add at run time.
//!
//! Discovery, URL routing, the OpenAPI document and the controllers all ask
//! this registry, so a CRD starts (and stops) being served everywhere at once.

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Group and plural resource name: the key objects are stored under (all
/// versions of a resource share their objects).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group (empty for the core group).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
}

impl GroupResource {
    /// Builds a key from group and plural.
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

/// One additional printer column (`kubectl get` output).
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// Simple JSON path (`.status.sync.status`).
    pub json_path: String,
}

/// One served resource at one version.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group (empty for core).
    pub group: String,
    /// Version (`v1`).
    pub version: String,
    /// Plural name (`deployments`).
    pub resource: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// Singular name (`deployment`).
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether a `status` subresource exists.
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained.
    pub has_generation: bool,
    /// Whether only `create` is served (access reviews).
    pub create_only: bool,
    /// The CRD's OpenAPI v3 schema for this version, if any.
    pub schema: Option<Arc<Value>>,
    /// Extra `kubectl get` columns.
    pub printer_columns: Vec<PrinterColumn>,
    /// Whether this version is the one discovery prefers.
    pub preferred: bool,
    /// Whether this comes from a CRD.
    pub custom: bool,
}

impl ResourceType {
    /// `apiVersion` of objects of this type.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.resource)
    }

    /// The verbs discovery lists.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.create_only {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

/// The set of served resource types.
#[derive(Debug)]
pub struct Registry {
    types: RwLock<Vec<Arc<ResourceType>>>,
    revision: AtomicU64,
}

struct Builtin {
    gv: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    generation: bool,
}

const fn b(
    gv: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    generation: bool,
) -> Builtin {
    Builtin {
        gv,
        resource,
        kind,
        namespaced,
        short,
        status,
        generation,
    }
}

const BUILTINS: &[Builtin] = &[
    b("v1", "namespaces", "Namespace", false, &["ns"], true, false),
    b("v1", "configmaps", "ConfigMap", true, &["cm"], false, false),
    b("v1", "secrets", "Secret", true, &[], false, false),
    b("v1", "services", "Service", true, &["svc"], true, false),
    b("v1", "serviceaccounts", "ServiceAccount", true, &["sa"], false, false),
    b("v1", "pods", "Pod", true, &["po"], true, false),
    b("v1", "events", "Event", true, &["ev"], false, false),
    // A second view of the same Events (api/events_view.rs), no storage of its own.
    b("events.k8s.io/v1", "events", "Event", true, &[], false, false),
    b("v1", "endpoints", "Endpoints", true, &["ep"], false, false),
    b(
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        true,
        false,
    ),
    b(
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        false,
        &["pv"],
        true,
        false,
    ),
    b("v1", "nodes", "Node", false, &["no"], true, false),
    b("v1", "resourcequotas", "ResourceQuota", true, &["quota"], true, false),
    b("v1", "limitranges", "LimitRange", true, &["limits"], false, false),
    b("apps/v1", "deployments", "Deployment", true, &["deploy"], true, true),
    b("apps/v1", "statefulsets", "StatefulSet", true, &["sts"], true, true),
    b("apps/v1", "daemonsets", "DaemonSet", true, &["ds"], true, true),
    b("apps/v1", "replicasets", "ReplicaSet", true, &["rs"], true, true),
    b(
        "apps/v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
        false,
        false,
    ),
    b("batch/v1", "jobs", "Job", true, &[], true, true),
    b("batch/v1", "cronjobs", "CronJob", true, &["cj"], true, true),
    b("rbac.authorization.k8s.io/v1", "roles", "Role", true, &[], false, false),
    b(
        "rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io/v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
        false,
    ),
    b(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
        true,
    ),
    b(
        "networking.k8s.io/v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
        true,
    ),
    b(
        "networking.k8s.io/v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        true,
        true,
    ),
    b(
        "networking.k8s.io/v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
        false,
        false,
    ),
    b(
        "scheduling.k8s.io/v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
        false,
        false,
    ),
    b(
        "storage.k8s.io/v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
        false,
        false,
    ),
    b(
        "policy/v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        true,
        true,
    ),
    b("coordination.k8s.io/v1", "leases", "Lease", true, &[], false, false),
    b(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        true,
        true,
    ),
    b(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        false,
        true,
    ),
    b(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        false,
        true,
    ),
    b(
        "authorization.k8s.io/v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
        &[],
        false,
        false,
    ),
    b(
        "authorization.k8s.io/v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
        &[],
        false,
        false,
    ),
];

fn builtin_type(item: &Builtin) -> ResourceType {
    let (group, version) = match item.gv.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), item.gv.to_string()),
    };
    let create_only = group == "authorization.k8s.io";
    let all = matches!(
        item.resource,
        "pods" | "services" | "deployments" | "statefulsets" | "daemonsets" | "replicasets" | "jobs" | "cronjobs"
    );
    ResourceType {
        group,
        version,
        resource: item.resource.to_string(),
        kind: item.kind.to_string(),
        singular: item.kind.to_lowercase(),
        namespaced: item.namespaced,
        short_names: item.short.iter().map(|s| s.to_string()).collect(),
        categories: if all { vec!["all".to_string()] } else { vec![] },
        status_subresource: item.status,
        has_generation: item.generation,
        create_only,
        schema: None,
        printer_columns: vec![],
        preferred: true,
        custom: false,
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with the built-in kinds.
    pub fn new() -> Self {
        Self {
            types: RwLock::new(BUILTINS.iter().map(|b| Arc::new(builtin_type(b))).collect()),
            revision: AtomicU64::new(1),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<ResourceType>>> {
        self.types.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A number that changes whenever the served set changes (discovery hashes).
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// Every served type.
    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.read().clone()
    }

    /// The type served at group/version/plural.
    pub fn lookup(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceType>> {
        self.read()
            .iter()
            .find(|t| t.group == group && t.version == version && t.resource == resource)
            .cloned()
    }

    /// The preferred version of a group/plural.
    pub fn preferred(&self, group: &str, resource: &str) -> Option<Arc<ResourceType>> {
        let types = self.read();
        types
            .iter()
            .find(|t| t.group == group && t.resource == resource && t.preferred)
            .or_else(|| types.iter().find(|t| t.group == group && t.resource == resource))
            .cloned()
    }

    /// The type of an object by `apiVersion` and `kind`.
    pub fn by_api_version_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.read()
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    /// The preferred type for a group and kind, whatever the version.
    pub fn by_group_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let types = self.read();
        types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.preferred)
            .or_else(|| types.iter().find(|t| t.group == group && t.kind == kind))
            .cloned()
    }

    /// Whether group/version is served at all.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.read().iter().any(|t| t.group == group && t.version == version)
    }

    /// Served groups in discovery order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.read().iter() {
            if t.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        if t.preferred {
                            versions.insert(0, t.version.clone());
                        } else {
                            versions.push(t.version.clone());
                        }
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// Types served at one group/version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.read()
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .cloned()
            .collect()
    }

    /// Starts serving the kinds a CRD defines (replacing an earlier version of it).
    ///
    /// # Errors
    /// A message when the CRD lacks group, names or versions.
    pub fn install_crd(&self, crd: &Value) -> Result<(), String> {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().ok_or("spec.group is required")?;
        let names = &spec["names"];
        let plural = names["plural"].as_str().ok_or("spec.names.plural is required")?;
        let kind = names["kind"].as_str().ok_or("spec.names.kind is required")?;
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let versions = spec["versions"].as_array().ok_or("spec.versions is required")?;
        let mut new_types = Vec::new();
        let served: Vec<&Value> = versions
            .iter()
            .filter(|v| v["served"].as_bool().unwrap_or(true))
            .collect();
        let storage_or_first = served
            .iter()
            .position(|v| v["storage"].as_bool() == Some(true))
            .unwrap_or(0);
        for (index, version) in served.iter().enumerate() {
            let name = version["name"].as_str().ok_or("versions[].name is required")?;
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                    .unwrap_or_default()
            };
            let printer_columns = version["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .filter(|c| c["priority"].as_i64().unwrap_or(0) == 0)
                        .filter_map(|c| {
                            Some(PrinterColumn {
                                name: c["name"].as_str()?.to_string(),
                                json_path: c["jsonPath"].as_str()?.to_string(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let schema = version["schema"]["openAPIV3Schema"].clone();
            new_types.push(Arc::new(ResourceType {
                group: group.to_string(),
                version: name.to_string(),
                resource: plural.to_string(),
                kind: kind.to_string(),
                singular: names["singular"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| kind.to_lowercase()),
                namespaced,
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                status_subresource: version["subresources"]["status"].is_object(),
                has_generation: true,
                create_only: false,
                schema: if schema.is_null() { None } else { Some(Arc::new(schema)) },
                printer_columns,
                preferred: index == storage_or_first,
                custom: true,
            }));
        }
        let mut types = self.types.write().unwrap_or_else(|e| e.into_inner());
        types.retain(|t| !(t.custom && t.group == group && t.resource == plural));
        types.extend(new_types);
        self.revision.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Stops serving a CRD's kinds.
    pub fn remove_crd(&self, group: &str, plural: &str) {
        let mut types = self.types.write().unwrap_or_else(|e| e.into_inner());
        types.retain(|t| !(t.custom && t.group == group && t.resource == plural));
        self.revision.fetch_add(1, Ordering::SeqCst);
    }
}
