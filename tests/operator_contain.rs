//! The operator against kubesim: containment of each kind of workload, asserted on the
//! resulting cluster state.

mod operator_common;

use std::time::Duration;

use cryptojack::api::{ActionState, ActionVerb, IncidentPhase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use operator_common::*;

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_deployment_is_scaled_to_zero_and_its_pods_evicted() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    env.apply(deployment(
        "shop",
        "web-cache",
        3,
        "docker.io/xmrig/xmrig:6.21.0",
        &["xmrig", "-o", "stratum+tcp://pool.minexmr.com:4444"],
    ))
    .await;

    let incident = eventually("the incident to be Contained", T, || async {
        env.incidents("shop").await.into_iter().find(|i| {
            i.status
                .as_ref()
                .is_some_and(|s| s.phase == IncidentPhase::Contained)
        })
    })
    .await;
    assert_eq!(incident.spec.workload, "Deployment/web-cache");
    let status = incident.status.clone().expect("status");
    let scale = status
        .actions
        .iter()
        .find(|a| a.verb == ActionVerb::Scale)
        .expect("scale action");
    assert_eq!(scale.id, "scale/apps/Deployment/shop/web-cache");
    assert_eq!(scale.state, ActionState::Done);
    assert_eq!(scale.undo.as_ref().and_then(|u| u.replicas), Some(3));
    let evict = status
        .actions
        .iter()
        .find(|a| a.verb == ActionVerb::Evict)
        .expect("evict action");
    assert_eq!(evict.state, ActionState::Done);
    assert!(status.time_to_contain_ms.is_some());

    let deploys: Api<Deployment> = Api::namespaced(env.client.clone(), "shop");
    let d = deploys.get("web-cache").await.expect("deployment");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(0));
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "shop");
    eventually("every pod gone", T, || async {
        pods.list(&ListParams::default())
            .await
            .ok()
            .filter(|l| l.items.is_empty())
    })
    .await;
    // and none comes back
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        pods.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert_eq!(env.incidents("shop").await.len(), 1, "exactly one incident");
}
