//! Authentication and RBAC wiring (kubesim with RBAC on): 401 for unknown tokens, 403 with the
//! real message, TokenRequest and legacy Secret tokens, the admin endpoint reserved to admins.

use crate::common;

use std::time::Duration;

use common::{default_builder, eventually, sim_cluster, status_of};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

fn no_retry(sim: &kubesim::Sim, token: &str) -> kube::Client {
    let mut cfg = sim.client_config(token);
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client")
}

async fn grant_configmap_reader(admin: &kube::Client, ns: &str, subject: serde_json::Value) {
    let roles: Api<Role> = Api::namespaced(admin.clone(), ns);
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]}))
    .expect("role");
    let _ = roles.create(&PostParams::default(), &role).await;
    let rbs: Api<RoleBinding> = Api::namespaced(admin.clone(), ns);
    let name = format!("rb-{}", uuid::Uuid::new_v4().simple());
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [subject]}))
    .expect("rb");
    rbs.create(&PostParams::default(), &rb)
        .await
        .expect("rolebinding");
}

#[tokio::test]
async fn unknown_tokens_are_401_and_missing_permissions_403() {
    let Some(c) = sim_cluster(default_builder().rbac(true)).await else {
        return;
    };
    let sim = c.sim();
    let stranger = no_retry(sim, "not-a-token");
    let s = status_of(
        Api::<ConfigMap>::namespaced(stranger, &c.ns)
            .list(&ListParams::default())
            .await
            .expect_err("401"),
    );
    assert_eq!((s.code, s.reason.as_str()), (401, "Unauthorized"));

    sim.add_user("alice-token", "alice", &["devs"]);
    let alice = no_retry(sim, "alice-token");
    let cms: Api<ConfigMap> = Api::namespaced(alice.clone(), &c.ns);
    let s = status_of(cms.list(&ListParams::default()).await.expect_err("403"));
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        s.message,
        format!(
            "configmaps is forbidden: User \"alice\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"{}\"",
            c.ns
        )
    );
    grant_configmap_reader(
        &c.client,
        &c.ns,
        json!({"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}),
    )
    .await;
    cms.list(&ListParams::default()).await.expect("allowed now");
    // Reading is allowed, writing is not.
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).expect("cm");
    let s = status_of(
        cms.create(&PostParams::default(), &cm)
            .await
            .expect_err("403"),
    );
    assert_eq!(s.code, 403);
    // The admin endpoint is for admins only.
    let req = axum::http::Request::get("/kubesim/healthz")
        .body(Vec::new())
        .expect("req");
    let e = alice
        .request::<serde_json::Value>(req)
        .await
        .expect_err("403");
    assert!(matches!(e, kube::Error::Api(s) if s.code == 403));
    let req = axum::http::Request::get("/kubesim/healthz")
        .body(Vec::new())
        .expect("req");
    c.client
        .request::<serde_json::Value>(req)
        .await
        .expect("admin may");
}

#[tokio::test]
async fn service_account_tokens_follow_their_objects() {
    let Some(c) = sim_cluster(default_builder().rbac(true)).await else {
        return;
    };
    let sim = c.sim();
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &c.ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "bot"}})).expect("sa");
    sas.create(&PostParams::default(), &sa).await.expect("sa");
    grant_configmap_reader(
        &c.client,
        &c.ns,
        json!({"kind": "ServiceAccount", "name": "bot", "namespace": c.ns}),
    )
    .await;

    // A pod-bound TokenRequest token.
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "holder"},
        "spec": {"serviceAccountName": "bot", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))
    .expect("pod");
    let pod = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("pod");
    let tr: TokenRequest = serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "holder", "uid": pod.metadata.uid}}}))
    .expect("tr");
    let bound: TokenRequest = sas
        .create_subresource("token", "bot", &PostParams::default(), &tr)
        .await
        .expect("bound token");
    let bound_tok = bound.status.expect("status").token;
    let plain: TokenRequest = sas
        .create_subresource(
            "token",
            "bot",
            &PostParams::default(),
            &serde_json::from_value::<TokenRequest>(json!({"spec": {"audiences": []}}))
                .expect("tr"),
        )
        .await
        .expect("token");
    let plain_tok = plain.status.expect("status").token;
    let as_bot = |t: &str| Api::<ConfigMap>::namespaced(no_retry(sim, t), &c.ns);
    as_bot(&bound_tok)
        .list(&ListParams::default())
        .await
        .expect("bound token works");
    as_bot(&plain_tok)
        .list(&ListParams::default())
        .await
        .expect("plain token works");
    let s = status_of(
        Api::<Secret>::namespaced(no_retry(sim, &plain_tok), &c.ns)
            .list(&ListParams::default())
            .await
            .expect_err("403"),
    );
    assert!(
        s.message
            .contains(&format!("User \"system:serviceaccount:{}:bot\"", c.ns)),
        "{}",
        s.message
    );

    // Deleting the pod invalidates the bound token only.
    pods.delete(
        "holder",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .expect("delete pod");
    let dead = eventually(10, || {
        let api = as_bot(&bound_tok);
        async move {
            match api.list(&ListParams::default()).await {
                Err(kube::Error::Api(s)) if s.code == 401 => Some(()),
                _ => None,
            }
        }
    })
    .await;
    assert!(dead.is_some(), "bound token stops working with its pod");
    as_bot(&plain_tok)
        .list(&ListParams::default())
        .await
        .expect("plain token still works");

    // A legacy token Secret: filled in by the token controller, valid until deleted.
    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), &c.ns);
    let sec: Secret = serde_json::from_value(json!({"metadata": {"name": "bot-token",
        "annotations": {"kubernetes.io/service-account.name": "bot"}},
        "type": "kubernetes.io/service-account-token"}))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &sec)
        .await
        .expect("secret");
    let legacy = eventually(10, || {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get("bot-token").await.ok()?;
            let t = s.data?.get("token")?.0.clone();
            String::from_utf8(t).ok()
        }
    })
    .await
    .expect("token filled in");
    as_bot(&legacy)
        .list(&ListParams::default())
        .await
        .expect("legacy token works");
    secrets
        .delete("bot-token", &DeleteParams::default())
        .await
        .expect("delete");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let s = status_of(
        as_bot(&legacy)
            .list(&ListParams::default())
            .await
            .expect_err("401"),
    );
    assert_eq!(s.code, 401);

    // Deleting the ServiceAccount invalidates every token.
    sas.delete("bot", &DeleteParams::default())
        .await
        .expect("delete sa");
    let s = status_of(
        as_bot(&plain_tok)
            .list(&ListParams::default())
            .await
            .expect_err("401"),
    );
    assert_eq!(s.code, 401);
}
