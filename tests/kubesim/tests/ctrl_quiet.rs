//! kubesim-only: once the workloads have converged, a controller pass changes nothing (every
//! status the controllers write is stable, so watches are not flooded with no-op updates).

use crate::common;

use common::{default_builder, sim_cluster};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use serde_json::json;

async fn create(
    c: &common::Cluster,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    obj: serde_json::Value,
) {
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), &c.ns, &ar);
    let mut o = obj;
    o["apiVersion"] = json!(ar.api_version);
    o["kind"] = json!(kind);
    let d: DynamicObject = serde_json::from_value(o).expect("object");
    api.create(&PostParams::default(), &d)
        .await
        .expect("create");
}

#[tokio::test]
async fn converged_controllers_are_quiet() {
    let Some(c) = sim_cluster(default_builder()).await else {
        return;
    };
    let tmpl = |app: &str| json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "pause"}]}});
    let sel = |app: &str| json!({"matchLabels": {"app": app}});
    create(&c, "apps", "v1", "Deployment", "deployments",
        json!({"metadata": {"name": "d"}, "spec": {"replicas": 3, "selector": sel("d"), "template": tmpl("d")}})).await;
    create(&c, "apps", "v1", "StatefulSet", "statefulsets",
        json!({"metadata": {"name": "s"}, "spec": {"replicas": 2, "serviceName": "s", "selector": sel("s"), "template": tmpl("s")}})).await;
    create(&c, "apps", "v1", "DaemonSet", "daemonsets",
        json!({"metadata": {"name": "ds"}, "spec": {"selector": sel("ds"), "template": tmpl("ds")}})).await;
    let mut job_tmpl = tmpl("j");
    job_tmpl["spec"]["restartPolicy"] = json!("Never");
    create(&c, "batch", "v1", "Job", "jobs",
        json!({"metadata": {"name": "j"}, "spec": {"parallelism": 2, "completions": 4, "template": job_tmpl}})).await;
    create(&c, "batch", "v1", "CronJob", "cronjobs",
        json!({"metadata": {"name": "cj"}, "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": job_tmpl}}}})).await;
    create(&c, "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
        json!({"metadata": {"name": "pdb"}, "spec": {"maxUnavailable": "50%", "selector": sel("d")}})).await;
    create(
        &c,
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        json!({"metadata": {"name": "sa"}}),
    )
    .await;
    create(&c, "", "v1", "Secret", "secrets",
        json!({"metadata": {"name": "sa-token", "annotations": {"kubernetes.io/service-account.name": "sa"}},
               "type": "kubernetes.io/service-account-token"})).await;
    let sim = c.sim();
    sim.settle().await;
    sim.settle().await;
    assert_eq!(
        sim.settle().await,
        0,
        "a converged cluster needs no further writes"
    );
}
