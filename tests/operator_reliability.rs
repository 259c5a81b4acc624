//! Nothing lost, nothing twice: duplicate events, restarts, a crash between two steps,
//! lost responses, API errors, dropped watches, a restarted API server, and a leader
//! killed mid-flight.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operator_common;

use std::time::Duration;

use cryptojack::api::{ActionState, ActionVerb, IncidentPhase};
use kubesim::FaultRule;
use operator_common::*;

const T: Duration = Duration::from_secs(30);

fn scale_action(i: &cryptojack::api::CryptojackIncident) -> cryptojack::api::Action {
    i.status
        .as_ref()
        .and_then(|s| s.actions.iter().find(|a| a.verb == ActionVerb::Scale))
        .cloned()
        .expect("a scale action")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_duplicate_events_give_exactly_one_incident() {
    let mut env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 3, XMRIG.0, XMRIG.1))
        .await;
    let first = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    // a restarted operator sees every pod again (its initial list) and every incident
    env.stop_operators().await;
    env.spawn_operator(options("op-2"));
    eventually("op-2 leading", T, || async {
        (env.leader().await.as_deref() == Some("op-2")).then_some(())
    })
    .await;
    // a watch restart replays everything too
    env.sim.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = env.incidents("shop").await;
    assert_eq!(
        all.len(),
        1,
        "{:?}",
        all.iter()
            .map(|i| i.metadata.name.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(all[0].metadata.name, first.metadata.name);
    assert_eq!(
        all[0].spec.pod_count, first.spec.pod_count,
        "no pod counted twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_the_first_action_the_next_run_finishes_without_repeating() {
    let env = Env::bare().await;
    // the first action is the scale: evidence and quarantine off for this one
    env.policy(
        "contain",
        serde_json::json!({"mode": "Contain", "response": {
            "evidence": {"collectLogs": false},
            "networkIsolation": {"enabled": false},
            "stratumPortBlock": {"enabled": false}}}),
    )
    .await;
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 3, XMRIG.0, XMRIG.1))
        .await;
    eventually("three miner pods", T, || async {
        (env.live_pods("shop").await.len() == 3).then_some(())
    })
    .await;
    let mut crashing =
        OperatorProcess::spawn(&env.sim, "crashing", &["--crash-after-mutations", "1"]);
    let code = crashing.exit_code(T).await;
    assert_eq!(code, Some(137), "the test hook exits as kill -9 would");
    // the scale happened; its Done was never recorded
    let i = env
        .incidents("shop")
        .await
        .into_iter()
        .next()
        .expect("the incident");
    let scale = scale_action(&i);
    assert_eq!(scale.state, ActionState::Pending);
    assert_eq!(
        scale.undo.as_ref().and_then(|u| u.replicas),
        Some(3),
        "undo recorded before the change"
    );
    let d = env
        .get("apps/v1", "Deployment", "shop", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 0);

    let _next = OperatorProcess::spawn(&env.sim, "next", &[]);
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let scale = scale_action(&i);
    assert_eq!(scale.state, ActionState::Done);
    assert!(
        scale
            .message
            .as_deref()
            .is_some_and(|m| m.contains("is at 0 replicas")),
        "seen done, not redone: {scale:?}"
    );
    assert_eq!(scale.undo.as_ref().and_then(|u| u.replicas), Some(3));
    assert_eq!(env.incidents("shop").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_after_the_scale_does_not_corrupt_the_undo_data() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    // the scale is applied, but its answer is lost: a 500 in one namespace, a dropped
    // connection in the other
    for (ns, drop) in [("lost-500", false), ("lost-conn", true)] {
        env.namespace(ns).await;
        let mut rule = FaultRule::new("patch", "apps/deployments/scale", 500, 1)
            .namespace(ns)
            .name("miner")
            .after_write();
        if drop {
            rule = rule.drop_connection();
        }
        env.sim.faults().add(rule);
        env.apply(deployment(ns, "miner", 3, XMRIG.0, XMRIG.1))
            .await;
        let i = env.incident_in(ns, &[IncidentPhase::Contained], T).await;
        assert!(
            env.sim.faults().rules().is_empty(),
            "the fault hit: {:?}",
            env.sim.faults().rules()
        );
        let scale = scale_action(&i);
        assert_eq!(
            scale.undo.as_ref().and_then(|u| u.replicas),
            Some(3),
            "still the original count, not 0"
        );
        assert_eq!(scale.state, ActionState::Done);
        assert!(
            scale.attempts >= 2,
            "retried after the lost answer: {scale:?}"
        );
        let d = env
            .get("apps/v1", "Deployment", ns, "miner")
            .await
            .expect("deployment");
        assert_eq!(d["spec"]["replicas"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_and_dropped_watches_still_end_contained() {
    let env = Env::start().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    let f = env.sim.faults();
    f.add(FaultRule::new("patch", "apps/deployments/scale", 500, 2));
    f.add(FaultRule::new("create", "pods/eviction", 429, 2).retry_after(1));
    f.add(FaultRule::new("create", "pods/eviction", 503, 1));
    f.add(FaultRule::new(
        "update",
        "cryptojack.dev/cryptojackincidents/status",
        500,
        2,
    ));
    f.add(FaultRule::new(
        "create",
        "cryptojack.dev/cryptojackincidents",
        503,
        1,
    ));
    f.add(FaultRule::new("list", "apps/replicasets", 500, 1));
    env.apply(deployment("shop", "miner", 2, XMRIG.0, XMRIG.1))
        .await;
    env.incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    assert_eq!(env.incidents("shop").await.len(), 1);
    assert!(
        env.sim.faults().rules().is_empty(),
        "every fault hit: {:?}",
        env.sim.faults().rules()
    );

    // every watch dropped, then the API server restarted (history compacted: 410, relist)
    env.namespace("later").await;
    env.sim.restart();
    env.apply(deployment("later", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    env.incident_in("later", &[IncidentPhase::Contained], T)
        .await;
    assert_eq!(env.incidents("later").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_one_leads_and_the_other_takes_over_when_it_is_killed() {
    let env = Env::bare().await;
    env.policy("contain", contain_policy()).await;
    let mut a = OperatorProcess::spawn(&env.sim, "replica-a", &[]);
    let mut b = OperatorProcess::spawn(&env.sim, "replica-b", &[]);
    let first = eventually("a leader", T, || async { env.leader().await }).await;
    env.namespace("one").await;
    env.apply(deployment("one", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    env.incident_in("one", &[IncidentPhase::Contained], T).await;
    // kill -9 the leader: no release, the standby must wait out the lease
    let (leader, standby) = if first == a.identity {
        (&mut a, &b.identity)
    } else {
        (&mut b, &a.identity)
    };
    leader.kill();
    let started = std::time::Instant::now();
    let standby = standby.clone();
    eventually(
        "the standby to take over",
        Duration::from_secs(15),
        || async { (env.leader().await.as_deref() == Some(standby.as_str())).then_some(()) },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took over in {:?}",
        started.elapsed()
    );
    env.namespace("two").await;
    env.apply(deployment("two", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    env.incident_in("two", &[IncidentPhase::Contained], T).await;
    assert_eq!(env.incidents("one").await.len(), 1);
}
