//! PURE: the network objects that quarantine an incident's pods and block mining-pool
//! ports, for each flavour of network API.
//!
//! - Quarantine selects exactly the offending pods by the per-incident label
//!   `cryptojack.dev/incident=<name>` (never the owner's labels, which also select healthy
//!   siblings and canaries): deny all egress (DNS to the cluster DNS pods excepted, never
//!   "port 53 to anywhere") and, when asked, all ingress.
//! - The stratum-port block denies egress leaving the cluster (destinations outside the
//!   in-cluster CIDRs) on the pool ports, for the incident's namespace or the whole
//!   cluster.
//!
//! Deny-capable APIs (ClusterNetworkPolicy, AdminNetworkPolicy, Cilium, Calico) express
//! both exactly. Plain NetworkPolicies are additive (any other policy that allows egress
//! from the same pod defeats a deny-all), so quarantine with them is checked for
//! effectiveness by the executor, and the namespace-wide stratum block is not written
//! with them at all: the only way to "deny" with NetworkPolicy is a namespace-wide allow of
//! everything else, which would widen every egress policy of the namespace.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::{
    BlockScope, DnsAllowance, LABEL_INCIDENT, LABEL_INCIDENT_NAMESPACE, NetworkFlavor, ObjectRef,
};

/// Priority of cryptojack's AdminNetworkPolicies / ClusterNetworkPolicies (lower wins).
pub const PRIORITY: i64 = 1;
/// Calico: the tier cryptojack's policies live in, and its order (before any other tier).
pub const CALICO_TIER: &str = "cryptojack";
pub const CALICO_TIER_ORDER: f64 = 1.0;

/// Which API group/version a flavour writes (Calico: the API server's v3 when served).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    NetworkPolicy,
    ClusterNetworkPolicy,
    AdminNetworkPolicy,
    Cilium,
    /// `projectcalico.org/v3` (true) or `crd.projectcalico.org/v1` (false).
    Calico {
        v3: bool,
    },
}

impl Resolved {
    pub fn flavor(self) -> NetworkFlavor {
        match self {
            Resolved::NetworkPolicy => NetworkFlavor::NetworkPolicy,
            Resolved::ClusterNetworkPolicy => NetworkFlavor::ClusterNetworkPolicy,
            Resolved::AdminNetworkPolicy => NetworkFlavor::AdminNetworkPolicy,
            Resolved::Cilium => NetworkFlavor::Cilium,
            Resolved::Calico { .. } => NetworkFlavor::Calico,
        }
    }

    pub fn deny_capable(self) -> bool {
        self != Resolved::NetworkPolicy
    }

    fn calico_api(v3: bool) -> &'static str {
        if v3 {
            "projectcalico.org/v3"
        } else {
            "crd.projectcalico.org/v1"
        }
    }
}

/// What the cluster serves (from discovery).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub cluster_network_policy: bool,
    pub admin_network_policy: bool,
    pub cilium: bool,
    pub calico_v3: bool,
    pub calico_crd: bool,
}

/// The flavour a policy gets: `Auto` takes the first deny-capable API served
/// (ClusterNetworkPolicy, AdminNetworkPolicy, Cilium, Calico), else NetworkPolicy; a
/// forced flavour the cluster does not serve is an error (the policy is not Ready).
pub fn resolve(flavor: NetworkFlavor, served: &Served) -> Result<Resolved, String> {
    let calico = || {
        if served.calico_v3 {
            Some(Resolved::Calico { v3: true })
        } else if served.calico_crd {
            Some(Resolved::Calico { v3: false })
        } else {
            None
        }
    };
    match flavor {
        NetworkFlavor::Auto => Ok(if served.cluster_network_policy {
            Resolved::ClusterNetworkPolicy
        } else if served.admin_network_policy {
            Resolved::AdminNetworkPolicy
        } else if served.cilium {
            Resolved::Cilium
        } else if let Some(c) = calico() {
            c
        } else {
            Resolved::NetworkPolicy
        }),
        NetworkFlavor::NetworkPolicy => Ok(Resolved::NetworkPolicy),
        NetworkFlavor::ClusterNetworkPolicy if served.cluster_network_policy => Ok(Resolved::ClusterNetworkPolicy),
        NetworkFlavor::AdminNetworkPolicy if served.admin_network_policy => Ok(Resolved::AdminNetworkPolicy),
        NetworkFlavor::Cilium if served.cilium => Ok(Resolved::Cilium),
        NetworkFlavor::Calico => calico().ok_or_else(|| {
            "spec.response.networkIsolation.flavor: Calico is not served by this cluster (neither projectcalico.org/v3 nor crd.projectcalico.org/v1)".to_string()
        }),
        other => Err(format!(
            "spec.response.networkIsolation.flavor: {} is not served by this cluster",
            other.as_str()
        )),
    }
}

/// Why a flavour was chosen, for the incident (served is not enforced).
pub fn why(flavor: NetworkFlavor, resolved: Resolved) -> String {
    let chosen = match resolved {
        Resolved::Calico { v3: true } => "Calico (projectcalico.org/v3)".to_string(),
        Resolved::Calico { v3: false } => "Calico (crd.projectcalico.org/v1)".to_string(),
        r => r.flavor().as_str().to_string(),
    };
    let how = if flavor == NetworkFlavor::Auto {
        "chosen by discovery (Auto)"
    } else {
        "forced by the policy"
    };
    format!("{chosen}, {how}; discovery shows the API is served, not that the CNI enforces it")
}

/// The settings of a quarantine.
#[derive(Clone, Debug, PartialEq)]
pub struct Quarantine {
    pub incident: String,
    pub namespace: String,
    pub deny_ingress: bool,
    pub dns: Option<DnsAllowance>,
}

/// The settings of a stratum-port block.
#[derive(Clone, Debug, PartialEq)]
pub struct StratumBlock {
    pub incident: String,
    pub namespace: String,
    pub scope: BlockScope,
    pub ports: Vec<i32>,
    pub in_cluster_cidrs: Vec<String>,
    /// Namespaces a cluster-wide block leaves out (the operator's own).
    pub exclude_namespaces: Vec<String>,
}

fn labels(incident: &str, ns: &str) -> Value {
    json!({LABEL_INCIDENT: incident, LABEL_INCIDENT_NAMESPACE: ns, "app.kubernetes.io/managed-by": "cryptojack"})
}

/// Consecutive ports as (start, end) ranges, sorted.
pub fn port_ranges(ports: &[i32]) -> Vec<(i32, i32)> {
    let mut p: Vec<i32> = ports
        .iter()
        .copied()
        .filter(|p| (1..=65535).contains(p))
        .collect();
    p.sort_unstable();
    p.dedup();
    let mut out: Vec<(i32, i32)> = Vec::new();
    for x in p {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == x => *end = x,
            _ => out.push((x, x)),
        }
    }
    out
}

fn is_v6(cidr: &str) -> bool {
    cidr.contains(':')
}

/// The object name of a quarantine / block for an incident.
pub fn object_name(incident: &str, what: &str) -> String {
    format!("cryptojack-{incident}-{what}")
}

fn dns_ports(dns: &DnsAllowance) -> Vec<i32> {
    let mut p = dns.ports.clone();
    p.sort_unstable();
    p.dedup();
    p
}

/// Reference to a created object (for undo).
pub fn object_ref(obj: &Value) -> ObjectRef {
    ObjectRef {
        api_version: obj["apiVersion"].as_str().unwrap_or_default().to_string(),
        kind: obj["kind"].as_str().unwrap_or_default().to_string(),
        namespace: obj["metadata"]["namespace"].as_str().map(String::from),
        name: obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        uid: None,
    }
}

/// The Calico tier both Calico policies live in (created once, shared; `defaultAction:
/// Pass` so that traffic cryptojack's policies do not decide goes on to the next tier).
pub fn calico_tier(v3: bool) -> Value {
    json!({
        "apiVersion": Resolved::calico_api(v3),
        "kind": "Tier",
        "metadata": {"name": CALICO_TIER, "labels": {"app.kubernetes.io/managed-by": "cryptojack"}},
        "spec": {"order": CALICO_TIER_ORDER, "defaultAction": "Pass"}
    })
}

/// The objects that quarantine the incident's pods.
pub fn quarantine(flavor: Resolved, q: &Quarantine) -> Vec<Value> {
    let name = object_name(&q.incident, "quarantine");
    let ns = &q.namespace;
    let lbl = labels(&q.incident, ns);
    let pod_selector = json!({"matchLabels": {LABEL_INCIDENT: q.incident}});
    let ns_selector = json!({"matchLabels": {"kubernetes.io/metadata.name": ns}});
    match flavor {
        Resolved::NetworkPolicy => {
            let mut egress = Vec::new();
            if let Some(dns) = &q.dns {
                let ports: Vec<Value> = dns_ports(dns)
                    .iter()
                    .flat_map(|p| {
                        [
                            json!({"protocol": "UDP", "port": p}),
                            json!({"protocol": "TCP", "port": p}),
                        ]
                    })
                    .collect();
                egress.push(json!({
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns.namespace}},
                            "podSelector": {"matchLabels": dns.pod_labels}}],
                    "ports": ports
                }));
            }
            let mut types = vec!["Egress"];
            if q.deny_ingress {
                types.push("Ingress");
            }
            vec![json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns, "labels": lbl},
                "spec": {"podSelector": pod_selector, "policyTypes": types, "egress": egress, "ingress": []}
            })]
        }
        Resolved::ClusterNetworkPolicy | Resolved::AdminNetworkPolicy => {
            let cnp = flavor == Resolved::ClusterNetworkPolicy;
            let mut egress = Vec::new();
            if let Some(dns) = &q.dns {
                let dns_pods = json!({"pods": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns.namespace}},
                    "podSelector": {"matchLabels": dns.pod_labels}}});
                if cnp {
                    let protocols: Vec<Value> = dns_ports(dns)
                        .iter()
                        .flat_map(|p| {
                            [
                                json!({"udp": {"destinationPort": {"number": p}}}),
                                json!({"tcp": {"destinationPort": {"number": p}}}),
                            ]
                        })
                        .collect();
                    egress.push(json!({"name": "allow-cluster-dns", "action": "Accept", "to": [dns_pods], "protocols": protocols}));
                } else {
                    let ports: Vec<Value> = dns_ports(dns)
                        .iter()
                        .flat_map(|p| {
                            [
                                json!({"portNumber": {"protocol": "UDP", "port": p}}),
                                json!({"portNumber": {"protocol": "TCP", "port": p}}),
                            ]
                        })
                        .collect();
                    egress.push(json!({"name": "allow-cluster-dns", "action": "Allow", "to": [dns_pods], "ports": ports}));
                }
            }
            egress.push(json!({"name": "deny-all-egress", "action": "Deny",
                "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]}));
            let mut spec = json!({
                "priority": PRIORITY,
                "subject": {"pods": {"namespaceSelector": ns_selector, "podSelector": pod_selector}},
                "egress": egress
            });
            if cnp {
                spec["tier"] = json!("Admin");
            }
            if q.deny_ingress {
                spec["ingress"] = json!([{"name": "deny-all-ingress", "action": "Deny", "from": [{"namespaces": {}}]}]);
            }
            let (api, kind) = if cnp {
                ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
            } else {
                ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy")
            };
            // cluster-scoped: the incident's namespace is part of the name
            let name = format!("cryptojack-{ns}-{}-quarantine", q.incident);
            vec![
                json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "labels": lbl}, "spec": spec}),
            ]
        }
        Resolved::Cilium => {
            let mut spec = json!({
                "endpointSelector": pod_selector,
                // deny rules win over any allow rule in Cilium
                "egressDeny": [{"toEntities": ["world"]}],
            });
            let mut egress = Vec::new();
            if let Some(dns) = &q.dns {
                let mut sel = serde_json::Map::new();
                sel.insert(
                    "k8s:io.kubernetes.pod.namespace".into(),
                    json!(dns.namespace),
                );
                for (k, v) in &dns.pod_labels {
                    sel.insert(format!("k8s:{k}"), json!(v));
                }
                let ports: Vec<Value> = dns_ports(dns)
                    .iter()
                    .map(|p| json!({"port": p.to_string(), "protocol": "ANY"}))
                    .collect();
                egress.push(
                    json!({"toEndpoints": [{"matchLabels": sel}], "toPorts": [{"ports": ports}]}),
                );
            }
            // an egress section puts the pods in default-deny for everything else
            spec["egress"] = json!(egress);
            spec["enableDefaultDeny"] = json!({"egress": true, "ingress": q.deny_ingress});
            if q.deny_ingress {
                spec["ingressDeny"] = json!([{"fromEntities": ["all"]}]);
            }
            vec![
                json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                "metadata": {"name": name, "namespace": ns, "labels": lbl}, "spec": spec}),
            ]
        }
        Resolved::Calico { v3 } => {
            let mut egress = Vec::new();
            if let Some(dns) = &q.dns {
                let sel = dns
                    .pod_labels
                    .iter()
                    .map(|(k, v)| format!("{k} == '{v}'"))
                    .collect::<Vec<_>>()
                    .join(" && ");
                for proto in ["UDP", "TCP"] {
                    egress.push(json!({"action": "Allow", "protocol": proto, "destination": {
                        "selector": sel, "namespaceSelector": format!("kubernetes.io/metadata.name == '{}'", dns.namespace),
                        "ports": dns_ports(dns)}}));
                }
            }
            egress.push(json!({"action": "Deny"}));
            let mut types = vec!["Egress"];
            let mut spec = json!({
                "tier": CALICO_TIER,
                "order": 1,
                "selector": format!("{LABEL_INCIDENT} == '{}'", q.incident),
                "egress": egress,
            });
            if q.deny_ingress {
                types.push("Ingress");
                spec["ingress"] = json!([{"action": "Deny"}]);
            }
            spec["types"] = json!(types);
            vec![
                json!({"apiVersion": Resolved::calico_api(v3), "kind": "NetworkPolicy",
                "metadata": {"name": format!("{CALICO_TIER}.{}-quarantine", q.incident), "namespace": ns, "labels": lbl}, "spec": spec}),
            ]
        }
    }
}

/// The objects of a stratum-port block; `Err` says why it is not written (plain
/// NetworkPolicy, or a cluster scope the flavour cannot express).
pub fn stratum_block(flavor: Resolved, b: &StratumBlock) -> Result<Vec<Value>, String> {
    let ranges = port_ranges(&b.ports);
    if ranges.is_empty() {
        return Err("no ports to block".into());
    }
    let lbl = labels(&b.incident, &b.namespace);
    let v4_except: Vec<&String> = b.in_cluster_cidrs.iter().filter(|c| !is_v6(c)).collect();
    let cluster = b.scope == BlockScope::Cluster;
    let ns = &b.namespace;
    let ns_selector = if cluster {
        json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": b.exclude_namespaces}]})
    } else {
        json!({"matchLabels": {"kubernetes.io/metadata.name": ns}})
    };
    let base = if cluster {
        format!("cryptojack-{}-{}-stratum-cluster", ns, b.incident)
    } else {
        object_name(&b.incident, "stratum")
    };
    match flavor {
        Resolved::NetworkPolicy => Err(
            "plain NetworkPolicies cannot deny: a namespace-wide block would have to allow everything else, which widens every egress policy of the namespace; the offending pods' own quarantine still applies (serve ClusterNetworkPolicy/AdminNetworkPolicy, Cilium or Calico to block pool ports namespace-wide)".into(),
        ),
        Resolved::ClusterNetworkPolicy | Resolved::AdminNetworkPolicy => {
            let cnp = flavor == Resolved::ClusterNetworkPolicy;
            let ports: Vec<Value> = ranges
                .iter()
                .map(|(s, e)| {
                    if cnp {
                        if s == e {
                            json!({"tcp": {"destinationPort": {"number": s}}})
                        } else {
                            json!({"tcp": {"destinationPort": {"range": {"start": s, "end": e}}}})
                        }
                    } else if s == e {
                        json!({"portNumber": {"protocol": "TCP", "port": s}})
                    } else {
                        json!({"portRange": {"protocol": "TCP", "start": s, "end": e}})
                    }
                })
                .collect();
            let key = if cnp { "protocols" } else { "ports" };
            let mut pass = json!({"name": "in-cluster-destinations", "action": "Pass", "to": [{"networks": b.in_cluster_cidrs}]});
            pass[key] = json!(ports);
            let mut deny = json!({"name": "mining-pool-ports", "action": "Deny", "to": [{"networks": ["0.0.0.0/0", "::/0"]}]});
            deny[key] = json!(ports);
            let mut spec = json!({
                "priority": PRIORITY,
                "subject": {"namespaces": ns_selector},
                "egress": [pass, deny]
            });
            if cnp {
                spec["tier"] = json!("Admin");
            }
            let (api, kind) = if cnp {
                ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
            } else {
                ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy")
            };
            let name = if cluster { base } else { format!("cryptojack-{ns}-{}-stratum", b.incident) };
            Ok(vec![json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "labels": lbl}, "spec": spec})])
        }
        Resolved::Cilium => {
            let ports: Vec<Value> = ranges
                .iter()
                .map(|(s, e)| {
                    if s == e {
                        json!({"port": s.to_string(), "protocol": "TCP"})
                    } else {
                        json!({"port": s.to_string(), "endPort": e, "protocol": "TCP"})
                    }
                })
                .collect();
            let mut sets = vec![json!({"cidr": "0.0.0.0/0", "except": v4_except})];
            if b.in_cluster_cidrs.iter().any(|c| is_v6(c)) {
                let v6: Vec<&String> = b.in_cluster_cidrs.iter().filter(|c| is_v6(c)).collect();
                sets.push(json!({"cidr": "::/0", "except": v6}));
            }
            let mut spec = json!({
                "endpointSelector": {},
                "egressDeny": [{"toCIDRSet": sets, "toPorts": [{"ports": ports}]}],
                // a deny-only policy must not put the namespace's pods in default-deny
                "enableDefaultDeny": {"egress": false, "ingress": false}
            });
            if cluster {
                spec["endpointSelector"] = json!({"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "NotIn", "values": b.exclude_namespaces}]});
                Ok(vec![json!({"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
                    "metadata": {"name": base, "labels": lbl}, "spec": spec})])
            } else {
                Ok(vec![json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                    "metadata": {"name": base, "namespace": ns, "labels": lbl}, "spec": spec})])
            }
        }
        Resolved::Calico { v3 } => {
            let ports: Vec<Value> = ranges
                .iter()
                .map(|(s, e)| if s == e { json!(s) } else { json!(format!("{s}:{e}")) })
                .collect();
            let spec = json!({
                "tier": CALICO_TIER,
                "order": 10,
                "selector": "all()",
                "types": ["Egress"],
                "egress": [
                    {"action": "Deny", "protocol": "TCP", "destination": {"nets": ["0.0.0.0/0", "::/0"], "notNets": b.in_cluster_cidrs, "ports": ports}},
                    // everything else goes on to the next tier (and so to NetworkPolicies)
                    {"action": "Pass"}
                ]
            });
            let api = Resolved::calico_api(v3);
            if cluster {
                let mut spec = spec;
                spec["namespaceSelector"] = json!(format!(
                    "kubernetes.io/metadata.name not in {{{}}}",
                    b.exclude_namespaces.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
                ));
                Ok(vec![json!({"apiVersion": api, "kind": "GlobalNetworkPolicy",
                    "metadata": {"name": format!("{CALICO_TIER}.{ns}-{}-stratum", b.incident), "labels": lbl}, "spec": spec})])
            } else {
                Ok(vec![json!({"apiVersion": api, "kind": "NetworkPolicy",
                    "metadata": {"name": format!("{CALICO_TIER}.{}-stratum", b.incident), "namespace": ns, "labels": lbl}, "spec": spec})])
            }
        }
    }
}

/// Whether a plain NetworkPolicy selecting pods with `pod_labels` allows some egress:
/// another policy that defeats the quarantine. Returns the reason when it does.
pub fn re_allows_egress(np: &Value, pod_labels: &BTreeMap<String, String>) -> Option<String> {
    let name = np["metadata"]["name"].as_str().unwrap_or("?");
    if np["metadata"]["labels"][LABEL_INCIDENT].is_string() {
        return None;
    }
    let spec = &np["spec"];
    let types: Vec<&str> = spec["policyTypes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| {
            if spec.get("egress").is_some() {
                vec!["Ingress", "Egress"]
            } else {
                vec!["Ingress"]
            }
        });
    if !types.contains(&"Egress") {
        return None;
    }
    let rules = spec["egress"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        return None;
    }
    let selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector =
        serde_json::from_value(spec["podSelector"].clone()).unwrap_or_default();
    let selects = crate::detect::LabelSelectorMatcher::new(&selector, "spec.podSelector")
        .map(|m| m.matches(pod_labels))
        .unwrap_or(false);
    if !selects {
        return None;
    }
    Some(format!(
        "NetworkPolicy {name} also selects the quarantined pods and allows egress ({} rule(s)); NetworkPolicies are additive, so the quarantine does not block that traffic",
        rules.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(dns: bool) -> Quarantine {
        Quarantine {
            incident: "cji-1".into(),
            namespace: "shop".into(),
            deny_ingress: true,
            dns: dns.then(DnsAllowance::default),
        }
    }

    #[test]
    fn auto_prefers_deny_capable_apis_and_forced_flavours_must_be_served() {
        let none = Served::default();
        assert_eq!(
            resolve(NetworkFlavor::Auto, &none),
            Ok(Resolved::NetworkPolicy)
        );
        let all = Served {
            cluster_network_policy: true,
            admin_network_policy: true,
            cilium: true,
            calico_v3: true,
            calico_crd: true,
        };
        assert_eq!(
            resolve(NetworkFlavor::Auto, &all),
            Ok(Resolved::ClusterNetworkPolicy)
        );
        let calico = Served {
            calico_crd: true,
            ..none
        };
        assert_eq!(
            resolve(NetworkFlavor::Auto, &calico),
            Ok(Resolved::Calico { v3: false })
        );
        assert_eq!(
            resolve(
                NetworkFlavor::Calico,
                &Served {
                    calico_v3: true,
                    calico_crd: true,
                    ..none
                }
            ),
            Ok(Resolved::Calico { v3: true })
        );
        let e = resolve(NetworkFlavor::Cilium, &none).expect_err("not served");
        assert!(
            e.contains("spec.response.networkIsolation.flavor") && e.contains("Cilium"),
            "{e}"
        );
        assert_eq!(
            resolve(NetworkFlavor::NetworkPolicy, &all),
            Ok(Resolved::NetworkPolicy)
        );
    }

    #[test]
    fn quarantine_selects_the_incident_label_and_allows_dns_only_to_the_dns_pods() {
        let np = &quarantine(Resolved::NetworkPolicy, &q(true))[0];
        assert_eq!(
            np["spec"]["podSelector"]["matchLabels"]["cryptojack.dev/incident"],
            "cji-1"
        );
        let egress = np["spec"]["egress"].as_array().expect("egress");
        assert_eq!(egress.len(), 1, "only DNS");
        assert_eq!(
            egress[0]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
            "kube-dns"
        );
        assert_eq!(
            egress[0]["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            "kube-system"
        );
        assert_eq!(np["spec"]["ingress"], json!([]));
        assert_eq!(np["spec"]["policyTypes"], json!(["Egress", "Ingress"]));
        let no_dns = &quarantine(Resolved::NetworkPolicy, &q(false))[0];
        assert_eq!(no_dns["spec"]["egress"], json!([]));
        for flavor in [
            Resolved::ClusterNetworkPolicy,
            Resolved::AdminNetworkPolicy,
            Resolved::Cilium,
            Resolved::Calico { v3: true },
        ] {
            let o = &quarantine(flavor, &q(true))[0];
            let text = o.to_string();
            assert!(text.contains("cji-1"), "{flavor:?}: {text}");
            assert!(text.contains("kube-dns"), "{flavor:?}: DNS pods only");
            assert!(!text.contains("\"app\""), "never the owner's labels");
        }
    }

    #[test]
    fn stratum_block_spares_in_cluster_destinations_and_ranges_ports() {
        assert_eq!(
            port_ranges(&[3333, 3334, 3335, 4444, 5555, 5556, 0, 70000]),
            vec![(3333, 3335), (4444, 4444), (5555, 5556)]
        );
        let b = StratumBlock {
            incident: "cji-1".into(),
            namespace: "shop".into(),
            scope: BlockScope::Namespace,
            ports: vec![3333, 3334, 4444],
            in_cluster_cidrs: vec!["10.0.0.0/8".into(), "fc00::/7".into()],
            exclude_namespaces: vec!["cryptojack-system".into()],
        };
        assert!(stratum_block(Resolved::NetworkPolicy, &b).is_err());
        let cnp = &stratum_block(Resolved::ClusterNetworkPolicy, &b).expect("cnp")[0];
        assert_eq!(cnp["spec"]["egress"][0]["action"], "Pass");
        assert_eq!(cnp["spec"]["egress"][1]["action"], "Deny");
        assert_eq!(
            cnp["spec"]["egress"][1]["protocols"][0]["tcp"]["destinationPort"]["range"],
            json!({"start": 3333, "end": 3334})
        );
        let cilium = &stratum_block(Resolved::Cilium, &b).expect("cilium")[0];
        assert_eq!(
            cilium["spec"]["egressDeny"][0]["toCIDRSet"][0]["except"],
            json!(["10.0.0.0/8"])
        );
        assert_eq!(cilium["spec"]["enableDefaultDeny"]["egress"], false);
        let calico = &stratum_block(Resolved::Calico { v3: false }, &b).expect("calico")[0];
        assert_eq!(calico["spec"]["egress"][1]["action"], "Pass");
        assert_eq!(
            calico["spec"]["egress"][0]["destination"]["ports"],
            json!(["3333:3334", 4444])
        );
        let cluster = StratumBlock {
            scope: BlockScope::Cluster,
            ..b
        };
        let ccnp = &stratum_block(Resolved::Cilium, &cluster).expect("ccnp")[0];
        assert_eq!(ccnp["kind"], "CiliumClusterwideNetworkPolicy");
        let gnp = &stratum_block(Resolved::Calico { v3: true }, &cluster).expect("gnp")[0];
        assert_eq!(gnp["kind"], "GlobalNetworkPolicy");
        assert!(
            gnp["spec"]["namespaceSelector"]
                .as_str()
                .is_some_and(|s| s.contains("cryptojack-system"))
        );
    }

    #[test]
    fn another_policy_allowing_egress_defeats_a_plain_quarantine() {
        let pod: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            (LABEL_INCIDENT.to_string(), "cji-1".to_string()),
        ]
        .into();
        let allow = json!({"metadata": {"name": "web-egress"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"], "egress": [{}]}});
        assert!(re_allows_egress(&allow, &pod).is_some_and(|r| r.contains("web-egress")));
        let ingress_only = json!({"metadata": {"name": "i"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}});
        assert!(re_allows_egress(&ingress_only, &pod).is_none());
        let other_pods = json!({"metadata": {"name": "db"}, "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Egress"], "egress": [{}]}});
        assert!(re_allows_egress(&other_pods, &pod).is_none());
        let deny_all = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
        assert!(re_allows_egress(&deny_all, &pod).is_none());
        let ours = json!({"metadata": {"name": "q", "labels": {LABEL_INCIDENT: "cji-1"}}, "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}});
        assert!(re_allows_egress(&ours, &pod).is_none());
    }
}
