//! Evasion class 6 of issue 9 — every GPU request — and the GPU-instance false positive, as
//! generated cases: every vendor's extended resources, MIG profiles, shared (time-sliced)
//! GPUs, requests and limits, every kind of container, patterns in the policy, and Dynamic
//! Resource Allocation claims; each with its approved twin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::detect_common;

use std::collections::BTreeMap;

use cryptojack::api::{ApprovalFrom, CryptojackPolicySpec};
use cryptojack::detect::{
    ClaimSource, ClaimView, CompiledPolicy, ContainerKind, DeviceRequestView, EvalContext,
    NamespaceLabels, PodView, Severity, Workload, device_requests,
};
use detect_common::*;

const APPROVAL: (&str, &str) = ("cryptojack.dev/gpu-approved", "true");

fn gpu_container(
    kind: ContainerKind,
    resource: &str,
    qty: &str,
    in_limits: bool,
) -> cryptojack::detect::ContainerView {
    let mut c = container(
        "nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04",
        &["python3", "train.py"],
        &[],
    );
    c.kind = kind;
    let map: BTreeMap<String, String> = [(resource.to_string(), qty.to_string())].into();
    if in_limits {
        c.limits = map;
    } else {
        c.requests = map;
    }
    c
}

fn approved(mut v: PodView) -> PodView {
    v.labels.insert(APPROVAL.0.into(), APPROVAL.1.into());
    v
}

#[test]
fn class6_every_gpu_resource_of_the_default_policy() {
    let resources = [
        "nvidia.com/gpu",
        "nvidia.com/gpu.shared",
        "nvidia.com/mig-1g.5gb",
        "nvidia.com/mig-2g.10gb",
        "nvidia.com/mig-3g.20gb",
        "nvidia.com/mig-7g.80gb",
        "nvidia.com/mig-1g.10gb+me",
        "amd.com/gpu",
        "gpu.intel.com/i915",
        "gpu.intel.com/xe",
    ];
    let mut cases = Vec::new();
    for r in resources {
        for kind in [
            ContainerKind::Regular,
            ContainerKind::Init,
            ContainerKind::Ephemeral,
        ] {
            for in_limits in [false, true] {
                for qty in ["1", "2", "8", "100m", "1e0"] {
                    let c = gpu_container(kind, r, qty, in_limits);
                    let name = format!("{r} {qty} {kind:?} limits={in_limits}");
                    // a sidecar before it: the finding names the GPU container
                    let side = container("busybox", &["sleep", "inf"], &[]);
                    cases.push(
                        Case::new(
                            name.clone(),
                            pod(vec![side.clone(), c.clone()]),
                            Expect::Gpu,
                        )
                        .also(Expect::Exactly(Severity::High)),
                    );
                    cases.push(
                        Case::new(
                            format!("{name} approved"),
                            approved(pod(vec![side, c])),
                            Expect::NoGpu,
                        )
                        .also(Expect::Benign),
                    );
                }
                let c = gpu_container(kind, r, "0", in_limits);
                cases.push(Case::new(
                    format!("{r} zero {kind:?}"),
                    pod(vec![c]),
                    Expect::NoGpu,
                ));
            }
        }
    }
    // twins: resources that are not GPUs
    for r in [
        "cpu",
        "memory",
        "hugepages-2Mi",
        "ephemeral-storage",
        "example.com/fpga",
        "nvidia.com/hostdev",
        "rdma/hca_shared_devices_a",
    ] {
        cases.push(Case::new(
            format!("{r} twin"),
            pod(vec![gpu_container(ContainerKind::Regular, r, "4", true)]),
            Expect::NoGpu,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 300, 300);
}

#[test]
fn class6_the_finding_points_at_the_gpu_container() {
    let side = container("busybox", &["sleep", "inf"], &[]);
    let gpu = gpu_container(ContainerKind::Regular, "nvidia.com/mig-1g.5gb", "1", true);
    let f = CompiledPolicy::builtin_default().evaluate_offline(&pod(vec![side, gpu]));
    let hit = f
        .iter()
        .find(|f| f.rule == "builtin/gpu/unapproved")
        .unwrap();
    assert_eq!(hit.container.as_deref(), Some("c1"));
    assert_eq!(
        hit.field,
        "spec.containers[1].resources.limits[\"nvidia.com/mig-1g.5gb\"]"
    );
}

#[test]
fn class6_policy_gpu_resources_accept_patterns() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.gpu.resources = strings(&[
        "*.com/gpu*",
        "vendor.example/accel-[0-9]*",
        "habana.ai/gaudi?",
    ]);
    let policy = CompiledPolicy::compile("globs", &spec).unwrap();
    let mut cases = Vec::new();
    for r in [
        "nvidia.com/gpu",
        "amd.com/gpu",
        "nvidia.com/gpu.shared",
        "vendor.example/accel-1x",
        "habana.ai/gaudi2",
    ] {
        cases.push(Case::new(
            r,
            pod(vec![gpu_container(ContainerKind::Regular, r, "1", true)]),
            Expect::Gpu,
        ));
        cases.push(Case::new(
            format!("{r} approved"),
            approved(pod(vec![gpu_container(
                ContainerKind::Regular,
                r,
                "1",
                true,
            )])),
            Expect::NoGpu,
        ));
    }
    for r in [
        "nvidia.com/mig-1g.5gb",
        "vendor.example/accel-x",
        "habana.ai/gaudi10",
        "gpu.intel.com/i915",
    ] {
        cases.push(Case::new(
            format!("{r} not listed"),
            pod(vec![gpu_container(ContainerKind::Regular, r, "1", true)]),
            Expect::NoGpu,
        ));
    }
    check_with(&policy, &cases);
    assert!(policy.is_gpu_resource("amd.com/gpu"));
    assert!(!policy.is_gpu_resource("nvidia.com/mig-1g.5gb"));
}

#[test]
fn class6_namespace_approval() {
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.gpu.approval_from = ApprovalFrom::Namespace;
    let ns_policy = CompiledPolicy::compile("ns", &spec).unwrap();
    spec.detect.gpu.approval_from = ApprovalFrom::PodAndNamespace;
    let both_policy = CompiledPolicy::compile("both", &spec).unwrap();
    let approved_ns: BTreeMap<String, String> =
        [(APPROVAL.0.to_string(), APPROVAL.1.to_string())].into();
    let other_ns: BTreeMap<String, String> = [("team".to_string(), "ml".to_string())].into();
    let view = pod(vec![gpu_container(
        ContainerKind::Regular,
        "nvidia.com/gpu",
        "1",
        true,
    )]);
    let labelled = approved(view.clone());
    let ctx = |l| EvalContext {
        namespace_labels: NamespaceLabels::Known(l),
        workload: Some(Workload {
            kind: "Pod",
            name: "p",
        }),
        node_labels: None,
    };
    let gpu =
        |f: &[cryptojack::detect::Finding]| f.iter().any(|f| f.rule == "builtin/gpu/unapproved");
    assert!(!gpu(&ns_policy.evaluate(&view, &ctx(&approved_ns))));
    assert!(
        gpu(&ns_policy.evaluate(&labelled, &ctx(&other_ns))),
        "a pod cannot approve itself"
    );
    assert!(
        gpu(&ns_policy.evaluate_offline(&view)),
        "unknown namespace labels: not approved"
    );
    assert!(gpu(&both_policy.evaluate(&view, &ctx(&approved_ns))));
    assert!(!gpu(&both_policy.evaluate(&labelled, &ctx(&approved_ns))));
}

fn claim(
    index: usize,
    name: &str,
    source: ClaimSource,
    devices: Vec<DeviceRequestView>,
) -> ClaimView {
    ClaimView {
        index,
        name: name.into(),
        source,
        resolved: !devices.is_empty(),
        devices,
    }
}

fn device(class: &str, count: Option<i64>, selectors: &[&str]) -> DeviceRequestView {
    DeviceRequestView {
        request: "r".into(),
        device_class: class.into(),
        count,
        selectors: strings(selectors),
    }
}

#[test]
fn class6_dynamic_resource_allocation_claims() {
    let gpu_requests = vec![
        device("gpu.nvidia.com", Some(1), &[]),
        device("mig.nvidia.com", Some(2), &[]),
        device("gpu.amd.com", None, &[]),
        device("gpu.intel.com", Some(1), &[]),
        device("a100-gpus", Some(4), &[]),
        device(
            "team-accelerators",
            Some(1),
            &["device.driver == \"gpu.nvidia.com\""],
        ),
        device(
            "default",
            Some(1),
            &["device.attributes[\"gpu.nvidia.com\"].productName == \"H100\""],
        ),
        device("vgpu-profile-8q", Some(1), &[]),
    ];
    let other_requests = vec![
        device("nic.nvidia.com", Some(1), &[]),
        device("fast-nvme.example.com", Some(1), &[]),
        device(
            "fpga.example.com",
            Some(2),
            &["device.driver == \"fpga.example.com\""],
        ),
        device("gpu.nvidia.com", Some(0), &[]),
    ];
    let mut cases = Vec::new();
    for d in &gpu_requests {
        for source in [
            ClaimSource::Template("gpu-claim".into()),
            ClaimSource::Claim("shared-gpu".into()),
        ] {
            let mut c = container("nvcr.io/nvidia/cuda:12.4.1-base", &["nvidia-smi"], &[]);
            c.claims = strings(&["accel"]);
            let mut v = pod(vec![container("busybox", &["sleep", "inf"], &[]), c]);
            v.resource_claims = vec![claim(0, "accel", source.clone(), vec![d.clone()])];
            let name = format!("{} {source:?}", d.device_class);
            cases.push(Case::new(name.clone(), v.clone(), Expect::Gpu));
            cases.push(Case::new(
                format!("{name} approved"),
                approved(v.clone()),
                Expect::NoGpu,
            ));
            // unresolved (the claim object was not found): nothing to judge
            let mut u = v.clone();
            u.resource_claims[0].devices.clear();
            u.resource_claims[0].resolved = false;
            cases.push(Case::new(format!("{name} unresolved"), u, Expect::NoGpu));
        }
    }
    for d in &other_requests {
        let mut v = pod(vec![container("alpine", &["/app"], &[])]);
        v.resource_claims = vec![claim(
            0,
            "dev",
            ClaimSource::Template("t".into()),
            vec![d.clone()],
        )];
        cases.push(Case::new(
            format!("{} twin", d.device_class),
            v,
            Expect::NoGpu,
        ));
    }
    let counts = check(&cases);
    assert_class_size(&counts, 16, 36);
    // the finding names the container using the claim and its field
    let mut c = container("cuda", &["x"], &[]);
    c.claims = strings(&["other", "accel"]);
    let mut v = pod(vec![container("busybox", &[], &[]), c]);
    v.resource_claims = vec![
        claim(
            0,
            "other",
            ClaimSource::Template("nvme".into()),
            vec![device("nvme.example.com", Some(1), &[])],
        ),
        claim(
            1,
            "accel",
            ClaimSource::Template("gpu".into()),
            vec![device("gpu.nvidia.com", Some(2), &[])],
        ),
    ];
    let f = CompiledPolicy::builtin_default().evaluate_offline(&v);
    let hit = f
        .iter()
        .find(|f| f.rule == "builtin/gpu/unapproved")
        .unwrap();
    assert_eq!(hit.container.as_deref(), Some("c1"));
    assert_eq!(hit.field, "spec.containers[1].resources.claims[1]");
    assert!(
        hit.evidence.contains("ResourceClaimTemplate gpu"),
        "{}",
        hit.evidence
    );
}

#[test]
fn class6_claim_objects_are_read_as_json_in_every_version() {
    let v1 = serde_json::json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
        "metadata": {"name": "gpu"}, "spec": {"spec": {"devices": {"requests": [
            {"name": "g", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 2}},
            {"name": "alt", "firstAvailable": [
                {"name": "big", "deviceClassName": "gpu.nvidia.com", "selectors": [{"cel": {"expression": "device.capacity['gpu.nvidia.com'].memory >= quantity('80Gi')"}}]},
                {"name": "small", "deviceClassName": "mig.nvidia.com", "allocationMode": "All"}]}]}}}});
    let r = device_requests(&v1);
    assert_eq!(r.len(), 3);
    assert_eq!(
        (r[0].device_class.as_str(), r[0].count),
        ("gpu.nvidia.com", Some(2))
    );
    assert_eq!(r[1].request, "alt/big");
    assert_eq!(r[1].selectors.len(), 1);
    assert_eq!(
        (r[2].device_class.as_str(), r[2].count),
        ("mig.nvidia.com", None)
    );
    let v1beta1 = serde_json::json!({"apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim",
        "metadata": {"name": "c"}, "spec": {"devices": {"requests": [{"name": "g", "deviceClassName": "gpu.amd.com"}]}}});
    let r = device_requests(&v1beta1);
    assert_eq!(
        (r[0].device_class.as_str(), r[0].count),
        ("gpu.amd.com", Some(1))
    );
    assert!(device_requests(&serde_json::json!({"kind": "Pod"})).is_empty());
    // resolution through the lookup the operator (API) and scan (same input) provide
    let mut view = pod(vec![container("x", &["y"], &[])]);
    view.resource_claims = vec![claim(
        0,
        "accel",
        ClaimSource::Template("gpu".into()),
        vec![],
    )];
    view.resolve_claims(|s| match s {
        ClaimSource::Template(n) if n == "gpu" => Some(device_requests(&v1)),
        _ => None,
    });
    assert!(view.resource_claims[0].resolved);
    let f = CompiledPolicy::builtin_default().evaluate_offline(&view);
    assert!(
        f.iter().any(|f| f.rule == "builtin/gpu/unapproved"),
        "{f:#?}"
    );
}

#[test]
fn fp_gpu_instance_signal_on_an_approved_gpu_pod() {
    let mut cases = Vec::new();
    for it in [
        "p3.8xlarge",
        "p4d.24xlarge",
        "g5.xlarge",
        "g4dn.12xlarge",
        "p5.48xlarge",
    ] {
        for r in ["nvidia.com/gpu", "nvidia.com/mig-1g.5gb", "amd.com/gpu"] {
            let mut v = pod(vec![gpu_container(ContainerKind::Regular, r, "1", true)]);
            v.node_selector
                .insert("node.kubernetes.io/instance-type".into(), it.into());
            cases.push(
                Case::new(
                    format!("{it} {r} approved"),
                    approved(v.clone()),
                    Expect::Benign,
                )
                .also(Expect::NoRule("builtin/node/gpu-instance-type".into())),
            );
            // twin: the same placement without approval
            cases.push(
                Case::new(format!("{it} {r} unapproved"), v, Expect::Gpu)
                    .also(Expect::Rule("builtin/node/gpu-instance-type".into())),
            );
        }
        // no GPU request on a GPU instance: the node signal alone, medium
        let mut v = pod(vec![container("ubuntu", &["/app"], &[])]);
        v.node_selector
            .insert("node.kubernetes.io/instance-type".into(), it.into());
        cases.push(Case::new(
            format!("{it} no gpu"),
            v,
            Expect::Exactly(Severity::Medium),
        ));
    }
    check(&cases);
}

/// Node signals from the node a pod runs on (the operator reads the node's labels): each
/// signal from its label, for a pod that did not select that node itself; context for the
/// pod's other findings, never a case alone; the GPU-instance signal dropped for an approved
/// GPU request; a signal the spec already shows not repeated.
#[test]
fn node_labels_are_context_for_other_findings_never_a_case_alone() {
    use cryptojack::detect::PolicySet;
    let mut spec = CryptojackPolicySpec::default();
    spec.detect.node.allowed_regions = vec!["eu-west-1".into()];
    let set = PolicySet::new(vec![CompiledPolicy::compile("p", &spec).unwrap()]);
    let nodes: Vec<(&str, &str, &str)> = vec![
        (
            "node.kubernetes.io/instance-type",
            "p4d.24xlarge",
            "builtin/node/gpu-instance-type",
        ),
        (
            "beta.kubernetes.io/instance-type",
            "g5.2xlarge",
            "builtin/node/gpu-instance-type",
        ),
        (
            "topology.kubernetes.io/region",
            "ap-southeast-3",
            "builtin/node/region",
        ),
        (
            "failure-domain.beta.kubernetes.io/region",
            "sa-east-1",
            "builtin/node/region",
        ),
        ("karpenter.sh/capacity-type", "spot", "builtin/node/spot"),
        (
            "eks.amazonaws.com/capacityType",
            "SPOT",
            "builtin/node/spot",
        ),
        ("cloud.google.com/gke-spot", "true", "builtin/node/spot"),
        (
            "cloud.google.com/gke-preemptible",
            "true",
            "builtin/node/spot",
        ),
        (
            "kubernetes.azure.com/scalesetpriority",
            "spot",
            "builtin/node/spot",
        ),
    ];
    let ns: BTreeMap<String, String> = BTreeMap::new();
    let miner = pod(vec![container(
        "docker.io/library/alpine:3.20",
        &["/tmp/xmrig", "-o", "stratum+tcp://pool.example:3333"],
        &[],
    )]);
    let benign = pod(vec![container("nginx:1.27", &["nginx"], &[])]);
    let on = |mut v: PodView| {
        v.node_name = Some("ip-10-0-1-7".into());
        v
    };
    let mut checked = 0;
    for (key, value, rule) in &nodes {
        let labels: BTreeMap<String, String> = [
            (key.to_string(), value.to_string()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
        ]
        .into();
        let ctx = EvalContext {
            namespace_labels: NamespaceLabels::Known(&ns),
            workload: None,
            node_labels: Some(&labels),
        };
        // a miner on that node: the node's label is in its findings, on spec.nodeName
        let v = set.evaluate(&on(miner.clone()), &ctx);
        let f = v
            .findings
            .iter()
            .find(|f| f.rule == *rule)
            .unwrap_or_else(|| panic!("{key}={value}: {:?}", v.findings));
        assert_eq!(f.field, "spec.nodeName", "{key}");
        assert!(
            f.evidence.contains(&format!("{key}={value}")),
            "{}",
            f.evidence
        );
        // the label, not the node: a workload's pods on many nodes give one finding per label
        assert!(!f.evidence.contains("ip-10-0-1-7"), "{}", f.evidence);
        assert!(
            f.severity <= Severity::Medium,
            "{key}: context, not a verdict"
        );
        // a benign pod on the same node: nothing
        assert!(
            set.evaluate(&on(benign.clone()), &ctx).is_empty(),
            "{key}={value}"
        );
        // not bound to a node yet: the labels of no node apply
        assert!(
            !set.evaluate(&miner, &ctx)
                .findings
                .iter()
                .any(|f| f.rule == *rule),
            "{key}: unscheduled"
        );
        checked += 1;
    }
    assert_eq!(checked, nodes.len());

    // context never outranks the case: a pod whose only own finding is a low one (a pool-like
    // port) on a GPU instance in a disallowed region stays Low, led by its own finding
    let mut hub = container("selenium/hub:4.25", &["/opt/bin/entry_point.sh"], &[]);
    hub = with_ports(hub, &[4444]);
    let labels: BTreeMap<String, String> = [
        (
            "node.kubernetes.io/instance-type".to_string(),
            "p4d.24xlarge".to_string(),
        ),
        (
            "topology.kubernetes.io/region".to_string(),
            "ap-southeast-3".to_string(),
        ),
    ]
    .into();
    let ctx = EvalContext {
        namespace_labels: NamespaceLabels::Known(&ns),
        workload: None,
        node_labels: Some(&labels),
    };
    let v = set.evaluate(&on(pod(vec![hub])), &ctx);
    assert_eq!(v.severity(), Some(Severity::Low), "{:?}", v.findings);
    assert_eq!(
        v.findings.first().map(|f| f.rule.as_str()),
        Some("builtin/port/stratum-port"),
        "{:?}",
        v.findings
    );
    assert!(
        v.findings
            .iter()
            .any(|f| f.rule == "builtin/node/gpu-instance-type"),
        "still recorded as context: {:?}",
        v.findings
    );
    // and a look-alike registry is not raised by where its pod landed
    let odd = container("docker.io/bitnamii/nginx:1.27", &["nginx"], &[]);
    let v = set.evaluate(&on(pod(vec![odd])), &ctx);
    assert_eq!(v.severity(), Some(Severity::Medium), "{:?}", v.findings);

    // an approved GPU pod on a GPU instance: no instance signal; unapproved: the GPU finding
    // and the instance signal
    let gpu_node: BTreeMap<String, String> = [(
        "node.kubernetes.io/instance-type".to_string(),
        "p5.48xlarge".to_string(),
    )]
    .into();
    let ctx = EvalContext {
        namespace_labels: NamespaceLabels::Known(&ns),
        workload: None,
        node_labels: Some(&gpu_node),
    };
    let gpu_pod = on(pod(vec![gpu_container(
        ContainerKind::Regular,
        "nvidia.com/gpu",
        "8",
        true,
    )]));
    assert!(set.evaluate(&approved(gpu_pod.clone()), &ctx).is_empty());
    let rules: Vec<String> = set
        .evaluate(&gpu_pod, &ctx)
        .findings
        .into_iter()
        .map(|f| f.rule)
        .collect();
    assert!(
        rules.contains(&"builtin/gpu/unapproved".to_string()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"builtin/node/gpu-instance-type".to_string()),
        "{rules:?}"
    );

    // the spec selected the spot node itself: that finding stands alone (the pod's own
    // choice), and the node's identical label is not repeated
    let mut chose = on(benign.clone());
    chose
        .node_selector
        .insert("karpenter.sh/capacity-type".into(), "spot".into());
    let spot: BTreeMap<String, String> =
        [("karpenter.sh/capacity-type".to_string(), "spot".to_string())].into();
    let v = set.evaluate(
        &chose,
        &EvalContext {
            namespace_labels: NamespaceLabels::Known(&ns),
            workload: None,
            node_labels: Some(&spot),
        },
    );
    let spots: Vec<&str> = v
        .findings
        .iter()
        .filter(|f| f.rule == "builtin/node/spot")
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(
        spots,
        ["spec.nodeSelector[\"karpenter.sh/capacity-type\"]"],
        "{:?}",
        v.findings
    );
}
