//! How a run ended, and the one place that maps it to an exit code.
//!
//! | outcome | exit | deploy | validate | teardown |
//! |---|---|---|---|---|
//! | `Succeeded` | 0 | all healthy | healthy | clean |
//! | `Failed` | 1 | failure | unhealthy | failure |
//! | `Partial` | 2 | some components failed | degraded | orphans left |
//! | `Invalid` | 3 | invalid configuration or arguments | | |
//! | `TimedOut` | 4 | `ACTION_TIMEOUT` reached | | |

use serde::Serialize;

/// The overall result of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// Everything in scope is done and healthy (or cleanly removed).
    Succeeded,
    /// The action failed.
    Failed,
    /// Some components failed or remain; others completed.
    Partial,
    /// The inputs are invalid; nothing was done to the cluster.
    Invalid,
    /// The overall deadline passed.
    TimedOut,
}

impl Outcome {
    /// Every outcome, from best to worst exit code.
    pub const ALL: [Outcome; 5] = [
        Outcome::Succeeded,
        Outcome::Failed,
        Outcome::Partial,
        Outcome::Invalid,
        Outcome::TimedOut,
    ];

    /// The exact spelling (`Succeeded`, `TimedOut`, ...), as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed => "Failed",
            Outcome::Partial => "Partial",
            Outcome::Invalid => "Invalid",
            Outcome::TimedOut => "TimedOut",
        }
    }

    /// The process exit code of the executor's contract.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Succeeded => 0,
            Outcome::Failed => 1,
            Outcome::Partial => 2,
            Outcome::Invalid => 3,
            Outcome::TimedOut => 4,
        }
    }

    /// Lower-case label for metrics (`succeeded`, `timed_out`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Partial => "partial",
            Outcome::Invalid => "invalid",
            Outcome::TimedOut => "timed_out",
        }
    }

    /// The worse of two outcomes (used when combining steps).
    #[must_use]
    pub fn worst(self, other: Outcome) -> Outcome {
        let rank = |o: Outcome| match o {
            Outcome::Succeeded => 0,
            Outcome::Partial => 1,
            Outcome::Failed => 2,
            Outcome::TimedOut => 3,
            Outcome::Invalid => 4,
        };
        if rank(other) > rank(self) { other } else { self }
    }
}

/// An outcome string that is not one of the spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outcome `{0}`: expected Succeeded, Failed, Partial, Invalid or TimedOut")]
pub struct ParseOutcomeError(pub String);

impl std::str::FromStr for Outcome {
    type Err = ParseOutcomeError;

    /// Parses the exact, case-sensitive spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| ParseOutcomeError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_contract() {
        assert_eq!(
            [
                Outcome::Succeeded,
                Outcome::Failed,
                Outcome::Partial,
                Outcome::Invalid,
                Outcome::TimedOut
            ]
            .map(Outcome::exit_code),
            [0, 1, 2, 3, 4]
        );
    }
}
