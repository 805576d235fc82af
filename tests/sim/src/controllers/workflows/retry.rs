//! Retry nodes, after `operator.go` `processNodeRetries`: a Retry node's
//! children are the attempts `<name>(0)`, `<name>(1)`, ...; it succeeds with
//! the first attempt that succeeds, and ends with the last attempt's phase
//! when the policy does not retry that phase (`retryPolicy`, default
//! `OnFailure`: Failed attempts are retried, Errored ones are not), when
//! `limit` attempts beyond the first were made ("No more retries left"), when
//! the workflow shuts down (`Stopped with strategy '<s>'`) or passed its
//! deadline (`retry exceeded workflow deadline <t>`). `backoff.duration`
//! (with `factor`, `cap`, `maxDuration`) delays the next attempt.

use super::nodes::{failed_or_error, fulfilled};
use super::operator::Op;
use serde_json::Value;
use std::time::Duration;

fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn duration(v: &Value) -> Option<Duration> {
    match v {
        Value::Number(n) => n.as_u64().map(Duration::from_secs),
        Value::String(s) => s
            .parse::<u64>()
            .map(Duration::from_secs)
            .ok()
            .or_else(|| crate::time::parse_duration(s).ok()),
        _ => None,
    }
}

/// Decides about the retry node `name`: `Some(true)` to go on (start or
/// keep the next attempt), `Some(false)` while backing off, `None` when the
/// node is missing.
pub fn process(op: &mut Op<'_>, name: &str, rs: &Value) -> Option<bool> {
    let node = op.node(name)?;
    if fulfilled(&node) {
        return Some(true);
    }
    let children: Vec<String> = node["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    let Some(last) = children.last().and_then(|id| op.node_by_id(id)) else {
        return Some(true);
    };
    if !fulfilled(&last) {
        return Some(true);
    }
    let last_phase = last["phase"].as_str().unwrap_or("").to_string();
    let last_message = last["message"].as_str().unwrap_or("").to_string();
    if !failed_or_error(&last_phase) {
        if !last["outputs"].is_null() {
            let mut n = node.clone();
            n["outputs"] = last["outputs"].clone();
            op.set_node(n);
        }
        op.mark(name, "Succeeded", None);
        return Some(true);
    }
    if let Some(s) = op.shutdown.clone() {
        op.mark(name, &last_phase, Some(&format!("Stopped with strategy '{s}'")));
        return Some(true);
    }
    if op.deadline_passed() {
        let d = op.deadline.map(|d| d.to_string()).unwrap_or_default();
        op.mark(
            name,
            &last_phase,
            Some(&format!("retry exceeded workflow deadline {d}")),
        );
        return Some(true);
    }
    let attempts = children.len() as i64;
    let limit = int(&rs["limit"]);
    if let Some(base) = duration(&rs["backoff"]["duration"]) {
        let factor = int(&rs["backoff"]["factor"]).filter(|f| *f > 0).unwrap_or(1);
        let exp = u32::try_from(attempts - 1).unwrap_or(0);
        let mut wait = base.saturating_mul(u32::try_from(factor.saturating_pow(exp)).unwrap_or(u32::MAX));
        if let Some(cap) = duration(&rs["backoff"]["cap"]) {
            wait = wait.min(cap);
        }
        let finished: Option<jiff::Timestamp> = last["finishedAt"].as_str().and_then(|s| s.parse().ok());
        let elapsed = finished
            .map(|f| jiff::Timestamp::now().duration_since(f).unsigned_abs())
            .unwrap_or_default();
        if elapsed < wait && limit.is_none_or(|l| attempts <= l) {
            let left = wait - elapsed;
            op.requeue = Some(op.requeue.map_or(left, |r| r.min(left)));
            op.mark(name, "Running", Some(&format!("Backoff for {}", humantime(wait))));
            return Some(false);
        }
        op.mark(name, "Running", Some(""));
    }
    let policy = rs["retryPolicy"]
        .as_str()
        .filter(|p| !p.is_empty())
        .unwrap_or(if rs["expression"].is_string() {
            "Always"
        } else {
            "OnFailure"
        });
    let (on_failed, on_error) = match policy {
        "Always" => (true, true),
        "OnError" => (false, true),
        "OnFailure" => (true, false),
        _ => (false, false),
    };
    if (last_phase == "Failed" && !on_failed) || (last_phase == "Error" && !on_error) {
        op.mark(name, &last_phase, Some(&last_message));
        return Some(true);
    }
    if limit.is_some_and(|l| attempts > l) {
        op.mark(name, &last_phase, Some("No more retries left"));
        return Some(true);
    }
    Some(true)
}

fn humantime(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{} milliseconds", d.as_millis()),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s => format!("{} minutes", s / 60),
    }
}
