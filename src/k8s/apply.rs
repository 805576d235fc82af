//! `ensure`: apply an object only when it differs from the live one.
//!
//! The live state comes from the run's [`LiveIndex`] when a bulk list
//! already covered it, otherwise from one `get`. Identical objects cost no
//! write; different ones are server-side applied under the executor's field
//! manager; in a dry run nothing is written and the result says what would
//! have been.

use serde::Serialize;
use std::sync::Arc;

use serde_json::Value;

use super::cluster::{Cluster, ObjectKey};
use super::compare::{into_hashed, needs_write};
use super::error::K8sError;
use super::index::{Known, LiveIndex, slimmed};

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ApplyAction {
    /// The object did not exist and was created.
    Created,
    /// The object existed and was changed.
    Updated,
    /// The object already matched; nothing was written.
    Unchanged,
    /// Dry run: it would have been created.
    WouldCreate,
    /// Dry run: it would have been updated.
    WouldUpdate,
}

impl ApplyAction {
    /// True when the cluster was (or would have been) changed.
    pub fn changed(self) -> bool {
        self != ApplyAction::Unchanged
    }

    /// Its name, as reports and scripts show it (`WouldCreate`).
    pub fn name(self) -> &'static str {
        match self {
            ApplyAction::Created => "Created",
            ApplyAction::Updated => "Updated",
            ApplyAction::Unchanged => "Unchanged",
            ApplyAction::WouldCreate => "WouldCreate",
            ApplyAction::WouldUpdate => "WouldUpdate",
        }
    }
}

/// How many objects each [`ApplyAction`] befell: what `k8s::apply_all`
/// returns to scripts, and what the bootstrap's component is decided from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyCounts {
    /// Created.
    pub created: u64,
    /// Updated.
    pub updated: u64,
    /// Already as wanted.
    pub unchanged: u64,
    /// Would be created (dry run).
    pub would_create: u64,
    /// Would be updated (dry run).
    pub would_update: u64,
}

impl ApplyCounts {
    /// The counts of `results`.
    pub fn of(results: &[Applied]) -> ApplyCounts {
        let mut counts = ApplyCounts::default();
        for result in results {
            counts.add(result.action);
        }
        counts
    }

    /// Counts one more object.
    pub fn add(&mut self, action: ApplyAction) {
        *match action {
            ApplyAction::Created => &mut self.created,
            ApplyAction::Updated => &mut self.updated,
            ApplyAction::Unchanged => &mut self.unchanged,
            ApplyAction::WouldCreate => &mut self.would_create,
            ApplyAction::WouldUpdate => &mut self.would_update,
        } += 1;
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: ApplyCounts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.would_create += other.would_create;
        self.would_update += other.would_update;
    }

    /// Objects changed (or that would be).
    pub fn changed(&self) -> u64 {
        self.created + self.updated + self.would_create + self.would_update
    }

    /// As JSON: `{created, updated, unchanged, wouldcreate, wouldupdate,
    /// changed}` (the keys scripts read).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "wouldcreate": self.would_create,
            "wouldupdate": self.would_update,
            "changed": self.changed(),
        })
    }
}

/// The result of `ensure`.
#[derive(Debug, Clone)]
pub struct Applied {
    /// What happened.
    pub action: ApplyAction,
    /// The live object after the call (the desired one in a dry run),
    /// without `managedFields`; shared with the run's index.
    pub live: Arc<Value>,
    /// Why a write was (or would have been) needed.
    pub why: Vec<String>,
}

/// Makes the object in the cluster match `object`, writing only if needed.
///
/// # Errors
/// An invalid object, or the API's error.
pub async fn ensure(
    cluster: &dyn Cluster,
    index: &LiveIndex,
    object: &Value,
    dry_run: bool,
) -> Result<Applied, K8sError> {
    let desired = into_hashed(normalize(object));
    let key = ObjectKey::of(&desired)?;
    let live = match index.lookup(&key, &desired) {
        Known::Present(live) => Some(live),
        Known::NeedsWrite => None,
        Known::Unknown => match cluster.get(&key).await? {
            Some(live) => Some(index.record_written(&key, slimmed(live))),
            None => {
                index.record(&key, None);
                None
            }
        },
    };
    let Some(why) = needs_write(live.as_deref(), &desired) else {
        return Ok(Applied {
            action: ApplyAction::Unchanged,
            live: live.unwrap_or_else(|| Arc::new(desired)),
            why: Vec::new(),
        });
    };
    let existed = live.is_some();
    if dry_run {
        return Ok(Applied {
            action: if existed {
                ApplyAction::WouldUpdate
            } else {
                ApplyAction::WouldCreate
            },
            live: Arc::new(desired),
            why,
        });
    }
    let applied = cluster.apply(&desired).await?;
    drop(desired);
    // The server tells us whether it was new: a fresh object's
    // resourceVersion equals its creation's, which we cannot see; what we
    // can see is whether we knew of it before.
    let action = if existed {
        ApplyAction::Updated
    } else {
        created_or_updated(&applied)
    };
    Ok(Applied {
        action,
        live: index.record_written(&key, slimmed(applied)),
        why,
    })
}

/// Puts an object in the form the API server returns, so comparing with the
/// live object is meaningful: a Secret's `stringData` is write-only (the
/// server folds it into `data`, base64-encoded).
fn normalize(object: &Value) -> Value {
    use base64::Engine as _;
    let is_secret = object["apiVersion"] == "v1" && object["kind"] == "Secret";
    let Some(string_data) = object
        .get("stringData")
        .and_then(Value::as_object)
        .filter(|_| is_secret)
    else {
        return object.clone();
    };
    let mut out = object.clone();
    let mut data = out["data"].as_object().cloned().unwrap_or_default();
    for (key, value) in string_data {
        let text = value.as_str().unwrap_or_default();
        data.insert(
            key.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    if let Some(map) = out.as_object_mut() {
        map.remove("stringData");
        map.insert("data".to_owned(), Value::Object(data));
    }
    out
}

/// An object we had not seen may still have existed (e.g. without our
/// labels): if another manager owns fields of it, it was an update.
fn created_or_updated(applied: &Value) -> ApplyAction {
    let others = applied["metadata"]["managedFields"].as_array().is_some_and(|fields| {
        fields
            .iter()
            .any(|f| f["manager"].as_str() != Some(super::client::FIELD_MANAGER))
    });
    if others {
        ApplyAction::Updated
    } else {
        ApplyAction::Created
    }
}

#[cfg(test)]
mod tests {
    use super::{ApplyAction, ApplyCounts};

    fn counts(actions: &[ApplyAction]) -> ApplyCounts {
        let mut counts = ApplyCounts::default();
        for action in actions {
            counts.add(*action);
        }
        counts
    }

    #[test]
    fn counts_add_up_and_read_as_scripts_see_them() {
        use ApplyAction::*;
        let both = counts(&[Created, WouldUpdate, Unchanged]);
        assert_eq!(both.changed(), 2);
        assert_eq!(both.to_json()["wouldupdate"], 1);
    }
}
