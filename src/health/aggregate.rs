//! Aggregation: the health of a group (a stack, the platform) from the health
//! of its members.
//!
//! The table comes from the design (the spec's context, "Health", restated
//! in docs/health.md, "Aggregation"), completed for the two statuses it
//! leaves open:
//!
//! | members                                      | group       |
//! |----------------------------------------------|-------------|
//! | none                                         | Healthy     |
//! | all Healthy                                  | Healthy     |
//! | any Failed                                   | Failed      |
//! | else any Degraded, Missing or Unknown        | Degraded    |
//! | else any Progressing or Suspended            | Progressing |
//!
//! `Unknown` counts as Degraded because it is not provably healthy and may
//! never become so by waiting; `Suspended` counts as Progressing because it
//! is a deliberate pause that someone can resume. Neither is Healthy, so a
//! group containing either never satisfies a dependency (invariant 1).

use super::HealthStatus;

/// The health of a group from its members' health (see the module table).
///
/// An empty group is Healthy: it has nothing left to wait for.
pub fn aggregate(statuses: impl IntoIterator<Item = HealthStatus>) -> HealthStatus {
    statuses
        .into_iter()
        .map(normalise)
        .max_by_key(|status| severity(*status))
        .unwrap_or(HealthStatus::Healthy)
}

/// Maps a member's status onto the four a group can have.
fn normalise(status: HealthStatus) -> HealthStatus {
    match status {
        HealthStatus::Healthy => HealthStatus::Healthy,
        HealthStatus::Progressing | HealthStatus::Suspended => HealthStatus::Progressing,
        HealthStatus::Degraded | HealthStatus::Missing | HealthStatus::Unknown => HealthStatus::Degraded,
        HealthStatus::Failed => HealthStatus::Failed,
    }
}

/// Higher is worse; the worst member decides.
fn severity(status: HealthStatus) -> u8 {
    match status {
        HealthStatus::Healthy => 0,
        HealthStatus::Progressing | HealthStatus::Suspended => 1,
        HealthStatus::Degraded | HealthStatus::Missing | HealthStatus::Unknown => 2,
        HealthStatus::Failed => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::*;

    #[test]
    fn empty_group_is_healthy() {
        assert_eq!(aggregate([]), Healthy);
    }

    #[test]
    fn all_healthy_is_healthy() {
        assert_eq!(aggregate([Healthy]), Healthy);
        assert_eq!(aggregate([Healthy, Healthy, Healthy]), Healthy);
    }

    #[test]
    fn any_failed_is_failed_whatever_else() {
        for other in HealthStatus::ALL {
            assert_eq!(aggregate([other, Failed]), Failed, "with {other}");
            assert_eq!(aggregate([Failed, other]), Failed, "with {other}");
        }
    }

    #[test]
    fn any_degraded_without_failure_is_degraded() {
        assert_eq!(aggregate([Healthy, Degraded]), Degraded);
        assert_eq!(aggregate([Progressing, Degraded, Healthy]), Degraded);
        assert_eq!(aggregate([Suspended, Degraded]), Degraded);
    }

    #[test]
    fn any_missing_without_failure_is_degraded() {
        assert_eq!(aggregate([Missing]), Degraded);
        assert_eq!(aggregate([Healthy, Missing]), Degraded);
        assert_eq!(aggregate([Progressing, Missing]), Degraded);
    }

    #[test]
    fn unknown_counts_as_degraded() {
        assert_eq!(aggregate([Unknown]), Degraded);
        assert_eq!(aggregate([Healthy, Unknown]), Degraded);
        assert_eq!(aggregate([Progressing, Unknown]), Degraded);
        assert_eq!(aggregate([Unknown, Failed]), Failed);
    }

    #[test]
    fn any_progressing_without_worse_is_progressing() {
        assert_eq!(aggregate([Progressing]), Progressing);
        assert_eq!(aggregate([Healthy, Progressing, Healthy]), Progressing);
    }

    #[test]
    fn suspended_counts_as_progressing() {
        assert_eq!(aggregate([Suspended]), Progressing);
        assert_eq!(aggregate([Healthy, Suspended]), Progressing);
        assert_eq!(aggregate([Suspended, Progressing]), Progressing);
    }

    #[test]
    fn order_does_not_matter() {
        let members = [Healthy, Suspended, Missing, Progressing];
        let mut reversed = members;
        reversed.reverse();
        assert_eq!(aggregate(members), aggregate(reversed));
        assert_eq!(aggregate(members), Degraded);
    }

    #[test]
    fn a_group_is_healthy_only_when_every_member_is() {
        for status in HealthStatus::ALL {
            assert_eq!(
                aggregate([Healthy, status]).is_healthy(),
                status.is_healthy(),
                "with {status}"
            );
        }
    }
}
