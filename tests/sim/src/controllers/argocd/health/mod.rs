//! Resource health as Argo CD computes it, and the Application's health
//! from its resources'.
//!
//! One resource (`GetResourceHealth`, argo-cd `gitops-engine/pkg/health/
//! health.go`): being deleted → Progressing "Pending deletion" (unless it
//! holds the hook finalizer); else a health check configured in `argocd-cm`
//! ([`lua`], run in Argo CD's Lua sandbox), else a check Argo CD ships as
//! Lua ([`shipped`], in Rust here), else a built-in Go check ([`builtin`]);
//! a kind with none has no health. A check that fails makes the resource
//! Unknown with the error as its message, and is reported as an error.
//!
//! The Application ([`aggregate`], argo-cd `controller/health.go`
//! `setApplicationHealth`, main) takes the worst of its resources in Argo
//! CD's order (Healthy < Suspended < Progressing < Missing < Degraded <
//! Unknown), skipping hooks, resources annotated
//! `argocd.argoproj.io/ignore-healthcheck: "true"`, resources without
//! health, missing resources and child Applications that are Missing or
//! Unknown; an Application whose resources are all missing is Missing. Its
//! message names the resources that caused it ("Caused by apps/Deployment:
//! ns/name"). Resource health is recorded in `status.resources[].health`
//! only when `controller.resource.health.persist` is `"true"` in
//! `argocd-cmd-params-cm`, as in Argo CD.

pub mod builtin;
pub mod lua;
pub mod rollout;
pub mod shipped;

use crate::api::object;
use crate::cluster::Cluster;
use crate::resources::GroupResource;
use serde_json::Value;

/// Argo CD health states, ordered from best to worst (Argo CD's `healthOrder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    /// Everything is fine.
    Healthy,
    /// Paused on purpose.
    Suspended,
    /// Not yet ready.
    Progressing,
    /// Does not exist.
    Missing,
    /// Failed.
    Degraded,
    /// Cannot tell.
    Unknown,
}

impl Health {
    /// The status string Argo CD writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Suspended => "Suspended",
            Self::Progressing => "Progressing",
            Self::Missing => "Missing",
            Self::Degraded => "Degraded",
            Self::Unknown => "Unknown",
        }
    }

    /// Parses a status string (unknown text is `Unknown`).
    pub fn parse(text: &str) -> Self {
        match text {
            "Healthy" => Self::Healthy,
            "Suspended" => Self::Suspended,
            "Progressing" => Self::Progressing,
            "Missing" => Self::Missing,
            "Degraded" => Self::Degraded,
            _ => Self::Unknown,
        }
    }
}

/// A health and its message.
pub type Verdict = (Health, String);

/// A check of one kind: its verdict, or why it could not give one.
pub type Check = fn(&Value) -> Result<Verdict, String>;

/// What Argo CD's settings say about health.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The checks configured in `argocd-cm`.
    pub checks: Vec<lua::Check>,
    /// `controller.resource.health.persist` in `argocd-cmd-params-cm`.
    pub persist: bool,
}

impl Settings {
    /// Reads `argocd-cm` and `argocd-cmd-params-cm` in Argo CD's namespace.
    pub fn load(cluster: &Cluster, namespace: &str) -> Settings {
        let configmaps = GroupResource::new("", "configmaps");
        let data = |name: &str| {
            cluster
                .store
                .get(&configmaps, namespace, name)
                .and_then(|cm| cm["data"].as_object().cloned())
                .unwrap_or_default()
        };
        Settings {
            checks: lua::checks(&data("argocd-cm")),
            persist: data("argocd-cmd-params-cm")
                .get("controller.resource.health.persist")
                .and_then(Value::as_str)
                == Some("true"),
        }
    }
}

/// One resource's assessment: its health (`None`: Argo CD has none for it)
/// and the error a failing check gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    /// The health, if any.
    pub health: Option<Verdict>,
    /// Why the check failed, as Argo CD words it.
    pub error: Option<String>,
}

/// The health of one live object, as Argo CD's `GetResourceHealth`.
pub fn assess(settings: &Settings, group: &str, kind: &str, o: &Value) -> Assessment {
    let hook_finalizer = object::finalizers(o)
        .iter()
        .any(|f| f == "argocd.argoproj.io/hook-finalizer");
    if object::is_deleting(o) && !hook_finalizer {
        return Assessment {
            health: Some((Health::Progressing, "Pending deletion".into())),
            error: None,
        };
    }
    // A failing script (configured or shipped) is wrapped with the object;
    // a failing Go check's error is passed on as is.
    let failed = |error: String, wrap: bool| Assessment {
        health: Some((Health::Unknown, error.clone())),
        error: Some(if wrap {
            format!(
                "failed to get resource health for {}/{}: {error}",
                object::namespace(o),
                object::name(o)
            )
        } else {
            error
        }),
    };
    if let Some(check) = lua::find(&settings.checks, &lua::object_key(group, kind)) {
        return match lua::run(check, o) {
            Ok(health) => Assessment { health, error: None },
            Err(error) => failed(error, true),
        };
    }
    let (check, wrap) = match shipped::check_for(group, kind) {
        Some(check) => (Some(check), true),
        None => (builtin::check_for(group, kind), false),
    };
    match check.map(|check| check(o)) {
        None => Assessment::default(),
        Some(Ok(verdict)) => Assessment {
            health: Some(verdict),
            error: None,
        },
        Some(Err(error)) => failed(error, wrap),
    }
}

/// One resource an Application manages, for [`aggregate`].
#[derive(Debug, Clone)]
pub struct Managed<'a> {
    /// API group.
    pub group: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Namespace (empty when cluster-scoped).
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// The live object, if it exists.
    pub live: Option<&'a Value>,
}

/// The Application's health, its message, each resource's health (to
/// record), and the first check error.
#[derive(Debug, Clone)]
pub struct AppHealth {
    /// The aggregate.
    pub health: Health,
    /// "Caused by ..." (empty when Healthy).
    pub message: String,
    /// Per resource, in order: the health to record, if any.
    pub resources: Vec<Option<Verdict>>,
    /// The error for a `ComparisonError` condition, if a check failed.
    pub error: Option<String>,
}

fn annotation_true(o: &Value, key: &str) -> bool {
    object::annotation(o, key) == Some("true")
}

/// `setApplicationHealth` (argo-cd `controller/health.go`, main).
pub fn aggregate(settings: &Settings, app: &Value, resources: &[Managed<'_>]) -> AppHealth {
    let mut out = AppHealth {
        health: Health::Healthy,
        message: String::new(),
        resources: vec![None; resources.len()],
        error: None,
    };
    let (mut contains, mut contains_live) = (false, false);
    let mut causes: Vec<&Managed<'_>> = Vec::new();
    for (i, res) in resources.iter().enumerate() {
        if res.live.is_some_and(builtin::is_hook) {
            continue;
        }
        contains = true;
        contains_live |= res.live.is_some();
        if res
            .live
            .is_some_and(|l| annotation_true(l, "argocd.argoproj.io/ignore-healthcheck"))
        {
            continue;
        }
        let verdict = match res.live {
            None => Some((Health::Missing, String::new())),
            Some(live)
                if res.group == "argoproj.io" && res.kind == "Application" && object::uid(live) == object::uid(app) =>
            {
                continue;
            }
            Some(live) => {
                let assessment = assess(settings, res.group, res.kind, live);
                // Argo CD keeps the first error only (its count of others
                // never passes one).
                if let Some(error) = assessment.error {
                    out.error.get_or_insert(format!(
                        "failed to get resource health for {:?} with name {:?} in namespace {:?}: {error}",
                        res.kind, res.name, res.namespace
                    ));
                }
                assessment.health
            }
        };
        let Some((health, message)) = verdict else { continue };
        out.resources[i] = Some((health, message));
        if res.live.is_none() {
            continue;
        }
        if res.group == "argoproj.io"
            && res.kind == "Application"
            && matches!(health, Health::Missing | Health::Unknown)
        {
            continue;
        }
        if health > out.health {
            out.health = health;
            causes = vec![res];
        } else if health == out.health && health != Health::Healthy {
            causes.push(res);
        }
    }
    if contains && !contains_live && Health::Missing > out.health {
        out.health = Health::Missing;
        causes.clear();
    }
    out.message = caused_by(&causes);
    out
}

/// `formatHealthCauses`: at most three, then "and N more".
fn caused_by(causes: &[&Managed<'_>]) -> String {
    if causes.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = causes
        .iter()
        .take(3)
        .map(|c| {
            let gk = if c.group.is_empty() {
                c.kind.to_string()
            } else {
                format!("{}/{}", c.group, c.kind)
            };
            let name = if c.namespace.is_empty() {
                c.name.to_string()
            } else {
                format!("{}/{}", c.namespace, c.name)
            };
            format!("{gk}:{name}")
        })
        .collect();
    let mut summary = parts.join(", ");
    if causes.len() > 3 {
        summary = format!("{summary} and {} more", causes.len() - 3);
    }
    format!("Caused by {summary}")
}
