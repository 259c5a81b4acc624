//! Workload controllers through the API contract (kube::Client): they also pass against a real
//! cluster with CRYPTOJACK_E2E_KUBECONFIG, except where a step is marked kubesim-only.

use crate::common;

use common::{PAUSE, cluster, create_pause_deployment, eventually};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn live_pods(pods: &Api<Pod>, selector: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(selector))
        .await
        .expect("listing pods")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn deployment_creates_pods_and_a_deleted_pod_comes_back() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    create_pause_deployment(&deps, "web", 2).await;

    let first = eventually(120, || async {
        let p = live_pods(&pods, "app=web").await;
        (p.len() == 2 && p.iter().all(|p| running(p) && ready(p))).then_some(p)
    })
    .await
    .expect("two running, ready pods");

    // Deployment → ReplicaSet `<deploy>-<pod-template-hash>` → pods `<rs>-<5 chars>`.
    let rs_list = rss
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list rs")
        .items;
    assert_eq!(rs_list.len(), 1);
    let rs = &rs_list[0];
    let rs_name = rs.metadata.name.clone().expect("rs name");
    let hash = rs
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("pod-template-hash"))
        .expect("hash label");
    assert_eq!(rs_name, format!("web-{hash}"));
    let owner = &rs.metadata.owner_references.as_ref().expect("rs owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Deployment", "web", Some(true))
    );
    for p in &first {
        let name = p.metadata.name.as_deref().expect("pod name");
        let suffix = name
            .strip_prefix(&format!("{rs_name}-"))
            .expect("pod named after its ReplicaSet");
        assert_eq!(suffix.len(), 5, "{name}");
        let o = &p.metadata.owner_references.as_ref().expect("pod owner")[0];
        assert_eq!(
            (o.kind.as_str(), o.name.as_str()),
            ("ReplicaSet", rs_name.as_str())
        );
        let st = p.status.as_ref().expect("pod status");
        assert!(st.pod_ip.is_some() && st.host_ip.is_some() && st.start_time.is_some());
        assert!(p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some());
    }

    // Delete one pod: the ReplicaSet replaces it.
    let victim = first[0].metadata.name.clone().expect("name");
    pods.delete(&victim, &DeleteParams::default())
        .await
        .expect("delete pod");
    let again = eventually(120, || async {
        let p = live_pods(&pods, "app=web").await;
        (p.len() == 2
            && p.iter()
                .all(|p| running(p) && p.metadata.name.as_deref() != Some(victim.as_str())))
        .then_some(p)
    })
    .await
    .expect("a replacement pod");
    assert_eq!(again.len(), 2);

    let status = eventually(60, || async {
        let d = deps.get("web").await.ok()?;
        let st = d.status.clone()?;
        (st.available_replicas == Some(2)
            && st.updated_replicas == Some(2)
            && st.observed_generation == d.metadata.generation)
            .then_some(st)
    })
    .await
    .expect("deployment status caught up");
    let conds = status.conditions.expect("conditions");
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    );
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Progressing" && c.status == "True")
    );

    // Scale to zero: every pod goes.
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .expect("scale to 0");
    eventually(120, || async {
        live_pods(&pods, "app=web").await.is_empty().then_some(())
    })
    .await
    .expect("no pods after scaling to 0");
}

#[tokio::test]
async fn suspended_job_has_no_pods_until_resumed() {
    let c = cluster().await;
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "scan"},
        "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "exit 0"]}]}}}
    }))
    .expect("job");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create job");
    eventually(60, || async {
        let j = jobs.get("scan").await.ok()?;
        j.status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Suspended" && c.status == "True")
            .then_some(())
    })
    .await
    .expect("Suspended condition");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        live_pods(&pods, "job-name=scan").await.is_empty(),
        "a suspended Job runs no pod"
    );

    jobs.patch(
        "scan",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await
    .expect("resume");
    let pod = eventually(120, || async {
        live_pods(&pods, "batch.kubernetes.io/job-name=scan")
            .await
            .into_iter()
            .next()
    })
    .await
    .expect("a pod after resuming");
    if c.is_sim() {
        // kubesim's kubelet never finishes a container: the test does (kubesim-only step).
        let name = pod.metadata.name.clone().expect("name");
        pods.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
        )
        .await
        .expect("mark the pod Succeeded");
    }
    eventually(180, || async {
        let j = jobs.get("scan").await.ok()?;
        let st = j.status?;
        (st.succeeded == Some(1)
            && st
                .conditions?
                .iter()
                .any(|c| c.type_ == "Complete" && c.status == "True"))
        .then_some(())
    })
    .await
    .expect("the Job completes");
}

#[tokio::test]
async fn daemonset_follows_its_node_selector() {
    let c = cluster().await;
    let dss: Api<DaemonSet> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let parked = json!({"cryptojack.dev/parked": "true"});
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"nodeSelector": parked, "containers": [{"name": "c", "image": PAUSE}]}}}
    }))
    .expect("daemonset");
    dss.create(&PostParams::default(), &ds)
        .await
        .expect("create ds");
    eventually(60, || async {
        let st = dss.get("agent").await.ok()?.status?;
        (st.observed_generation == Some(1) && st.desired_number_scheduled == 0).then_some(())
    })
    .await
    .expect("status observed with nothing to schedule");
    assert!(
        live_pods(&pods, "app=agent").await.is_empty(),
        "no node matches the selector"
    );

    // Unpark: one pod per eligible node.
    dss.patch(
        "agent",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"nodeSelector": null}}}})),
    )
    .await
    .expect("unpark");
    let desired = eventually(120, || async {
        let st = dss.get("agent").await.ok()?.status?;
        (st.observed_generation == Some(2)
            && st.desired_number_scheduled > 0
            && st.number_ready == st.desired_number_scheduled)
            .then_some(st.desired_number_scheduled)
    })
    .await
    .expect("daemon pods ready");
    let running_pods = live_pods(&pods, "app=agent").await;
    assert_eq!(running_pods.len() as i32, desired);
    let mut nodes: Vec<String> = running_pods
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len() as i32, desired, "one pod per node");

    // Park again: the pods go away.
    dss.patch(
        "agent",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"nodeSelector": parked}}}})),
    )
    .await
    .expect("park");
    eventually(120, || async {
        live_pods(&pods, "app=agent").await.is_empty().then_some(())
    })
    .await
    .expect("parked DaemonSet has no pods");
}

#[tokio::test]
async fn statefulset_pods_have_ordinal_names() {
    let c = cluster().await;
    let sts: Api<StatefulSet> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let s: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "c", "image": PAUSE}]}}}
    }))
    .expect("statefulset");
    sts.create(&PostParams::default(), &s)
        .await
        .expect("create sts");
    let st = eventually(120, || async {
        let st = sts.get("db").await.ok()?.status?;
        (st.ready_replicas == Some(2)).then_some(st)
    })
    .await
    .expect("two ready replicas");
    assert_eq!(st.replicas, 2);
    let mut names: Vec<String> = live_pods(&pods, "app=db")
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["db-0", "db-1"]);
    // A deleted member comes back under the same name.
    pods.delete("db-1", &DeleteParams::default())
        .await
        .expect("delete db-1");
    eventually(120, || async {
        let p = pods.get("db-1").await.ok()?;
        (p.metadata.deletion_timestamp.is_none() && running(&p)).then_some(())
    })
    .await
    .expect("db-1 recreated");
}

fn image_of(p: &Pod) -> Option<String> {
    p.spec.as_ref()?.containers.first()?.image.clone()
}

#[tokio::test]
async fn deployment_rolls_out_a_new_template_unless_paused() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    create_pause_deployment(&deps, "roll", 2).await;
    eventually(120, || async {
        (live_pods(&pods, "app=roll")
            .await
            .iter()
            .filter(|p| running(p))
            .count()
            == 2)
            .then_some(())
    })
    .await
    .expect("first rollout");

    // Paused: a template change creates no ReplicaSet.
    deps.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .expect("pause");
    let new_image = "registry.k8s.io/pause:3.9";
    let set_image = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": new_image}]}}}});
    deps.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Strategic(set_image),
    )
    .await
    .expect("new image");
    eventually(60, || async {
        let d = deps.get("roll").await.ok()?;
        let st = d.status?;
        (st.observed_generation == d.metadata.generation
            && st.conditions?.iter().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("DeploymentPaused")
            }))
        .then_some(())
    })
    .await
    .expect("paused condition");
    assert_eq!(
        rss.list(&ListParams::default().labels("app=roll"))
            .await
            .expect("rs")
            .items
            .len(),
        1
    );

    // Resumed: a second ReplicaSet takes over, the first is scaled to 0.
    deps.patch(
        "roll",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": false}})),
    )
    .await
    .expect("resume");
    eventually(120, || async {
        let p = live_pods(&pods, "app=roll").await;
        (p.len() == 2
            && p.iter()
                .all(|p| running(p) && image_of(p).as_deref() == Some(new_image)))
        .then_some(())
    })
    .await
    .expect("pods of the new template");
    let list = eventually(60, || async {
        let l = rss
            .list(&ListParams::default().labels("app=roll"))
            .await
            .ok()?
            .items;
        (l.len() == 2
            && l.iter()
                .any(|r| r.spec.as_ref().and_then(|s| s.replicas) == Some(0))
            && l.iter()
                .any(|r| r.spec.as_ref().and_then(|s| s.replicas) == Some(2)))
        .then_some(l)
    })
    .await
    .expect("old ReplicaSet scaled to 0");
    let revisions: Vec<String> = list
        .iter()
        .filter_map(|r| {
            r.metadata
                .annotations
                .as_ref()?
                .get("deployment.kubernetes.io/revision")
                .cloned()
        })
        .collect();
    assert!(
        revisions.contains(&"1".to_string()) && revisions.contains(&"2".to_string()),
        "{revisions:?}"
    );
}

#[tokio::test]
async fn garbage_collection_follows_owner_references() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let rss: Api<ReplicaSet> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    for name in ["gone", "kept"] {
        create_pause_deployment(&deps, name, 1).await;
    }
    eventually(120, || async {
        let a = live_pods(&pods, "app=gone").await.len();
        let b = live_pods(&pods, "app=kept").await.len();
        (a == 1 && b == 1).then_some(())
    })
    .await
    .expect("pods");
    // Background: the ReplicaSet and its pods are collected.
    deps.delete("gone", &DeleteParams::background())
        .await
        .expect("delete");
    eventually(120, || async {
        let rs = rss
            .list(&ListParams::default().labels("app=gone"))
            .await
            .ok()?
            .items;
        (rs.is_empty() && live_pods(&pods, "app=gone").await.is_empty()).then_some(())
    })
    .await
    .expect("dependents collected");
    // Orphan: the ReplicaSet stays, without its ownerReference, and keeps its pod.
    deps.delete("kept", &DeleteParams::orphan())
        .await
        .expect("delete orphan");
    let rs = eventually(60, || async {
        if deps.get("kept").await.is_ok() {
            return None;
        }
        let l = rss
            .list(&ListParams::default().labels("app=kept"))
            .await
            .ok()?
            .items;
        let rs = l.into_iter().next()?;
        rs.metadata
            .owner_references
            .as_ref()
            .is_none_or(|o| o.is_empty())
            .then_some(rs)
    })
    .await
    .expect("orphaned ReplicaSet");
    assert!(rs.metadata.deletion_timestamp.is_none());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        live_pods(&pods, "app=kept").await.len(),
        1,
        "the orphaned ReplicaSet keeps its pod"
    );
}
