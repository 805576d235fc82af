//! The dependency graph as the rest of the executor sees it.
//!
//! A graph is a list of stacks, each a list of applications. It remembers
//! where each element was written ([`Source`]) so that every validation error
//! can point at the file and line of the mistake, whether it lives in the
//! bundled default graph or in a mounted `dag.yaml`.

use std::time::Duration;

use serde::Serialize;

use crate::input::problem::Source;

/// Where the graph came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GraphOrigin {
    /// The reference platform shipped with the executor.
    Bundled,
    /// A full graph from `$CONFIG_DIR/dag.yaml`.
    Replaced,
    /// The bundled graph with `$CONFIG_DIR/dag.yaml`'s overlay applied.
    Overlaid,
}

/// The platform's dependency graph: stacks of applications.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Stacks in the order they were written.
    pub stacks: Vec<Stack>,
    /// Where the graph came from.
    pub origin: GraphOrigin,
}

/// A group of applications deployed as a unit.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Stack name.
    pub name: Named,
    /// Stacks every application of this stack depends on.
    pub depends_on: Vec<Named>,
    /// The stack's applications.
    pub apps: Vec<App>,
}

/// A name and where it was written.
#[derive(Debug, Clone)]
pub struct Named {
    /// The name.
    pub name: String,
    /// Where it was written.
    pub at: Source,
}

/// One application: one Argo CD Application.
#[derive(Debug, Clone)]
pub struct App {
    /// Application name (also the Argo CD Application's name).
    pub name: Named,
    /// Path of its manifests in the environment's `gitRepository`.
    pub path: String,
    /// Destination namespace.
    pub namespace: String,
    /// Applications or stacks it depends on, as written.
    pub depends_on: Vec<Named>,
    /// Per-node timeouts, overriding the environment's defaults.
    pub timeouts: NodeTimeouts,
    /// Hook scripts, relative to `$CONFIG_DIR`.
    pub hooks: Hooks,
    /// Resource-level health gates.
    pub resources: Vec<ResourceGate>,
    /// Whether the Application syncs automatically (the default); `false`
    /// records that automated sync is disabled on purpose.
    pub auto_sync: bool,
}

/// Timeouts set on a node; `None` means the environment's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeTimeouts {
    /// Sync timeout.
    pub sync: Option<Duration>,
    /// Health timeout.
    pub health: Option<Duration>,
}

/// The hook points of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HookPoint {
    /// Before the node's Application is created or synced.
    PreSync,
    /// After the node is Synced and Healthy.
    PostSync,
    /// An extra health check, after Argo CD reports Healthy.
    Health,
    /// Before the node's Application is deleted.
    PreDelete,
    /// After the node's Application and resources are gone.
    PostDelete,
}

impl HookPoint {
    /// Every hook point, in lifecycle order.
    pub const ALL: [HookPoint; 5] = [
        HookPoint::PreSync,
        HookPoint::PostSync,
        HookPoint::Health,
        HookPoint::PreDelete,
        HookPoint::PostDelete,
    ];

    /// The key in `dag.yaml` (`preSync`, ...).
    pub fn key(self) -> &'static str {
        match self {
            HookPoint::PreSync => "preSync",
            HookPoint::PostSync => "postSync",
            HookPoint::Health => "health",
            HookPoint::PreDelete => "preDelete",
            HookPoint::PostDelete => "postDelete",
        }
    }

    /// The Rhai function a hook script defines for this point (`pre_sync`, ...).
    pub fn function(self) -> &'static str {
        match self {
            HookPoint::PreSync => "pre_sync",
            HookPoint::PostSync => "post_sync",
            HookPoint::Health => "health",
            HookPoint::PreDelete => "pre_delete",
            HookPoint::PostDelete => "post_delete",
        }
    }
}

/// Hook scripts of a node, by hook point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Hooks(pub std::collections::BTreeMap<HookPoint, HookRef>);

/// A hook script named in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookRef {
    /// The path as written, relative to `$CONFIG_DIR`.
    pub path: String,
    /// Where it was written.
    #[serde(skip)]
    pub at: Source,
}

/// A specific object whose health gates the node's dependents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGate {
    /// `group/version` or `v1`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; the application's namespace when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// Who judges it: `argocd` (the default: Argo CD's verdict when an
    /// Application manages it) or `executor` (its own checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

impl ResourceGate {
    /// Whether the executor judges it (`check: executor`) rather than Argo CD.
    pub fn by_executor(&self) -> bool {
        self.check.as_deref() == Some("executor")
    }
}

impl Graph {
    /// Every application with its stack, in written order.
    pub fn apps(&self) -> impl Iterator<Item = (&Stack, &App)> {
        self.stacks
            .iter()
            .flat_map(|stack| stack.apps.iter().map(move |app| (stack, app)))
    }

    /// The stack called `name`.
    pub fn stack(&self, name: &str) -> Option<&Stack> {
        self.stacks.iter().find(|s| s.name.name == name)
    }

    /// The application called `name`.
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps().map(|(_, app)| app).find(|a| a.name.name == name)
    }

    /// Number of applications.
    pub fn app_count(&self) -> usize {
        self.stacks.iter().map(|s| s.apps.len()).sum()
    }
}
