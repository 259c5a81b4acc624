//! CronJob controller (pkg/controller/cronjob, the v2 controller), simulated.
//!
//! - The schedule is parsed by [`crate::cron`] and evaluated in `spec.timeZone` (UTC when unset;
//!   the real controller uses kube-controller-manager's local zone, which is UTC on most clusters).
//! - At each pass the most recent activation in (`status.lastScheduleTime` or the creation time,
//!   now] is found (`mostRecentScheduleTime`; with `startingDeadlineSeconds` the window starts no
//!   earlier than now - deadline, so older activations are missed). Only that one runs: missed
//!   activations are not caught up one by one, as in Kubernetes.
//! - The Job is named `<cronjob>-<scheduled time in minutes since the epoch>` (`getJobName`), gets
//!   the jobTemplate's labels and annotations plus `batch.kubernetes.io/cronjob-scheduled-timestamp`,
//!   a controller ownerReference, and the jobTemplate's spec.
//! - `suspend: true` → nothing is scheduled. `concurrencyPolicy`: Allow (default), Forbid (skip
//!   while a Job is active, without moving lastScheduleTime, so it runs once the active one
//!   finishes if still inside the window), Replace (delete the active Jobs, then create).
//! - Status: `active` (object references of the unfinished Jobs it owns), `lastScheduleTime`,
//!   `lastSuccessfulTime`. Finished Jobs beyond `successfulJobsHistoryLimit` (default 3) and
//!   `failedJobsHistoryLimit` (default 1) are deleted, oldest first.
//! - Time is the driver's clock, which tests advance.

use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::job::job_finished;
use super::*;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    for cj in ctx.snap.list(keys::CRON_JOBS) {
        sync(ctx, cj, out);
    }
}

fn job_ref(job: &Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": obj_name(job),
        "namespace": obj_namespace(job).unwrap_or("default"),
        "uid": obj_uid(job).unwrap_or(""),
        "resourceVersion": str_at(job, "/metadata/resourceVersion").unwrap_or(""),
    })
}

fn sync(ctx: &Ctx<'_>, cj: &Value, out: &mut Vec<Mutation>) {
    if is_terminating(cj) {
        return;
    }
    let now = ctx.now;
    let name = obj_name(cj);
    let ns = obj_namespace(cj).unwrap_or("default");
    let mut jobs = ctx.owned(keys::JOBS, cj);
    jobs.sort_by_key(|j| {
        (
            str_at(j, "/metadata/creationTimestamp")
                .unwrap_or("")
                .to_string(),
            obj_name(j).to_string(),
        )
    });
    let mut status = cj
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut active: Vec<&Value> = jobs
        .iter()
        .copied()
        .filter(|j| job_finished(j).is_none() && !is_terminating(j))
        .collect();

    // lastSuccessfulTime and history limits.
    let mut last_success = time_at(cj, "/status/lastSuccessfulTime");
    for j in &jobs {
        if job_finished(j) == Some("Complete")
            && let Some(ct) = time_at(j, "/status/completionTime")
            && last_success.is_none_or(|l| ct > l)
        {
            last_success = Some(ct);
        }
    }
    if let Some(l) = last_success {
        status["lastSuccessfulTime"] = json!(fmt_time(l));
    }
    for (kind, limit_ptr, default) in [
        ("Complete", "/spec/successfulJobsHistoryLimit", 3),
        ("Failed", "/spec/failedJobsHistoryLimit", 1),
    ] {
        let limit = i64_at(cj, limit_ptr).unwrap_or(default).max(0) as usize;
        let done: Vec<&&Value> = jobs
            .iter()
            .filter(|j| job_finished(j) == Some(kind) && !is_terminating(j))
            .collect();
        if done.len() > limit {
            for j in done.iter().take(done.len() - limit) {
                out.push(delete_of(keys::JOBS, j));
            }
        }
    }

    let tz = match str_at(cj, "/spec/timeZone") {
        // UnknownTimeZone: the real controller records an event and stops.
        Some(z) => TimeZone::get(z).ok(),
        None => Some(TimeZone::UTC),
    };
    let schedule = str_at(cj, "/spec/schedule").and_then(|s| crate::cron::parse(s).ok());
    if let (Some(tz), Some(schedule), false) = (tz, schedule, bool_at(cj, "/spec/suspend")) {
        let created = time_at(cj, "/metadata/creationTimestamp").unwrap_or(now);
        let mut earliest = time_at(cj, "/status/lastScheduleTime").unwrap_or(created);
        if let Some(sds) = i64_at(cj, "/spec/startingDeadlineSeconds") {
            let floor = add_seconds(now, -sds);
            if floor > earliest {
                earliest = floor;
            }
        }
        let (scheduled, _missed) = schedule.most_recent(earliest, now, &tz, 100_000);
        if let Some(at) = scheduled {
            let job_name = format!("{name}-{}", at.as_second().div_euclid(60));
            let exists = ctx.snap.get(keys::JOBS, Some(ns), &job_name).is_some();
            let policy = str_at(cj, "/spec/concurrencyPolicy").unwrap_or("Allow");
            if exists {
                status["lastScheduleTime"] = json!(fmt_time(at));
            } else if policy == "Forbid" && !active.is_empty() {
                // Skipped until the active Job finishes.
            } else {
                if policy == "Replace" {
                    for j in &active {
                        out.push(delete_of(keys::JOBS, j));
                    }
                    active.clear();
                }
                out.push(Mutation::Create {
                    key: keys::JOBS.into(),
                    object: job_from_template(cj, &job_name, at, &tz),
                });
                status["lastScheduleTime"] = json!(fmt_time(at));
            }
        }
    }
    let refs: Vec<Value> = active.iter().map(|j| job_ref(j)).collect();
    if refs.is_empty() {
        if let Some(m) = status.as_object_mut() {
            m.remove("active");
        }
    } else {
        status["active"] = Value::Array(refs);
    }
    if let Some(m) = status_update(keys::CRON_JOBS, cj, status) {
        out.push(m);
    }
}

/// `getJobFromTemplate2`.
fn job_from_template(cj: &Value, job_name: &str, at: jiff::Timestamp, tz: &TimeZone) -> Value {
    let tmpl = cj
        .pointer("/spec/jobTemplate")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut annotations = tmpl
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let local = at.to_zoned(tz.clone());
    annotations.insert(
        "batch.kubernetes.io/cronjob-scheduled-timestamp".into(),
        json!(
            local
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
                .replace("+00:00", "Z")
        ),
    );
    let mut meta = json!({
        "name": job_name,
        "namespace": obj_namespace(cj).unwrap_or("default"),
        "annotations": Value::Object(annotations),
        "ownerReferences": [controller_owner_ref(cj, "batch/v1", "CronJob")],
    });
    if let Some(l) = tmpl.pointer("/metadata/labels").filter(|l| l.is_object()) {
        meta["labels"] = l.clone();
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": tmpl.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn cj(schedule: &str, suspend: bool, policy: &str) -> Value {
        json!({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"nightly","namespace":"ns","uid":"uid-cj","creationTimestamp":"2024-05-01T10:00:00Z"},
               "spec":{"schedule":schedule,"suspend":suspend,"concurrencyPolicy":policy,
                       "jobTemplate":{"metadata":{"labels":{"team":"sec"}},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}})
    }

    #[test]
    fn creates_jobs_when_due() {
        let mut s = MiniStore::new(vec![
            ("batch/cronjobs", cj("*/5 * * * *", false, "Allow")),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(t("2024-05-01T10:04:59Z"), &ControllerSet::all());
        assert!(s.list("batch/jobs").is_empty());
        let at = t("2024-05-01T10:05:00Z");
        s.settle(at, &ControllerSet::all());
        let jobs = s.list("batch/jobs");
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            obj_name(jobs[0]),
            format!("nightly-{}", at.as_second() / 60)
        );
        assert_eq!(jobs[0]["metadata"]["labels"]["team"], "sec");
        assert_eq!(
            jobs[0]["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"],
            "2024-05-01T10:05:00Z"
        );
        assert_eq!(jobs[0]["metadata"]["ownerReferences"][0]["kind"], "CronJob");
        let c = s.get("batch/cronjobs", "nightly");
        assert_eq!(c["status"]["lastScheduleTime"], "2024-05-01T10:05:00Z");
        assert_eq!(c["status"]["active"][0]["name"], obj_name(jobs[0]));
        assert_eq!(s.list("/pods").len(), 1, "the job ran a pod");
        // An hour later only the most recent missed time runs.
        s.settle(t("2024-05-01T11:02:00Z"), &ControllerSet::all());
        assert_eq!(s.list("batch/jobs").len(), 2);
        assert_eq!(
            s.get("batch/cronjobs", "nightly")["status"]["lastScheduleTime"],
            "2024-05-01T11:00:00Z"
        );
    }

    #[test]
    fn suspended_creates_nothing() {
        let mut s = MiniStore::new(vec![("batch/cronjobs", cj("* * * * *", true, "Allow"))]);
        s.settle(t("2024-05-01T12:00:00Z"), &ControllerSet::all());
        assert!(s.list("batch/jobs").is_empty());
    }

    #[test]
    fn forbid_and_replace() {
        let mut s = MiniStore::new(vec![
            ("batch/cronjobs", cj("* * * * *", false, "Forbid")),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(t("2024-05-01T10:01:00Z"), &ControllerSet::all());
        s.settle(t("2024-05-01T10:02:00Z"), &ControllerSet::all());
        assert_eq!(
            s.list("batch/jobs").len(),
            1,
            "forbid: the first job is still active"
        );
        s.get_mut("batch/cronjobs", "nightly")["spec"]["concurrencyPolicy"] = json!("Replace");
        s.settle(t("2024-05-01T10:03:00Z"), &ControllerSet::all());
        let jobs = s.list("batch/jobs");
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            obj_name(jobs[0]),
            format!("nightly-{}", t("2024-05-01T10:03:00Z").as_second() / 60)
        );
    }

    #[test]
    fn history_limits() {
        let mut s = MiniStore::new(vec![
            ("batch/cronjobs", cj("* * * * *", false, "Allow")),
            ("/nodes", node("n1", json!({}))),
        ]);
        for m in 1..=5 {
            let now = t(&format!("2024-05-01T10:0{m}:00Z"));
            s.settle(now, &ControllerSet::all());
            let pods: Vec<String> = s
                .list("/pods")
                .iter()
                .filter(|p| pod_phase(p) == "Running")
                .map(|p| obj_name(p).to_string())
                .collect();
            for p in pods {
                s.get_mut("/pods", &p)["status"]["phase"] = json!("Succeeded");
            }
            s.settle(now, &ControllerSet::all());
        }
        assert_eq!(s.list("batch/jobs").len(), 3);
        assert!(s.get("batch/cronjobs", "nightly")["status"]["lastSuccessfulTime"].is_string());
    }
}
