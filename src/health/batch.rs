//! Built-in health of `batch` objects: Job and CronJob.
//!
//! Job is gitops-engine's `getBatchv1JobHealth`
//! (`gitops-engine/pkg/health/health_job.go` in argo-cd, main): a condition
//! counts by its type whatever its status, as in Argo CD (a resumed Job
//! whose `Suspended` condition turned `"False"` reads Healthy). CronJob is
//! Argo CD's bundled Lua check (`resource_customizations/batch/CronJob/
//! health.lua`), word for word: a suspended CronJob is Healthy "CronJob is
//! Suspended" (argo-cd#24428), a running one Healthy (argo-cd#24429), and
//! times compare as text, as the Lua does.

use serde_json::Value;

use super::fields::{api_version_in, array_at, at, conditions, is_true, str_at, unsupported};
use super::{Health, HealthStatus};

/// Job: a `Failed` condition → Degraded (its message); else `Complete` →
/// Healthy, `Suspended` → Suspended when `"True"` (Healthy otherwise), with
/// that condition's message; no terminal condition → Progressing.
pub(crate) fn job(obj: &Value) -> Health {
    if !api_version_in(obj, &["batch/v1"]) {
        return unsupported(obj);
    }
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let (mut fail_message, mut message) = ("", "");
    for condition in conditions(obj) {
        match condition.kind {
            "Failed" => {
                failed = true;
                complete = true;
                fail_message = condition.message;
            }
            "Complete" => {
                complete = true;
                message = condition.message;
            }
            "Suspended" => {
                complete = true;
                message = condition.message;
                suspended |= condition.is_true();
            }
            _ => {}
        }
    }
    match () {
        () if !complete => Health::new(HealthStatus::Progressing, message),
        () if failed => Health::new(HealthStatus::Degraded, fail_message),
        () if suspended => Health::new(HealthStatus::Suspended, message),
        () => Health::new(HealthStatus::Healthy, message),
    }
}

/// CronJob (Argo CD's Lua): suspended → Healthy "CronJob is Suspended"; no
/// status → Progressing "Waiting for CronJob"; never scheduled → Healthy;
/// scheduled but never succeeded → Healthy (unknown whether it ran); active
/// jobs → Healthy; last success before the last schedule → Degraded; else
/// Healthy.
pub(crate) fn cron_job(obj: &Value) -> Health {
    if is_true(obj, &["spec", "suspend"]) {
        return Health::new(HealthStatus::Healthy, "CronJob is Suspended");
    }
    if at(obj, &["status"]).is_none_or(Value::is_null) {
        return Health::new(HealthStatus::Progressing, "Waiting for CronJob");
    }
    let Some(scheduled) = str_at(obj, &["status", "lastScheduleTime"]) else {
        return Health::new(HealthStatus::Healthy, "CronJob has not been scheduled yet");
    };
    let Some(succeeded) = str_at(obj, &["status", "lastSuccessfulTime"]) else {
        return Health::new(
            HealthStatus::Healthy,
            "The CronJob never completed successfully. It may not be healthy",
        );
    };
    if !array_at(obj, &["status", "active"]).is_empty() {
        return Health::new(
            HealthStatus::Healthy,
            "The job is running. Its last execution may not have been successful",
        );
    }
    if succeeded < scheduled {
        return Health::new(
            HealthStatus::Degraded,
            "CronJob has not completed its last execution successfully",
        );
    }
    Health::new(
        HealthStatus::Healthy,
        "CronJob has completed its last execution successfully",
    )
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
    fn job_without_a_terminal_condition_is_progressing() {
        check(
            job(&json!({"apiVersion": "batch/v1", "kind": "Job"})),
            HealthStatus::Progressing,
            "",
        );
        check(job(&job_with(json!([]))), HealthStatus::Progressing, "");
    }

    #[test]
    fn job_conditions_count_by_type_as_in_argo_cd() {
        check(
            job(&job_with(
                json!([{"type": "Complete", "status": "True", "message": "done"}]),
            )),
            HealthStatus::Healthy,
            "done",
        );
        check(
            job(&job_with(json!([
                {"type": "Complete", "status": "True", "message": "done"},
                {"type": "Failed", "status": "True", "message": "Job has reached the specified backoff limit"}
            ]))),
            HealthStatus::Degraded,
            "Job has reached the specified backoff limit",
        );
        check(
            job(&job_with(
                json!([{"type": "Suspended", "status": "True", "message": "Job suspended"}]),
            )),
            HealthStatus::Suspended,
            "Job suspended",
        );
        // Argo CD counts a resumed Job's Suspended=False condition as complete.
        check(
            job(&job_with(
                json!([{"type": "Suspended", "status": "False", "message": "Job resumed"}]),
            )),
            HealthStatus::Healthy,
            "Job resumed",
        );
    }

    fn cron(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "spec": spec, "status": status})
    }

    #[test]
    fn cronjob_follows_argo_cds_lua() {
        check(
            cron_job(&cron(json!({"suspend": true}), json!({}))),
            HealthStatus::Healthy,
            "CronJob is Suspended",
        );
        check(
            cron_job(&json!({"kind": "CronJob", "spec": {}})),
            HealthStatus::Progressing,
            "Waiting for CronJob",
        );
        check(
            cron_job(&cron(json!({}), json!({}))),
            HealthStatus::Healthy,
            "CronJob has not been scheduled yet",
        );
        check(
            cron_job(&cron(json!({}), json!({"lastScheduleTime": "2024-05-01T11:00:00Z"}))),
            HealthStatus::Healthy,
            "The CronJob never completed successfully. It may not be healthy",
        );
        check(
            cron_job(&cron(
                json!({}),
                json!({"active": [{"name": "j"}], "lastScheduleTime": "2024-05-01T11:00:00Z", "lastSuccessfulTime": "2024-05-01T10:00:42Z"}),
            )),
            HealthStatus::Healthy,
            "The job is running. Its last execution may not have been successful",
        );
        check(
            cron_job(&cron(
                json!({}),
                json!({"lastScheduleTime": "2024-05-01T11:00:00Z", "lastSuccessfulTime": "2024-05-01T10:00:42Z"}),
            )),
            HealthStatus::Degraded,
            "CronJob has not completed its last execution successfully",
        );
        check(
            cron_job(&cron(
                json!({}),
                json!({"lastScheduleTime": "2024-05-01T10:00:00Z", "lastSuccessfulTime": "2024-05-01T10:00:00Z"}),
            )),
            HealthStatus::Healthy,
            "CronJob has completed its last execution successfully",
        );
    }
}
