//! Validation and defaulting of the built-in objects cryptojack writes (NetworkPolicy,
//! ResourceQuota, RoleBinding), through the API contract: the apiserver's 422 Invalid Status with
//! its message and field causes.

use crate::common;

use common::{cluster, eventually, status_of};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn np(name: &str, spec: Value) -> NetworkPolicy {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).expect("np")
}

fn causes(s: &kube::core::Status) -> Vec<(String, String)> {
    s.details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| (c.field.clone(), c.reason.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn network_policy_validation_and_defaults() {
    let c = cluster().await;
    let nps: Api<NetworkPolicy> = Api::namespaced(c.client.clone(), &c.ns);
    // endPort without port: the apiserver's 422.
    let s = status_of(
        nps.create(
            &PostParams::default(),
            &np(
                "deny",
                json!({"podSelector": {}, "egress": [{"ports": [{"protocol": "TCP", "endPort": 9000}]}]}),
            ),
        )
        .await
        .expect_err("422"),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        s.message,
        "NetworkPolicy.networking.k8s.io \"deny\" is invalid: spec.egress[0].ports[0].endPort: Invalid value: 9000: may not be specified when `port` is not specified"
    );
    let d = s.details.clone().expect("details");
    assert_eq!(
        (d.name.as_str(), d.group.as_str(), d.kind.as_str()),
        ("deny", "networking.k8s.io", "NetworkPolicy")
    );
    assert_eq!(
        causes(&s),
        vec![(
            "spec.egress[0].ports[0].endPort".to_string(),
            "FieldValueInvalid".to_string()
        )]
    );
    assert_eq!(
        d.causes[0].message,
        "Invalid value: 9000: may not be specified when `port` is not specified"
    );

    // Several errors at once: protocol, except outside the cidr, a peer with ipBlock and more.
    let s = status_of(
        nps.create(
            &PostParams::default(),
            &np(
                "bad",
                json!({"podSelector": {}, "egress": [{
                    "ports": [{"protocol": "ICMP", "port": 53}],
                    "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}},
                           {"ipBlock": {"cidr": "0.0.0.0/0"}, "namespaceSelector": {}}]}]}),
            ),
        )
        .await
        .expect_err("422"),
    );
    assert_eq!(
        causes(&s),
        vec![
            (
                "spec.egress[0].ports[0].protocol".to_string(),
                "FieldValueNotSupported".to_string()
            ),
            (
                "spec.egress[0].to[0].ipBlock.except[0]".to_string(),
                "FieldValueInvalid".to_string()
            ),
            (
                "spec.egress[0].to[1]".to_string(),
                "FieldValueForbidden".to_string()
            ),
        ]
    );
    assert!(
        s.message.starts_with("NetworkPolicy.networking.k8s.io \"bad\" is invalid: [spec.egress[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"TCP\", \"UDP\", \"SCTP\", "),
        "{}",
        s.message
    );

    // A valid quarantine policy (deny all but DNS to the DNS pods) gets the v1 defaults.
    let created = nps
        .create(
            &PostParams::default(),
            &np(
                "quarantine",
                json!({"podSelector": {"matchLabels": {"cryptojack.dev/incident": "inc-1"}},
                    "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}],
                        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]}]}),
            ),
        )
        .await
        .expect("valid");
    let v = serde_json::to_value(&created).expect("json");
    assert_eq!(v["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(v["spec"]["egress"][0]["ports"][1]["protocol"], "TCP");
    // Server-side apply goes through the same validation.
    let e = nps
        .patch(
            "quarantine",
            &PatchParams::apply("tests").force(),
            &Patch::Apply(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "quarantine"},
                "spec": {"podSelector": {}, "policyTypes": ["Egress", "Sideways"]}}),
            ),
        )
        .await
        .expect_err("422");
    let s = status_of(e);
    assert_eq!(s.code, 422);
    assert!(
        s.message.ends_with(
            "spec.policyTypes[1]: Unsupported value: \"Sideways\": supported values: \"Ingress\", \"Egress\""
        ),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn resource_quota_validation() {
    let c = cluster().await;
    let quotas: Api<ResourceQuota> = Api::namespaced(c.client.clone(), &c.ns);
    let rq = |name: &str, hard: Value| -> ResourceQuota {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"hard": hard}}))
            .expect("rq")
    };
    let s = status_of(
        quotas
            .create(&PostParams::default(), &rq("bad", json!({"gpus": "1"})))
            .await
            .expect_err("422"),
    );
    assert_eq!(
        s.message,
        "ResourceQuota \"bad\" is invalid: [spec.hard[gpus]: Invalid value: \"gpus\": must be a standard resource type or fully qualified, spec.hard[gpus]: Invalid value: \"gpus\": must be a standard resource for quota]"
    );
    let s = status_of(
        quotas
            .create(&PostParams::default(), &rq("neg", json!({"pods": "-1"})))
            .await
            .expect_err("422"),
    );
    assert_eq!(
        s.message,
        "ResourceQuota \"neg\" is invalid: spec.hard[pods]: Invalid value: \"-1\": must be greater than or equal to 0"
    );
    let s = status_of(
        quotas
            .create(
                &PostParams::default(),
                &rq("half", json!({"nvidia.com/gpu": "500m"})),
            )
            .await
            .expect_err("422"),
    );
    assert_eq!(
        causes(&s),
        vec![(
            "spec.hard[nvidia.com/gpu]".to_string(),
            "FieldValueInvalid".to_string()
        )]
    );
    assert!(s.message.ends_with(": must be an integer"), "{}", s.message);

    // `limits.` of an extended resource is a valid name but no evaluator tracks it: it is left
    // out of status.used and GPU pods are not limited by it (only `requests.` is).
    quotas
        .create(
            &PostParams::default(),
            &rq(
                "wrong-gpu-cap",
                json!({"limits.nvidia.com/gpu": "0", "pods": "10"}),
            ),
        )
        .await
        .expect("accepted");
    let used = eventually(30, || async {
        let st = serde_json::to_value(quotas.get("wrong-gpu-cap").await.ok()?.status?).ok()?;
        st.get("hard")?;
        st.get("used").cloned()
    })
    .await
    .expect("status");
    assert_eq!(used, json!({"pods": "0"}));
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), &c.ns);
    let gpu: Pod = serde_json::from_value(json!({"metadata": {"name": "gpu"},
        "spec": {"containers": [{"name": "c", "image": common::PAUSE, "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}))
    .expect("pod");
    pods.create(&PostParams::default(), &gpu)
        .await
        .expect("not limited by limits.nvidia.com/gpu");
}

#[tokio::test]
async fn role_binding_validation() {
    let c = cluster().await;
    let rbs: Api<RoleBinding> = Api::namespaced(c.client.clone(), &c.ns);
    let rb = |name: &str, role: &str, subjects: Value| -> RoleBinding {
        serde_json::from_value(json!({"metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects}))
        .expect("rb")
    };
    let s = status_of(
        rbs.create(
            &PostParams::default(),
            &rb("bad", "view", json!([{"kind": "Robot", "name": "r"}, {"kind": "ServiceAccount", "name": "sa", "apiGroup": "rbac.authorization.k8s.io"}])),
        )
        .await
        .expect_err("422"),
    );
    assert_eq!(
        s.message,
        "RoleBinding.rbac.authorization.k8s.io \"bad\" is invalid: [subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\", subjects[1].apiGroup: Unsupported value: \"rbac.authorization.k8s.io\": supported values: \"\"]"
    );
    // Defaults: a User subject's apiGroup.
    let created = rbs
        .create(
            &PostParams::default(),
            &rb(
                "viewers",
                "view",
                json!([{"kind": "User", "name": "alice"}]),
            ),
        )
        .await
        .expect("valid");
    assert_eq!(
        created.subjects.as_ref().expect("subjects")[0]
            .api_group
            .as_deref(),
        Some("rbac.authorization.k8s.io")
    );
    // roleRef is immutable.
    let mut changed = created.clone();
    changed.role_ref.name = "edit".into();
    let s = status_of(
        rbs.replace("viewers", &PostParams::default(), &changed)
            .await
            .expect_err("422"),
    );
    assert_eq!(
        s.message,
        "RoleBinding.rbac.authorization.k8s.io \"viewers\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"edit\"}: cannot change roleRef"
    );
    // Changing the subjects is fine.
    let mut more = created;
    more.subjects = Some(vec![
        serde_json::from_value(
            json!({"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}),
        )
        .expect("subject"),
    ]);
    rbs.replace("viewers", &PostParams::default(), &more)
        .await
        .expect("subjects may change");
}
