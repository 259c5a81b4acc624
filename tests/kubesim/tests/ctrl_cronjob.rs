//! CronJobs on kubesim's clock (kubesim-only: a real cluster cannot advance time; skipped in e2e
//! mode).

use crate::common;

use std::time::Duration;

use common::{default_builder, sim_cluster};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn cronjob(name: &str, schedule: &str, suspend: bool) -> CronJob {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "suspend": suspend,
                 "jobTemplate": {"metadata": {"labels": {"cron": name}},
                                 "spec": {"template": {"spec": {"restartPolicy": "Never",
                                    "containers": [{"name": "c", "image": "busybox:1.36"}]}}}}}
    }))
    .expect("cronjob")
}

async fn jobs_of(jobs: &Api<Job>, name: &str) -> Vec<Job> {
    jobs.list(&ListParams::default().labels(&format!("cron={name}")))
        .await
        .expect("list jobs")
        .items
}

#[tokio::test]
async fn cronjob_creates_jobs_as_time_passes_unless_suspended() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let sim = c.sim();
    let cjs: Api<CronJob> = Api::namespaced(c.client.clone(), &c.ns);
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), &c.ns);
    cjs.create(
        &PostParams::default(),
        &cronjob("every5", "*/5 * * * *", false),
    )
    .await
    .expect("create");
    cjs.create(&PostParams::default(), &cronjob("held", "* * * * *", true))
        .await
        .expect("create");
    sim.settle().await;
    assert!(
        jobs_of(&jobs, "every5").await.is_empty(),
        "nothing is due yet"
    );

    sim.advance_time(Duration::from_secs(5 * 60)).await;
    let created = jobs_of(&jobs, "every5").await;
    assert_eq!(created.len(), 1, "one activation within five minutes");
    let job = &created[0];
    let scheduled = job
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("batch.kubernetes.io/cronjob-scheduled-timestamp"))
        .expect("scheduled-timestamp annotation");
    let at: jiff::Timestamp = scheduled.parse().expect("RFC 3339");
    assert_eq!(at.as_second() % 300, 0, "on a */5 boundary");
    assert_eq!(
        job.metadata.name.as_deref(),
        Some(format!("every5-{}", at.as_second() / 60).as_str())
    );
    let owner = &job.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("CronJob", "every5")
    );
    let cj = cjs.get("every5").await.expect("get");
    let st = cj.status.expect("status");
    assert_eq!(
        st.last_schedule_time.map(|t| t.0.as_second()),
        Some(at.as_second())
    );
    assert_eq!(st.active.map(|a| a.len()), Some(1));

    sim.advance_time(Duration::from_secs(10 * 60)).await;
    assert_eq!(
        jobs_of(&jobs, "every5").await.len(),
        2,
        "missed activations run once"
    );
    assert!(
        jobs_of(&jobs, "held").await.is_empty(),
        "a suspended CronJob creates nothing"
    );

    // Resuming schedules again at the next activation.
    cjs.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await
    .expect("resume");
    sim.advance_time(Duration::from_secs(60)).await;
    assert_eq!(jobs_of(&jobs, "held").await.len(), 1);
}
