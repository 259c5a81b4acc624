//! Job controller (pkg/controller/job), simulated.
//!
//! - Pods are created from the template with `generateName: <job>-`, the labels
//!   `batch.kubernetes.io/controller-uid`, `controller-uid`, `batch.kubernetes.io/job-name` and
//!   `job-name` (added when the API server did not already put them in the template), and a
//!   controller ownerReference. Pods are counted by ownerReference, not by selector.
//! - Up to `parallelism` (default 1) pods run at once, never more than the completions still needed
//!   (`completions` default 1; null = work queue: done when one pod succeeded and none is active).
//!   `completionMode: Indexed` and pod failure policies are not modelled.
//! - The simulated kubelet leaves Job pods Running forever: a test marks a pod finished by setting
//!   its `status.phase` to Succeeded or Failed. Succeeded/failed counts never go down (the real
//!   controller tracks them with the `batch.kubernetes.io/job-tracking` finalizer, which is not
//!   modelled; counting is `max(status, finished pods)`).
//! - `suspend: true`: no new pods, active pods are deleted, condition `Suspended=True` reason
//!   `JobSuspended` "Job suspended"; resuming sets it False (`JobResumed`, "Job resumed") and resets
//!   `startTime`.
//! - Completion: conditions SuccessCriteriaMet and Complete (reason CompletionsReached, "Reached
//!   expected number of succeeded pods"), completionTime; failures beyond `backoffLimit` (default 6)
//!   → FailureTarget and Failed (BackoffLimitExceeded, "Job has reached the specified backoff
//!   limit"); `activeDeadlineSeconds` → DeadlineExceeded ("Job was active longer than specified
//!   deadline"). Remaining active pods of a finished Job are deleted.
//! - Status: active, ready, succeeded, failed, startTime, completionTime, conditions,
//!   uncountedTerminatedPods `{}`.

use serde_json::{Value, json};

use super::*;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    for job in ctx.snap.list(keys::JOBS) {
        sync(ctx, job, out);
    }
}

pub(crate) fn job_finished(job: &Value) -> Option<&'static str> {
    for t in ["Complete", "Failed"] {
        if condition(job, t)
            .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
        {
            return Some(if t == "Complete" {
                "Complete"
            } else {
                "Failed"
            });
        }
    }
    None
}

fn sync(ctx: &Ctx<'_>, job: &Value, out: &mut Vec<Mutation>) {
    if is_terminating(job) {
        return;
    }
    let now = ctx.now;
    let ns = obj_namespace(job).unwrap_or("default");
    let pods = ctx.owned_pods(job);
    let active: Vec<&Value> = pods.iter().copied().filter(|p| pod_active(p)).collect();
    if job_finished(job).is_some() {
        for p in &active {
            out.push(delete_of(keys::PODS, p));
        }
        return;
    }
    let count = |phase: &str| pods.iter().filter(|p| pod_phase(p) == phase).count() as i64;
    let succeeded = count("Succeeded").max(i64_at(job, "/status/succeeded").unwrap_or(0));
    let failed = count("Failed").max(i64_at(job, "/status/failed").unwrap_or(0));
    let parallelism = i64_at(job, "/spec/parallelism").unwrap_or(1).max(0);
    let completions = job.pointer("/spec/completions").and_then(Value::as_i64);
    let suspend = bool_at(job, "/spec/suspend");
    let backoff_limit = i64_at(job, "/spec/backoffLimit").unwrap_or(6);
    let mut status = job
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut conds = existing_conditions(job);
    let start = time_at(job, "/status/startTime");
    let deadline_exceeded = match (i64_at(job, "/spec/activeDeadlineSeconds"), start) {
        (Some(ads), Some(st)) if !suspend => add_seconds(st, ads) <= now,
        _ => false,
    };
    let complete = match completions {
        Some(c) => succeeded >= c,
        None => succeeded >= 1 && active.is_empty(),
    };
    let mut active_after = active.len() as i64;
    let fail = if failed > backoff_limit {
        Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if deadline_exceeded {
        Some((
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else {
        None
    };
    if let Some((reason, msg)) = fail {
        for p in &active {
            out.push(delete_of(keys::PODS, p));
        }
        active_after = 0;
        set_condition(&mut conds, "FailureTarget", "True", reason, msg, now, true);
        set_condition(&mut conds, "Failed", "True", reason, msg, now, true);
    } else if complete {
        for p in &active {
            out.push(delete_of(keys::PODS, p));
        }
        active_after = 0;
        let msg = "Reached expected number of succeeded pods";
        set_condition(
            &mut conds,
            "SuccessCriteriaMet",
            "True",
            "CompletionsReached",
            msg,
            now,
            true,
        );
        set_condition(
            &mut conds,
            "Complete",
            "True",
            "CompletionsReached",
            msg,
            now,
            true,
        );
        status["completionTime"] = json!(fmt_time(now));
    } else if suspend {
        for p in &active {
            out.push(delete_of(keys::PODS, p));
        }
        active_after = 0;
        set_condition(
            &mut conds,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            now,
            true,
        );
    } else {
        let was_suspended = condition(job, "Suspended")
            .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"));
        if was_suspended {
            set_condition(
                &mut conds,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
                now,
                true,
            );
            status["startTime"] = json!(fmt_time(now));
        } else if start.is_none() {
            status["startTime"] = json!(fmt_time(now));
        }
        let want = match completions {
            Some(c) => parallelism.min((c - succeeded).max(0)),
            None if succeeded > 0 => 0,
            None => parallelism,
        };
        let have = active.len() as i64;
        if have < want {
            let template = labelled_template(job);
            let owner = controller_owner_ref(job, "batch/v1", "Job");
            let prefix = format!("{}-", obj_name(job));
            for _ in 0..(want - have).min(super::replicaset::BURST_REPLICAS) {
                out.push(Mutation::Create {
                    key: keys::PODS.into(),
                    object: pod_from_template(&template, ns, owner.clone(), Some(&prefix), None),
                });
            }
            active_after = want;
        } else if have > want {
            let mut newest = active.clone();
            newest.sort_by_key(|p| {
                std::cmp::Reverse(
                    str_at(p, "/metadata/creationTimestamp")
                        .unwrap_or("")
                        .to_string(),
                )
            });
            for p in newest.iter().take((have - want) as usize) {
                out.push(delete_of(keys::PODS, p));
            }
            active_after = want;
        }
    }
    let ready = active.iter().filter(|p| pod_ready(p)).count() as i64;
    let set_or_remove = |status: &mut Value, k: &str, v: i64| {
        if v > 0 {
            status[k] = json!(v);
        } else if let Some(m) = status.as_object_mut() {
            m.remove(k);
        }
    };
    set_or_remove(&mut status, "active", active_after);
    set_or_remove(&mut status, "succeeded", succeeded);
    set_or_remove(&mut status, "failed", failed);
    status["ready"] = json!(if active_after == 0 { 0 } else { ready });
    status["uncountedTerminatedPods"] = json!({});
    if !conds.is_empty() {
        status["conditions"] = Value::Array(conds);
    }
    if let Some(m) = status_update(keys::JOBS, job, status) {
        out.push(m);
    }
}

/// The pod template with the Job's identifying labels (the API server normally adds them to
/// `spec.template.metadata.labels` at creation; they are added here when missing).
fn labelled_template(job: &Value) -> Value {
    let mut t = job
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !t.get("metadata").is_some_and(Value::is_object) {
        t["metadata"] = json!({});
    }
    if !t["metadata"].get("labels").is_some_and(Value::is_object) {
        t["metadata"]["labels"] = json!({});
    }
    let uid = obj_uid(job).unwrap_or("");
    let name = obj_name(job);
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("job-name", name),
    ] {
        if t["metadata"]["labels"].get(k).is_none() {
            t["metadata"]["labels"][k] = json!(v);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn job(completions: i64, parallelism: i64, suspend: bool) -> Value {
        json!({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"scan","namespace":"ns","uid":"uid-job"},
               "spec":{"completions":completions,"parallelism":parallelism,"suspend":suspend,
                       "template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}})
    }

    fn finish(s: &mut MiniStore, phase: &str) {
        let name = s
            .list("/pods")
            .iter()
            .find(|p| pod_phase(p) == "Running")
            .map(|p| obj_name(p).to_string())
            .unwrap();
        s.get_mut("/pods", &name)["status"]["phase"] = json!(phase);
    }

    #[test]
    fn runs_until_completions() {
        let now = t("2024-05-01T10:00:00Z");
        let mut s = MiniStore::new(vec![
            ("batch/jobs", job(3, 2, false)),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(now, &ControllerSet::all());
        let pods = s.list("/pods");
        assert_eq!(pods.len(), 2);
        let p = pods[0];
        assert!(obj_name(p).starts_with("scan-"));
        for l in ["batch.kubernetes.io/job-name", "job-name"] {
            assert_eq!(p["metadata"]["labels"][l], "scan");
        }
        assert_eq!(p["metadata"]["labels"]["controller-uid"], "uid-job");
        assert_eq!(s.get("batch/jobs", "scan")["status"]["active"], 2);
        assert_eq!(s.get("batch/jobs", "scan")["status"]["ready"], 2);
        finish(&mut s, "Succeeded");
        s.settle(now, &ControllerSet::all());
        assert_eq!(s.get("batch/jobs", "scan")["status"]["succeeded"], 1);
        assert_eq!(s.get("batch/jobs", "scan")["status"]["active"], 2);
        finish(&mut s, "Succeeded");
        s.settle(now, &ControllerSet::all());
        assert_eq!(
            s.get("batch/jobs", "scan")["status"]["active"],
            1,
            "only one completion left"
        );
        finish(&mut s, "Succeeded");
        s.settle(now, &ControllerSet::all());
        let j = s.get("batch/jobs", "scan");
        assert_eq!(j["status"]["succeeded"], 3);
        assert!(j["status"].get("active").is_none());
        assert_eq!(condition(j, "Complete").unwrap()["status"], "True");
        assert_eq!(j["status"]["completionTime"], "2024-05-01T10:00:00Z");
    }

    #[test]
    fn suspend_deletes_active_pods_and_resume_restarts() {
        let now = t("2024-05-01T10:00:00Z");
        let mut s = MiniStore::new(vec![
            ("batch/jobs", job(1, 1, true)),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(now, &ControllerSet::all());
        assert!(s.list("/pods").is_empty());
        let c = condition(s.get("batch/jobs", "scan"), "Suspended")
            .unwrap()
            .clone();
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("True"), Some("JobSuspended"))
        );
        s.get_mut("batch/jobs", "scan")["spec"]["suspend"] = json!(false);
        s.settle(now, &ControllerSet::all());
        assert_eq!(s.list("/pods").len(), 1);
        assert_eq!(
            condition(s.get("batch/jobs", "scan"), "Suspended").unwrap()["reason"],
            "JobResumed"
        );
        s.get_mut("batch/jobs", "scan")["spec"]["suspend"] = json!(true);
        s.settle(now, &ControllerSet::all());
        assert!(s.list("/pods").is_empty());
    }

    #[test]
    fn backoff_limit_fails_job() {
        let now = t("2024-05-01T10:00:00Z");
        let mut j = job(1, 1, false);
        j["spec"]["backoffLimit"] = json!(1);
        let mut s = MiniStore::new(vec![("batch/jobs", j), ("/nodes", node("n1", json!({})))]);
        s.settle(now, &ControllerSet::all());
        finish(&mut s, "Failed");
        s.settle(now, &ControllerSet::all());
        finish(&mut s, "Failed");
        s.settle(now, &ControllerSet::all());
        let j = s.get("batch/jobs", "scan");
        assert_eq!(j["status"]["failed"], 2);
        assert_eq!(
            condition(j, "Failed").unwrap()["reason"],
            "BackoffLimitExceeded"
        );
        assert_eq!(s.list("/pods").iter().filter(|p| pod_active(p)).count(), 0);
    }
}
