//! The authorization/authentication review APIs (`kubectl auth can-i [--list] [--as]`,
//! `kubectl auth whoami`, SubjectAccessReview, TokenReview, SelfSubjectRulesReview), impersonation,
//! the RBAC storage's `bind`/`escalate` checks and ClusterRole aggregation, through the API
//! contract: with RBAC on in kubesim, against the real cluster in e2e mode.

use crate::common;

use common::{
    Cluster, cluster_with, create_sa, default_builder, eventually, request_token, status_of,
};
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SubjectAccessReview};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

async fn rbac_cluster() -> Cluster {
    cluster_with(default_builder().rbac(true)).await
}

async fn create<K>(api: &Api<K>, v: Value) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).expect("object");
    api.create(&PostParams::default(), &obj).await
}

/// A Role `name` with `rules` and a RoleBinding `name` of it to the ServiceAccount `sa`.
async fn grant(c: &Cluster, name: &str, sa: &str, rules: Value) {
    let roles: Api<Role> = Api::namespaced(c.client.clone(), &c.ns);
    create(&roles, json!({"metadata": {"name": name}, "rules": rules}))
        .await
        .expect("role");
    let rbs: Api<RoleBinding> = Api::namespaced(c.client.clone(), &c.ns);
    create(
        &rbs,
        json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": c.ns}]}),
    )
    .await
    .expect("rolebinding");
}

fn out(o: &std::process::Output) -> (bool, String, String) {
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).trim().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_and_whoami() {
    let c = rbac_cluster().await;
    create_sa(&c.client, &c.ns, "bot").await;
    grant(
        &c,
        "cm-reader",
        "bot",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
    )
    .await;
    let token = request_token(&c.client, &c.ns, "bot").await;
    let kc = c.token_kubeconfig(&token);

    let (ok, stdout, _) = out(&c.kubectl_with(&kc, &["auth", "can-i", "list", "configmaps"]));
    assert!(ok && stdout == "yes", "{stdout}");
    let (ok, stdout, _) = out(&c.kubectl_with(&kc, &["auth", "can-i", "delete", "configmaps"]));
    assert!(!ok && stdout == "no", "{stdout}");
    let (ok, stdout, _) = out(&c.kubectl_with(
        &kc,
        &["auth", "can-i", "list", "configmaps", "-n", "kube-system"],
    ));
    assert!(!ok && stdout == "no", "{stdout}");
    // --list: the SelfSubjectRulesReview, as a table.
    let (ok, stdout, stderr) = out(&c.kubectl_with(&kc, &["auth", "can-i", "--list"]));
    assert!(ok, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("configmaps "))
        .unwrap_or_else(|| panic!("no configmaps line in\n{stdout}"));
    assert!(line.ends_with("[get list]"), "{line}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("selfsubjectaccessreviews.authorization.k8s.io")),
        "the bootstrap basic-user rules are listed:\n{stdout}"
    );
    // whoami: the SelfSubjectReview.
    let (ok, stdout, stderr) = out(&c.kubectl_with(&kc, &["auth", "whoami", "-o", "json"]));
    assert!(ok, "{stderr}");
    let who: Value = serde_json::from_str(&stdout).expect("json");
    let ui = &who["status"]["userInfo"];
    assert_eq!(
        ui["username"],
        format!("system:serviceaccount:{}:bot", c.ns)
    );
    let groups: Vec<&str> = ui["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(groups.contains(&"system:serviceaccounts"));
    assert!(groups.contains(&format!("system:serviceaccounts:{}", c.ns).as_str()));
    assert!(groups.contains(&"system:authenticated"));

    // --as: the admin impersonates the ServiceAccount (allowed for system:masters)...
    let sa_user = format!("system:serviceaccount:{}:bot", c.ns);
    let (ok, stdout, _) =
        out(&c.kubectl(&["auth", "can-i", "list", "configmaps", "--as", &sa_user]));
    assert!(ok && stdout == "yes", "{stdout}");
    let (ok, stdout, _) = out(&c.kubectl(&["auth", "can-i", "list", "secrets", "--as", &sa_user]));
    assert!(!ok && stdout == "no", "{stdout}");
    // ...but the ServiceAccount may not impersonate anyone without the impersonate verb.
    let (ok, _, stderr) = out(&c.kubectl_with(
        &kc,
        &["auth", "can-i", "list", "pods", "--as", "someone-else"],
    ));
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "users \"someone-else\" is forbidden: User \"{sa_user}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        )),
        "{stderr}"
    );
    // With it (a ClusterRole for impersonating that one user), it may.
    let crs: Api<ClusterRole> = Api::all(c.client.clone());
    let cr_name = format!("impersonate-{}", c.ns);
    create(
        &crs,
        json!({"metadata": {"name": cr_name},
            "rules": [{"apiGroups": [""], "resources": ["users"], "resourceNames": ["someone-else"], "verbs": ["impersonate"]}]}),
    )
    .await
    .expect("clusterrole");
    let crbs: Api<ClusterRoleBinding> = Api::all(c.client.clone());
    create(
        &crbs,
        json!({"metadata": {"name": cr_name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cr_name},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": c.ns}]}),
    )
    .await
    .expect("clusterrolebinding");
    let (_, stdout, stderr) = out(&c.kubectl_with(
        &kc,
        &["auth", "whoami", "--as", "someone-else", "-o", "json"],
    ));
    let who: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(who["status"]["userInfo"]["username"], "someone-else");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        json!(["system:authenticated"])
    );
    let _ = crbs.delete(&cr_name, &DeleteParams::default()).await;
    let _ = crs.delete(&cr_name, &DeleteParams::default()).await;
    let _ = std::fs::remove_file(kc);
}

#[tokio::test]
async fn subject_access_reviews_token_reviews_and_rules_reviews() {
    let c = rbac_cluster().await;
    create_sa(&c.client, &c.ns, "bot").await;
    grant(
        &c,
        "cm-reader",
        "bot",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
    )
    .await;
    let sars: Api<SubjectAccessReview> = Api::all(c.client.clone());
    let sa_user = format!("system:serviceaccount:{}:bot", c.ns);
    let sar = |verb: &str, resource: &str| {
        json!({"spec": {"user": sa_user, "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", c.ns), "system:authenticated"],
            "resourceAttributes": {"namespace": c.ns, "verb": verb, "resource": resource}}})
    };
    let r = create(&sars, sar("list", "configmaps")).await.expect("sar");
    let st = r.status.expect("status");
    assert!(st.allowed);
    assert_eq!(
        st.reason.as_deref(),
        Some(
            format!(
                "RBAC: allowed by RoleBinding \"cm-reader/{ns}\" of Role \"cm-reader\" to ServiceAccount \"bot/{ns}\"",
                ns = c.ns
            )
            .as_str()
        )
    );
    let r = create(&sars, sar("delete", "configmaps"))
        .await
        .expect("sar");
    assert!(!r.status.expect("status").allowed);
    let s = status_of(
        create(
            &sars,
            json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}),
        )
        .await
        .expect_err("422"),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message.contains(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified"
        ),
        "{}",
        s.message
    );

    // TokenReview (by the admin) of the ServiceAccount's token.
    let token = request_token(&c.client, &c.ns, "bot").await;
    let trs: Api<TokenReview> = Api::all(c.client.clone());
    let r = create(&trs, json!({"spec": {"token": token}}))
        .await
        .expect("token review");
    let st = r.status.expect("status");
    assert_eq!(st.authenticated, Some(true));
    assert_eq!(
        st.user.expect("user").username.as_deref(),
        Some(sa_user.as_str())
    );
    // The ServiceAccount itself may not review tokens (system:auth-delegator is not bound).
    let bot = c.client_for_token(&token).await;
    let s = status_of(
        create(
            &Api::<TokenReview>::all(bot.clone()),
            json!({"spec": {"token": "x"}}),
        )
        .await
        .expect_err("403"),
    );
    assert_eq!(s.code, 403);
    // SelfSubjectRulesReview as the ServiceAccount.
    let ssrr: Api<SelfSubjectRulesReview> = Api::all(bot);
    let r = create(&ssrr, json!({"spec": {"namespace": c.ns}}))
        .await
        .expect("rules review");
    let st = r.status.expect("status");
    assert!(!st.incomplete);
    assert!(
        st.resource_rules.iter().any(|r| r.resources.as_deref()
            == Some(&["configmaps".to_string()][..])
            && r.verbs == ["get", "list"]),
        "{:?}",
        st.resource_rules
    );

    // A recreated ServiceAccount invalidates the token: the review says so.
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &c.ns);
    sas.delete("bot", &DeleteParams::default())
        .await
        .expect("delete sa");
    create_sa(&c.client, &c.ns, "bot").await;
    let r = eventually(10, || {
        let trs = trs.clone();
        let token = token.clone();
        async move {
            let r = create(&trs, json!({"spec": {"token": token}})).await.ok()?;
            (r.status?.authenticated != Some(true)).then_some(())
        }
    })
    .await;
    assert!(r.is_some(), "the old token no longer authenticates");
}

#[tokio::test]
async fn bind_and_escalate_checks() {
    let c = rbac_cluster().await;
    create_sa(&c.client, &c.ns, "deployer").await;
    // The deployer may manage Roles and RoleBindings and read ConfigMaps, nothing else.
    grant(
        &c,
        "deployer",
        "deployer",
        json!([
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create", "get", "update", "patch", "delete"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
        ]),
    )
    .await;
    let token = request_token(&c.client, &c.ns, "deployer").await;
    let dep = c.client_for_token(&token).await;
    let roles: Api<Role> = Api::namespaced(dep.clone(), &c.ns);
    let rbs: Api<RoleBinding> = Api::namespaced(dep.clone(), &c.ns);
    let user = format!("system:serviceaccount:{}:deployer", c.ns);
    let groups = format!(
        "[\"system:serviceaccounts\" \"system:serviceaccounts:{}\" \"system:authenticated\"]",
        c.ns
    );

    // A Role with permissions the deployer holds: fine. One with more: 403 (escalate).
    create(
        &roles,
        json!({"metadata": {"name": "cm-get"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .await
    .expect("a held permission");
    let s = status_of(
        create(
            &roles,
            json!({"metadata": {"name": "pod-reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
        )
        .await
        .expect_err("403"),
    );
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        s.message,
        format!(
            "roles.rbac.authorization.k8s.io \"pod-reader\" is forbidden: user \"{user}\" (groups={groups}) is attempting to grant RBAC permissions not currently held:\n{{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\" \"list\"]}}"
        )
    );

    // Binding a role whose permissions are not held: 403; a missing role: 404.
    let binding = |name: &str, kind: &str, role: &str| {
        json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "User", "name": "eve", "apiGroup": "rbac.authorization.k8s.io"}]})
    };
    create(&rbs, binding("eve-cm", "Role", "cm-get"))
        .await
        .expect("binding a held role");
    let s = status_of(
        create(&rbs, binding("eve-edit", "ClusterRole", "edit"))
            .await
            .expect_err("403"),
    );
    assert_eq!(s.code, 403);
    assert!(
        s.message.starts_with(&format!(
            "rolebindings.rbac.authorization.k8s.io \"eve-edit\" is forbidden: user \"{user}\" (groups={groups}) is attempting to grant RBAC permissions not currently held:\n"
        )),
        "{}",
        s.message
    );
    let s = status_of(
        create(&rbs, binding("eve-gone", "Role", "does-not-exist"))
            .await
            .expect_err("404"),
    );
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        s.message,
        "role.rbac.authorization.k8s.io \"does-not-exist\" not found"
    );

    // The bind verb on the ClusterRole `edit` allows binding it without holding it; the escalate
    // verb on roles allows creating any Role.
    grant(
        &c,
        "bind-edit-escalate",
        "deployer",
        json!([
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["edit"], "verbs": ["bind"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]}
        ]),
    )
    .await;
    create(&rbs, binding("eve-edit", "ClusterRole", "edit"))
        .await
        .expect("bind verb");
    create(
        &roles,
        json!({"metadata": {"name": "pod-reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}),
    )
    .await
    .expect("escalate verb");
    // Cluster-wide: a ClusterRole with an aggregation rule needs cluster-admin.
    let crs: Api<ClusterRole> = Api::all(dep);
    let s = status_of(
        create(
            &crs,
            json!({"metadata": {"name": format!("agg-{}", c.ns)},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}),
        )
        .await
        .expect_err("403"),
    );
    assert_eq!(s.code, 403);
}

#[tokio::test]
async fn cluster_roles_aggregate_into_view_edit_admin() {
    let c = rbac_cluster().await;
    let crs: Api<ClusterRole> = Api::all(c.client.clone());
    for name in ["view", "edit", "admin", "cluster-admin"] {
        crs.get(name).await.expect("bootstrap ClusterRole");
    }
    let group = format!("{}.example.com", c.ns);
    let name = format!("things-view-{}", c.ns);
    create(
        &crs,
        json!({"metadata": {"name": name, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"apiGroups": [group], "resources": ["things"], "verbs": ["get", "list", "watch"]}]}),
    )
    .await
    .expect("chart role");
    for aggregate in ["view", "edit", "admin"] {
        let found = eventually(30, || {
            let crs = crs.clone();
            let group = group.clone();
            async move {
                let r = crs.get(aggregate).await.ok()?;
                r.rules?
                    .iter()
                    .any(|r| r.api_groups.as_deref() == Some(&[group.clone()][..]))
                    .then_some(())
            }
        })
        .await;
        assert!(found.is_some(), "{aggregate} aggregates the chart's rules");
    }
    // A user bound to `view` in the namespace may now read the things.
    let rbs: Api<RoleBinding> = Api::namespaced(c.client.clone(), &c.ns);
    create(
        &rbs,
        json!({"metadata": {"name": "viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "viewer", "apiGroup": "rbac.authorization.k8s.io"}]}),
    )
    .await
    .expect("binding");
    let sars: Api<SubjectAccessReview> = Api::all(c.client.clone());
    let r = create(
        &sars,
        json!({"spec": {"user": "viewer", "resourceAttributes": {"namespace": c.ns, "group": group, "verb": "list", "resource": "things"}}}),
    )
    .await
    .expect("sar");
    assert!(r.status.expect("status").allowed);
    // Removing the label removes the rules again.
    crs.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    let gone = eventually(30, || {
        let crs = crs.clone();
        let group = group.clone();
        async move {
            let r = crs.get("view").await.ok()?;
            (!r.rules
                .unwrap_or_default()
                .iter()
                .any(|r| r.api_groups.as_deref() == Some(&[group.clone()][..])))
            .then_some(())
        }
    })
    .await;
    assert!(gone.is_some());
}
