//! Policies as the operator sees them: compiled one by one with their status, several
//! policies giving one incident, edits re-evaluating running pods, the rate limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operator_common;

use std::time::Duration;

use cryptojack::api::{ActionState, IncidentPhase, Mode};
use operator_common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(30);

fn ready(p: &cryptojack::api::CryptojackPolicy) -> Option<(String, String, String)> {
    let st = p.status.as_ref()?;
    let c = st.conditions.iter().find(|c| c.type_ == "Ready")?;
    (c.observed_generation == p.metadata.generation)
        .then(|| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_shows_its_condition_while_a_valid_one_keeps_working() {
    let env = Env::start().await;
    env.policy("broken", json!({"mode": "Contain", "detect": {"commands": [{"pattern": "(unclosed", "syntax": "Regex"}]}})).await;
    env.policy("good", contain_policy()).await;
    let (status, reason, message) = eventually("broken's Ready=False", T, || async {
        env.policy_status("broken")
            .await
            .and_then(|p| ready(&p))
            .filter(|r| r.0 == "False")
    })
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "InvalidPolicy")
    );
    assert!(
        message.contains("spec.detect.commands[0].pattern"),
        "{message}"
    );
    let good = eventually("good's Ready=True", T, || async {
        env.policy_status("good")
            .await
            .filter(|p| ready(p).is_some_and(|r| r.0 == "True"))
    })
    .await;
    assert!(
        good.status
            .as_ref()
            .and_then(|s| s.compiled_rules)
            .unwrap_or(0)
            > 10
    );

    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    assert_eq!(i.spec.policies, ["good"]);

    // fixing the policy makes it Ready, with a new observedGeneration
    env.policy("broken", json!({"mode": "Audit", "detect": {"commands": [{"pattern": "(closed)", "syntax": "Regex"}]}})).await;
    eventually("broken fixed", T, || async {
        env.policy_status("broken")
            .await
            .and_then(|p| ready(&p))
            .filter(|r| r.0 == "True")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_policies_matching_one_workload_give_one_incident() {
    let env = Env::start().await;
    env.policy("audit-all", json!({"mode": "Audit"})).await;
    env.policy(
        "contain-custom",
        json!({"mode": "Contain", "detect": {"commands": [{"id": "custom/donate", "pattern": "--donate-level", "severity": "High"}]}}),
    )
    .await;
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 2, XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let mut policies = i.spec.policies.clone();
    policies.sort();
    assert_eq!(policies, ["audit-all", "contain-custom"]);
    let custom = i
        .spec
        .findings
        .iter()
        .find(|f| f.rule == "custom/donate")
        .expect("the custom finding");
    assert_eq!(custom.policies, ["contain-custom"]);
    let builtin = i
        .spec
        .findings
        .iter()
        .find(|f| f.rule == "builtin/miner-binary/xmrig")
        .expect("builtin");
    assert_eq!(builtin.policies.len(), 2);
    assert_eq!(
        i.status.as_ref().and_then(|s| s.mode),
        Some(Mode::Contain),
        "the strictest mode"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.incidents("shop").await.len(), 1);
    assert_eq!(i.spec.pod_count, 2, "both pods in the one incident");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_policy_re_evaluates_running_pods() {
    let env = Env::start().await;
    env.policy(
        "p",
        json!({"mode": "Contain", "detect": {"builtin": false}}),
    )
    .await;
    env.namespace("shop").await;
    // not a miner to the built-in-less policy
    env.apply(deployment(
        "shop",
        "hasher",
        1,
        "example.com/tools/hasher:1",
        &["hasher", "--work"],
    ))
    .await;
    eventually("the pod running", T, || async {
        (env.live_pods("shop").await.len() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(env.incidents("shop").await.is_empty());
    env.policy(
        "p",
        json!({"mode": "Contain", "detect": {"builtin": false, "images": [{"pattern": "example.com/tools/hasher*", "syntax": "Glob", "severity": "Critical"}]}}),
    )
    .await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    assert_eq!(i.spec.source, cryptojack::api::IncidentSource::Scan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_counts_incidents_and_the_rest_wait_with_a_condition() {
    let env = Env::start().await;
    env.policy(
        "slow",
        json!({"mode": "Contain", "limits": {"maxIncidentsPerMinute": 1}}),
    )
    .await;
    env.namespace("a").await;
    env.namespace("b").await;
    env.apply(deployment("a", "miner", 3, XMRIG.0, XMRIG.1))
        .await;
    env.incident_in("a", &[IncidentPhase::Contained], T).await;
    env.apply(deployment("b", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    let waiting = eventually("b's incident waiting on the rate limit", T, || async {
        env.incidents("b").await.into_iter().find(|i| {
            i.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "RateLimited" && c.status == "True")
            })
        })
    })
    .await;
    let st = waiting.status.as_ref().expect("status");
    assert_eq!(st.phase, IncidentPhase::Detected);
    assert!(
        st.actions
            .iter()
            .all(|a| a.state == ActionState::Planned || a.state == ActionState::Skipped),
        "{:?}",
        st.actions
    );
    let d = env
        .get("apps/v1", "Deployment", "b", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 1, "nothing done while rate-limited");
    // the three pods of one incident counted once: namespace a is fully contained
    let d = env
        .get("apps/v1", "Deployment", "a", "miner")
        .await
        .expect("deployment");
    assert_eq!(d["spec"]["replicas"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_selector_with_known_labels_scopes_the_policy() {
    let env = Env::start().await;
    env.policy("prod-only", json!({"mode": "Contain", "match": {"namespaceSelector": {"matchLabels": {"tier": "prod"}}}})).await;
    env.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev", "labels": {"tier": "dev"}}})).await;
    env.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"tier": "prod"}}})).await;
    env.apply(deployment("dev", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    env.apply(deployment("prod", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    env.incident_in("prod", &[IncidentPhase::Contained], T)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        env.incidents("dev").await.is_empty(),
        "the dev namespace is out of scope"
    );
}
