//! Fault injection: the `faults:` rules of `sim.yaml` decide, per request,
//! extra latency, an error status, or a dropped connection.
//!
//! Decisions are deterministic for a given `seed` and order of matching
//! requests: each rule has its own counter and its own seeded random stream,
//! so adding a rule does not change what another rule does.

use crate::config::FaultRule;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::sync::Mutex;
use std::time::Duration;

/// The request attributes rules match on.
#[derive(Debug, Clone, Default)]
pub struct RequestAttrs<'a> {
    /// Kubernetes verb.
    pub verb: &'a str,
    /// API group.
    pub group: &'a str,
    /// Plural resource (empty for non-resource requests).
    pub resource: &'a str,
    /// Subresource.
    pub subresource: Option<&'a str>,
    /// Namespace.
    pub namespace: Option<&'a str>,
    /// Name.
    pub name: Option<&'a str>,
    /// User name.
    pub user: &'a str,
}

/// What to do instead of (or before) serving a request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this status.
    Status {
        /// HTTP code.
        code: u16,
        /// `Retry-After` seconds (429/503 only).
        retry_after: Option<u64>,
        /// Message for the `Status` body.
        message: String,
    },
    /// Drop the connection (for watches: after `after`).
    Reset {
        /// How long a watch stream runs first.
        after: Option<Duration>,
    },
}

/// The decision for one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Total latency to add.
    pub latency: Duration,
    /// Total latency to add after serving, before answering.
    pub response_latency: Duration,
    /// The fault, if one fires.
    pub action: Option<FaultAction>,
}

struct RuleState {
    matched: u64,
    rng: ChaCha8Rng,
}

/// A compiled fault plan.
pub struct Faults {
    rules: Vec<FaultRule>,
    state: Mutex<Vec<RuleState>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").field("rules", &self.rules).finish()
    }
}

fn field_matches(want: Option<&String>, actual: Option<&str>) -> bool {
    match want {
        None => true,
        Some(w) if w == "any" || w == "*" => true,
        Some(w) => actual == Some(w.as_str()),
    }
}

impl Faults {
    /// Compiles rules with a seed.
    pub fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        let state = (0..rules.len())
            .map(|i| RuleState {
                matched: 0,
                rng: ChaCha8Rng::seed_from_u64(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            })
            .collect();
        Self {
            rules,
            state: Mutex::new(state),
        }
    }

    fn matches(rule: &FaultRule, attrs: &RequestAttrs<'_>) -> bool {
        let m = &rule.matches;
        let resource_ok = match &m.resource {
            None => true,
            Some(r) if r == "any" || r == "*" => true,
            Some(r) => match r.split_once('/') {
                Some((g, res)) => g == attrs.group && res == attrs.resource,
                None => r == attrs.resource,
            },
        };
        field_matches(m.verb.as_ref(), Some(attrs.verb))
            && resource_ok
            && field_matches(m.subresource.as_ref(), attrs.subresource)
            && field_matches(m.namespace.as_ref(), attrs.namespace)
            && field_matches(m.name.as_ref(), attrs.name)
            && field_matches(m.user.as_ref(), Some(attrs.user))
    }

    /// Decides what happens to one request.
    pub fn decide(&self, attrs: &RequestAttrs<'_>) -> Decision {
        let mut decision = Decision::default();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (rule, st) in self.rules.iter().zip(state.iter_mut()) {
            if !Self::matches(rule, attrs) {
                continue;
            }
            st.matched += 1;
            let draw = (st.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let fires = match (rule.nth, rule.rate) {
                (Some(n), _) => st.matched == n,
                (None, Some(rate)) => draw < rate,
                (None, None) => true,
            };
            if !fires {
                continue;
            }
            if let Some(latency) = rule.latency {
                decision.latency += latency;
            }
            if let Some(latency) = rule.response_latency {
                decision.response_latency += latency;
            }
            if decision.action.is_some() {
                continue;
            }
            if rule.reset {
                decision.action = Some(FaultAction::Reset {
                    after: rule.reset_after,
                });
            } else if let Some(code) = rule.status {
                decision.action = Some(FaultAction::Status {
                    code,
                    retry_after: matches!(code, 429 | 503).then(|| rule.retry_after.unwrap_or(1)),
                    message: rule
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("kube-sim injected fault: {code}")),
                });
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn nth_and_seeded_rates_are_deterministic() {
        let config = SimConfig::from_yaml(
            "faults:\n  - {match: {verb: create}, nth: 3, status: 500}\n  - {match: {verb: get}, rate: 0.5, status: 503}\n",
        )
        .unwrap();
        let run = || {
            let faults = Faults::new(config.faults.clone(), 7);
            let mut out = vec![];
            for _ in 0..5 {
                out.push(
                    faults
                        .decide(&RequestAttrs {
                            verb: "create",
                            ..Default::default()
                        })
                        .action
                        .is_some(),
                );
            }
            for _ in 0..20 {
                out.push(
                    faults
                        .decide(&RequestAttrs {
                            verb: "get",
                            ..Default::default()
                        })
                        .action
                        .is_some(),
                );
            }
            out
        };
        let a = run();
        assert_eq!(&a[..5], &[false, false, true, false, false]);
        assert_eq!(a, run());
        assert!(a[5..].iter().any(|x| *x) && a[5..].iter().any(|x| !*x));
    }
}
