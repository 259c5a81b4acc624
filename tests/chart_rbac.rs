//! RBAC proven, not guessed: the chart is rendered, its ServiceAccount, ClusterRoles, Role and
//! bindings are loaded into kubesim (HTTPS, RBAC on), and the operator runs as that
//! ServiceAccount (a TokenRequest token) through scenarios that exercise every write it
//! makes (src/respond/execute.rs) and every read behind them: containment and restore of
//! every workload kind, a PodDisruptionBudget forcing the delete path, Audit, an invalid
//! policy, an incident deleted by a namespace admin and re-created from its copy, a namespace
//! deletion, an owner kind from `rbac.extraOwners` (an Argo Rollout) scaled through its
//! `scale` subresource, and leader election with a graceful shutdown.
//!
//! kubesim's access log (tests/kubesim/src/access.rs) records which permission each request
//! used and every 403. The test fails on any 403, and prints every permission the chart
//! grants that no scenario used; it fails unless those are exactly the grants of the Calico
//! API server's alternative group ([`CALICO_API_SERVER`]), so an unneeded grant cannot slip
//! in.
//!
//! To extend: write an `async fn` scenario taking `&Env` (helpers from tests/operator_common)
//! and add it to the `join!` in [`run_scenarios`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::chart_common;
use crate::operator_common;

use std::time::Duration;

use cryptojack::api::{CryptojackIncident, IncidentPhase};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use chart_common::{
    NAMESPACE, Rendered, fixtures, install_rbac, operator_user, render, repo, sa_token,
};
use operator_common::{Env, XMRIG, eventually, options, workload};

const T: Duration = Duration::from_secs(45);

/// Granted but not used here, on purpose: Calico is written through `projectcalico.org/v3`
/// when its API server serves it, else through its storage CRDs `crd.projectcalico.org/v1`.
/// The proof runs against the storage CRDs (both cannot be served at once: discovery picks
/// v3), so the v3 grants are the alternative that a cluster with the Calico API server uses;
/// tests/operator_containment2.rs exercises that flavour.
const CALICO_API_SERVER: &[&str] = &[
    "create projectcalico.org/globalnetworkpolicies",
    "create projectcalico.org/networkpolicies",
    "create projectcalico.org/tiers",
    "delete projectcalico.org/globalnetworkpolicies",
    "delete projectcalico.org/networkpolicies",
];

/// The opt-in ClusterRole (`rbac.credentialRevocation.enabled`) holds nothing the scenarios
/// with it do not use.
const REVOCATION_UNUSED: &[&str] = &[];

/// The rules the chart gives the operator's ServiceAccount: every ClusterRole and Role bound
/// to it by the rendering.
fn operator_rules(r: &Rendered) -> Vec<Value> {
    let mut rules = Vec::new();
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for b in r.of_kind(kind) {
            let to_operator = b["subjects"].as_array().into_iter().flatten().any(|s| {
                s["kind"] == "ServiceAccount"
                    && s["name"] == chart_common::RELEASE
                    && s["namespace"] == NAMESPACE
            });
            if !to_operator {
                continue;
            }
            let role = r.get(
                b["roleRef"]["kind"].as_str().expect("roleRef.kind"),
                b["roleRef"]["name"].as_str().expect("roleRef.name"),
            );
            rules.extend(role["rules"].as_array().cloned().unwrap_or_default());
        }
    }
    rules
}

/// kubesim with RBAC and the chart's RBAC loaded; the operator running in-process as the
/// chart's ServiceAccount (its client configuration returned for restarts).
async fn start(values: &str) -> (Env, Rendered, kube::Config) {
    let sim = kubesim::Sim::builder()
        .rbac(true)
        .crds_dir(repo().join("crds"))
        .crds_dir(fixtures().join("owner-crds"))
        // every network flavour the operator may write (Calico through its storage CRDs:
        // see CALICO_API_SERVER)
        .crds_dir(repo().join("tests/fixtures/thirdparty-crds/network-policy-api-v1alpha2"))
        .crds_dir(repo().join("tests/fixtures/thirdparty-crds/network-policy-api-v1alpha1"))
        .crds_dir(repo().join("tests/fixtures/thirdparty-crds/cilium"))
        .crds_dir(repo().join("tests/fixtures/thirdparty-crds/calico-crd"))
        // Dynamic Resource Allocation (GPUs claimed through ResourceClaims)
        .crds_dir(repo().join("tests/fixtures/thirdparty-crds/dra-v1"))
        .nodes(3)
        .gpu_nodes(1)
        .tick(Duration::from_millis(50))
        .start()
        .await
        .expect("kubesim starts");
    let client = sim.client();
    let rendered = render(values);
    install_rbac(&client, &rendered).await;
    let token = sa_token(&client, NAMESPACE, chart_common::RELEASE).await;
    let config = sim.client_config(&token);
    let mut env = Env {
        sim,
        client,
        operators: Vec::new(),
    };
    spawn_operator(&mut env, &config);
    (env, rendered, config)
}

fn spawn_operator(env: &mut Env, config: &kube::Config) {
    let shutdown = CancellationToken::new();
    let t = shutdown.clone();
    let mut opts = options("op-rbac");
    opts.namespace = NAMESPACE.into();
    let config = config.clone();
    let handle = tokio::spawn(async move {
        if let Err(e) = cryptojack::controller::operate(config, opts, t).await {
            panic!("operator failed to start as the chart's ServiceAccount: {e}");
        }
    });
    env.operators.push((shutdown, handle));
}

async fn labelled_namespace(env: &Env, name: &str, mode: &str) {
    env.apply(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"cj-rbac": mode}}
    }))
    .await;
}

async fn policies(env: &Env) {
    let scope = |mode: &str| json!({"namespaceSelector": {"matchLabels": {"cj-rbac": mode}}});
    env.policy(
        "rbac-contain",
        json!({"mode": "Contain", "match": scope("contain"),
               "limits": {"maxIncidentsPerMinute": 100},
               "response": {"evict": {"gracePeriodSeconds": 1, "forceAfterSeconds": 1}}}),
    )
    .await;
    env.policy(
        "rbac-audit",
        json!({"mode": "Audit", "match": scope("audit"), "limits": {"maxIncidentsPerMinute": 100}}),
    )
    .await;
}

fn phase(i: &CryptojackIncident) -> Option<IncidentPhase> {
    i.status.as_ref().map(|s| s.phase)
}

async fn resolve(env: &Env, i: &CryptojackIncident, state: &str) {
    let ns = i.metadata.namespace.clone().expect("namespace");
    let name = i.metadata.name.clone().expect("name");
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), &ns);
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"resolution": {"state": state, "note": "RBAC proof"}}})),
    )
    .await
    .expect("resolving");
}

/// Contains a workload of `kind`; for owners, resolves it FalsePositive and waits for the
/// restore.
async fn contain_and_restore(env: &Env, kind: &str) {
    let ns = format!("rbac-{}", kind.to_lowercase());
    labelled_namespace(env, &ns, "contain").await;
    env.apply(workload(kind, &ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    if kind == "CronJob" {
        // the first run, once the operator has seen the CronJob
        tokio::time::sleep(Duration::from_millis(500)).await;
        env.sim.advance_time(Duration::from_secs(61)).await;
    }
    let i = env.incident_in(&ns, &[IncidentPhase::Contained], T).await;
    if kind == "Pod" {
        return;
    }
    resolve(env, &i, "FalsePositive").await;
    let what = format!("the {kind} restored");
    eventually(&what, T, || async {
        env.incidents(&ns).await.into_iter().find(|i| {
            i.status.as_ref().is_some_and(|s| {
                s.phase == IncidentPhase::Resolved
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Restored" && c.status == "True")
            })
        })
    })
    .await;
}

/// A PodDisruptionBudget keeps the bare miner pod: eviction is refused until the policy's
/// deadline, then the pod is deleted.
async fn pdb_forces_the_delete_path(env: &Env) {
    let ns = "rbac-pdb";
    labelled_namespace(env, ns, "contain").await;
    env.apply(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "keep", "namespace": ns},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "miner"}}}
    }))
    .await;
    env.apply(workload("Pod", ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    eventually("the pod deleted despite its PDB", T, || async {
        env.incidents(ns).await.into_iter().find(|i| {
            i.status.as_ref().is_some_and(|s| {
                s.actions
                    .iter()
                    .filter_map(|a| a.pods.as_ref())
                    .any(|p| p.deleted >= 1)
            })
        })
    })
    .await;
}

async fn audit_records_the_plan(env: &Env) {
    let ns = "rbac-audit";
    labelled_namespace(env, ns, "audit").await;
    env.apply(workload("Deployment", ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    env.incident_in(ns, &[IncidentPhase::Audited], T).await;
}

async fn an_invalid_policy_gets_its_condition(env: &Env) {
    env.policy(
        "rbac-broken",
        json!({"mode": "Audit", "match": {"namespaceSelector": {"matchLabels": {"cj-rbac": "none"}}},
               "detect": {"commands": [{"pattern": "(unclosed", "syntax": "Regex"}]}}),
    )
    .await;
    eventually("rbac-broken Ready=False", T, || async {
        env.policy_status("rbac-broken").await.filter(|p| {
            p.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "False")
            })
        })
    })
    .await;
}

async fn a_deleted_incident_comes_back_from_its_copy(env: &Env) {
    let ns = "rbac-deleted";
    labelled_namespace(env, ns, "contain").await;
    env.apply(workload("Deployment", ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    let i = env.incident_in(ns, &[IncidentPhase::Contained], T).await;
    let name = i.metadata.name.clone().expect("name");
    let uid = i.metadata.uid.clone();
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), ns);
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the incident re-created from its copy", T, || async {
        api.get_opt(&name)
            .await
            .ok()
            .flatten()
            .filter(|n| n.metadata.uid != uid && phase(n) == Some(IncidentPhase::Contained))
    })
    .await;
}

async fn a_namespace_deletion_releases_its_incidents(env: &Env) {
    let ns = "rbac-doomed";
    labelled_namespace(env, ns, "contain").await;
    env.apply(workload("Deployment", ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    env.incident_in(ns, &[IncidentPhase::Contained], T).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    namespaces
        .delete(ns, &DeleteParams::default())
        .await
        .expect("delete namespace");
    eventually("the namespace gone", T, || async {
        namespaces
            .get_opt(ns)
            .await
            .ok()
            .flatten()
            .is_none()
            .then_some(())
    })
    .await;
}

/// An Argo Rollout (rbac.extraOwners) owning a ReplicaSet: scaled to 0 through its `scale`
/// subresource. The test then plays Argo's controller (it scales the ReplicaSet down).
async fn an_extra_owner_is_scaled_through_its_scale_subresource(env: &Env) {
    let ns = "rbac-rollout";
    labelled_namespace(env, ns, "contain").await;
    let template = operator_common::template("ro", XMRIG.0, XMRIG.1);
    let rollout = env
        .apply(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ro"}}, "template": template}
        }))
        .await;
    let uid = rollout["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    env.apply(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8f", "namespace": ns,
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                          "name": "web", "uid": uid, "controller": true,
                                          "blockOwnerDeletion": true}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ro"}}, "template": template}
    }))
    .await;
    eventually("the Rollout scaled to 0", T, || async {
        let r = env
            .get("argoproj.io/v1alpha1", "Rollout", ns, "web")
            .await?;
        (r["spec"]["replicas"] == 0).then_some(())
    })
    .await;
    env.apply(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8f", "namespace": ns},
        "spec": {"replicas": 0}
    }))
    .await;
    env.incident_in(ns, &[IncidentPhase::Contained], T).await;
}

/// A resolved incident deleted: its copy in the operator's namespace goes too.
async fn a_resolved_incident_deleted_takes_its_copy_along(env: &Env) {
    let ns = "rbac-resolved";
    labelled_namespace(env, ns, "contain").await;
    env.apply(workload("Pod", ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    let i = env.incident_in(ns, &[IncidentPhase::Contained], T).await;
    let name = i.metadata.name.clone().expect("name");
    resolve(env, &i, "Confirmed").await;
    env.incident_in(ns, &[IncidentPhase::Resolved], T).await;
    let copies: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(env.client.clone(), NAMESPACE);
    let copy = format!("cji-copy.{ns}.{name}");
    eventually("the copy of the resolved incident", T, || async {
        copies.get_opt(&copy).await.ok().flatten()
    })
    .await;
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), ns);
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the copy deleted with the incident", T, || async {
        copies
            .get_opt(&copy)
            .await
            .ok()
            .map(|c| c.is_none())
            .filter(|gone| *gone)
    })
    .await;
}

/// An unresolved incident whose finalizer was removed by hand, then deleted while no operator
/// ran: nobody saw the deletion; the periodic sweep over the copies (every 20 s) of the
/// operator started next re-creates it.
async fn the_copy_sweeper_recreates_an_incident_deleted_behind_its_back(
    env: &mut Env,
    config: &kube::Config,
) {
    let ns = "rbac-sweeper";
    labelled_namespace(env, ns, "contain").await;
    env.apply(workload("Pod", ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    let i = env.incident_in(ns, &[IncidentPhase::Contained], T).await;
    let name = i.metadata.name.clone().expect("name");
    let copies: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(env.client.clone(), NAMESPACE);
    let copy = format!("cji-copy.{ns}.{name}");
    eventually("the incident's copy", T, || async {
        copies.get_opt(&copy).await.ok().flatten()
    })
    .await;
    env.stop_operators().await;
    let api: Api<CryptojackIncident> = Api::namespaced(env.client.clone(), ns);
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizer removed");
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    assert!(api.get_opt(&name).await.expect("get").is_none());
    spawn_operator(env, config);
    eventually(
        "the incident re-created by the sweeper",
        Duration::from_secs(60),
        || async { api.get_opt(&name).await.ok().flatten() },
    )
    .await;
}

/// A pod in a namespace the operator's namespace cache has not seen (its namespace watch is
/// failing): the operator reads the namespace's labels itself rather than guess.
async fn a_namespace_the_cache_has_not_seen_is_read(env: &Env) {
    for verb in ["list", "watch"] {
        env.sim
            .faults()
            .add(kubesim::FaultRule::new(verb, "namespaces", 500, 100_000));
    }
    env.sim.store().close_watches(false);
    let ns = "rbac-unseen";
    labelled_namespace(env, ns, "contain").await;
    env.apply(workload("Pod", ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    env.incident_in(ns, &[IncidentPhase::Contained], T).await;
    env.sim.faults().clear();
}

/// Quarantine and stratum-port block in one flavour (forced by a policy selecting a namespace
/// of its own), then restored.
async fn network_flavour(env: &Env, flavour: &str, cluster_block: bool) {
    let label = format!("flavour-{}", flavour.to_lowercase());
    let scope = if cluster_block {
        "Cluster"
    } else {
        "Namespace"
    };
    env.policy(
        &format!("rbac-{label}"),
        json!({"mode": "Contain", "match": {"namespaceSelector": {"matchLabels": {"cj-rbac": label}}},
               "limits": {"maxIncidentsPerMinute": 100},
               "response": {"networkIsolation": {"flavor": flavour},
                            "stratumPortBlock": {"scope": if flavour == "NetworkPolicy" { "Namespace" } else { scope }}}}),
    )
    .await;
    let ns = format!("rbac-{label}");
    labelled_namespace(env, &ns, &label).await;
    env.apply(workload("Deployment", &ns, "miner", XMRIG.0, XMRIG.1))
        .await;
    let i = env.incident_in(&ns, &[IncidentPhase::Contained], T).await;
    let isolated = i.status.as_ref().is_some_and(|s| {
        s.actions.iter().any(|a| {
            a.verb == cryptojack::api::ActionVerb::Isolate
                && a.state == cryptojack::api::ActionState::Done
        })
    });
    assert!(isolated, "{flavour}: {:?}", i.status);
    resolve(env, &i, "FalsePositive").await;
    eventually(&format!("{flavour} restored"), T, || async {
        env.incidents(&ns).await.into_iter().find(|i| {
            i.status.as_ref().is_some_and(|s| {
                s.phase == IncidentPhase::Resolved
                    && s.conditions
                        .iter()
                        .any(|c| c.type_ == "Restored" && c.status == "True")
            })
        })
    })
    .await;
}

/// A GPU pod without approval: the spending limit (a ResourceQuota of the operator's, GPU
/// resource names read from the nodes), removed on restore.
async fn gpu_quota_and_restore(env: &Env) {
    let ns = "rbac-gpu";
    labelled_namespace(env, ns, "contain").await;
    let mut pod = workload("Pod", ns, "miner", XMRIG.0, XMRIG.1);
    pod["spec"]["containers"][0]["resources"] = json!({"limits": {"nvidia.com/gpu": "1"}});
    env.apply(pod).await;
    let i = env.incident_in(ns, &[IncidentPhase::Contained], T).await;
    let capped = i.status.as_ref().is_some_and(|s| {
        s.actions.iter().any(|a| {
            a.verb == cryptojack::api::ActionVerb::CapGpuQuota
                && a.state == cryptojack::api::ActionState::Done
        })
    });
    assert!(capped, "{:?}", i.status);
    resolve(env, &i, "FalsePositive").await;
    eventually("the GPU quota removed", T, || async {
        env.incidents(ns).await.into_iter().find(|i| {
            i.status
                .as_ref()
                .is_some_and(|s| s.phase == IncidentPhase::Resolved)
        })
    })
    .await;
}

/// A GPU claimed through DRA (a ResourceClaim and a ResourceClaimTemplate): the operator
/// reads both to see the device class.
async fn dra_claims(env: &Env) {
    let ns = "rbac-dra";
    labelled_namespace(env, ns, "contain").await;
    let devices = json!({"devices": {"requests": [
        {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]}});
    env.apply(
        json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
        "metadata": {"name": "shared-gpu", "namespace": ns}, "spec": devices.clone()}),
    )
    .await;
    env.apply(
        json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
        "metadata": {"name": "gpu", "namespace": ns}, "spec": {"spec": devices}}),
    )
    .await;
    for (name, claim) in [
        (
            "from-claim",
            json!({"name": "gpu", "resourceClaimName": "shared-gpu"}),
        ),
        (
            "from-template",
            json!({"name": "gpu", "resourceClaimTemplateName": "gpu"}),
        ),
    ] {
        let mut pod = workload(
            "Pod",
            ns,
            name,
            "nvcr.io/nvidia/cuda:12.4.0-base-ubuntu22.04",
            &["python", "train.py"],
        );
        pod["spec"]["resourceClaims"] = json!([claim]);
        pod["spec"]["containers"][0]["resources"] = json!({"claims": [{"name": "gpu"}]});
        env.apply(pod).await;
    }
    eventually("both DRA pods contained", T, || async {
        let contained = env
            .incidents(ns)
            .await
            .into_iter()
            .filter(|i| {
                i.status
                    .as_ref()
                    .is_some_and(|s| s.phase == IncidentPhase::Contained)
            })
            .count();
        (contained == 2).then_some(())
    })
    .await;
}

/// The ServiceAccount of the miner is bound to a role: the investigation reads what the role
/// grants; with the opt-in role, the binding is quarantined and restored and the legacy token
/// Secret deleted.
async fn credential_revocation(env: &Env) {
    let ns = "rbac-creds";
    labelled_namespace(env, ns, "revoke").await;
    env.policy(
        "rbac-revoke",
        json!({"mode": "Contain", "match": {"namespaceSelector": {"matchLabels": {"cj-rbac": "revoke"}}},
               "limits": {"maxIncidentsPerMinute": 100},
               "response": {"revokeCredentials": {"serviceAccount": "Always", "quarantineBindings": true}}}),
    )
    .await;
    env.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ci", "namespace": ns}}))
        .await;
    env.apply(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "ci-token", "namespace": ns, "annotations": {"kubernetes.io/service-account.name": "ci"}}}))
        .await;
    env.apply(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "reader", "namespace": ns},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await;
    env.apply(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "ci-reader", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": ns}]}),
    )
    .await;
    env.apply(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "rbac-creds-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": ns}]}),
    )
    .await;
    let mut pod = workload("Pod", ns, "miner", XMRIG.0, XMRIG.1);
    pod["spec"]["serviceAccountName"] = json!("ci");
    env.apply(pod).await;
    let i = env
        .incident_in(
            ns,
            &[IncidentPhase::Contained, IncidentPhase::PartiallyContained],
            T,
        )
        .await;
    let inv = i
        .status
        .as_ref()
        .and_then(|s| s.investigation.clone())
        .expect("investigation");
    assert!(
        inv.bindings
            .iter()
            .any(|b| b.role == "Role/reader" && b.grants.contains("configmaps")),
        "{inv:?}"
    );
    // with the opt-in role the bindings were quarantined: delete them meanwhile, so that the
    // restore recreates them from the incident
    let quarantined = i.status.as_ref().is_some_and(|s| {
        s.actions.iter().any(|a| {
            a.verb == cryptojack::api::ActionVerb::QuarantineBinding
                && a.state == cryptojack::api::ActionState::Done
        })
    });
    if quarantined {
        let rbs: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
            Api::namespaced(env.client.clone(), ns);
        rbs.delete("ci-reader", &DeleteParams::default())
            .await
            .expect("delete");
        let crbs: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> =
            Api::all(env.client.clone());
        crbs.delete("rbac-creds-view", &DeleteParams::default())
            .await
            .expect("delete");
    }
    resolve(env, &i, "FalsePositive").await;
    eventually("the revocation resolved", T, || async {
        env.incidents(ns)
            .await
            .into_iter()
            .find(|i| phase(i) == Some(IncidentPhase::Resolved))
    })
    .await;
}

async fn run_scenarios(env: &mut Env, config: &kube::Config) {
    policies(env).await;
    tokio::join!(
        network_flavour(env, "NetworkPolicy", false),
        network_flavour(env, "ClusterNetworkPolicy", false),
        network_flavour(env, "AdminNetworkPolicy", false),
        network_flavour(env, "Cilium", true),
        network_flavour(env, "Calico", true),
        gpu_quota_and_restore(env),
        dra_claims(env),
        credential_revocation(env),
    );
    tokio::join!(
        contain_and_restore(env, "Deployment"),
        contain_and_restore(env, "ReplicaSet"),
        contain_and_restore(env, "StatefulSet"),
        contain_and_restore(env, "ReplicationController"),
        contain_and_restore(env, "Job"),
        contain_and_restore(env, "CronJob"),
        contain_and_restore(env, "DaemonSet"),
        contain_and_restore(env, "Pod"),
        pdb_forces_the_delete_path(env),
        audit_records_the_plan(env),
        an_invalid_policy_gets_its_condition(env),
        a_deleted_incident_comes_back_from_its_copy(env),
        a_namespace_deletion_releases_its_incidents(env),
        an_extra_owner_is_scaled_through_its_scale_subresource(env),
        a_resolved_incident_deleted_takes_its_copy_along(env),
    );
    // with the namespace watch broken: after the others, which it would slow down
    a_namespace_the_cache_has_not_seen_is_read(env).await;
    // with an operator restart
    the_copy_sweeper_recreates_an_incident_deleted_behind_its_back(env, config).await;
}

/// Stops the operator and checks the access log: no 403; prints what was used; returns the
/// permissions `rules` grant that no request used, printed.
async fn analyse(mut env: Env, rules: &[Value]) -> Vec<String> {
    // a graceful shutdown gives the Lease up
    env.stop_operators().await;
    let log = env.sim.access_log();
    let user = operator_user();
    let denials = log.denials();
    for d in &denials {
        eprintln!("403: {} ({}x): {}", d.access.describe(), d.count, d.reason);
    }
    assert!(
        denials.is_empty(),
        "the operator was refused {} time(s) as the chart's ServiceAccount (above)",
        denials.len()
    );
    let entries = log.entries_of(&user);
    assert!(
        entries.len() > 10,
        "the operator did run as {user}: {entries:?}"
    );
    let mut used: Vec<String> = Vec::new();
    for p in cryptojack_permissions(rules) {
        let n: u64 = entries
            .iter()
            .filter(|e| e.access.allowed && p.matches(&e.access))
            .map(|e| e.count)
            .sum();
        if n > 0 {
            used.push(format!("{p}: {n} request(s)"));
        }
    }
    eprintln!("granted and used:\n  {}", used.join("\n  "));
    let unused: Vec<String> = log
        .unused(&user, rules)
        .iter()
        .map(ToString::to_string)
        .collect();
    eprintln!(
        "granted but used by no scenario:\n  {}",
        unused.join("\n  ")
    );
    unused
}

fn cryptojack_permissions(rules: &[Value]) -> Vec<kubesim::access::Permission> {
    kubesim::access::permissions(rules)
}

fn assert_only_pending(unused: &[String], pending: &[&str]) {
    let mut pending: Vec<String> = pending.iter().map(|s| s.to_string()).collect();
    pending.sort();
    let mut unused = unused.to_vec();
    unused.sort();
    let unneeded: Vec<&String> = unused.iter().filter(|u| !pending.contains(u)).collect();
    let now_used: Vec<&String> = pending.iter().filter(|p| !unused.contains(p)).collect();
    assert!(
        unneeded.is_empty(),
        "granted and used by no scenario: remove them from the chart (or add the scenario that needs them): {unneeded:#?}"
    );
    assert!(
        now_used.is_empty(),
        "listed as unused but used by a scenario now: strike them off the list: {now_used:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_needs_no_permission_the_chart_does_not_grant_and_gets_none_it_does_not_use() {
    let (mut env, rendered, config) =
        start("rbac:\n  extraOwners:\n    - {apiGroup: argoproj.io, resource: rollouts}\n").await;
    let started = std::time::Instant::now();
    run_scenarios(&mut env, &config).await;
    eprintln!("scenarios took {:?}", started.elapsed());
    let unused = analyse(env, &operator_rules(&rendered)).await;
    assert_only_pending(&unused, CALICO_API_SERVER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_revocation_role_is_opt_in_and_holds_only_what_it_uses() {
    let (env, rendered, _) = start("rbac:\n  credentialRevocation:\n    enabled: true\n").await;
    policies(&env).await;
    credential_revocation(&env).await;
    let role = rendered.get("ClusterRole", "cryptojack-credential-revocation");
    let rules = role["rules"].as_array().cloned().unwrap_or_default();
    // bound to the operator's ServiceAccount
    assert!(operator_rules(&rendered).contains(&rules[0]));
    let unused = analyse(env, &rules).await;
    assert_only_pending(&unused, REVOCATION_UNUSED);
}

/// Issue 8's decision: an owner kind the chart does not list in `rbac.extraOwners` answers
/// 403, and that makes the scale action `Skipped` with a hint; the pods are still evicted.
/// The operator cannot verify the Rollout (403), so it records it unverified as the top
/// owner and the incident is still recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn without_extra_owners_the_scale_is_skipped_with_a_hint_and_the_pods_still_go() {
    let (env, _, _) = start("").await;
    policies(&env).await;
    let ns = "rbac-rollout";
    labelled_namespace(&env, ns, "contain").await;
    let template = operator_common::template("ro", XMRIG.0, XMRIG.1);
    let rollout = env
        .apply(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ro"}}, "template": template}
        }))
        .await;
    let uid = rollout["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_string();
    env.apply(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d8f", "namespace": ns,
                     "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                          "name": "web", "uid": uid, "controller": true}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ro"}}, "template": template}
    }))
    .await;
    let i = eventually(
        "an incident with the Rollout's action finished",
        T,
        || async {
            env.incidents(ns).await.into_iter().find(|i| {
                i.status.as_ref().is_some_and(|s| {
                    s.actions.iter().any(|a| {
                        a.target.kind == "Rollout"
                            && a.verb == cryptojack::api::ActionVerb::Scale
                            && a.state == cryptojack::api::ActionState::Skipped
                    })
                })
            })
        },
    )
    .await;
    let st = i.status.as_ref().expect("status");
    let scale = st
        .actions
        .iter()
        .find(|a| a.target.kind == "Rollout" && a.verb == cryptojack::api::ActionVerb::Scale)
        .expect("the Rollout's scale action");
    assert!(
        scale
            .message
            .as_deref()
            .unwrap_or("")
            .contains("rbac.extraOwners"),
        "{scale:?}"
    );
    for d in env.sim.access_log().denials() {
        assert_eq!(
            (d.access.api_group.as_str(), d.access.resource.as_str()),
            ("argoproj.io", "rollouts"),
            "only the Rollout is refused: {}",
            d.reason
        );
    }
}
