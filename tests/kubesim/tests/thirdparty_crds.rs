//! The third-party CRDs of tests/fixtures/thirdparty-crds (network flavours, DRA claims): each loads into
//! kubesim, is served with its group, version, kind and scope, accepts the deny policy cryptojack
//! writes for it and refuses an invalid one with 422. kubesim only (CRDs loaded from files).

use crate::common;

use std::path::PathBuf;

use common::{default_builder, sim_cluster, status_of};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

fn fixtures(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/thirdparty-crds")
        .join(dir)
}

struct Flavour {
    dir: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    /// A deny policy as cryptojack writes it (spec only).
    valid: fn(&str) -> Value,
    /// An invalid spec and the field the 422 names.
    invalid: fn(&str) -> (Value, &'static str),
}

fn incident_pods(ns: &str) -> Value {
    json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
           "podSelector": {"matchLabels": {"cryptojack.dev/incident": "inc-1"}}})
}

fn dns_pods() -> Value {
    json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}})
}

fn cnp(ns: &str) -> Value {
    json!({"tier": "Admin", "priority": 10, "subject": {"pods": incident_pods(ns)},
        "egress": [
            {"name": "allow-dns", "action": "Accept", "to": [{"pods": dns_pods()}],
             "protocols": [{"udp": {"destinationPort": {"number": 53}}}, {"tcp": {"destinationPort": {"number": 53}}}]},
            {"name": "deny-all", "action": "Deny", "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]},
            {"name": "stratum", "action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}],
             "protocols": [{"tcp": {"destinationPort": {"range": {"start": 3333, "end": 3336}}}}]}
        ],
        "ingress": [{"name": "deny-all", "action": "Deny", "from": [{"namespaces": {}}]}]})
}

fn anp(ns: &str) -> Value {
    json!({"priority": 10, "subject": {"pods": incident_pods(ns)},
        "egress": [
            {"name": "allow-dns", "action": "Allow", "to": [{"pods": dns_pods()}],
             "ports": [{"portNumber": {"protocol": "UDP", "port": 53}}, {"portNumber": {"port": 53}}]},
            {"name": "deny-all", "action": "Deny", "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0"]}]}
        ],
        "ingress": [{"name": "deny-all", "action": "Deny", "from": [{"namespaces": {}}]}]})
}

fn cilium(_ns: &str) -> Value {
    json!({"endpointSelector": {"matchLabels": {"cryptojack.dev/incident": "inc-1"}},
        "egress": [{"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}],
                    "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}]}],
        "egressDeny": [{"toEntities": ["world", "cluster"]},
                       {"toCIDRSet": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}],
                        "toPorts": [{"ports": [{"port": "3333", "endPort": 3336, "protocol": "TCP"}]}]}],
        "ingressDeny": [{"fromEntities": ["all"]}]})
}

fn calico(ns: &str) -> Value {
    json!({"order": 1, "selector": "cryptojack.dev/incident == 'inc-1'", "types": ["Ingress", "Egress"],
        "egress": [
            {"action": "Allow", "protocol": "UDP",
             "destination": {"selector": "k8s-app == 'kube-dns'", "namespaceSelector": "kubernetes.io/metadata.name == 'kube-system'", "ports": [53]}},
            {"action": "Deny", "protocol": "TCP", "destination": {"nets": ["0.0.0.0/0"], "ports": [3333, "4444:4445"]}},
            {"action": "Deny"}
        ],
        "ingress": [{"action": "Deny", "source": {"namespaceSelector": format!("kubernetes.io/metadata.name != '{ns}'")}}]})
}

fn calico_global(ns: &str) -> Value {
    let mut v = calico(ns);
    v["namespaceSelector"] = json!(format!("kubernetes.io/metadata.name == '{ns}'"));
    v
}

const FLAVOURS: &[Flavour] = &[
    Flavour {
        dir: "network-policy-api-v1alpha2",
        group: "policy.networking.k8s.io",
        version: "v1alpha2",
        kind: "ClusterNetworkPolicy",
        plural: "clusternetworkpolicies",
        namespaced: false,
        valid: cnp,
        invalid: |ns| {
            let mut v = cnp(ns);
            v["egress"][1]["action"] = json!("Allow");
            (v, "spec.egress[1].action")
        },
    },
    Flavour {
        dir: "network-policy-api-v1alpha1",
        group: "policy.networking.k8s.io",
        version: "v1alpha1",
        kind: "AdminNetworkPolicy",
        plural: "adminnetworkpolicies",
        namespaced: false,
        valid: anp,
        invalid: |ns| {
            let mut v = anp(ns);
            v["priority"] = json!(1001);
            (v, "spec.priority")
        },
    },
    Flavour {
        dir: "cilium",
        group: "cilium.io",
        version: "v2",
        kind: "CiliumNetworkPolicy",
        plural: "ciliumnetworkpolicies",
        namespaced: true,
        valid: cilium,
        invalid: |ns| {
            let mut v = cilium(ns);
            v["egressDeny"][1]["toPorts"][0]["ports"][0]["protocol"] = json!("ICMP");
            (v, "spec.egressDeny[1].toPorts[0].ports[0].protocol")
        },
    },
    Flavour {
        dir: "cilium",
        group: "cilium.io",
        version: "v2",
        kind: "CiliumClusterwideNetworkPolicy",
        plural: "ciliumclusterwidenetworkpolicies",
        namespaced: false,
        valid: cilium,
        invalid: |ns| {
            let mut v = cilium(ns);
            v["egressDeny"][0]["toEntities"] = json!(["internet"]);
            (v, "spec.egressDeny[0].toEntities[0]")
        },
    },
    Flavour {
        dir: "calico-crd",
        group: "crd.projectcalico.org",
        version: "v1",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        namespaced: true,
        valid: calico,
        invalid: |ns| {
            let mut v = calico(ns);
            v["egress"][2]["action"] = json!("Drop");
            (v, "spec.egress[2].action")
        },
    },
    Flavour {
        dir: "calico-crd",
        group: "crd.projectcalico.org",
        version: "v1",
        kind: "GlobalNetworkPolicy",
        plural: "globalnetworkpolicies",
        namespaced: false,
        valid: calico_global,
        invalid: |ns| {
            let mut v = calico_global(ns);
            v["egress"][1]["protocol"] = json!("ESP");
            (v, "spec.egress[1].protocol")
        },
    },
    Flavour {
        dir: "calico-apiserver",
        group: "projectcalico.org",
        version: "v3",
        kind: "NetworkPolicy",
        plural: "networkpolicies",
        namespaced: true,
        valid: calico,
        invalid: |ns| {
            let mut v = calico(ns);
            v["types"] = json!(["Sideways"]);
            (v, "spec.types[0]")
        },
    },
    Flavour {
        dir: "calico-apiserver",
        group: "projectcalico.org",
        version: "v3",
        kind: "GlobalNetworkPolicy",
        plural: "globalnetworkpolicies",
        namespaced: false,
        valid: calico_global,
        invalid: |ns| {
            let mut v = calico_global(ns);
            v["egress"][0]["destination"]["ports"] = json!([70000]);
            (v, "spec.egress[0].destination.ports[0]")
        },
    },
    Flavour {
        // not a network API: the DRA claim the operator reads (GPUs claimed through DRA)
        dir: "dra-v1",
        group: "resource.k8s.io",
        version: "v1",
        kind: "ResourceClaim",
        plural: "resourceclaims",
        namespaced: true,
        valid: |_| dra_claim(),
        invalid: |_| {
            let mut v = dra_claim();
            v["devices"]["requests"][0]["firstAvailable"] =
                json!([{"name": "a", "deviceClassName": "gpu.nvidia.com"}]);
            (v, "spec.devices.requests[0]")
        },
    },
];

fn dra_claim() -> Value {
    json!({"devices": {"requests": [{"name": "gpu",
        "exactly": {"deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": 2}}]}})
}

fn api_for(client: &kube::Client, f: &Flavour, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(f.group, f.version, f.kind),
        f.plural,
    );
    if f.namespaced {
        Api::namespaced_with(client.clone(), ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    }
}

fn object(f: &Flavour, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("{}/{}", f.group, f.version), "kind": f.kind,
        "metadata": {"name": name, "labels": {"cryptojack.dev/incident": "inc-1"}},
        "spec": spec,
    }))
    .expect("object")
}

#[tokio::test]
async fn each_flavour_loads_and_validates() {
    for f in FLAVOURS {
        let Some(c) = sim_cluster(default_builder().crds_dir(fixtures(f.dir))).await else {
            return;
        };
        let discovery = Discovery::new(c.client.clone())
            .run()
            .await
            .expect("discovery");
        let (ar, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(f.group, f.version, f.kind))
            .unwrap_or_else(|| panic!("{} {} served", f.group, f.kind));
        assert_eq!(ar.plural, f.plural);
        assert_eq!(
            caps.scope == Scope::Namespaced,
            f.namespaced,
            "{} scope",
            f.kind
        );

        let api = api_for(&c.client, f, &c.ns);
        let name = format!("cryptojack-quarantine-{}", c.ns);
        let created = api
            .create(&PostParams::default(), &object(f, &name, (f.valid)(&c.ns)))
            .await
            .unwrap_or_else(|e| panic!("{} sample accepted: {e:?}", f.kind));
        let mut want = (f.valid)(&c.ns);
        if f.kind == "AdminNetworkPolicy" {
            // The CRD's default (upstream: +kubebuilder:default=TCP).
            want["egress"][0]["ports"][1]["portNumber"]["protocol"] = json!("TCP");
        }
        assert_eq!(created.data["spec"], want, "{}: nothing pruned", f.kind);
        let (bad, field) = (f.invalid)(&c.ns);
        let s = status_of(
            api.create(&PostParams::default(), &object(f, "invalid", bad))
                .await
                .expect_err("422"),
        );
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{}", f.kind);
        let fields: Vec<String> = s
            .details
            .map(|d| d.causes.into_iter().map(|c| c.field).collect())
            .unwrap_or_default();
        assert!(
            fields.iter().any(|x| x == field),
            "{}: {field} in {fields:?} ({})",
            f.kind,
            s.message
        );
    }
}

#[tokio::test]
async fn cidrs_are_checked_and_all_flavours_coexist() {
    let Some(c) = sim_cluster(default_builder().crds_dir(fixtures(""))).await else {
        return;
    };
    let discovery = Discovery::new(c.client.clone())
        .run()
        .await
        .expect("discovery");
    for f in FLAVOURS {
        assert!(
            discovery
                .resolve_gvk(&GroupVersionKind::gvk(f.group, f.version, f.kind))
                .is_some(),
            "{} {}",
            f.group,
            f.kind
        );
    }
    // The network-policy-api CIDR peers are checked with CEL isCIDR, as upstream.
    let cnp_api = api_for(&c.client, &FLAVOURS[0], &c.ns);
    let mut spec = cnp(&c.ns);
    spec["egress"][1]["to"][1]["networks"] = json!(["10.0.0.0/33"]);
    let s = status_of(
        cnp_api
            .create(
                &PostParams::default(),
                &object(&FLAVOURS[0], "bad-cidr", spec),
            )
            .await
            .expect_err("422"),
    );
    assert!(
        s.message.contains("Invalid CIDR format provided"),
        "{}",
        s.message
    );
    // A peer with two kinds of selection is refused (exactly one field per peer).
    let mut spec = cnp(&c.ns);
    spec["egress"][1]["to"][0] = json!({"namespaces": {}, "networks": ["0.0.0.0/0"]});
    let s = status_of(
        cnp_api
            .create(
                &PostParams::default(),
                &object(&FLAVOURS[0], "two-peers", spec),
            )
            .await
            .expect_err("422"),
    );
    assert_eq!(s.code, 422, "{}", s.message);
}
