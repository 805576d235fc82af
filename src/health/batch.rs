//! Built-in health of `batch` objects: Job and CronJob.
//!
//! Job follows gitops-engine, except that a condition only counts when its
//! status is `"True"` (Argo CD also counts a `"False"` condition, so a
//! resumed Job whose `Suspended` condition turned `"False"` reads Healthy
//! while it is still running). CronJob follows Argo CD's bundled Lua check,
//! plus `spec.suspend` → Suspended.

use serde_json::Value;

use super::fields::{array_at, conditions, is_true, str_at};
use super::{Health, HealthStatus};

/// Job: a true `Failed` condition → Degraded (its message); a true
/// `Complete` → Healthy; a true `Suspended` → Suspended; otherwise (still
/// running, or no status yet) → Progressing.
pub(crate) fn job(obj: &Value) -> Health {
    let mut complete = None;
    let mut suspended = None;
    for condition in conditions(obj).filter(|c| c.is_true()) {
        match condition.kind {
            "Failed" => return Health::new(HealthStatus::Degraded, condition.message),
            "Complete" => complete = Some(condition.message),
            "Suspended" => suspended = Some(condition.message),
            _ => {}
        }
    }
    match (complete, suspended) {
        (Some(message), _) => Health::new(HealthStatus::Healthy, message),
        (None, Some(message)) => Health::new(HealthStatus::Suspended, message),
        (None, None) => Health::new(HealthStatus::Progressing, "Waiting for the job to complete"),
    }
}

/// CronJob: `spec.suspend` → Suspended; active jobs → Progressing; never
/// scheduled → Healthy; last success at or after the last schedule →
/// Healthy; otherwise (the last scheduled run did not succeed) → Degraded.
pub(crate) fn cron_job(obj: &Value) -> Health {
    if is_true(obj, &["spec", "suspend"]) {
        return Health::new(HealthStatus::Suspended, "CronJob is suspended");
    }
    if !array_at(obj, &["status", "active"]).is_empty() {
        return Health::new(HealthStatus::Progressing, "CronJob has active jobs");
    }
    let Some(scheduled) = str_at(obj, &["status", "lastScheduleTime"]) else {
        return Health::new(HealthStatus::Healthy, "CronJob has never run");
    };
    let succeeded = str_at(obj, &["status", "lastSuccessfulTime"]);
    let times = (
        scheduled.parse::<jiff::Timestamp>(),
        succeeded.map(str::parse::<jiff::Timestamp>),
    );
    match times {
        (Ok(scheduled), Some(Ok(succeeded))) if scheduled <= succeeded => {
            Health::new(HealthStatus::Healthy, "CronJob has run successfully")
        }
        (Ok(_), None | Some(Ok(_))) => Health::new(HealthStatus::Degraded, "CronJob has not run successfully"),
        _ => Health::new(
            HealthStatus::Unknown,
            "CronJob status has an unreadable lastScheduleTime or lastSuccessfulTime",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(health: Health, status: HealthStatus, message: &str) {
        assert_eq!((health.status, health.message.as_str()), (status, message));
    }

    fn job_with(conditions: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": conditions}})
    }

    #[test]
    fn job_without_status_is_progressing() {
        check(
            job(&json!({"kind": "Job"})),
            HealthStatus::Progressing,
            "Waiting for the job to complete",
        );
        check(
            job(&json!({"kind": "Job", "status": {"active": 1}})),
            HealthStatus::Progressing,
            "Waiting for the job to complete",
        );
    }

    #[test]
    fn job_complete_is_healthy() {
        let obj = job_with(json!([{"type": "Complete", "status": "True", "message": "done"}]));
        check(job(&obj), HealthStatus::Healthy, "done");
    }

    #[test]
    fn job_failed_is_degraded_with_the_reason() {
        let obj = job_with(json!([
            {"type": "FailureTarget", "status": "True", "message": "Job has reached the specified backoff limit"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
        ]));
        check(
            job(&obj),
            HealthStatus::Degraded,
            "Job has reached the specified backoff limit",
        );
    }

    #[test]
    fn job_suspended_is_suspended_and_resumed_is_progressing() {
        let suspended = job_with(json!([{"type": "Suspended", "status": "True", "message": "Job suspended"}]));
        check(job(&suspended), HealthStatus::Suspended, "Job suspended");
        let resumed = job_with(json!([{"type": "Suspended", "status": "False", "message": "Job resumed"}]));
        assert_eq!(job(&resumed).status, HealthStatus::Progressing);
    }

    fn cron(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": spec, "status": status})
    }

    #[test]
    fn cronjob_rules() {
        check(
            cron_job(&cron(json!({}), json!({}))),
            HealthStatus::Healthy,
            "CronJob has never run",
        );
        check(
            cron_job(&cron(json!({"suspend": true}), json!({}))),
            HealthStatus::Suspended,
            "CronJob is suspended",
        );
        check(
            cron_job(&cron(
                json!({}),
                json!({"active": [{"name": "j-1"}], "lastScheduleTime": "2024-05-01T10:00:00Z"}),
            )),
            HealthStatus::Progressing,
            "CronJob has active jobs",
        );
        check(
            cron_job(&cron(
                json!({}),
                json!({"lastScheduleTime": "2024-05-01T10:00:00Z", "lastSuccessfulTime": "2024-05-01T10:00:42Z"}),
            )),
            HealthStatus::Healthy,
            "CronJob has run successfully",
        );
        check(
            cron_job(&cron(
                json!({}),
                json!({"lastScheduleTime": "2024-05-01T11:00:00Z", "lastSuccessfulTime": "2024-05-01T10:00:42Z"}),
            )),
            HealthStatus::Degraded,
            "CronJob has not run successfully",
        );
        check(
            cron_job(&cron(json!({}), json!({"lastScheduleTime": "2024-05-01T11:00:00Z"}))),
            HealthStatus::Degraded,
            "CronJob has not run successfully",
        );
        assert_eq!(
            cron_job(&cron(json!({}), json!({"lastScheduleTime": "yesterday"}))).status,
            HealthStatus::Unknown
        );
    }
}
