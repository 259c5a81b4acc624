//! `PodView`: the part of a Pod (or of a workload's pod template) that detection needs.
//!
//! Built from typed `k8s-openapi` objects; holds owned strings so that it can be
//! built once and evaluated against several policies.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::path::FieldPath;

/// Where a container sits in the pod spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    #[default]
    Regular,
    Ephemeral,
}

impl ContainerKind {
    /// The PodSpec field holding this kind of container.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Init => "initContainers",
            ContainerKind::Regular => "containers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// A literal environment variable (`valueFrom` is not resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvView {
    /// Index in the container's `env` list.
    pub index: usize,
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortView {
    /// Index in the container's `ports` list.
    pub index: usize,
    pub container_port: i32,
    pub protocol: Option<String>,
    pub name: Option<String>,
}

/// A command the kubelet runs in the container besides its entrypoint: a lifecycle hook or an
/// exec probe. A miner started from a `postStart` hook, or re-spawned by a liveness probe,
/// runs as surely as one in `command`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Handler {
    PostStart,
    PreStop,
    LivenessProbe,
    ReadinessProbe,
    StartupProbe,
}

impl Handler {
    pub const ALL: [Handler; 5] = [
        Handler::PostStart,
        Handler::PreStop,
        Handler::LivenessProbe,
        Handler::ReadinessProbe,
        Handler::StartupProbe,
    ];

    /// The path of the exec command within the container, e.g. `lifecycle.postStart.exec.command`.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            Handler::PostStart => &["lifecycle", "postStart", "exec", "command"],
            Handler::PreStop => &["lifecycle", "preStop", "exec", "command"],
            Handler::LivenessProbe => &["livenessProbe", "exec", "command"],
            Handler::ReadinessProbe => &["readinessProbe", "exec", "command"],
            Handler::StartupProbe => &["startupProbe", "exec", "command"],
        }
    }
}

/// The exec command of a lifecycle hook or probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecView {
    pub handler: Handler,
    pub command: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerView {
    pub kind: ContainerKind,
    /// Index within its list (`initContainers`, `containers` or `ephemeralContainers`).
    pub index: usize,
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<EnvView>,
    pub ports: Vec<PortView>,
    /// Resource requests as written (quantity strings).
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
    /// Names of the pod's resource claims this container uses (`resources.claims[].name`),
    /// in order.
    pub claims: Vec<String>,
    /// The exec commands of its lifecycle hooks and probes (non-empty ones, in [`Handler::ALL`]
    /// order).
    pub execs: Vec<ExecView>,
}

impl ContainerView {
    /// Field path of this container, e.g. `spec.initContainers[0]`.
    pub fn path(&self, spec_path: &FieldPath) -> FieldPath {
        spec_path.field(self.kind.field()).index(self.index)
    }
}

/// What a pod's resource claim refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimSource {
    /// `resourceClaimName`: an existing ResourceClaim in the pod's namespace.
    Claim(String),
    /// `resourceClaimTemplateName`: a ResourceClaimTemplate the claim is generated from.
    Template(String),
    /// Neither is set (the API server would not accept it).
    Unknown,
}

/// One device request of a ResourceClaim (or of a ResourceClaimTemplate's claim spec).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceRequestView {
    /// The request's name (for `firstAvailable` alternatives: `request/subrequest`).
    pub request: String,
    pub device_class: String,
    /// Devices asked for; `None` for `allocationMode: All`.
    pub count: Option<i64>,
    /// The CEL selector expressions (they may pin a driver: `device.driver == "gpu.nvidia.com"`).
    pub selectors: Vec<String>,
}

/// A pod's claim on devices through Dynamic Resource Allocation (`spec.resourceClaims[i]`),
/// with what it asks for once the ResourceClaim or ResourceClaimTemplate is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimView {
    /// Index in `spec.resourceClaims`.
    pub index: usize,
    /// The pod's name for the claim (what containers list in `resources.claims`).
    pub name: String,
    pub source: ClaimSource,
    /// The device requests, once resolved (see [`PodView::resolve_claims`]).
    pub devices: Vec<DeviceRequestView>,
    /// Whether `devices` was filled from the claim object (false: not looked up or not found).
    pub resolved: bool,
}

/// The device requests of a `resource.k8s.io` ResourceClaim or ResourceClaimTemplate given
/// as JSON (v1, v1beta2: `exactly` and `firstAvailable`; v1beta1: fields on the request);
/// empty for other objects.
pub fn device_requests(object: &Value) -> Vec<DeviceRequestView> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let spec = match kind {
        "ResourceClaimTemplate" => object.pointer("/spec/spec"),
        _ => object.get("spec"),
    };
    let Some(requests) = spec
        .and_then(|s| s.pointer("/devices/requests"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let one = |name: String, r: &Value| -> Option<DeviceRequestView> {
        let class = r.get("deviceClassName").and_then(Value::as_str)?;
        let all = r.get("allocationMode").and_then(Value::as_str) == Some("All");
        let count = if all {
            None
        } else {
            Some(r.get("count").and_then(Value::as_i64).unwrap_or(1))
        };
        let selectors = r
            .get("selectors")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.pointer("/cel/expression").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Some(DeviceRequestView {
            request: name,
            device_class: class.to_string(),
            count,
            selectors,
        })
    };
    let mut out = Vec::new();
    for r in requests {
        let name = r
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(ex) = r.get("exactly") {
            out.extend(one(name.clone(), ex));
        }
        if let Some(alts) = r.get("firstAvailable").and_then(Value::as_array) {
            for a in alts {
                let sub = a.get("name").and_then(Value::as_str).unwrap_or_default();
                out.extend(one(format!("{name}/{sub}"), a));
            }
        }
        if r.get("exactly").is_none() && r.get("firstAvailable").is_none() {
            out.extend(one(name, r));
        }
    }
    out
}

/// A node affinity requirement (`requiredDuringScheduling...` and `preferred...` alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRequirement {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TolerationView {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    pub effect: Option<String>,
}

/// What the caller knows of the pod's namespace labels. Deliberately without a default:
/// every caller says whether it knows them (an operator that forgot to look them up must
/// not silently match every namespace selector).
#[derive(Clone, Copy, Debug)]
pub enum NamespaceLabels<'a> {
    /// The namespace's labels.
    Known(&'a BTreeMap<String, String>),
    /// Not known (offline `scan`): a namespace selector is treated as matching, so that
    /// scans err on the side of reporting, and a namespace GPU approval as absent.
    UnknownAssumeMatch,
}

/// The verified top-level owner of a pod (the pod itself for a bare pod).
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    pub kind: &'a str,
    pub name: &'a str,
}

/// What a caller knows beyond the pod spec.
#[derive(Clone, Copy, Debug)]
pub struct EvalContext<'a> {
    pub namespace_labels: NamespaceLabels<'a>,
    /// The top-level owner when known; exemptions (which name workloads) apply only then.
    pub workload: Option<Workload<'a>>,
    /// The labels of the node the pod is bound to (`spec.nodeName`), when known: a pod with
    /// no node selection that lands on a GPU instance, a spot node or a node outside the
    /// allowed regions shows the node signals the spec alone does not.
    pub node_labels: Option<&'a BTreeMap<String, String>>,
}

impl<'a> EvalContext<'a> {
    /// Offline scan of a manifest: labels unknown, the object is its own workload.
    pub fn offline(view: &'a PodView) -> EvalContext<'a> {
        EvalContext {
            namespace_labels: NamespaceLabels::UnknownAssumeMatch,
            workload: Some(Workload {
                kind: &view.kind,
                name: &view.name,
            }),
            node_labels: None,
        }
    }
}

/// What detection sees of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodView {
    /// Kind of the object this view was built from (`Pod`, `Deployment`, ...).
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// Labels the pod carries (for a workload: its pod template's labels).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub service_account: Option<String>,
    /// Path of the PodSpec in the source object: `spec`, `spec.template.spec`,
    /// `spec.jobTemplate.spec.template.spec`, `template.spec`.
    pub spec_path: FieldPath,
    pub containers: Vec<ContainerView>,
    /// The pod's resource claims (Dynamic Resource Allocation).
    pub resource_claims: Vec<ClaimView>,
    pub node_name: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    pub node_affinity: Vec<NodeRequirement>,
    pub tolerations: Vec<TolerationView>,
}

impl PodView {
    /// Fills in what each resource claim asks for: `lookup` returns the device requests of
    /// the named ResourceClaim or ResourceClaimTemplate in the pod's namespace (from the
    /// API in the operator, from the other documents of the input in `scan`), `None` when
    /// it is not known.
    pub fn resolve_claims(
        &mut self,
        mut lookup: impl FnMut(&ClaimSource) -> Option<Vec<DeviceRequestView>>,
    ) {
        for c in &mut self.resource_claims {
            if let Some(devices) = lookup(&c.source) {
                c.devices = devices;
                c.resolved = true;
            }
        }
    }

    /// A view of a Pod.
    pub fn from_pod(pod: &Pod) -> PodView {
        let empty = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&empty);
        let mut view = PodView::from_spec("Pod", &pod.metadata, spec, FieldPath::fields(&["spec"]));
        view.labels = pod.metadata.labels.clone().unwrap_or_default();
        view.annotations = pod.metadata.annotations.clone().unwrap_or_default();
        view
    }

    /// A view of a workload's pod template. `owner` is the workload's metadata (name and
    /// namespace come from it), labels and annotations from the template.
    pub fn from_template(
        kind: &str,
        owner: &ObjectMeta,
        template: &PodTemplateSpec,
        spec_path: FieldPath,
    ) -> PodView {
        let empty = PodSpec::default();
        let spec = template.spec.as_ref().unwrap_or(&empty);
        let mut view = PodView::from_spec(kind, owner, spec, spec_path);
        if let Some(meta) = &template.metadata {
            view.labels = meta.labels.clone().unwrap_or_default();
            view.annotations = meta.annotations.clone().unwrap_or_default();
        }
        view
    }

    /// A view from any PodSpec; labels and annotations start empty.
    pub fn from_spec(
        kind: &str,
        meta: &ObjectMeta,
        spec: &PodSpec,
        spec_path: FieldPath,
    ) -> PodView {
        let mut containers = Vec::new();
        for (i, c) in spec.init_containers.iter().flatten().enumerate() {
            containers.push(container_view(ContainerKind::Init, i, c));
        }
        for (i, c) in spec.containers.iter().enumerate() {
            containers.push(container_view(ContainerKind::Regular, i, c));
        }
        for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
            containers.push(ephemeral_view(i, c));
        }
        let mut node_affinity = Vec::new();
        if let Some(na) = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
        {
            let required = na
                .required_during_scheduling_ignored_during_execution
                .iter()
                .flat_map(|s| s.node_selector_terms.iter());
            let preferred = na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .map(|p| &p.preference);
            for term in required.chain(preferred) {
                for e in term.match_expressions.iter().flatten() {
                    node_affinity.push(NodeRequirement {
                        key: e.key.clone(),
                        operator: e.operator.clone(),
                        values: e.values.clone().unwrap_or_default(),
                    });
                }
            }
        }
        PodView {
            kind: kind.to_string(),
            name: meta
                .name
                .clone()
                .or_else(|| meta.generate_name.clone())
                .unwrap_or_default(),
            namespace: meta.namespace.clone(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            service_account: spec.service_account_name.clone(),
            spec_path,
            containers,
            resource_claims: spec
                .resource_claims
                .iter()
                .flatten()
                .enumerate()
                .map(|(index, c)| ClaimView {
                    index,
                    name: c.name.clone(),
                    source: match (&c.resource_claim_name, &c.resource_claim_template_name) {
                        (Some(n), _) => ClaimSource::Claim(n.clone()),
                        (None, Some(t)) => ClaimSource::Template(t.clone()),
                        (None, None) => ClaimSource::Unknown,
                    },
                    devices: Vec::new(),
                    resolved: false,
                })
                .collect(),
            node_name: spec.node_name.clone(),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            node_affinity,
            tolerations: spec
                .tolerations
                .iter()
                .flatten()
                .map(|t| TolerationView {
                    key: t.key.clone(),
                    operator: t.operator.clone(),
                    value: t.value.clone(),
                    effect: t.effect.clone(),
                })
                .collect(),
        }
    }
}

fn quantities(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn build_container(
    kind: ContainerKind,
    index: usize,
    name: &str,
    image: Option<&String>,
    command: Option<&Vec<String>>,
    args: Option<&Vec<String>>,
    env: Option<&Vec<k8s_openapi::api::core::v1::EnvVar>>,
    ports: Option<&Vec<k8s_openapi::api::core::v1::ContainerPort>>,
    resources: Option<&k8s_openapi::api::core::v1::ResourceRequirements>,
    execs: Vec<ExecView>,
) -> ContainerView {
    ContainerView {
        execs,
        kind,
        index,
        name: name.to_string(),
        image: image.cloned().unwrap_or_default(),
        command: command.cloned().unwrap_or_default(),
        args: args.cloned().unwrap_or_default(),
        env: env
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, e)| {
                e.value.as_ref().map(|v| EnvView {
                    index: i,
                    name: e.name.clone(),
                    value: v.clone(),
                })
            })
            .collect(),
        ports: ports
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| PortView {
                index: i,
                container_port: p.container_port,
                protocol: p.protocol.clone(),
                name: p.name.clone(),
            })
            .collect(),
        requests: quantities(resources.and_then(|r| r.requests.as_ref())),
        limits: quantities(resources.and_then(|r| r.limits.as_ref())),
        claims: resources
            .and_then(|r| r.claims.as_ref())
            .map(|c| c.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default(),
    }
}

/// The non-empty exec commands of a container's hooks and probes.
pub fn execs(
    lifecycle: Option<&k8s_openapi::api::core::v1::Lifecycle>,
    probes: [Option<&k8s_openapi::api::core::v1::Probe>; 3],
) -> Vec<ExecView> {
    let hook = |h: Option<&k8s_openapi::api::core::v1::LifecycleHandler>| {
        h.and_then(|h| h.exec.as_ref())
            .and_then(|e| e.command.clone())
    };
    let [liveness, readiness, startup] = probes;
    let probe = |p: Option<&k8s_openapi::api::core::v1::Probe>| {
        p.and_then(|p| p.exec.as_ref())
            .and_then(|e| e.command.clone())
    };
    [
        (
            Handler::PostStart,
            hook(lifecycle.and_then(|l| l.post_start.as_ref())),
        ),
        (
            Handler::PreStop,
            hook(lifecycle.and_then(|l| l.pre_stop.as_ref())),
        ),
        (Handler::LivenessProbe, probe(liveness)),
        (Handler::ReadinessProbe, probe(readiness)),
        (Handler::StartupProbe, probe(startup)),
    ]
    .into_iter()
    .filter_map(|(handler, command)| {
        command
            .filter(|c| !c.is_empty())
            .map(|command| ExecView { handler, command })
    })
    .collect()
}

fn container_view(kind: ContainerKind, index: usize, c: &Container) -> ContainerView {
    build_container(
        kind,
        index,
        &c.name,
        c.image.as_ref(),
        c.command.as_ref(),
        c.args.as_ref(),
        c.env.as_ref(),
        c.ports.as_ref(),
        c.resources.as_ref(),
        execs(
            c.lifecycle.as_ref(),
            [
                c.liveness_probe.as_ref(),
                c.readiness_probe.as_ref(),
                c.startup_probe.as_ref(),
            ],
        ),
    )
}

fn ephemeral_view(index: usize, c: &EphemeralContainer) -> ContainerView {
    build_container(
        ContainerKind::Ephemeral,
        index,
        &c.name,
        c.image.as_ref(),
        c.command.as_ref(),
        c.args.as_ref(),
        c.env.as_ref(),
        c.ports.as_ref(),
        c.resources.as_ref(),
        execs(
            c.lifecycle.as_ref(),
            [
                c.liveness_probe.as_ref(),
                c.readiness_probe.as_ref(),
                c.startup_probe.as_ref(),
            ],
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator's view of a Pod (typed, from the API) carries every hook and exec probe,
    /// and leaves out handlers that are not exec (httpGet, tcpSocket, sleep).
    #[test]
    fn a_pods_view_carries_its_hooks_and_exec_probes() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "a"]}},
                              "preStop": {"sleep": {"seconds": 5}}},
                "livenessProbe": {"httpGet": {"port": 8080}},
                "readinessProbe": {"exec": {"command": ["r"]}},
                "startupProbe": {"exec": {"command": []}}}],
              "ephemeralContainers": [{"name": "e", "image": "busybox",
                "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}}]}
        }))
        .expect("pod");
        let v = PodView::from_pod(&pod);
        let execs: Vec<(Handler, Vec<String>)> = v
            .containers
            .iter()
            .flat_map(|c| c.execs.iter().map(|e| (e.handler, e.command.clone())))
            .collect();
        assert_eq!(
            execs,
            vec![
                (
                    Handler::PostStart,
                    vec!["sh".into(), "-c".into(), "a".into()]
                ),
                (Handler::ReadinessProbe, vec!["r".into()]),
                (Handler::PreStop, vec!["x".into()]),
            ]
        );
    }
}
