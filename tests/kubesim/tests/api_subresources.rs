//! Subresources: deployments/scale, pods/eviction with PodDisruptionBudgets,
//! serviceaccounts/token (TokenRequest).

use crate::common;

use common::{cluster, eventually, status_of};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
        }
    }))
    .expect("deployment")
}

#[tokio::test]
async fn deployment_scale_subresource() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &deployment("sc", 1))
        .await
        .expect("create");
    let s = api.get_scale("sc").await.expect("get scale");
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_eq!(s.metadata.name.as_deref(), Some("sc"));
    let s = api
        .patch_scale(
            "sc",
            &PatchParams {
                field_manager: Some("scaler".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("patch scale");
    assert_eq!(s.spec.as_ref().and_then(|s| s.replicas), Some(3));
    // The scaling manager owns spec.replicas in the parent's managedFields.
    let d = api.get("sc").await.expect("get");
    let owned = d
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .any(|m| {
            m.manager.as_deref() == Some("scaler")
                && m.fields_v1
                    .is_some_and(|f| f.0.pointer("/f:spec/f:replicas").is_some())
        });
    assert!(owned, "the scale manager owns spec.replicas");
    // Controllers write the status concurrently: retry on conflicts, as clients do.
    let mut s = api.get_scale("sc").await.expect("get scale");
    for _ in 0..20 {
        let mut fresh = api.get_scale("sc").await.expect("get scale");
        fresh.spec.as_mut().expect("spec").replicas = Some(2);
        match api
            .replace_scale("sc", &PostParams::default(), &fresh)
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => panic!("replace scale: {e}"),
        }
    }
    let d = api.get("sc").await.expect("get");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(2));
    // The selector is reported as a string.
    let status = api
        .get_scale("sc")
        .await
        .expect("scale")
        .status
        .expect("status");
    assert_eq!(status.selector.as_deref(), Some("app=sc"));
    // A stale resourceVersion in the Scale is a conflict.
    s.spec.as_mut().expect("spec").replicas = Some(5);
    let e = status_of(
        api.replace_scale("sc", &PostParams::default(), &s)
            .await
            .expect_err("409"),
    );
    assert_eq!(e.code, 409);
}

/// A scale PATCH is applied to the object as it is when written: status writes racing with it
/// (the deployment controller's) never make it fail with 409.
#[tokio::test]
async fn scale_patches_do_not_conflict_with_concurrent_status_writes() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    api.create(&PostParams::default(), &deployment("busy", 0))
        .await
        .expect("create");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let api = api.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let p = Patch::Merge(json!({"status": {"observedGeneration": n}}));
                let _ = api.patch_status("busy", &PatchParams::default(), &p).await;
            }
        })
    };
    for i in 0..40 {
        let r = api
            .patch_scale(
                "busy",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": i % 2}})),
            )
            .await;
        assert!(r.is_ok(), "scale patch {i}: {r:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.expect("writer");
}

async fn running_pods(api: &Api<Pod>, app: &str, n: usize) -> Vec<String> {
    let lp = ListParams::default().labels(&format!("app={app}"));
    let api = api.clone();
    eventually(60, move || {
        let api = api.clone();
        let lp = lp.clone();
        async move {
            let pods = api.list(&lp).await.ok()?;
            let ready: Vec<String> = pods
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| {
                    p.status.as_ref().is_some_and(|s| {
                        s.phase.as_deref() == Some("Running")
                            && s.conditions.as_ref().is_some_and(|cs| {
                                cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
                })
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            (ready.len() >= n).then_some(ready)
        }
    })
    .await
    .expect("running pods")
}

#[tokio::test]
async fn eviction_honours_pod_disruption_budgets() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), &c.ns);
    deps.create(&PostParams::default(), &deployment("ev", 2))
        .await
        .expect("deployment");
    let names = running_pods(&pods, "ev", 2).await;
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "ev"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "ev"}}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb");
    let observed = eventually(30, || {
        let pdbs = pdbs.clone();
        async move {
            let p = pdbs.get("ev").await.ok()?;
            let s = p.status?;
            (s.expected_pods == 2 && s.current_healthy == 2).then_some(s.disruptions_allowed)
        }
    })
    .await;
    assert_eq!(observed, Some(0));
    let s = status_of(
        pods.evict(&names[0], &EvictParams::default())
            .await
            .expect_err("blocked"),
    );
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(
        s.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let causes = s.details.expect("details").causes;
    assert!(causes.iter().any(|c| c.reason == "DisruptionBudget"));

    // Relax the budget: one eviction is allowed.
    pdbs.patch(
        "ev",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await
    .expect("relax");
    let allowed = eventually(30, || {
        let pdbs = pdbs.clone();
        async move {
            let s = pdbs.get("ev").await.ok()?.status?;
            (s.disruptions_allowed == 1).then_some(())
        }
    })
    .await;
    assert!(allowed.is_some());
    let ok = pods
        .evict(&names[0], &EvictParams::default())
        .await
        .expect("eviction allowed");
    assert_eq!(
        ok.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let evicted = eventually(30, || {
        let pods = pods.clone();
        let n = names[0].clone();
        async move {
            match pods.get_opt(&n).await.ok()? {
                None => Some(()),
                Some(p) => p.metadata.deletion_timestamp.map(|_| ()),
            }
        }
    })
    .await;
    assert!(evicted.is_some(), "the evicted pod is deleted");
    // Evicting a pod that does not exist is a 404.
    let s = status_of(
        pods.evict("ghost", &EvictParams::default())
            .await
            .expect_err("404"),
    );
    assert_eq!(s.code, 404);
}

#[tokio::test]
async fn token_request_issues_a_token() {
    let c = cluster().await;
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &c.ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "robot"}})).expect("sa");
    sas.create(&PostParams::default(), &sa).await.expect("sa");
    let req: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": ["https://kubernetes.default.svc.cluster.local"], "expirationSeconds": 3600}
    }))
    .expect("json");
    let tr: TokenRequest = sas
        .create_subresource("token", "robot", &PostParams::default(), &req)
        .await
        .expect("token");
    let status = tr.status.expect("status");
    assert!(status.token.len() > 20);
    assert!(status.expiration_timestamp.0 > jiff::Timestamp::now());
    let s = status_of(
        sas.create_subresource::<TokenRequest, TokenRequest>(
            "token",
            "nobody",
            &PostParams::default(),
            &req,
        )
        .await
        .expect_err("404"),
    );
    assert_eq!(s.code, 404);
}

/// `dryRun=All` (query, or the Eviction's deleteOptions) answers as a real eviction would (201,
/// or 429 when the budget is exhausted) but neither consumes the budget nor deletes the pod.
#[tokio::test]
async fn eviction_dry_run_does_not_consume_the_budget() {
    let c = cluster().await;
    let deps: Api<Deployment> = Api::namespaced(c.client.clone(), &c.ns);
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client.clone(), &c.ns);
    deps.create(&PostParams::default(), &deployment("dry", 2))
        .await
        .expect("deployment");
    let names = running_pods(&pods, "dry", 2).await;
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "dry"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "dry"}}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("pdb");
    let allowed = || {
        let pdbs = pdbs.clone();
        async move {
            let s = pdbs.get("dry").await.ok()?.status?;
            (s.expected_pods == 2 && s.current_healthy == 2).then_some(s.disruptions_allowed)
        }
    };
    assert_eq!(eventually(30, allowed).await, Some(1));
    let untouched = |name: &str| {
        let pods = pods.clone();
        let name = name.to_string();
        async move {
            let p = pods.get(&name).await.expect("the pod is still there");
            p.metadata.deletion_timestamp.is_none()
        }
    };
    // Query parameter (kube's PostParams::dry_run).
    let dry = EvictParams {
        post_options: PostParams {
            dry_run: true,
            ..PostParams::default()
        },
        ..EvictParams::default()
    };
    pods.evict(&names[0], &dry).await.expect("dry-run eviction");
    // The Eviction's own deleteOptions.
    let raw_dry = |name: &str| {
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": c.ns},
            "deleteOptions": {"dryRun": ["All"]}});
        axum::http::Request::post(format!("/api/v1/namespaces/{}/pods/{name}/eviction", c.ns))
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&body).expect("json"))
            .expect("request")
    };
    let st: serde_json::Value = c
        .client
        .request(raw_dry(&names[1]))
        .await
        .expect("dry-run eviction (body)");
    assert_eq!(st["status"], "Success");
    assert!(untouched(&names[0]).await && untouched(&names[1]).await);
    let pdb_now = pdbs.get("dry").await.expect("pdb").status.expect("status");
    assert_eq!(
        pdb_now.disruptions_allowed, 1,
        "the budget was not consumed"
    );
    assert!(pdb_now.disrupted_pods.unwrap_or_default().is_empty());
    // A real eviction consumes it; a dry run then answers 429 like a real eviction would.
    pods.evict(&names[0], &EvictParams::default())
        .await
        .expect("real eviction");
    let s = status_of(
        c.client
            .request::<serde_json::Value>(raw_dry(&names[1]))
            .await
            .expect_err("429"),
    );
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    assert!(untouched(&names[1]).await);
}
