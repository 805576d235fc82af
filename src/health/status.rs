//! The health vocabulary: [`HealthStatus`] and the [`Health`] of one object.
//!
//! The spellings are Argo CD's, exactly (`Healthy`, `Progressing`, ...), so a
//! value read from an Argo CD Application, written by a Rhai health check or
//! printed in a report means the same thing everywhere. `Failed` is the one
//! value Argo CD does not have: it marks a node that failed in this run
//! (timed out, sync error, ...), which must stay distinguishable from an
//! object that is merely `Degraded` (invariant 4).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The health of an object, an application, a stack or the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HealthStatus {
    /// Fully healthy: the only status that satisfies a dependency.
    Healthy,
    /// Not healthy yet, but still able to become healthy.
    Progressing,
    /// Failed, or could not become healthy in time (Argo CD's meaning).
    Degraded,
    /// Paused or suspended on purpose (a paused Deployment, a suspended Job).
    Suspended,
    /// Expected but absent from the cluster.
    Missing,
    /// The assessment itself failed; the real health is not known.
    Unknown,
    /// Ours, not Argo CD's: the node failed in this run.
    Failed,
}

impl HealthStatus {
    /// Every status, in declaration order.
    pub const ALL: [HealthStatus; 7] = [
        HealthStatus::Healthy,
        HealthStatus::Progressing,
        HealthStatus::Degraded,
        HealthStatus::Suspended,
        HealthStatus::Missing,
        HealthStatus::Unknown,
        HealthStatus::Failed,
    ];

    /// The exact spelling (`"Healthy"`, ...), as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Progressing => "Progressing",
            HealthStatus::Degraded => "Degraded",
            HealthStatus::Suspended => "Suspended",
            HealthStatus::Missing => "Missing",
            HealthStatus::Unknown => "Unknown",
            HealthStatus::Failed => "Failed",
        }
    }

    /// True only for [`HealthStatus::Healthy`], the one status that satisfies
    /// a dependency (invariant 1).
    pub const fn is_healthy(self) -> bool {
        matches!(self, HealthStatus::Healthy)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A health status string that is not one of the exact spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown health status `{0}`: expected one of Healthy, Progressing, Degraded, Suspended, Missing, Unknown, Failed"
)]
pub struct ParseHealthStatusError(pub String);

impl FromStr for HealthStatus {
    type Err = ParseHealthStatusError;

    /// Parses the exact, case-sensitive spelling: `"healthy"` is rejected, as
    /// Argo CD would not produce it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HealthStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseHealthStatusError(s.to_owned()))
    }
}

/// The assessed health of one object: a status and a human-readable reason.
///
/// This is also the shape a Rhai health check returns
/// (`#{status: "Healthy", message: ""}`), so a script's result converts with
/// `rhai::serde::from_dynamic::<Health>`; a missing `message` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why; empty when there is nothing to add (typically when Healthy).
    #[serde(default)]
    pub message: String,
}

impl Health {
    /// A health with a status and message.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Health {
            status,
            message: message.into(),
        }
    }

    /// Healthy, with no message.
    pub fn healthy() -> Self {
        Health::new(HealthStatus::Healthy, "")
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{}: {}", self.status, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_and_serde_agree_on_every_spelling() {
        for status in HealthStatus::ALL {
            let text = status.to_string();
            assert_eq!(text.parse::<HealthStatus>(), Ok(status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, serde_json::Value::String(text.clone()));
            let back: HealthStatus = serde_json::from_value(json).unwrap();
            assert_eq!(back, status);
        }
    }

    #[test]
    fn parsing_is_exact_and_the_error_lists_the_valid_spellings() {
        let err = "healthy".parse::<HealthStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown health status `healthy`: expected one of Healthy, Progressing, \
             Degraded, Suspended, Missing, Unknown, Failed"
        );
        assert!(" Healthy".parse::<HealthStatus>().is_err());
        assert!("".parse::<HealthStatus>().is_err());
    }

    #[test]
    fn only_healthy_is_healthy() {
        for status in HealthStatus::ALL {
            assert_eq!(status.is_healthy(), status == HealthStatus::Healthy);
        }
    }

    #[test]
    fn health_round_trips_and_message_defaults_to_empty() {
        let health = Health::new(HealthStatus::Degraded, "sealed");
        let json = serde_json::to_value(&health).unwrap();
        assert_eq!(json, serde_json::json!({"status": "Degraded", "message": "sealed"}));
        let back: Health = serde_json::from_value(json).unwrap();
        assert_eq!(back, health);
        let bare: Health = serde_json::from_value(serde_json::json!({"status": "Healthy"})).unwrap();
        assert_eq!(bare, Health::healthy());
    }

    #[test]
    fn display_omits_an_empty_message() {
        assert_eq!(Health::healthy().to_string(), "Healthy");
        assert_eq!(
            Health::new(HealthStatus::Progressing, "waiting").to_string(),
            "Progressing: waiting"
        );
    }
}
