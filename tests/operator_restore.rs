//! The responder's side: FalsePositive restores what containment changed and exempts the
//! same findings; Confirmed closes; a confirmed workload deployed again is a new
//! incident; deleting an unresolved incident does not lose it; a namespace being
//! deleted is never held up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operator_common;

use std::time::Duration;

use cryptojack::api::{ActionState, CryptojackIncident, IncidentPhase};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use operator_common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn resolve(env: &Env, ns: &str, name: &str, state: &str, note: &str) {
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"resolution": {"state": state, "note": note, "by": "alice"}}}),
        ),
    )
    .await
    .expect("resolving");
}

fn restored(i: &CryptojackIncident) -> Option<String> {
    let st = i.status.as_ref()?;
    (st.phase == IncidentPhase::Resolved)
        .then(|| {
            st.conditions
                .iter()
                .find(|c| c.type_ == "Restored")
                .map(|c| c.status.clone())
        })
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_positive_restores_the_recorded_state_and_exempts_the_findings() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 3, XMRIG.0, XMRIG.1))
        .await;
    env.apply(workload("DaemonSet", "shop", "agent", XMRIG.0, XMRIG.1))
        .await;
    let incidents = eventually("both workloads contained", T, || async {
        let all = env.incidents("shop").await;
        (all.len() == 2
            && all.iter().all(|i| {
                i.status
                    .as_ref()
                    .is_some_and(|s| s.phase == IncidentPhase::Contained)
            }))
        .then_some(all)
    })
    .await;
    for i in &incidents {
        resolve(
            &env,
            "shop",
            i.metadata.name.as_deref().expect("name"),
            "FalsePositive",
            "our own benchmark",
        )
        .await;
    }
    for i in &incidents {
        let name = i.metadata.name.clone().expect("name");
        let done = eventually("restored", T, || async {
            let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), "shop");
            api.get(&name).await.ok().filter(|i| restored(i).is_some())
        })
        .await;
        assert_eq!(
            restored(&done).as_deref(),
            Some("True"),
            "{:?}",
            done.status
        );
        let st = done.status.as_ref().expect("status");
        assert!(st.resolved_at.is_some());
        for a in &st.actions {
            if a.state == ActionState::Done && a.undo.is_some() {
                assert_eq!(
                    a.restore.as_ref().map(|r| r.state),
                    Some(ActionState::Done),
                    "{a:?}"
                );
            }
        }
    }
    let d = env
        .get("apps/v1", "Deployment", "shop", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 3, "the recorded replica count");
    let ds = env
        .get("apps/v1", "DaemonSet", "shop", "agent")
        .await
        .expect("ds");
    assert!(
        ds["spec"]["template"]["spec"]["nodeSelector"]
            .get("cryptojack.dev/parked")
            .is_none()
    );
    // the pods come back and, with the same findings, are not contained again
    eventually("the pods back", T, || async {
        (env.live_pods("shop").await.len() >= 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.incidents("shop").await.len(),
        2,
        "no new incident for the same findings"
    );
    let d = env
        .get("apps/v1", "Deployment", "shop", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 3);
}

/// Where a restored workload's pods land next is no new case: a Deployment resolved
/// FalsePositive whose pods then run on a GPU instance (a node label its incident never saw)
/// is not contained again; a new finding in its containers still would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_positive_that_moves_to_another_node_is_not_contained_again() {
    // sim_builder: node-0 and node-1 are m5.2xlarge, node-2 a g5.2xlarge GPU instance
    let env = Env::start_on(sim_builder(), options("op-1")).await;
    env.policy("contain", contain_policy()).await;
    env.namespace("lab").await;
    let mut d = deployment("lab", "bench", 1, XMRIG.0, XMRIG.1);
    d["spec"]["template"]["spec"]["nodeName"] = json!("node-0");
    env.apply(d.clone()).await;
    let i = eventually("contained", T, || async {
        env.incidents("lab").await.into_iter().find(|i| {
            i.status
                .as_ref()
                .is_some_and(|s| s.phase == IncidentPhase::Contained)
        })
    })
    .await;
    assert!(
        !i.spec
            .findings
            .iter()
            .any(|f| f.rule == "builtin/node/gpu-instance-type"),
        "{:?}",
        i.spec.findings
    );
    let name = i.metadata.name.clone().expect("name");
    resolve(&env, "lab", &name, "FalsePositive", "hashrate benchmark").await;
    eventually("restored", T, || async {
        let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), "lab");
        api.get(&name).await.ok().filter(|i| restored(i).is_some())
    })
    .await;
    // the same workload, moved to the GPU instance
    d["spec"]["template"]["spec"]["nodeName"] = json!("node-2");
    env.apply(d.clone()).await;
    eventually("a pod on the GPU node", T, || async {
        env.live_pods("lab")
            .await
            .iter()
            .any(|p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("node-2")
                    && p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("app"))
                        .map(String::as_str)
                        == Some("bench")
            })
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.incidents("lab").await.len(),
        1,
        "no new incident for a new node"
    );
    // a new finding in the containers is a new case
    d["spec"]["template"]["spec"]["containers"][0]["command"] = json!([
        "sh",
        "-c",
        "./xmrig -o stratum+tcp://pool.minexmr.com:4444 --donate-level=1"
    ]);
    env.apply(d).await;
    eventually("a new incident for new findings", T, || async {
        (env.incidents("lab").await.len() == 2).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_closes_and_a_comeback_is_a_new_incident() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 2, XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let name = i.metadata.name.clone().expect("name");
    resolve(
        &env,
        "shop",
        &name,
        "Confirmed",
        "xmrig from a leaked CI token",
    )
    .await;
    env.incident_in("shop", &[IncidentPhase::Resolved], T).await;
    let d = env
        .get("apps/v1", "Deployment", "shop", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 0, "containment stays in place");
    // the attacker scales it up again
    env.apply(deployment("shop", "miner", 2, XMRIG.0, XMRIG.1))
        .await;
    let second = eventually("a second incident", T, || async {
        env.incidents("shop")
            .await
            .into_iter()
            .find(|i| i.metadata.name.as_deref() == Some(&format!("{name}-2")))
    })
    .await;
    assert_eq!(
        second.spec.previous_incident.as_deref(),
        Some(name.as_str())
    );
    env.incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_is_final() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    env.apply(workload("Pod", "shop", "miner", XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let name = i.metadata.name.clone().expect("name");
    resolve(&env, "shop", &name, "Confirmed", "confirmed").await;
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), "shop");
    let err = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"resolution": {"state": "FalsePositive", "note": "oops"}}}),
            ),
        )
        .await
        .expect_err("the API server refuses to change a final resolution");
    assert!(err.to_string().contains("final"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolved_incident_deleted_by_a_namespace_admin_comes_back() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let name = i.metadata.name.clone().expect("name");
    let uid = i.metadata.uid.clone();
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), "shop");
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    let back = eventually("the incident re-created", T, || async {
        api.get_opt(&name).await.ok().flatten().filter(|n| {
            n.metadata.uid != uid
                && n.status
                    .as_ref()
                    .is_some_and(|s| s.phase == IncidentPhase::Contained)
        })
    })
    .await;
    assert_eq!(back.spec.findings, i.spec.findings);
    assert_eq!(
        back.status.as_ref().map(|s| s.actions.clone()),
        i.status.as_ref().map(|s| s.actions.clone()),
        "the undo data survived"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), "shop");
    let list = events.list(&ListParams::default()).await.expect("events");
    assert!(
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("UnresolvedIncidentDeleted")),
        "a Warning Event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_deletion_releases_incidents_and_their_copies_remain() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("doomed").await;
    env.apply(deployment("doomed", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("doomed", &[IncidentPhase::Contained], T)
        .await;
    let name = i.metadata.name.clone().expect("name");
    let copies: Api<ConfigMap> = Api::namespaced(env.client.clone(), OPERATOR_NS);
    eventually("the copy", T, || async {
        copies
            .get_opt(&format!("cji-copy.doomed.{name}"))
            .await
            .ok()
            .flatten()
    })
    .await;
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete namespace");
    eventually("the namespace gone", T, || async {
        namespaces
            .get_opt("doomed")
            .await
            .ok()
            .flatten()
            .is_none()
            .then_some(())
    })
    .await;
    let copy = copies
        .get(&format!("cji-copy.doomed.{name}"))
        .await
        .expect("the copy remains");
    let json = copy
        .data
        .as_ref()
        .and_then(|d| d.get("incident.json"))
        .expect("incident.json");
    let kept: CryptojackIncident = serde_json::from_str(json).expect("a whole incident");
    assert_eq!(kept.spec.workload, "Deployment/miner");
}
