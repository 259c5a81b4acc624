//! Every resource issue 3 lists is served: create, get, list, delete through kube::Client, and the
//! `scale` subresources exist where Kubernetes has them (contract test: also passes against a real
//! cluster with CRYPTOJACK_E2E_KUBECONFIG).

use crate::common;

use common::{cluster, status_of};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

/// (group, version, kind, plural, namespaced, spec-ish fields of a minimal valid object)
fn cases(
    ns: &str,
) -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    Value,
)> {
    let pod_spec = json!({"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]});
    let template = json!({"metadata": {"labels": {"app": "res"}}, "spec": pod_spec});
    let job_template = json!({"spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
                                       "restartPolicy": "Never"}});
    let selector = json!({"matchLabels": {"app": "res"}});
    vec![
        ("", "v1", "Pod", "pods", true, json!({"spec": pod_spec})),
        (
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            true,
            json!({}),
        ),
        (
            "",
            "v1",
            "Secret",
            "secrets",
            true,
            json!({"stringData": {"k": "v"}}),
        ),
        (
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            true,
            json!({"data": {"k": "v"}}),
        ),
        (
            "",
            "v1",
            "Service",
            "services",
            true,
            json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "res"}}}),
        ),
        (
            "",
            "v1",
            "Event",
            "events",
            true,
            json!({"involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
                   "reason": "Test", "message": "m", "type": "Normal"}),
        ),
        (
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            true,
            json!({"spec": {"hard": {"pods": "10"}}}),
        ),
        ("", "v1", "Node", "nodes", false, json!({})),
        (
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            true,
            json!({"eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "cj.dev/test",
                   "reportingInstance": "test-1", "action": "Testing", "reason": "Test",
                   "type": "Normal", "note": "n",
                   "regarding": {"kind": "Pod", "name": "p", "namespace": ns}}),
        ),
        (
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
            json!({"spec": {"replicas": 0, "selector": selector, "template": template}}),
        ),
        (
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            true,
            json!({"spec": {"replicas": 0, "selector": selector, "template": template}}),
        ),
        (
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            true,
            json!({"spec": {"replicas": 0, "serviceName": "res", "selector": selector, "template": template}}),
        ),
        (
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            true,
            json!({"spec": {"selector": selector, "template": {"metadata": {"labels": {"app": "res"}},
                   "spec": {"nodeSelector": {"cj.dev/none": "x"}, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}}),
        ),
        (
            "batch",
            "v1",
            "Job",
            "jobs",
            true,
            json!({"spec": {"suspend": true, "template": job_template}}),
        ),
        (
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            true,
            json!({"spec": {"schedule": "0 0 1 1 *", "suspend": true,
                            "jobTemplate": {"spec": {"template": job_template}}}}),
        ),
        (
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
            json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            true,
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
            json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                   "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                   "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}),
        ),
        (
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            true,
            json!({"spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}}),
        ),
        (
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            json!({"spec": {"minAvailable": 1, "selector": selector}}),
        ),
    ]
}

#[tokio::test]
async fn every_listed_resource_supports_create_get_list_delete() {
    let c = cluster().await;
    for (group, version, kind, plural, namespaced, body) in cases(&c.ns) {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        // Cluster-scoped names carry the test namespace's random name, so runs do not collide.
        let name = if namespaced {
            "res-1".to_string()
        } else {
            format!("{}-res", c.ns)
        };
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(c.client.clone(), &c.ns, &ar)
        } else {
            Api::all_with(c.client.clone(), &ar)
        };
        let mut obj = body.clone();
        obj["apiVersion"] = json!(ar.api_version);
        obj["kind"] = json!(kind);
        obj["metadata"] = json!({"name": name});
        let obj: DynamicObject = serde_json::from_value(obj).expect("object");
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {group}/{plural}: {e}"));
        assert_eq!(created.metadata.name.as_deref(), Some(name.as_str()));
        assert!(created.metadata.uid.is_some(), "{plural}: uid");
        assert!(created.metadata.resource_version.is_some(), "{plural}: rv");
        if namespaced {
            assert_eq!(created.metadata.namespace.as_deref(), Some(c.ns.as_str()));
        }
        let got = api
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("get {group}/{plural}: {e}"));
        assert_eq!(got.metadata.uid, created.metadata.uid, "{plural}: get");
        let listed = api
            .list(&Default::default())
            .await
            .unwrap_or_else(|e| panic!("list {group}/{plural}: {e}"));
        assert!(
            listed
                .items
                .iter()
                .any(|o| o.metadata.uid == created.metadata.uid),
            "{plural}: listed"
        );
        api.delete(&name, &DeleteParams::background().grace_period(0))
            .await
            .unwrap_or_else(|e| panic!("delete {group}/{plural}: {e}"));
        let gone = common::eventually(30, || async {
            match api.get(&name).await {
                Err(e) => Some(status_of(e).code),
                Ok(_) => None,
            }
        })
        .await;
        assert_eq!(gone, Some(404), "{plural}: deleted");
    }
}

#[tokio::test]
async fn scale_subresources_where_kubernetes_has_them() {
    let c = cluster().await;
    let apps = c
        .client
        .list_api_group_resources("apps/v1")
        .await
        .expect("apps/v1 discovery");
    let names: Vec<&str> = apps.resources.iter().map(|r| r.name.as_str()).collect();
    for want in [
        "deployments/scale",
        "replicasets/scale",
        "statefulsets/scale",
        "deployments/status",
        "daemonsets/status",
    ] {
        assert!(names.contains(&want), "apps/v1 lacks {want}: {names:?}");
    }
    assert!(
        !names.contains(&"daemonsets/scale"),
        "DaemonSets have no scale subresource"
    );
    let core = c
        .client
        .list_core_api_resources("v1")
        .await
        .expect("v1 discovery");
    let core: Vec<&str> = core.resources.iter().map(|r| r.name.as_str()).collect();
    assert!(core.contains(&"serviceaccounts/token"));
    assert!(core.contains(&"pods/eviction"));
    for want in [
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "replicationcontrollers/status",
    ] {
        assert!(core.contains(&want), "v1 lacks {want}: {core:?}");
    }
}
