//! The vocabularies of a component's result: [`ComponentStatus`] (what the
//! run did with it) and [`FailureReason`] (why a node failed).
//!
//! Both cross the boundary with scripts and leave in every report format,
//! metric label and Kubernetes Event, so their spellings are a contract:
//! each value serialises, prints and parses as exactly the name of its
//! variant (`WouldCreate`, `SyncFailed`, ...). A string becomes one of these
//! types once, where it enters (a script's map, a Workflow task's report);
//! the rest of the code matches variants, never strings.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Declares a unit-variant vocabulary with its spellings, `ALL`, `as_str`,
/// `Display` (honouring width and alignment), serde as the spelling, and
/// the accepted values for `FromStr` errors.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The exact spelling, as serialised.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What a run did with a component: the report's `components[].status`
    /// (docs/observability.md, "Component statuses"). Validate reports the
    /// component's health here, so the health spellings are statuses too.
    ComponentStatus {
        /// Deploy: created, synced and healthy.
        Deployed,
        /// Deploy: changed, synced and healthy.
        Updated,
        /// Deploy or bootstrap: nothing to change, already healthy.
        Unchanged,
        /// Dry run: would be created.
        WouldCreate,
        /// Dry run: would be changed.
        WouldUpdate,
        /// Teardown: removed.
        Removed,
        /// Teardown: already gone.
        Absent,
        /// Teardown dry run: would be removed.
        WouldRemove,
        /// Failed in this run.
        Failed,
        /// Ran past its deadline.
        TimedOut,
        /// Not started: a prerequisite did not succeed, or the run stopped.
        Skipped,
        /// Validate: healthy.
        Healthy,
        /// Validate: not healthy yet, still able to become healthy.
        Progressing,
        /// Validate: degraded.
        Degraded,
        /// Validate: paused or suspended on purpose.
        Suspended,
        /// Validate: expected but absent.
        Missing,
        /// Validate: the health is not known.
        Unknown,
    }
}

/// `Unknown`: what a node's report holds before the node's end is known
/// (a failed node's report carries only diagnostics).
impl Default for ComponentStatus {
    fn default() -> Self {
        ComponentStatus::Unknown
    }
}

impl ComponentStatus {
    /// Failed or timed out: the component has a failure.
    pub const fn is_failure(self) -> bool {
        matches!(self, ComponentStatus::Failed | ComponentStatus::TimedOut)
    }

    /// Did not complete: failed, timed out or skipped.
    pub const fn is_incomplete(self) -> bool {
        self.is_failure() || matches!(self, ComponentStatus::Skipped)
    }

    /// A dry run's prediction (`WouldCreate`, `WouldUpdate`, `WouldRemove`).
    pub const fn is_planned(self) -> bool {
        matches!(
            self,
            ComponentStatus::WouldCreate | ComponentStatus::WouldUpdate | ComponentStatus::WouldRemove
        )
    }

    /// Whether a finished node may have changed the cluster: neither
    /// `Unchanged` nor a dry run's prediction (what step 5 verifies).
    pub const fn is_change(self) -> bool {
        !matches!(self, ComponentStatus::Unchanged) && !self.is_planned()
    }

    /// A dry run's status for what a write would do (`Created` cannot
    /// happen in a dry run; it reads as `WouldCreate`).
    pub const fn of_apply(action: crate::k8s::apply::ApplyAction) -> ComponentStatus {
        use crate::k8s::apply::ApplyAction;
        match action {
            ApplyAction::Created | ApplyAction::WouldCreate => ComponentStatus::WouldCreate,
            ApplyAction::Updated | ApplyAction::WouldUpdate => ComponentStatus::WouldUpdate,
            ApplyAction::Unchanged => ComponentStatus::Unchanged,
        }
    }

    /// The status of a component made of objects applied with `counts`
    /// (the bootstrap): `Deployed` when all were created, `Updated` when
    /// any changed, else `Unchanged`; in a dry run `WouldCreate`,
    /// `WouldUpdate` or `Unchanged`.
    pub const fn of_counts(counts: &crate::k8s::apply::ApplyCounts, dry_run: bool) -> ComponentStatus {
        if dry_run {
            if counts.would_create > 0 {
                ComponentStatus::WouldCreate
            } else if counts.would_update > 0 {
                ComponentStatus::WouldUpdate
            } else {
                ComponentStatus::Unchanged
            }
        } else if counts.created > 0 && counts.updated == 0 && counts.unchanged == 0 {
            ComponentStatus::Deployed
        } else if counts.created + counts.updated > 0 {
            ComponentStatus::Updated
        } else {
            ComponentStatus::Unchanged
        }
    }

    /// Done as asked: deployed, updated, unchanged, healthy, removed or absent.
    pub const fn is_success(self) -> bool {
        matches!(
            self,
            ComponentStatus::Deployed
                | ComponentStatus::Updated
                | ComponentStatus::Unchanged
                | ComponentStatus::Healthy
                | ComponentStatus::Removed
                | ComponentStatus::Absent
        )
    }
}

/// A status string that is not one of the [`ComponentStatus`] spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown component status `{0}`: expected one of {accepted}", accepted = accepted(ComponentStatus::ALL))]
pub struct ParseStatusError(pub String);

impl FromStr for ComponentStatus {
    type Err = ParseStatusError;

    /// Parses the exact, case-sensitive spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ComponentStatus::ALL
            .iter()
            .copied()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseStatusError(s.to_owned()))
    }
}

fn accepted<T: fmt::Display>(all: &[T]) -> String {
    all.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Declares [`FailureReason`]: the known reasons, then `Other`.
macro_rules! reasons {
    ($($(#[$vmeta:meta])* $variant:ident,)+) => {
        /// Why a node (or a step of the run) failed: the report's
        /// `failures[].reason`, a node's failure, an Event's reason.
        ///
        /// `Other` keeps a reason the executor does not define: a hook or
        /// node function may throw `#{reason, message, diagnostics}` with a
        /// reason of its own (docs/scripting.md), and a Workflow task's
        /// report carries the reason its own run found. Parsing never
        /// builds `Other` from a known spelling.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum FailureReason {
            $($(#[$vmeta])* $variant,)+
            /// A reason a script (or a task's report) gave, not one of the above.
            Other(String),
        }

        impl FailureReason {
            /// Every known reason, in declaration order.
            pub const KNOWN: &'static [FailureReason] = &[$(FailureReason::$variant,)+];

            /// The exact spelling, as serialised.
            pub fn as_str(&self) -> &str {
                match self {
                    $(FailureReason::$variant => stringify!($variant),)+
                    FailureReason::Other(reason) => reason,
                }
            }
        }
    };
}

reasons! {
    /// An API request failed.
    ApiError,
    /// Teardown: Applications of the platform remain.
    ApplicationsRemain,
    /// Unhealthy: failed, or could not become healthy in time.
    Degraded,
    /// A deletion did not finish in time.
    DeleteTimedOut,
    /// Teardown: the scope would leave dependents outside it.
    DependentsOutsideScope,
    /// Validate: the health of the bootstrap or a node is `Failed`.
    Failed,
    /// Preflight: the credentials lack permissions.
    Forbidden,
    /// A node's `health` hook judged it unhealthy.
    HealthHook,
    /// A hook failed.
    HookFailed,
    /// A worker of the executor ended abnormally.
    InternalError,
    /// The run was interrupted (a signal, a stopped Workflow).
    Interrupted,
    /// The inputs are invalid.
    Invalid,
    /// The cluster is locked against this action.
    Locked,
    /// Validate: expected but absent.
    Missing,
    /// Step 5: a changed node is not Synced and Healthy at the end.
    NotHealthy,
    /// Validate: a required policy failed.
    PolicyFailed,
    /// Preflight checks failed.
    PreflightFailed,
    /// A script failed.
    ScriptError,
    /// Argo CD's sync failed.
    SyncFailed,
    /// A Workflow task failed without a report saying why.
    TaskFailed,
    /// Ran past its deadline.
    TimedOut,
    /// The health is not known.
    Unknown,
    /// Preflight: the API server cannot be reached.
    Unreachable,
}

impl FailureReason {
    /// The `executor_errors_total` type of this reason.
    pub fn error_type(&self) -> &'static str {
        use FailureReason as R;
        match self {
            R::Invalid | R::DependentsOutsideScope => "config",
            R::TimedOut | R::DeleteTimedOut => "timeout",
            R::ScriptError | R::InternalError => "script",
            R::Degraded | R::NotHealthy | R::HealthHook | R::HookFailed | R::Missing | R::Unknown => "health",
            R::SyncFailed => "sync",
            R::PreflightFailed | R::Forbidden | R::Unreachable => "preflight",
            R::PolicyFailed => "policy",
            R::Interrupted => "interrupted",
            _ => "api",
        }
    }
}

impl From<&str> for FailureReason {
    /// The known reason spelled `reason`, else `Other`.
    fn from(reason: &str) -> Self {
        FailureReason::KNOWN
            .iter()
            .find(|known| known.as_str() == reason)
            .cloned()
            .unwrap_or_else(|| FailureReason::Other(reason.to_owned()))
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for FailureReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_bootstraps_status_follows_what_its_objects_underwent() {
        use crate::k8s::apply::{ApplyAction, ApplyAction::*, ApplyCounts};
        let counts = |actions: &[ApplyAction]| {
            let mut counts = ApplyCounts::default();
            actions.iter().for_each(|a| counts.add(*a));
            counts
        };
        let status = |actions: &[ApplyAction], dry_run| ComponentStatus::of_counts(&counts(actions), dry_run);
        assert_eq!(status(&[Created, Created], false), ComponentStatus::Deployed);
        assert_eq!(status(&[Created, Unchanged], false), ComponentStatus::Updated);
        assert_eq!(status(&[Updated, Unchanged], false), ComponentStatus::Updated);
        assert_eq!(status(&[Unchanged], false), ComponentStatus::Unchanged);
        assert_eq!(status(&[], false), ComponentStatus::Unchanged);
        assert_eq!(status(&[WouldUpdate, WouldCreate], true), ComponentStatus::WouldCreate);
        assert_eq!(status(&[WouldUpdate, Unchanged], true), ComponentStatus::WouldUpdate);
        assert_eq!(status(&[Unchanged], true), ComponentStatus::Unchanged);
    }

    #[test]
    fn display_parse_and_serde_agree_on_every_status() {
        for status in ComponentStatus::ALL {
            let text = status.to_string();
            assert_eq!(text.parse::<ComponentStatus>(), Ok(*status));
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(text));
        }
        let error = "Done".parse::<ComponentStatus>().unwrap_err().to_string();
        assert!(
            error.starts_with("unknown component status `Done`: expected one of Deployed, Updated,"),
            "{error}"
        );
        assert_eq!(format!("{:<10}|", ComponentStatus::Failed), "Failed    |");
    }

    #[test]
    fn a_known_reason_never_parses_as_other() {
        for reason in FailureReason::KNOWN {
            assert_eq!(&FailureReason::from(reason.as_str()), reason);
        }
        let custom = FailureReason::from("VaultSealed");
        assert_eq!(custom, FailureReason::Other("VaultSealed".to_owned()));
        assert_eq!(serde_json::to_value(&custom).unwrap(), serde_json::json!("VaultSealed"));
        assert_eq!(custom.error_type(), "api");
    }
}
