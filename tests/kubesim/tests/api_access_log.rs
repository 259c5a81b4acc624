//! The access log (kubesim only): with RBAC on, the permissions a ServiceAccount's requests
//! used, its 403s (the authorizer's and the escalation checks'), the `bind` check that allowed
//! a RoleBinding, the permissions of a role it never used, and the admin endpoint.

use crate::common;

use common::{apply_json, create_sa, default_builder, request_token, sim_cluster};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_records_used_permissions_and_every_403() {
    let Some(c) = sim_cluster(default_builder().rbac(true)).await else {
        return;
    };
    let sim = c.sim();
    let ns = c.ns.clone();
    create_sa(&c.client, &ns, "bot").await;
    let rules = json!([
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "delete"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "resourceNames": ["bindable"], "verbs": ["bind"]},
    ]);
    apply_json(
        &c.client,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "bot", "namespace": ns}, "rules": rules}),
    )
    .await;
    apply_json(
        &c.client,
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "bot", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bot"},
               "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": ns}]}),
    )
    .await;
    for role in ["bindable", "other"] {
        apply_json(
            &c.client,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": role, "namespace": ns},
                   "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
        )
        .await;
    }
    // the admin's own requests above are not recorded
    assert!(sim.access_log().entries().is_empty());

    let token = request_token(&c.client, &ns, "bot").await;
    let bot = c.client_for_token(&token).await;
    let cms: Api<ConfigMap> = Api::namespaced(bot.clone(), &ns);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "a"}, "data": {"k": "v"}})).expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    cms.get("a").await.expect("get");
    cms.get("a").await.expect("get again");
    let pods: Api<Pod> = Api::namespaced(bot.clone(), &ns);
    let e = pods.list(&ListParams::default()).await.expect_err("403");
    assert!(matches!(e, kube::Error::Api(ref s) if s.code == 403), "{e}");
    let rbs: Api<RoleBinding> = Api::namespaced(bot.clone(), &ns);
    let binding = |role: &str| -> RoleBinding {
        serde_json::from_value(json!({
            "metadata": {"name": role},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [{"kind": "User", "name": "someone"}]
        }))
        .expect("rb")
    };
    rbs.create(&PostParams::default(), &binding("bindable"))
        .await
        .expect("bind allows the binding");
    let e = rbs
        .create(&PostParams::default(), &binding("other"))
        .await
        .expect_err("escalation refused");
    assert!(matches!(e, kube::Error::Api(ref s) if s.code == 403), "{e}");

    let user = format!("system:serviceaccount:{ns}:bot");
    let log = sim.access_log();
    let shown: Vec<(String, bool, u64)> = log
        .entries_of(&user)
        .iter()
        .map(|e| {
            (
                format!("{:?} {}", e.access.check, e.access.describe()),
                e.access.allowed,
                e.count,
            )
        })
        .collect();
    let expect = |s: &str, allowed: bool, count: u64| (s.to_string(), allowed, count);
    assert!(
        shown.contains(&expect(
            &format!("Request create configmaps in {ns}"),
            true,
            1
        )),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&expect(&format!("Request get configmaps {ns}/a"), true, 2)),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&expect(&format!("Request list pods in {ns}"), false, 1)),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&expect(
            &format!("Escalation bind rbac.authorization.k8s.io/roles {ns}/bindable"),
            true,
            1
        )),
        "{shown:#?}"
    );
    assert!(
        shown.contains(&expect(
            &format!("EscalationRefused create rbac.authorization.k8s.io/rolebindings {ns}/other"),
            false,
            1
        )),
        "{shown:#?}"
    );
    let denials = log.denials();
    assert_eq!(denials.len(), 2, "{denials:#?}");
    assert!(
        denials[0].reason.contains("cannot list resource \"pods\""),
        "{denials:#?}"
    );
    assert!(
        denials[1]
            .reason
            .contains("attempting to grant RBAC permissions not currently held"),
        "{denials:#?}"
    );

    let rules: Vec<Value> = rules.as_array().cloned().unwrap_or_default();
    let unused: Vec<String> = log
        .unused(&user, &rules)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(unused, ["delete core/configmaps", "list core/configmaps"]);

    // the admin endpoint serves the same
    let body = c.kubectl(&["get", "--raw", "/kubesim/access-log"]).stdout;
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["denials"].as_array().map(Vec::len), Some(2), "{v}");
    assert!(
        v["entries"].as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["verb"] == "bind" && e["check"] == "escalation")),
        "{v}"
    );
    let out = c.kubectl(&["delete", "--raw", "/kubesim/access-log"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(sim.access_log().entries().is_empty());
}
