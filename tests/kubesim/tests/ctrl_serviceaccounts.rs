//! The ServiceAccounts controller: a namespace's `default` ServiceAccount comes back (with a new
//! uid) when deleted, and the tokens bound to the old uid stop authenticating (401), while the
//! bindings that name the account apply to the new one. Contract test (RBAC on in kubesim).

use crate::common;

use common::{cluster_with, default_builder, eventually, request_token, status_of};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn default_service_account_is_recreated_and_old_tokens_die() {
    let c = cluster_with(default_builder().rbac(true)).await;
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &c.ns);
    let old = eventually(30, || async { sas.get("default").await.ok() })
        .await
        .expect("the namespace has its default ServiceAccount");
    let old_uid = old.metadata.uid.clone().expect("uid");
    let roles: Api<Role> = Api::namespaced(c.client.clone(), &c.ns);
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "cm-list"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]}))
    .expect("role");
    roles
        .create(&PostParams::default(), &role)
        .await
        .expect("role");
    let rbs: Api<RoleBinding> = Api::namespaced(c.client.clone(), &c.ns);
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "cm-list"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-list"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": c.ns}]}))
    .expect("rb");
    rbs.create(&PostParams::default(), &rb)
        .await
        .expect("rolebinding");

    let old_token = request_token(&c.client, &c.ns, "default").await;
    let as_default = c.client_for_token(&old_token).await;
    let cms: Api<ConfigMap> = Api::namespaced(as_default, &c.ns);
    cms.list(&ListParams::default())
        .await
        .expect("the token works before");

    sas.delete("default", &DeleteParams::default())
        .await
        .expect("delete the default ServiceAccount");
    let new = eventually(30, || {
        let sas = sas.clone();
        let old_uid = old_uid.clone();
        async move {
            let sa = sas.get("default").await.ok()?;
            (sa.metadata.uid.as_deref() != Some(old_uid.as_str())).then_some(sa)
        }
    })
    .await
    .expect("the controller recreates the default ServiceAccount");
    assert!(new.metadata.uid.is_some());

    // The token issued for the old uid is refused (the apiserver may cache a success briefly).
    let refused = eventually(30, || {
        let cms = cms.clone();
        async move {
            match cms.list(&ListParams::default()).await {
                Err(kube::Error::Api(s)) if s.code == 401 => Some(s),
                _ => None,
            }
        }
    })
    .await
    .expect("401 for the old token");
    assert_eq!(refused.reason, "Unauthorized");
    // A token of the new account works, through the same RoleBinding.
    let new_token = request_token(&c.client, &c.ns, "default").await;
    let cms_new: Api<ConfigMap> = Api::namespaced(c.client_for_token(&new_token).await, &c.ns);
    cms_new
        .list(&ListParams::default())
        .await
        .expect("the new account's token works");
    // Creating it by hand now conflicts with the controller's.
    let s = status_of(
        sas.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("sa"),
        )
        .await
        .expect_err("409"),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
}
