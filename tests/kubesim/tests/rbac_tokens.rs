//! Authentication and RBAC through the API contract: ServiceAccount TokenRequest tokens, Role
//! bindings and the real 403/401 shapes. In kubesim mode the server runs with RBAC on; against a
//! real cluster (CRYPTOJACK_E2E_KUBECONFIG) the same assertions hold.

use crate::common;

use common::{cluster_with, default_builder, eventually, status_of};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Node, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, EvictParams, ListParams, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use serde_json::json;

async fn client_with_token(kubeconfig: &std::path::Path, token: &str) -> kube::Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    cfg.auth_info = AuthInfo {
        token: Some(token.to_string().into()),
        ..AuthInfo::default()
    };
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client")
}

async fn request_token(sas: &Api<ServiceAccount>, name: &str) -> String {
    let tr: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .expect("token request");
    let out: TokenRequest = sas
        .create_subresource("token", name, &PostParams::default(), &tr)
        .await
        .expect("TokenRequest");
    out.status.expect("status").token
}

async fn make_sa(c: &common::Cluster, name: &str) {
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &c.ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("sa");
    sas.create(&PostParams::default(), &sa)
        .await
        .expect("create sa");
}

#[tokio::test]
async fn restricted_service_account_gets_403_with_the_real_message() {
    let c = cluster_with(default_builder().rbac(true)).await;
    let ns = c.ns.clone();
    make_sa(&c, "reader").await;
    let roles: Api<Role> = Api::namespaced(c.client.clone(), &ns);
    let rbs: Api<RoleBinding> = Api::namespaced(c.client.clone(), &ns);
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    }))
    .expect("role");
    roles
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    let rb: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]
    }))
    .expect("rolebinding");
    rbs.create(&PostParams::default(), &rb)
        .await
        .expect("create rolebinding");

    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &ns);
    let token = request_token(&sas, "reader").await;
    let user = format!("system:serviceaccount:{ns}:reader");
    let rc = client_with_token(&c.kubeconfig, &token).await;

    // Allowed by the Role (a real cluster may take a moment to see the new binding).
    let own: Api<Pod> = Api::namespaced(rc.clone(), &ns);
    eventually(30, || async { own.list(&ListParams::default()).await.ok() })
        .await
        .expect("list pods in own namespace");

    let other: Api<Pod> = Api::namespaced(rc.clone(), "default");
    let e = status_of(other.list(&ListParams::default()).await.expect_err("403"));
    assert_eq!(e.code, 403);
    assert_eq!(e.reason, "Forbidden");
    assert_eq!(
        e.message,
        format!(
            "pods is forbidden: User \"{user}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        )
    );

    let e = status_of(
        own.evict("some-pod", &EvictParams::default())
            .await
            .expect_err("403"),
    );
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        format!(
            "pods \"some-pod\" is forbidden: User \"{user}\" cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"{ns}\""
        )
    );

    let nodes: Api<Node> = Api::all(rc.clone());
    let e = status_of(nodes.list(&ListParams::default()).await.expect_err("403"));
    assert_eq!(
        e.message,
        format!(
            "nodes is forbidden: User \"{user}\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        )
    );
    let e = status_of(
        own.delete("x", &DeleteParams::default())
            .await
            .expect_err("403"),
    );
    assert_eq!(
        e.message,
        format!(
            "pods \"x\" is forbidden: User \"{user}\" cannot delete resource \"pods\" in API group \"\" in the namespace \"{ns}\""
        )
    );
}

#[tokio::test]
async fn token_stops_authenticating_when_its_service_account_is_recreated() {
    let c = cluster_with(default_builder().rbac(true)).await;
    let ns = c.ns.clone();
    make_sa(&c, "bot").await;
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &ns);
    let token = request_token(&sas, "bot").await;
    let bc = client_with_token(&c.kubeconfig, &token).await;
    // Authenticated (but not authorised): 403, not 401.
    let pods: Api<Pod> = Api::namespaced(bc.clone(), &ns);
    let e = status_of(
        pods.list(&ListParams::default())
            .await
            .expect_err("no permissions"),
    );
    assert_eq!(e.code, 403);

    sas.delete("bot", &DeleteParams::default())
        .await
        .expect("delete sa");
    eventually(30, || async { sas.get("bot").await.is_err().then_some(()) })
        .await
        .expect("sa gone");
    make_sa(&c, "bot").await;
    let e = eventually(60, || async {
        match pods.list(&ListParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 401 => Some(s),
            _ => None,
        }
    })
    .await
    .expect("401 once the ServiceAccount was recreated with a new uid");
    assert_eq!(e.reason, "Unauthorized");
}

#[tokio::test]
async fn legacy_secret_token_authenticates_until_the_secret_is_deleted() {
    use k8s_openapi::api::core::v1::Secret;
    let c = cluster_with(default_builder().rbac(true)).await;
    let ns = c.ns.clone();
    make_sa(&c, "legacy").await;
    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), &ns);
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": "legacy-token", "annotations": {"kubernetes.io/service-account.name": "legacy"}},
        "type": "kubernetes.io/service-account-token"
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &s)
        .await
        .expect("create secret");
    // The token controller fills in the token and the ServiceAccount uid.
    let token = eventually(60, || async {
        let s = secrets.get("legacy-token").await.ok()?;
        let uid = s
            .metadata
            .annotations
            .as_ref()?
            .get("kubernetes.io/service-account.uid")?
            .clone();
        let tok = s.data.as_ref()?.get("token")?.0.clone();
        (!uid.is_empty()).then_some(String::from_utf8(tok).ok()?)
    })
    .await
    .expect("token populated");
    let lc = client_with_token(&c.kubeconfig, &token).await;
    let pods: Api<Pod> = Api::namespaced(lc, &ns);
    let e = status_of(
        pods.list(&ListParams::default())
            .await
            .expect_err("no permissions"),
    );
    assert_eq!(
        e.code, 403,
        "authenticated as the ServiceAccount: {}",
        e.message
    );
    assert!(
        e.message
            .contains(&format!("User \"system:serviceaccount:{ns}:legacy\"")),
        "{}",
        e.message
    );

    secrets
        .delete("legacy-token", &DeleteParams::default())
        .await
        .expect("delete secret");
    eventually(60, || async {
        match pods.list(&ListParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 401 => Some(()),
            _ => None,
        }
    })
    .await
    .expect("401 once the Secret is gone");
}
