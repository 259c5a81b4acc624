//! Containment, part two, against kubesim: quarantine of exactly the offending pods in
//! each network flavour, the stratum-port block, credential revocation (a stolen token
//! stops working), binding quarantine, the GPU spending limit, evidence and the
//! investigation — each action, each restore, asserted on the cluster's state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operator_common;

use std::time::Duration;

use cryptojack::api::{ActionState, ActionVerb, CryptojackIncident, IncidentPhase};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use operator_common::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn thirdparty(dir: &str) -> std::path::PathBuf {
    repo().join("tests/fixtures/thirdparty-crds").join(dir)
}

fn action(i: &CryptojackIncident, verb: ActionVerb) -> Vec<&cryptojack::api::Action> {
    i.status
        .as_ref()
        .map(|s| s.actions.iter().filter(|a| a.verb == verb).collect())
        .unwrap_or_default()
}

async fn resolve_false_positive(env: &Env, ns: &str, name: &str) -> CryptojackIncident {
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"resolution": {"state": "FalsePositive", "note": "test"}}})),
    )
    .await
    .expect("resolve");
    eventually("restored", T, || async {
        api.get(name).await.ok().filter(|i| {
            i.status
                .as_ref()
                .is_some_and(|s| s.phase == IncidentPhase::Resolved)
        })
    })
    .await
}

/// A miner Deployment with a healthy sibling Deployment sharing its `app` label.
async fn miner_and_sibling(env: &Env, ns: &str) {
    env.namespace(ns).await;
    let mut sibling = deployment(ns, "web", 1, BENIGN.0, BENIGN.1);
    sibling["spec"]["template"]["metadata"]["labels"]["team"] = json!("shop");
    env.apply(sibling).await;
    let mut miner = deployment(ns, "miner", 2, XMRIG.0, XMRIG.1);
    miner["spec"]["template"]["metadata"]["labels"]["team"] = json!("shop");
    env.apply(miner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_with_networkpolicy_selects_exactly_the_offending_pods_and_is_restored() {
    let env = Env::start().await;
    env.policy("contain", json!({"mode": "Contain", "response": {"suspendOwner": {"enabled": false}, "evict": {"enabled": false}}})).await;
    miner_and_sibling(&env, "shop").await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let name = i.metadata.name.clone().expect("name");
    // exactly the offending pods carry the incident label
    let pods = env.live_pods("shop").await;
    for p in &pods {
        let labelled = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("cryptojack.dev/incident"))
            == Some(&name);
        let miner = p
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("miner-"));
        assert_eq!(labelled, miner, "{:?}", p.metadata.name);
    }
    let nps: Api<NetworkPolicy> = Api::namespaced(env.client.clone(), "shop");
    let np = nps
        .get(&format!("cryptojack-{name}-quarantine"))
        .await
        .expect("the quarantine NetworkPolicy");
    let np: Value = serde_json::to_value(np).expect("json");
    assert_eq!(
        np["spec"]["podSelector"],
        json!({"matchLabels": {"cryptojack.dev/incident": name}})
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Egress", "Ingress"]));
    // DNS only to the cluster DNS pods, never port 53 to anywhere
    let egress = np["spec"]["egress"].as_array().expect("egress");
    assert_eq!(egress.len(), 1);
    assert_eq!(
        egress[0]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "kube-system"
    );
    assert_eq!(
        egress[0]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
    assert!(
        np["spec"]["ingress"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );
    let isolate = action(&i, ActionVerb::Isolate);
    assert_eq!(isolate[0].state, ActionState::Done);
    assert!(
        isolate[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("no other NetworkPolicy")),
        "{isolate:?}"
    );
    // plain NetworkPolicy: the namespace-wide stratum block is not written, and says why
    let block = action(&i, ActionVerb::BlockPorts);
    assert_eq!(block[0].state, ActionState::Skipped);
    assert!(
        block[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("additive") || m.contains("cannot deny"))
    );

    resolve_false_positive(&env, "shop", &name).await;
    assert!(
        nps.get_opt(&format!("cryptojack-{name}-quarantine"))
            .await
            .expect("get")
            .is_none(),
        "removed on restore"
    );
    for p in env.live_pods("shop").await {
        assert!(
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("cryptojack.dev/incident"))
                .is_none()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_networkpolicy_that_re_allows_egress_makes_the_quarantine_fail_with_a_warning() {
    let env = Env::start().await;
    env.policy("contain", json!({"mode": "Contain", "response": {"suspendOwner": {"enabled": false}, "evict": {"enabled": false}}})).await;
    env.namespace("leaky").await;
    env.apply(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "team-egress", "namespace": "leaky"},
        "spec": {"podSelector": {"matchLabels": {"app": "miner"}}, "policyTypes": ["Egress"], "egress": [{}]}
    }))
    .await;
    env.apply(deployment("leaky", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("leaky", &[IncidentPhase::PartiallyContained], T)
        .await;
    let isolate = action(&i, ActionVerb::Isolate);
    assert_eq!(isolate[0].state, ActionState::Failed);
    let error = isolate[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("team-egress") && error.contains("not effective"),
        "{error}"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), "leaky");
    let warned = eventually("a Warning Event", T, || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.note.as_deref().is_some_and(|n| n.contains("team-egress"))
            })
    })
    .await;
    assert_eq!(warned.reason.as_deref(), Some("ActionFailed"));
}

struct Flavour {
    dir: &'static str,
    kind: &'static str,
    namespaced: bool,
    forced: &'static str,
}

const FLAVOURS: &[Flavour] = &[
    Flavour {
        dir: "network-policy-api-v1alpha2",
        kind: "ClusterNetworkPolicy",
        namespaced: false,
        forced: "ClusterNetworkPolicy",
    },
    Flavour {
        dir: "network-policy-api-v1alpha1",
        kind: "AdminNetworkPolicy",
        namespaced: false,
        forced: "AdminNetworkPolicy",
    },
    Flavour {
        dir: "cilium",
        kind: "CiliumNetworkPolicy",
        namespaced: true,
        forced: "Cilium",
    },
    Flavour {
        dir: "calico-crd",
        kind: "NetworkPolicy",
        namespaced: true,
        forced: "Calico",
    },
];

async fn flavour_objects(env: &Env, api_version: &str, kind: &str, ns: Option<&str>) -> Vec<Value> {
    let (group, version) = api_version.rsplit_once('/').expect("group/version");
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = kube::discovery::pinned_kind(&env.client, &gvk)
        .await
        .expect("discovery");
    let api: Api<kube::api::DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(env.client.clone(), ns, &ar),
        None => Api::all_with(env.client.clone(), &ar),
    };
    api.list(&ListParams::default().labels("app.kubernetes.io/managed-by=cryptojack"))
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|o| serde_json::to_value(o).expect("json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deny_capable_flavour_gets_its_quarantine_and_stratum_block() {
    for f in FLAVOURS {
        let env = Env::start_on(sim_builder().crds_dir(thirdparty(f.dir)), options("op-1")).await;
        // Auto picks the served flavour; the policy's status says which
        env.policy("auto", json!({"mode": "Contain", "response": {"suspendOwner": {"enabled": false}, "evict": {"enabled": false}}})).await;
        let p = eventually("the flavour in the policy status", T, || async {
            env.policy_status("auto")
                .await
                .and_then(|p| p.status?.network_flavor)
        })
        .await;
        assert_eq!(p.as_str(), f.forced, "{}", f.dir);
        env.namespace("shop").await;
        env.apply(deployment("shop", "miner", 1, XMRIG.0, XMRIG.1))
            .await;
        let i = env
            .incident_in("shop", &[IncidentPhase::Contained], T)
            .await;
        let name = i.metadata.name.clone().expect("name");
        let api_version = if f.dir == "calico-crd" {
            "crd.projectcalico.org/v1"
        } else if f.dir == "cilium" {
            "cilium.io/v2"
        } else if f.dir.ends_with("v1alpha2") {
            "policy.networking.k8s.io/v1alpha2"
        } else {
            "policy.networking.k8s.io/v1alpha1"
        };
        let objs = flavour_objects(&env, api_version, f.kind, f.namespaced.then_some("shop")).await;
        assert_eq!(
            objs.len(),
            2,
            "{}: quarantine and stratum block: {objs:#?}",
            f.dir
        );
        let text = serde_json::to_string(&objs).expect("json");
        assert!(text.contains(&name), "{}: selects the incident", f.dir);
        assert!(
            text.contains("kube-dns"),
            "{}: DNS to the DNS pods only",
            f.dir
        );
        assert!(text.contains("3333"), "{}: pool ports blocked", f.dir);
        assert!(
            !text.contains("\"app\":\"miner\""),
            "{}: never the owner's labels",
            f.dir
        );
        for a in action(&i, ActionVerb::Isolate)
            .into_iter()
            .chain(action(&i, ActionVerb::BlockPorts))
        {
            assert_eq!(a.state, ActionState::Done, "{}: {a:?}", f.dir);
            assert_eq!(a.target.kind, f.kind);
        }
        // restore removes them
        resolve_false_positive(&env, "shop", &name).await;
        let left = flavour_objects(&env, api_version, f.kind, f.namespaced.then_some("shop")).await;
        assert!(left.is_empty(), "{}: {left:#?}", f.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_scoped_block_and_a_forced_flavour_the_cluster_does_not_serve() {
    let env = Env::start_on(
        sim_builder().crds_dir(thirdparty("cilium")),
        options("op-1"),
    )
    .await;
    env.policy(
        "cluster",
        json!({"mode": "Contain", "response": {"stratumPortBlock": {"scope": "Cluster"}}}),
    )
    .await;
    env.policy(
        "forced",
        json!({"mode": "Contain", "response": {"networkIsolation": {"flavor": "Calico"}}}),
    )
    .await;
    let p = eventually("forced: Ready=False", T, || async {
        let p = env.policy_status("forced").await?;
        let c = p
            .status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")?
            .clone();
        (c.status == "False").then_some(c)
    })
    .await;
    assert!(
        p.message.contains("spec.response.networkIsolation.flavor") && p.message.contains("Calico"),
        "{}",
        p.message
    );
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 1, XMRIG.0, XMRIG.1))
        .await;
    env.incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let ccnp = flavour_objects(&env, "cilium.io/v2", "CiliumClusterwideNetworkPolicy", None).await;
    assert_eq!(ccnp.len(), 1, "{ccnp:#?}");
    let text = ccnp[0].to_string();
    assert!(
        text.contains("cryptojack-system"),
        "the operator's namespace is left out: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_token_stops_working_and_the_legacy_secret_is_gone() {
    let env = Env::start_on(sim_builder().rbac(true), options("op-1")).await;
    env.policy("contain", json!({"mode": "Contain"})).await;
    env.namespace("ci").await;
    env.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci-runner", "namespace": "ci",
        "labels": {"team": "ci"}, "annotations": {"owner": "platform"}}, "automountServiceAccountToken": false})).await;
    env.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other", "namespace": "ci"}})).await;
    env.apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "pod-readers", "namespace": "ci"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci-runner", "namespace": "ci"}, {"kind": "ServiceAccount", "name": "other", "namespace": "ci"}]})).await;
    env.apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ci-runner-token", "namespace": "ci",
        "annotations": {"kubernetes.io/service-account.name": "ci-runner"}}, "type": "kubernetes.io/service-account-token"})).await;
    let stolen = request_token(&env.client, "ci", "ci-runner").await;
    let other = request_token(&env.client, "ci", "other").await;
    assert_eq!(
        probe_token(&env.sim, "ci", &stolen).await,
        200,
        "works before containment"
    );
    let mut miner = deployment("ci", "miner", 1, XMRIG.0, XMRIG.1);
    miner["spec"]["template"]["spec"]["serviceAccountName"] = json!("ci-runner");
    env.apply(miner).await;
    let i = env.incident_in("ci", &[IncidentPhase::Contained], T).await;
    assert_eq!(
        probe_token(&env.sim, "ci", &stolen).await,
        401,
        "refused after containment"
    );
    assert_eq!(
        probe_token(&env.sim, "ci", &other).await,
        200,
        "other ServiceAccounts' tokens still work"
    );
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "ci");
    assert!(
        secrets
            .get_opt("ci-runner-token")
            .await
            .expect("get")
            .is_none(),
        "legacy token Secret deleted"
    );
    let recreate = action(&i, ActionVerb::RecreateServiceAccount);
    let old = recreate[0]
        .undo
        .as_ref()
        .and_then(|u| u.service_account.clone())
        .expect("undo");
    assert!(
        recreate[0].new_uid.is_some()
            && recreate[0].new_uid.as_deref() != Some(old.old_uid.as_str())
    );
    let sas: Api<ServiceAccount> = Api::namespaced(env.client.clone(), "ci");
    let sa = sas.get("ci-runner").await.expect("recreated");
    assert_eq!(
        sa.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("team"))
            .map(String::as_str),
        Some("ci")
    );
    assert_eq!(
        sa.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("owner"))
            .map(String::as_str),
        Some("platform")
    );
    assert_eq!(sa.automount_service_account_token, Some(false));
    let tokens = action(&i, ActionVerb::DeleteTokens);
    assert_eq!(
        tokens[0].undo.as_ref().map(|u| u.deleted_secrets.clone()),
        Some(vec!["ci-runner-token".to_string()])
    );
    // the investigation lists the binding
    let inv = i
        .status
        .as_ref()
        .and_then(|s| s.investigation.clone())
        .expect("investigation");
    assert!(
        inv.bindings
            .iter()
            .any(|b| b.name == "pod-readers" && b.role == "ClusterRole/view"),
        "{inv:?}"
    );
    // restore says the tokens must be issued again
    let name = i.metadata.name.clone().expect("name");
    let done = resolve_false_positive(&env, "ci", &name).await;
    let r = action(&done, ActionVerb::RecreateServiceAccount)[0]
        .restore
        .clone()
        .expect("restore");
    assert!(
        r.message
            .as_deref()
            .is_some_and(|m| m.contains("issue new tokens")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_dedicated_leaves_a_shared_serviceaccount_alone_and_says_why() {
    let env = Env::start().await;
    env.policy("contain", json!({"mode": "Contain"})).await;
    env.namespace("busy").await;
    env.apply(deployment("busy", "web", 2, BENIGN.0, BENIGN.1))
        .await;
    eventually("web running", T, || async {
        (env.live_pods("busy").await.len() == 2).then_some(())
    })
    .await;
    env.apply(workload("Pod", "busy", "miner", XMRIG.0, XMRIG.1))
        .await;
    let i = env
        .incident_in("busy", &[IncidentPhase::Contained], T)
        .await;
    let sa = env
        .get("v1", "ServiceAccount", "busy", "default")
        .await
        .expect("sa");
    let recreate = action(&i, ActionVerb::RecreateServiceAccount);
    assert_eq!(recreate[0].state, ActionState::Skipped);
    let why = recreate[0].message.clone().unwrap_or_default();
    assert!(
        why.contains("shared") && why.contains("IfDedicated"),
        "{why}"
    );
    assert_eq!(
        sa["metadata"]["uid"],
        env.get("v1", "ServiceAccount", "busy", "default")
            .await
            .expect("sa")["metadata"]["uid"],
        "the default ServiceAccount is not recreated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_are_quarantined_and_restored() {
    let env = Env::start().await;
    env.policy("contain", json!({"mode": "Contain", "response": {"revokeCredentials": {"serviceAccount": "Never", "quarantineBindings": true}}})).await;
    env.namespace("ci").await;
    env.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": "ci"}})).await;
    let subjects = json!([{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}, {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]);
    env.apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "deployers", "namespace": "ci"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}, "subjects": subjects})).await;
    env.apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "deployer-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}]})).await;
    let mut miner = workload("Pod", "ci", "miner", XMRIG.0, XMRIG.1);
    miner["spec"]["serviceAccountName"] = json!("deployer");
    env.apply(miner).await;
    let i = env.incident_in("ci", &[IncidentPhase::Contained], T).await;
    let q = action(&i, ActionVerb::QuarantineBinding);
    assert_eq!(q.len(), 2, "{q:?}");
    assert!(q.iter().all(|a| a.state == ActionState::Done
        && a.undo.as_ref().and_then(|u| u.binding.as_ref()).is_some()));
    let rbs: Api<RoleBinding> = Api::namespaced(env.client.clone(), "ci");
    let rb = rbs.get("deployers").await.expect("binding");
    let names: Vec<String> = rb
        .subjects
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["alice"], "only the ServiceAccount removed");
    let crb = env
        .get(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "",
            "deployer-admin",
        )
        .await;
    // cluster-scoped: read through the cluster-wide API
    let _ = crb;
    let crbs: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(env.client.clone());
    assert!(
        crbs.get("deployer-admin")
            .await
            .expect("crb")
            .subjects
            .unwrap_or_default()
            .is_empty()
    );
    let inv = i
        .status
        .as_ref()
        .and_then(|s| s.investigation.clone())
        .expect("investigation");
    assert!(
        inv.bindings
            .iter()
            .any(|b| b.name == "deployer-admin" && b.cluster_admin_like),
        "{inv:?}"
    );
    let name = i.metadata.name.clone().expect("name");
    let done = resolve_false_positive(&env, "ci", &name).await;
    let restored = done
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Restored").cloned())
        .expect("Restored");
    assert_eq!(restored.status, "True", "{restored:?}");
    let rb = rbs.get("deployers").await.expect("binding");
    assert_eq!(rb.subjects.unwrap_or_default().len(), 2);
    assert_eq!(
        crbs.get("deployer-admin")
            .await
            .expect("crb")
            .subjects
            .unwrap_or_default()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gpu_spending_limit_refuses_new_gpu_pods_and_is_removed_on_restore() {
    let env = Env::start().await;
    env.policy("contain", json!({"mode": "Contain"})).await;
    env.namespace("ml").await;
    env.apply(json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "team-quota", "namespace": "ml"},
        "spec": {"hard": {"pods": "50"}}})).await;
    let mut gpu = workload(
        "Pod",
        "ml",
        "sneaky",
        "nvcr.io/nvidia/cuda:12.4.0-base-ubuntu22.04",
        &["python", "train.py"],
    );
    gpu["spec"]["containers"][0]["resources"] = json!({"limits": {"nvidia.com/gpu": "1"}});
    env.apply(gpu.clone()).await;
    let i = env.incident_in("ml", &[IncidentPhase::Contained], T).await;
    let name = i.metadata.name.clone().expect("name");
    let quotas: Api<ResourceQuota> = Api::namespaced(env.client.clone(), "ml");
    let q = quotas
        .get(&format!("cryptojack-gpu-cap-{name}"))
        .await
        .expect("the GPU quota");
    let hard = q.spec.and_then(|s| s.hard).unwrap_or_default();
    assert_eq!(
        hard.get("requests.nvidia.com/gpu").map(|q| q.0.as_str()),
        Some("0")
    );
    let team = quotas.get("team-quota").await.expect("team quota");
    assert_eq!(
        team.spec.and_then(|s| s.hard).unwrap_or_default().len(),
        1,
        "existing quotas are never edited"
    );
    // new GPU pods are refused by the API server (once the quota's status is filled)
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "ml");
    let mut again: Pod = serde_json::from_value(gpu).expect("pod");
    again.metadata.name = Some("again".into());
    let err = eventually("a GPU pod refused", T, || async {
        match pods.create(&PostParams::default(), &again).await {
            Err(kube::Error::Api(s)) if s.code == 403 => Some(s.message),
            Ok(p) => {
                let _ = pods
                    .delete(
                        p.metadata.name.as_deref().unwrap_or("again"),
                        &Default::default(),
                    )
                    .await;
                None
            }
            Err(_) => None,
        }
    })
    .await;
    assert!(
        err.contains("exceeded quota") && err.contains("requests.nvidia.com/gpu"),
        "{err}"
    );
    resolve_false_positive(&env, "ml", &name).await;
    assert!(
        quotas
            .get_opt(&format!("cryptojack-gpu-cap-{name}"))
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_is_saved_before_eviction_with_secrets_masked_and_the_investigation_is_recorded() {
    let env = Env::start().await;
    env.policy("contain", json!({"mode": "Contain"})).await;
    env.namespace("shop").await;
    env.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "miner-sa", "namespace": "shop",
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/shop-s3"}}})).await;
    env.apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "backdoor", "namespace": "shop"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]})).await;
    let mut pod = workload("Pod", "shop", "miner", XMRIG.0, XMRIG.1);
    pod["spec"]["serviceAccountName"] = json!("miner-sa");
    pod["spec"]["containers"][0]["env"] = json!([{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}]);
    // Audit first, so that the log is in place before the pod is contained
    env.policy("contain", json!({"mode": "Audit"})).await;
    env.apply(pod).await;
    eventually("the pod", T, || async {
        env.live_pods("shop").await.into_iter().next()
    })
    .await;
    env.sim
        .set_pod_log("shop", "miner", "main", "[2026-11-30] net  use pool pool.supportxmr.com:3333\nlogin ok, password=hunter2 token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlMTIz\n")
        .expect("set log");
    env.policy("contain", json!({"mode": "Contain"})).await;
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let name = i.metadata.name.clone().expect("name");
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), "shop");
    let s = secrets
        .get(&format!("{name}-evidence"))
        .await
        .expect("the evidence Secret");
    let log = s
        .data
        .as_ref()
        .and_then(|d| d.get("miner.main.log"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .expect("the log");
    assert!(log.contains("pool.supportxmr.com:3333"), "{log}");
    assert!(
        !log.contains("hunter2") && !log.contains("eyJzdWIiOiJhIn0"),
        "secrets masked: {log}"
    );
    let inv = i
        .status
        .as_ref()
        .and_then(|s| s.investigation.clone())
        .expect("investigation");
    assert_eq!(
        inv.evidence_secret.as_deref(),
        Some(format!("{name}-evidence").as_str())
    );
    assert!(inv.secrets.contains(&"db-creds".to_string()), "{inv:?}");
    assert!(
        inv.recent_objects
            .iter()
            .any(|o| o.kind == "Role" && o.name == "backdoor"),
        "{inv:?}"
    );
    let aws = inv
        .cloud_identities
        .iter()
        .find(|c| c.provider == "AWS")
        .expect("the AWS role");
    assert!(
        aws.identity.contains("shop-s3") && aws.advice.contains("revoke"),
        "{aws:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_two_part_two_actions_the_next_run_finishes_without_repeating() {
    let env = Env::bare().await;
    env.policy("contain", contain_policy()).await;
    env.namespace("shop").await;
    env.apply(deployment("shop", "miner", 2, XMRIG.0, XMRIG.1))
        .await;
    eventually("the miners running", T, || async {
        (env.live_pods("shop").await.len() == 2).then_some(())
    })
    .await;
    // evidence, label, then the kill before the quarantine is recorded
    let mut crashing =
        OperatorProcess::spawn(&env.sim, "crashing", &["--crash-after-mutations", "3"]);
    assert_eq!(crashing.exit_code(T).await, Some(137));
    let _next = OperatorProcess::spawn(&env.sim, "next", &[]);
    let i = env
        .incident_in("shop", &[IncidentPhase::Contained], T)
        .await;
    let isolate = action(&i, ActionVerb::Isolate);
    assert_eq!(isolate[0].state, ActionState::Done);
    assert!(
        isolate[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("exists")),
        "seen done, not redone: {isolate:?}"
    );
    let nps: Api<NetworkPolicy> = Api::namespaced(env.client.clone(), "shop");
    assert_eq!(
        nps.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1,
        "created once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_on_part_two_actions_still_end_contained_and_nothing_twice() {
    let env = Env::start().await;
    env.policy("contain", json!({"mode": "Contain", "response": {"revokeCredentials": {"serviceAccount": "Always", "quarantineBindings": true}}})).await;
    env.namespace("ci").await;
    env.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder", "namespace": "ci"}})).await;
    env.apply(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "builders", "namespace": "ci"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}]})).await;
    let f = env.sim.faults();
    f.add(kubesim::FaultRule::new(
        "create",
        "networking.k8s.io/networkpolicies",
        500,
        2,
    ));
    f.add(kubesim::FaultRule::new("create", "/resourcequotas", 503, 1));
    f.add(kubesim::FaultRule::new(
        "delete",
        "/serviceaccounts",
        500,
        1,
    ));
    f.add(kubesim::FaultRule::new(
        "update",
        "rbac.authorization.k8s.io/rolebindings",
        500,
        1,
    ));
    // and a lost answer: the label is applied, the response lost
    f.add(
        kubesim::FaultRule::new("patch", "/pods", 500, 1)
            .namespace("ci")
            .after_write(),
    );
    let mut miner = deployment("ci", "miner", 1, XMRIG.0, XMRIG.1);
    miner["spec"]["template"]["spec"]["serviceAccountName"] = json!("builder");
    miner["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"nvidia.com/gpu": "1"}});
    env.apply(miner).await;
    let i = env.incident_in("ci", &[IncidentPhase::Contained], T).await;
    assert!(
        env.sim.faults().rules().is_empty(),
        "every fault hit: {:?}",
        env.sim.faults().rules()
    );
    let st = i.status.as_ref().expect("status");
    for verb in [
        ActionVerb::Isolate,
        ActionVerb::CapGpuQuota,
        ActionVerb::RecreateServiceAccount,
        ActionVerb::QuarantineBinding,
        ActionVerb::Label,
    ] {
        let a = action(&i, verb);
        assert!(
            !a.is_empty() && a.iter().all(|a| a.state == ActionState::Done),
            "{verb:?}: {a:?}"
        );
    }
    assert!(
        st.actions.iter().any(|a| a.attempts >= 2),
        "some action was retried"
    );
    let nps: Api<NetworkPolicy> = Api::namespaced(env.client.clone(), "ci");
    assert_eq!(
        nps.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1,
        "created once"
    );
    let quotas: Api<ResourceQuota> = Api::namespaced(env.client.clone(), "ci");
    assert_eq!(
        quotas
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        1,
        "created once"
    );
}

/// A pod whose GPU comes from a DRA claim (no `nvidia.com/gpu` in its resources): detected
/// from the ResourceClaimTemplate it names, and the spending limit caps that device class the
/// way ResourceQuota counts DRA devices. An approved pod and a pod claiming a non-GPU device
/// class are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_claimed_through_dra_is_detected_and_its_device_class_capped() {
    let env = Env::start_on(
        sim_builder().crds_dir(thirdparty("dra-v1")),
        options("op-1"),
    )
    .await;
    env.policy("contain", json!({"mode": "Contain"})).await;
    for ns in ["dra", "dra-approved", "dra-fpga"] {
        env.namespace(ns).await;
    }
    let template = |ns: &str, class: &str| {
        json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": "accel", "namespace": ns},
            "spec": {"spec": {"devices": {"requests": [
                {"name": "accel", "exactly": {"deviceClassName": class, "count": 2}}]}}}})
    };
    let claimed = |ns: &str, labels: Value| {
        let mut p = workload(
            "Pod",
            ns,
            "trainer",
            "nvcr.io/nvidia/cuda:12.4.0-base-ubuntu22.04",
            &["python", "train.py"],
        );
        p["metadata"]["labels"] = labels;
        p["spec"]["resourceClaims"] =
            json!([{"name": "accel", "resourceClaimTemplateName": "accel"}]);
        p["spec"]["containers"][0]["resources"] = json!({"claims": [{"name": "accel"}]});
        p
    };
    env.apply(template("dra-approved", "gpu.nvidia.com")).await;
    env.apply(claimed(
        "dra-approved",
        json!({"app": "trainer", "cryptojack.dev/gpu-approved": "true"}),
    ))
    .await;
    env.apply(template("dra-fpga", "fpga.example.com")).await;
    env.apply(claimed("dra-fpga", json!({"app": "trainer"})))
        .await;
    env.apply(template("dra", "gpu.nvidia.com")).await;
    env.apply(claimed("dra", json!({"app": "trainer"}))).await;

    let i = env.incident_in("dra", &[IncidentPhase::Contained], T).await;
    let name = i.metadata.name.clone().expect("name");
    assert!(
        i.spec
            .findings
            .iter()
            .any(|f| f.rule.contains("gpu") && f.evidence.contains("gpu.nvidia.com")),
        "{:?}",
        i.spec.findings
    );
    let quotas: Api<ResourceQuota> = Api::namespaced(env.client.clone(), "dra");
    let q = quotas
        .get(&format!("cryptojack-gpu-cap-{name}"))
        .await
        .expect("the GPU quota");
    let hard = q.spec.and_then(|s| s.hard).unwrap_or_default();
    assert_eq!(
        hard.get("gpu.nvidia.com.deviceclass.resource.k8s.io/devices")
            .map(|q| q.0.as_str()),
        Some("0"),
        "{hard:?}"
    );
    // the same operator saw the other two pods (they were created first) and left them alone
    for ns in ["dra-approved", "dra-fpga"] {
        assert!(env.incidents(ns).await.is_empty(), "{ns}");
    }
    // the API server refuses a new claim on the class (once the quota's status is filled), and
    // admits one on another class
    let claims = Api::<DynamicObject>::namespaced_with(
        env.client.clone(),
        "dra",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("resource.k8s.io", "v1", "ResourceClaim"),
            "resourceclaims",
        ),
    );
    let claim = |name: &str, class: &str| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": "dra"},
            "spec": {"devices": {"requests": [{"name": "accel", "exactly": {"deviceClassName": class}}]}}}))
        .expect("claim")
    };
    let refused = eventually("a GPU claim refused", T, || async {
        match claims
            .create(&PostParams::default(), &claim("more", "gpu.nvidia.com"))
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 403 => Some(s.message),
            Ok(_) => {
                let _ = claims.delete("more", &Default::default()).await;
                None
            }
            Err(_) => None,
        }
    })
    .await;
    assert!(
        refused.contains("exceeded quota")
            && refused.contains("gpu.nvidia.com.deviceclass.resource.k8s.io/devices"),
        "{refused}"
    );
    claims
        .create(&PostParams::default(), &claim("fpga", "fpga.example.com"))
        .await
        .expect("a claim on another device class is admitted");
    resolve_false_positive(&env, "dra", &name).await;
    assert!(
        quotas
            .get_opt(&format!("cryptojack-gpu-cap-{name}"))
            .await
            .expect("get")
            .is_none()
    );
    eventually("a GPU claim admitted after the restore", T, || async {
        claims
            .create(&PostParams::default(), &claim("after", "gpu.nvidia.com"))
            .await
            .ok()
    })
    .await;
}
