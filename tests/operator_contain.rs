//! The operator against kubesim: containment of each kind of workload, asserted on the
//! resulting cluster state (not on the calls made).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operator_common;

use std::time::Duration;

use cryptojack::api::{ActionState, ActionVerb, IncidentPhase, Mode};
use operator_common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn contain(kind: &str) -> (Env, cryptojack::api::CryptojackIncident) {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    let ns = format!("ns-{}", kind.to_lowercase());
    env.namespace(&ns).await;
    env.apply(workload(kind, &ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    if kind == "CronJob" {
        env.sim.advance_time(Duration::from_secs(61)).await;
    }
    let incident = env.incident_in(&ns, &[IncidentPhase::Contained], T).await;
    let no_pods = format!("no live pod of the {kind} in {ns}");
    eventually(&no_pods, T, || async {
        env.live_pods(&ns).await.is_empty().then_some(())
    })
    .await;
    // and none comes back
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        env.live_pods(&ns).await.is_empty(),
        "a {kind} pod came back"
    );
    assert_eq!(
        env.incidents(&ns).await.len(),
        1,
        "exactly one incident for the {kind}"
    );
    (env, incident)
}

fn action(i: &cryptojack::api::CryptojackIncident, verb: ActionVerb) -> &cryptojack::api::Action {
    i.status
        .as_ref()
        .and_then(|s| s.actions.iter().find(|a| a.verb == verb))
        .unwrap_or_else(|| panic!("no {verb:?} action in {:?}", i.status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_is_scaled_to_zero() {
    let (env, i) = contain("Deployment").await;
    assert_eq!(i.spec.workload, "Deployment/miner");
    assert_eq!(i.spec.owner_chain.len(), 2, "ReplicaSet then Deployment");
    let scale = action(&i, ActionVerb::Scale);
    assert_eq!(scale.id, "scale/apps/Deployment/ns-deployment/miner");
    assert_eq!(scale.undo.as_ref().and_then(|u| u.replicas), Some(2));
    assert_eq!(action(&i, ActionVerb::Evict).state, ActionState::Done);
    let d = env
        .get("apps/v1", "Deployment", "ns-deployment", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 0);
    let st = i.status.as_ref().expect("status");
    assert!(st.time_to_contain_ms.is_some() && st.time_to_contain.is_some());
    assert!(st.estimated_cost.is_some() && st.cost_tier.is_some());
    assert!(st.detection_latency_ms.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_is_scaled_to_zero() {
    let (env, i) = contain("ReplicaSet").await;
    assert_eq!(
        action(&i, ActionVerb::Scale)
            .undo
            .as_ref()
            .and_then(|u| u.replicas),
        Some(2)
    );
    let rs = env
        .get("apps/v1", "ReplicaSet", "ns-replicaset", "miner")
        .await
        .expect("rs");
    assert_eq!(rs["spec"]["replicas"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_is_scaled_to_zero() {
    let (env, i) = contain("StatefulSet").await;
    assert_eq!(action(&i, ActionVerb::Scale).state, ActionState::Done);
    let ss = env
        .get("apps/v1", "StatefulSet", "ns-statefulset", "miner")
        .await
        .expect("ss");
    assert_eq!(ss["spec"]["replicas"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicationcontroller_is_scaled_to_zero() {
    let (env, i) = contain("ReplicationController").await;
    assert_eq!(
        action(&i, ActionVerb::Scale).id,
        "scale/core/ReplicationController/ns-replicationcontroller/miner"
    );
    let rc = env
        .get(
            "v1",
            "ReplicationController",
            "ns-replicationcontroller",
            "miner",
        )
        .await
        .expect("rc");
    assert_eq!(rc["spec"]["replicas"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_is_suspended() {
    let (env, i) = contain("Job").await;
    let s = action(&i, ActionVerb::Suspend);
    assert_eq!(s.undo.as_ref().and_then(|u| u.suspend), Some(false));
    let job = env
        .get("batch/v1", "Job", "ns-job", "miner")
        .await
        .expect("job");
    assert_eq!(job["spec"]["suspend"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjob_and_its_active_job_are_suspended() {
    let (env, i) = contain("CronJob").await;
    assert_eq!(i.spec.workload, "CronJob/miner");
    let cj = env
        .get("batch/v1", "CronJob", "ns-cronjob", "miner")
        .await
        .expect("cronjob");
    assert_eq!(cj["spec"]["suspend"], true);
    let suspends: Vec<_> = i
        .status
        .as_ref()
        .map(|s| {
            s.actions
                .iter()
                .filter(|a| a.verb == ActionVerb::Suspend)
                .collect()
        })
        .unwrap_or_default();
    assert!(
        suspends.len() >= 2,
        "the CronJob and its active Job: {suspends:?}"
    );
    let job_action = suspends
        .iter()
        .find(|a| a.target.kind == "Job")
        .expect("job action");
    let job = env
        .get("batch/v1", "Job", "ns-cronjob", &job_action.target.name)
        .await
        .expect("job");
    assert_eq!(job["spec"]["suspend"], true);
    // a minute later, the suspended CronJob starts nothing
    env.sim.advance_time(Duration::from_secs(61)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(env.live_pods("ns-cronjob").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_is_parked() {
    let (env, i) = contain("DaemonSet").await;
    let park = action(&i, ActionVerb::Park);
    assert_eq!(
        park.undo.as_ref().and_then(|u| u.node_selector.clone()),
        Some(Default::default())
    );
    let ds = env
        .get("apps/v1", "DaemonSet", "ns-daemonset", "miner")
        .await
        .expect("ds");
    assert!(ds["spec"]["template"]["spec"]["nodeSelector"]["cryptojack.dev/parked"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_pod_is_evicted() {
    let (_env, i) = contain("Pod").await;
    assert_eq!(i.spec.workload, "Pod/miner");
    assert!(i.spec.owner_chain.is_empty());
    let evict = action(&i, ActionVerb::Evict);
    assert_eq!(evict.id, "evict/core/Pod/ns-pod/miner");
    assert!(
        i.status
            .as_ref()
            .is_some_and(|s| !s.actions.iter().any(|a| matches!(
                a.verb,
                ActionVerb::Scale | ActionVerb::Suspend | ActionVerb::Park
            ))),
        "nothing to suspend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdb_does_not_save_the_miner_and_the_policy_grace_period_wins() {
    let env = Env::start().await;
    env.policy(
        "contain",
        json!({"mode": "Contain", "response": {"evict": {"gracePeriodSeconds": 1, "forceAfterSeconds": 2}, "suspendOwner": {"enabled": false}}}),
    )
    .await;
    env.namespace("pdb").await;
    let mut d = deployment("pdb", "miner", 2, XMRIG.0, XMRIG.1);
    // the attacker's pod: a long grace period and SIGTERM ignored
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(3600);
    d["spec"]["template"]["metadata"]["annotations"] =
        json!({"kubesim.dev/ignore-sigterm": "true"});
    env.apply(d).await;
    env.apply(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "keep-all", "namespace": "pdb"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "miner"}}}
    }))
    .await;
    eventually("two running miner pods", T, || async {
        (env.live_pods("pdb").await.len() == 2).then_some(())
    })
    .await;
    let i = env.incident_in("pdb", &[IncidentPhase::Contained], T).await;
    let evict = action(&i, ActionVerb::Evict);
    let pods = evict.pods.as_ref().expect("pod progress");
    assert!(
        pods.deleted >= 1,
        "deleted after the PDB deadline: {pods:?}"
    );
    assert!(
        pods.sample
            .iter()
            .any(|s| s.contains("deleted after a PodDisruptionBudget")),
        "{pods:?}"
    );
    // with suspendOwner off, the Deployment recreates pods: each is evicted as it comes
    // (drift), but the first ones must be gone within the policy's grace, not 3600 s
    let first: Vec<String> = i.spec.pods.iter().map(|p| p.uid.clone()).collect();
    eventually(
        "the first pods gone within the policy's grace period",
        Duration::from_secs(15),
        || async {
            let all = env.all_pods("pdb").await;
            (!all
                .iter()
                .any(|p| p.metadata.uid.as_ref().is_some_and(|u| first.contains(u))))
            .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unapproved_gpu_pod_is_contained_and_an_approved_one_untouched() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("ml").await;
    let gpu = |name: &str, approved: bool| {
        let mut p = workload(
            "Pod",
            "ml",
            name,
            "nvcr.io/nvidia/pytorch:24.01-py3",
            &["python", "train.py"],
        );
        p["spec"]["containers"][0]["resources"] = json!({"limits": {"nvidia.com/gpu": "1"}});
        if approved {
            p["metadata"]["labels"]["cryptojack.dev/gpu-approved"] = json!("true");
        }
        p
    };
    env.apply(gpu("approved", true)).await;
    env.apply(gpu("sneaky", false)).await;
    let i = env.incident_in("ml", &[IncidentPhase::Contained], T).await;
    assert_eq!(i.spec.workload, "Pod/sneaky");
    assert_eq!(i.spec.requested.gpus.get("nvidia.com/gpu"), Some(&1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let names: Vec<String> = env
        .live_pods("ml")
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(names, ["approved"]);
    assert_eq!(env.incidents("ml").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_changes_nothing_but_records_the_plan() {
    let env = Env::start().await;
    env.policy("audit", json!({"mode": "Audit"})).await;
    env.namespace("audit").await;
    env.apply(deployment("audit", "miner", 2, XMRIG.0, XMRIG.1))
        .await;
    let i = env.incident_in("audit", &[IncidentPhase::Audited], T).await;
    let st = i.status.as_ref().expect("status");
    assert_eq!(st.mode, Some(Mode::Audit));
    let ids: Vec<&str> = st.actions.iter().map(|a| a.id.as_str()).collect();
    for id in [
        "collect-logs/core/Secret/audit/",
        "label/apps/Deployment/audit/miner",
        "isolate/networking.k8s.io/NetworkPolicy/audit/cryptojack-",
        "scale/apps/Deployment/audit/miner",
        "evict/apps/Deployment/audit/miner",
        "recreate-serviceaccount/core/ServiceAccount/audit/default",
    ] {
        assert!(
            ids.iter().any(|i| i.starts_with(id)),
            "{id} missing from the plan {ids:?}"
        );
    }
    // the plan is what Contain would run; what is not applicable says why
    for a in &st.actions {
        assert!(
            a.state == ActionState::Planned
                || (a.state == ActionState::Skipped && a.message.is_some()),
            "{a:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = env
        .get("apps/v1", "Deployment", "audit", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(env.live_pods("audit").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_workload_is_evicted_but_never_parked() {
    let env = Env::start().await;
    env.policy(
        "contain",
        json!({"mode": "Contain", "response": {"protect": [{"namespace": "kube-system", "kind": "DaemonSet", "name": "calico-*"}]}}),
    )
    .await;
    env.namespace("kube-system").await;
    env.apply(workload(
        "DaemonSet",
        "kube-system",
        "calico-node",
        XMRIG.0,
        XMRIG.1,
    ))
    .await;
    let i = env
        .incident_in("kube-system", &[IncidentPhase::Contained], T)
        .await;
    let park = action(&i, ActionVerb::Park);
    assert_eq!(park.state, ActionState::Skipped);
    assert!(
        park.message
            .as_deref()
            .is_some_and(|m| m.contains("protected")),
        "{park:?}"
    );
    assert_eq!(action(&i, ActionVerb::Evict).state, ActionState::Done);
    let ds = env
        .get("apps/v1", "DaemonSet", "kube-system", "calico-node")
        .await
        .expect("ds");
    assert!(
        ds["spec"]["template"]["spec"]["nodeSelector"]
            .get("cryptojack.dev/parked")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_namespace_is_recorded_never_acted_on() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.apply(deployment(OPERATOR_NS, "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in(OPERATOR_NS, &[IncidentPhase::Contained], T)
        .await;
    let st = i.status.as_ref().expect("status");
    assert!(
        st.actions.iter().all(|a| a.state == ActionState::Skipped),
        "{:?}",
        st.actions
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.live_pods(OPERATOR_NS).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_owner_reference_does_not_get_production_scaled() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("prod").await;
    env.apply(deployment("prod", "web", 2, BENIGN.0, BENIGN.1))
        .await;
    let rs = eventually("the web ReplicaSet", T, || async {
        let api: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> =
            kube::Api::namespaced(env.client.clone(), "prod");
        api.list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await;
    let hash = rs
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("pod-template-hash"))
        .cloned()
        .expect("hash");
    // a miner pod claiming the ReplicaSet as its controller, labels copied
    let mut pod = workload("Pod", "prod", "web-forged", XMRIG.0, XMRIG.1);
    pod["metadata"]["labels"] = json!({"app": "web", "pod-template-hash": hash});
    // the ReplicaSet controller deletes the surplus pod it now counts as its own; this one
    // takes its time to go, as a real miner ignoring SIGTERM would
    pod["metadata"]["annotations"] = json!({"kubesim.dev/ignore-sigterm": "true"});
    pod["spec"]["terminationGracePeriodSeconds"] = json!(30);
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs.metadata.name, "uid": rs.metadata.uid,
        "controller": true, "blockOwnerDeletion": true
    }]);
    env.apply(pod).await;
    let i = env
        .incident_in("prod", &[IncidentPhase::Contained], T)
        .await;
    assert_eq!(i.spec.workload, "Pod/web-forged", "treated as a bare pod");
    assert!(i.spec.forged_owner.is_some());
    assert!(
        i.spec
            .findings
            .iter()
            .any(|f| f.rule == "operator/forged-owner")
    );
    let d = env
        .get("apps/v1", "Deployment", "prod", "web")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 2, "production is not scaled");
}

/// The node a pod lands on is read from the Node's labels: a miner scheduled onto a GPU
/// instance (kubesim's GPU node is a `g5.2xlarge`) gets the GPU-instance signal in its
/// incident; a benign pod on the same node opens no incident (placement is context).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_a_miner_lands_on_is_in_its_incident_and_alone_is_no_case() {
    let env = Env::start_on(sim_builder().nodes(1).gpu_nodes(1), options("op-1")).await;
    env.policy("audit", json!({"mode": "Audit"})).await;
    env.namespace("placed").await;
    env.apply(workload("Pod", "placed", "web", BENIGN.0, BENIGN.1))
        .await;
    env.apply(workload("Pod", "placed", "miner", XMRIG.0, XMRIG.1))
        .await;
    let i = eventually("the node's label in the incident", T, || async {
        env.incidents("placed").await.into_iter().find(|i| {
            i.spec
                .findings
                .iter()
                .any(|f| f.rule == "builtin/node/gpu-instance-type")
        })
    })
    .await;
    assert_eq!(i.spec.workload, "Pod/miner");
    let f = i
        .spec
        .findings
        .iter()
        .find(|f| f.rule == "builtin/node/gpu-instance-type")
        .expect("finding");
    assert_eq!(f.field, "spec.nodeName");
    assert!(f.evidence.contains("g5.2xlarge"), "{}", f.evidence);
    assert_eq!(
        i.spec.node_name.as_deref(),
        Some("node-0"),
        "the node it ran on"
    );
    assert!(
        i.spec
            .pods
            .iter()
            .all(|p| p.node.as_deref() == Some("node-0")),
        "each pod's node, though it was first seen unscheduled: {:?}",
        i.spec.pods
    );
    // the web pod is bound to the same node; a later miner's node finding shows the operator
    // has seen that binding (one ordered watch), and still only the miners have incidents
    eventually("web bound", T, || async {
        let web = env.get("v1", "Pod", "placed", "web").await?;
        (web["spec"]["nodeName"] == "node-0").then_some(())
    })
    .await;
    env.apply(workload("Pod", "placed", "late", XMRIG.0, XMRIG.1))
        .await;
    eventually("the late miner's node finding", T, || async {
        env.incidents("placed").await.into_iter().find(|i| {
            i.spec.workload == "Pod/late"
                && i.spec
                    .findings
                    .iter()
                    .any(|f| f.rule == "builtin/node/gpu-instance-type")
        })
    })
    .await;
    let mut workloads: Vec<String> = env
        .incidents("placed")
        .await
        .into_iter()
        .map(|i| i.spec.workload)
        .collect();
    workloads.sort();
    assert_eq!(workloads, ["Pod/late", "Pod/miner"]);
}
