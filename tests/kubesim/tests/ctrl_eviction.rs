//! PodDisruptionBudget status and the eviction subresource through the API contract (also passes
//! against a real cluster with CRYPTOJACK_E2E_KUBECONFIG).

use crate::common;

use common::{cluster, create_pause_deployment, eventually, status_of};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn pdb_blocks_eviction_with_429_then_allows_it() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), &c.ns);
    create_pause_deployment(&deps, "guarded", 2).await;
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "guarded"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("create pdb");

    let st = eventually(120, || async {
        let st = pdbs.get("guarded").await.ok()?.status?;
        (st.observed_generation == Some(1) && st.current_healthy == 2 && st.expected_pods == 2)
            .then_some(st)
    })
    .await
    .expect("PDB status with two healthy pods");
    assert_eq!((st.desired_healthy, st.disruptions_allowed), (2, 0));
    let cond = st
        .conditions
        .expect("conditions")
        .into_iter()
        .find(|c| c.type_ == "DisruptionAllowed")
        .expect("cond");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "InsufficientPods")
    );

    let victim = pods
        .list(&ListParams::default().labels("app=guarded"))
        .await
        .expect("list")
        .items
        .into_iter()
        .next()
        .and_then(|p| p.metadata.name)
        .expect("a pod");
    let err = status_of(
        pods.evict(&victim, &EvictParams::default())
            .await
            .expect_err("eviction must be refused"),
    );
    assert_eq!(err.code, 429);
    assert_eq!(err.reason, "TooManyRequests");
    assert_eq!(
        err.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let causes = err.details.expect("details").causes;
    assert_eq!(causes[0].reason, "DisruptionBudget");
    assert_eq!(
        causes[0].message,
        "The disruption budget guarded needs 2 healthy pods and has 2 currently"
    );

    // Relax the budget: one disruption allowed, the eviction goes through and uses it up.
    pdbs.patch(
        "guarded",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await
    .expect("relax pdb");
    eventually(60, || async {
        let p = pdbs.get("guarded").await.ok()?;
        let st = p.status?;
        (st.observed_generation == p.metadata.generation && st.disruptions_allowed == 1)
            .then_some(())
    })
    .await
    .expect("one disruption allowed");
    pods.evict(&victim, &EvictParams::default())
        .await
        .expect("eviction allowed");
    eventually(60, || async {
        match pods.get(&victim).await {
            Ok(p) => p.metadata.deletion_timestamp.is_some().then_some(()),
            Err(_) => Some(()),
        }
    })
    .await
    .expect("the evicted pod is deleted");
}

#[tokio::test]
async fn max_unavailable_with_match_expressions() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), &c.ns);
    create_pause_deployment(&deps, "mu", 3).await;
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "mu"},
        "spec": {"maxUnavailable": 0, "selector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["mu", "other"]}]}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("create pdb");
    // maxUnavailable counts against the controller's scale: 3 expected, 3 desired healthy.
    let st = eventually(120, || async {
        let st = pdbs.get("mu").await.ok()?.status?;
        (st.observed_generation == Some(1) && st.current_healthy == 3).then_some(st)
    })
    .await
    .expect("PDB status with three healthy pods");
    assert_eq!(
        (st.expected_pods, st.desired_healthy, st.disruptions_allowed),
        (3, 3, 0)
    );
    let victim = pods
        .list(&ListParams::default().labels("app=mu"))
        .await
        .expect("list")
        .items
        .into_iter()
        .next()
        .and_then(|p| p.metadata.name)
        .expect("a pod");
    let err = status_of(
        pods.evict(&victim, &EvictParams::default())
            .await
            .expect_err("eviction must be refused"),
    );
    assert_eq!(err.code, 429);
    assert_eq!(
        err.details.expect("details").causes[0].message,
        "The disruption budget mu needs 3 healthy pods and has 3 currently"
    );

    pdbs.patch(
        "mu",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"maxUnavailable": 1}})),
    )
    .await
    .expect("relax pdb");
    let st = eventually(60, || async {
        let p = pdbs.get("mu").await.ok()?;
        let st = p.status?;
        (st.observed_generation == p.metadata.generation && st.disruptions_allowed == 1)
            .then_some(st)
    })
    .await
    .expect("one disruption allowed");
    assert_eq!(st.desired_healthy, 2);
    pods.evict(&victim, &EvictParams::default())
        .await
        .expect("eviction allowed");
}
