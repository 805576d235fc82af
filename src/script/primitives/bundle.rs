//! `bundle::*` — the bootstrap bundle: Argo CD and Argo Workflows, placed and
//! labelled for this environment, and its ApplySet inventory.

use std::sync::Arc;

use rhai::plugin::*;
use rhai::{Array, Map};
use serde_json::json;

use super::Result;
use crate::bootstrap::{self, inventory};
use crate::k8s::apply::ApplyCounts;
use crate::k8s::catalog::Catalog;
use crate::script::convert::{to_dynamic, to_map};
use crate::script::host::{Host, script_error};

fn loaded(host: &Host) -> Result<Arc<bootstrap::Bundle>> {
    host.bundle
        .get()
        .cloned()
        .ok_or_else(|| script_error("the bootstrap bundle is loaded for deploy only"))
}

/// `apiVersion`/`kind` pairs named by an ApplySet parent's
/// `contains-group-kinds` annotation (`Kind.group`, core kinds bare).
pub fn member_kinds(parent: &serde_json::Value) -> Vec<(String, String)> {
    let catalog = Catalog::new();
    let annotation = parent["metadata"]["annotations"][inventory::CONTAINS_GROUP_KINDS_ANNOTATION]
        .as_str()
        .unwrap_or_default();
    let mut kinds: Vec<(String, String)> = annotation
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|group_kind| {
            let (kind, group) = group_kind.split_once('.').unwrap_or((group_kind, ""));
            catalog.api_version_of(group, kind).map(|v| (v, kind.to_owned()))
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

fn kinds_array(kinds: &[(String, String)]) -> Array {
    kinds
        .iter()
        .map(|(api_version, kind)| to_dynamic(&json!({"apiVersion": api_version, "kind": kind})))
        .collect()
}

/// The pinned versions of the bundle's components, from the lock compiled
/// into the executor: `#{"argo-cd": "v3.5.1", ...}`.
///
/// # Errors
/// A lock that does not parse (a build defect).
pub fn versions() -> Result<Map> {
    let lock = bootstrap::lock::Lock::bundled().map_err(|p| script_error(p.to_string()))?;
    Ok(lock
        .files
        .iter()
        .map(|file| (file.component.as_str().into(), Dynamic::from(file.version.clone())))
        .collect())
}

/// The phase holding the ApplySet parent, applied once the namespaces
/// exist (it lives in Argo CD's namespace) and before the members.
const PARENT_PHASE: &str = "parent";

/// The bundle's phases in apply order, the ApplySet parent's included: a
/// script applies them in this order without knowing where the parent goes.
fn apply_order(bundle: &bootstrap::Bundle) -> Vec<(&str, &[serde_json::Value])> {
    let mut order = Vec::with_capacity(bundle.phases.len() + 1);
    for phase in &bundle.phases {
        order.push((phase.name, phase.objects.as_slice()));
        if phase.name == "namespaces" {
            order.push((PARENT_PHASE, std::slice::from_ref(&bundle.parent)));
        }
    }
    order
}

/// The objects of the phase `name` (the ApplySet parent's included).
fn phase_objects<'a>(bundle: &'a bootstrap::Bundle, name: &str) -> Result<&'a [serde_json::Value]> {
    apply_order(bundle)
        .into_iter()
        .find(|(phase, _)| *phase == name)
        .map(|(_, objects)| objects)
        .ok_or_else(|| script_error(format!("the bundle has no phase `{name}`")))
}

/// Applies one phase of the bundle: a span of the run's trace and a phase
/// of the report's timeline.
fn apply_phase(host: &Host, phase: &str) -> Result<Map> {
    let bundle = loaded(host)?;
    let objects = phase_objects(&bundle, phase)?;
    let began = std::time::Instant::now();
    let span = crate::observe::span::start(
        format!("bootstrap {phase}"),
        &opentelemetry::Context::current(),
        vec![
            opentelemetry::KeyValue::new("executor.phase", "bootstrap"),
            opentelemetry::KeyValue::new("executor.bootstrap_phase", phase.to_owned()),
            opentelemetry::KeyValue::new("executor.objects", objects.len() as i64),
        ],
    );
    let applied = {
        let _attached = span.clone().attach();
        super::k8s::apply_all(host, objects).map(|r| ApplyCounts::of(&r))
    };
    let failure = applied.as_ref().err().map(ToString::to_string);
    crate::observe::span::end(&span, failure.as_deref(), Vec::new());
    host.with_report(|parts| {
        let phase = crate::report::Phase {
            name: phase.to_owned(),
            start_seconds: parts.seconds_at(began),
            duration_seconds: crate::report::round_seconds(began.elapsed().as_secs_f64()),
        };
        parts.bootstrap_phases.push(phase);
        parts.bootstrap.began.get_or_insert(began);
        if let Ok(counts) = &applied {
            parts.bootstrap.objects.merge(*counts);
        }
    });
    applied.map(|counts| to_map(&counts.to_json()))
}

/// Records the bootstrap's component from what it applied since it was
/// last recorded (then forgotten): its status, its health, the pinned
/// versions with the counts, and the `bootstrapObjects` metric. Returns
/// the counts.
fn record(host: &Host) -> Result<Map> {
    let versions = versions()?;
    let names: Vec<String> = versions
        .iter()
        .map(|(component, version)| format!("{component} {version}"))
        .collect();
    let dry_run = host.settings.dry_run;
    let tally = host.with_report(|parts| std::mem::take(&mut parts.bootstrap));
    let counts = tally.objects;
    let mut message = format!(
        "{}: {} created, {} updated, {} unchanged",
        names.join(", "),
        counts.created,
        counts.updated,
        counts.unchanged
    );
    if dry_run {
        message += &format!(
            ", would create {}, would update {}",
            counts.would_create, counts.would_update
        );
    }
    let component = crate::report::Component {
        name: "bootstrap".to_owned(),
        stack: String::new(),
        kind: crate::report::ComponentKind::Bootstrap,
        status: crate::report::ComponentStatus::of_counts(&counts, dry_run),
        health: if dry_run { "Unknown" } else { "Healthy" }.to_owned(),
        sync: String::new(),
        message,
        duration_seconds: tally
            .began
            .map_or(0.0, |began| crate::report::round_seconds(began.elapsed().as_secs_f64())),
        attempts: 1,
        depends_on: Vec::new(),
        start_seconds: None,
        phases: Vec::new(),
    };
    host.with_report(|parts| {
        parts.upsert(component);
        parts.metrics.insert("bootstrapObjects".to_owned(), counts.to_json());
    });
    Ok(to_map(&counts.to_json()))
}

/// The `bundle` primitives, one function each; `docs/scripting-api.md` is
/// generated from their doc comments.
#[export_module]
pub mod api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};
    use serde_json::json;

    use super::super::{Result, duration_arg, with_host};
    use super::{apply_order, apply_phase, kinds_array, loaded, phase_objects, record};
    use crate::bootstrap::{self, inventory};
    use crate::script::convert::{to_dynamic, to_json, to_map};
    use crate::script::host::script_error;

    /// The bundle's objects in apply phases: `[#{name, objects}]`, in order
    /// (`namespaces`, `parent` (the ApplySet parent), `crds`, `configuration`,
    /// `workloads`, `custom-resources`). Objects within a phase may be applied
    /// in parallel (`k8s::apply_all`). Deploy only: the files of `BUNDLE_DIR`
    /// were verified against the lock before the run.
    ///
    /// ```rhai
    /// for phase in bundle::phases() { log::info(`${phase.name}: ${phase.objects.len()} objects`); }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn phases(ctx: NativeCallContext) -> Result<Array> {
        with_host(&ctx, |h| {
            Ok(apply_order(&*loaded(h)?)
                .into_iter()
                .map(|(name, objects)| to_dynamic(&json!({"name": name, "objects": objects})))
                .collect())
        })
    }

    /// The names of the bundle's phases, in apply order (the ApplySet
    /// parent's, `parent`, right after `namespaces`). Deploy only.
    ///
    /// ```rhai
    /// for phase in bundle::phase_names() { bundle::apply(phase); }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn phase_names(ctx: NativeCallContext) -> Result<Array> {
        with_host(&ctx, |h| {
            Ok(apply_order(&*loaded(h)?)
                .into_iter()
                .map(|(name, _)| Dynamic::from(name.to_owned()))
                .collect())
        })
    }

    /// The objects of one phase (e.g. `"workloads"` to wait for them). Deploy only.
    ///
    /// ```rhai
    /// for o in bundle::objects("workloads") {
    ///     k8s::wait(o.apiVersion, o.kind, o.metadata.namespace ?? "", o.metadata.name,
    ///               |live| live != () && health::assess(live).status == "Healthy", ctx.config.timeouts.health);
    /// }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn objects(ctx: NativeCallContext, phase: &str) -> Result<Array> {
        with_host(&ctx, |h| {
            let bundle = loaded(h)?;
            Ok(phase_objects(&bundle, phase)?.iter().map(to_dynamic).collect())
        })
    }

    /// Applies one phase of the bundle as `k8s::apply_all` would (compare first,
    /// in parallel, CRDs waited Established), without copying its objects into
    /// the script. Returns the counts of `k8s::apply_all`. Deploy only.
    ///
    /// ```rhai
    /// let result = bundle::apply("crds");
    /// if result.changed > 0 { log::info(`crds: ${result.created} created, ${result.updated} updated`) }
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn apply(ctx: NativeCallContext, phase: &str) -> Result<Map> {
        with_host(&ctx, |h| apply_phase(h, phase))
    }

    /// Records the `bootstrap` component of the report from what this
    /// bootstrap applied (`bundle::apply`, `bundle::api_token`) since it was
    /// last recorded: status `Deployed` (all created), `Updated` (something
    /// changed) or `Unchanged` (`WouldCreate`/`WouldUpdate` in a dry run),
    /// the pinned versions with the counts, and the `bootstrapObjects`
    /// metric. Returns the counts `#{created, updated, unchanged,
    /// wouldcreate, wouldupdate, changed}`.
    ///
    /// ```rhai
    /// for phase in bundle::phase_names() { bundle::apply(phase); }
    /// let totals = bundle::report();
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn report(ctx: NativeCallContext) -> Result<Map> {
        with_host(&ctx, |h| record(h))
    }

    /// Ensures the Argo CD API token of the bundle's read-only account
    /// (`accounts.executor: apiKey`, `role:readonly`): kept when Argo CD would
    /// accept the one in Secret `executor-argocd-token` (no request when the
    /// run's bulk read saw it), else issued as `argocd account generate-token`
    /// does, after waiting up to `timeout` (seconds or `"5m"`) for argocd-server
    /// to write `server.secretkey`. Returns `#{action, changed, secret, account,
    /// id, why}` (`action`: `Unchanged`, `Created`, `Updated`, `WouldCreate`,
    /// `WouldUpdate`, or `Skipped` when the bundle declares no account). The
    /// token itself is never returned. Deploy only (docs/bootstrap.md).
    ///
    /// ```rhai
    /// let token = bundle::api_token(ctx.config.timeouts.health);
    /// log::info(`Argo CD API token of ${token.account}: ${token.action}`);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn api_token(ctx: NativeCallContext, timeout: Dynamic) -> Result<Map> {
        with_host(&ctx, |h| {
            let timeout = duration_arg(&timeout)?;
            let bundle = loaded(h)?;
            super::super::api_token::ensure(h, &bundle, timeout).map(|d| d.try_cast::<Map>().unwrap_or_default())
        })
    }

    /// The ApplySet parent object (a ConfigMap in Argo CD's namespace) describing
    /// the bundle's members. Deploy only.
    ///
    /// ```rhai
    /// let inventory = k8s::apply(bundle::parent());
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn parent(ctx: NativeCallContext) -> Result<Map> {
        with_host(&ctx, |h| Ok(to_map(&loaded(h)?.parent)))
    }

    /// The distinct kinds of the bundle's objects: `[#{apiVersion, kind}]`, what a
    /// bulk read of the current state lists. Deploy only.
    ///
    /// ```rhai
    /// let counts = k8s::snapshot(bundle::kinds(), bundle::selector());
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn kinds(ctx: NativeCallContext) -> Result<Array> {
        with_host(&ctx, |h| Ok(kinds_array(&bootstrap::kinds(&*loaded(h)?))))
    }

    /// The kinds an ApplySet parent says its members have (its
    /// `applyset.kubernetes.io/contains-group-kinds` annotation):
    /// `[#{apiVersion, kind}]`. Works without the bundle files (teardown).
    ///
    /// ```rhai
    /// let at = bundle::parent_name();
    /// let parent = k8s::get("v1", "ConfigMap", at.namespace, at.name);
    /// if parent != () { k8s::snapshot(bundle::member_kinds(parent), bundle::selector()); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn member_kinds(parent: Map) -> Result<Array> {
        let parent = to_json(&Dynamic::from_map(parent)).map_err(script_error)?;
        Ok(kinds_array(&super::member_kinds(&parent)))
    }

    /// The label selector of the bundle's members:
    /// `applyset.kubernetes.io/part-of=<id>` for this Argo CD namespace.
    ///
    /// ```rhai
    /// let workloads = k8s::list("apps/v1", "Deployment", "", bundle::selector());
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn selector(ctx: NativeCallContext) -> Result<String> {
        with_host(&ctx, |h| {
            Ok(format!(
                "{}={}",
                inventory::PART_OF_LABEL,
                inventory::bundle_applyset_id(&h.settings.argocd_namespace)
            ))
        })
    }

    /// Where the ApplySet parent lives: `#{namespace, name}`.
    ///
    /// ```rhai
    /// let at = bundle::parent_name();
    /// let parent = k8s::get("v1", "ConfigMap", at.namespace, at.name);
    /// ```
    #[rhai_fn(volatile, return_raw)]
    pub fn parent_name(ctx: NativeCallContext) -> Result<Map> {
        with_host(&ctx, |h| {
            Ok(to_map(
                &json!({"namespace": h.settings.argocd_namespace, "name": inventory::PARENT_NAME}),
            ))
        })
    }

    /// The pinned versions of the bundle's components (`#{"argo-cd": "v3.5.1", ...}`),
    /// from the lock compiled into the executor.
    ///
    /// ```rhai
    /// let versions = bundle::versions();
    /// log::info(`Argo CD ${versions["argo-cd"]}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn versions() -> Result<Map> {
        super::versions()
    }
}
