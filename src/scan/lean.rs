//! The fast path of `scan`: decode only what detection reads, straight from the text into
//! small structs (unknown fields are skipped by the parser, no `serde_json::Value` tree, no
//! typed `k8s-openapi` object), and build the `PodView` from them.
//!
//! Anything this path cannot read (a field of the wrong type, a YAML syntax error) is
//! handed to the typed path ([`super::objects`]), which reports it with the failing field's
//! path; the typed path also decides anything the lean one is unsure of, so results and
//! errors are the same either way.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};

use crate::detect::{
    ClaimSource, ClaimView, ContainerKind, ContainerView, EnvView, ExecView, FieldPath, Handler,
    NodeRequirement, PodView, PortView, TolerationView,
};

/// A quantity as written: a string, or a number in YAML/JSON.
#[derive(Debug, Default)]
pub struct Qty(pub String);

impl<'de> Deserialize<'de> for Qty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Qty, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Qty;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a quantity")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Qty, E> {
                Ok(Qty(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Qty, E> {
                Ok(Qty(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Qty, E> {
                Ok(Qty(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Qty, E> {
                Ok(Qty(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub namespace: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub container_port: i32,
    pub protocol: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ClaimRef {
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Resources {
    pub requests: Option<BTreeMap<String, Qty>>,
    pub limits: Option<BTreeMap<String, Qty>>,
    pub claims: Option<Vec<ClaimRef>>,
}

#[derive(Debug, Deserialize)]
pub struct ExecAction {
    pub command: Option<Vec<String>>,
}

/// A lifecycle handler or a probe: only its `exec` is read.
#[derive(Debug, Deserialize)]
pub struct Handled {
    pub exec: Option<ExecAction>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    pub post_start: Option<Handled>,
    pub pre_stop: Option<Handled>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub env: Option<Vec<EnvVar>>,
    pub ports: Option<Vec<Port>>,
    pub resources: Option<Resources>,
    pub lifecycle: Option<Lifecycle>,
    pub liveness_probe: Option<Handled>,
    pub readiness_probe: Option<Handled>,
    pub startup_probe: Option<Handled>,
}

/// The non-empty exec commands of a container's hooks and probes, as the typed path reads them
/// ([`crate::detect::Handler::ALL`] order).
fn execs(c: &mut Container) -> Vec<ExecView> {
    let lifecycle = c.lifecycle.take();
    let (post_start, pre_stop) = lifecycle.map_or((None, None), |l| (l.post_start, l.pre_stop));
    [
        (Handler::PostStart, post_start),
        (Handler::PreStop, pre_stop),
        (Handler::LivenessProbe, c.liveness_probe.take()),
        (Handler::ReadinessProbe, c.readiness_probe.take()),
        (Handler::StartupProbe, c.startup_probe.take()),
    ]
    .into_iter()
    .filter_map(|(handler, h)| {
        h.and_then(|h| h.exec)
            .and_then(|e| e.command)
            .filter(|c| !c.is_empty())
            .map(|command| ExecView { handler, command })
    })
    .collect()
}

#[derive(Debug, Deserialize)]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Term {
    pub match_expressions: Option<Vec<Requirement>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    pub node_selector_terms: Vec<Term>,
}

#[derive(Debug, Deserialize)]
pub struct Preferred {
    pub preference: Term,
    #[allow(
        dead_code,
        reason = "required by the API: its absence is a decode error"
    )]
    pub weight: i32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    pub preferred_during_scheduling_ignored_during_execution: Option<Vec<Preferred>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
}

#[derive(Debug, Deserialize)]
pub struct Toleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    pub effect: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodClaim {
    pub name: String,
    pub resource_claim_name: Option<String>,
    pub resource_claim_template_name: Option<String>,
}

/// The PodSpec fields detection reads, and the places where workloads keep their pod
/// template (`template`, `jobTemplate`): one struct for every kind's `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub containers: Option<Vec<Container>>,
    pub init_containers: Option<Vec<Container>>,
    pub ephemeral_containers: Option<Vec<Container>>,
    pub node_name: Option<String>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<Affinity>,
    pub tolerations: Option<Vec<Toleration>>,
    pub service_account_name: Option<String>,
    pub resource_claims: Option<Vec<PodClaim>>,
    pub template: Option<Box<Template>>,
    pub job_template: Option<Box<JobTemplate>>,
    /// Required by workload kinds (present or not is all that is checked).
    pub selector: Option<IgnoredAny>,
    pub schedule: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Template {
    pub metadata: Option<Meta>,
    pub spec: Option<Spec>,
}

#[derive(Debug, Deserialize)]
pub struct JobTemplate {
    pub spec: Option<JobSpec>,
}

#[derive(Debug, Deserialize)]
pub struct JobSpec {
    pub template: Option<Template>,
}

/// A document or List item: what every kind needs, and `items` for Lists (`I` is
/// `&RawValue` for JSON, so that items are decoded one at a time).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Top<I> {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Meta>,
    pub spec: Option<Spec>,
    pub template: Option<Template>,
    pub items: Option<Vec<I>>,
}

/// A YAML List item (Lists in Lists are not expanded).
pub type YamlTop = Top<Top<IgnoredAny>>;

/// What a lean object is.
#[derive(Debug)]
pub enum Lean {
    Target(Box<PodView>),
    /// A ResourceClaim or ResourceClaimTemplate (read as JSON by the caller).
    Claim,
    Skipped,
    /// A field the API requires is missing: the typed path reports it.
    Fallback,
}

/// The kinds `scan` evaluates, with where their PodSpec is (`None`: a kind not evaluated).
fn spec_path(kind: &str, api_version: &str) -> Option<&'static [&'static str]> {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let ok = match kind {
        "Pod" | "ReplicationController" | "PodTemplate" => group.is_empty(),
        "Deployment" | "ReplicaSet" | "DaemonSet" => matches!(group, "apps" | "extensions"),
        "StatefulSet" => group == "apps",
        "Job" | "CronJob" => group == "batch",
        _ => false,
    };
    if !ok {
        return None;
    }
    Some(match kind {
        "Pod" => &["spec"],
        "PodTemplate" => &["template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &["spec", "template", "spec"],
    })
}

/// Whether a kind is a DRA claim object.
pub fn is_claim_kind(kind: &str, api_version: &str) -> bool {
    matches!(kind, "ResourceClaim" | "ResourceClaimTemplate")
        && api_version.starts_with("resource.k8s.io/")
}

fn containers(kind: ContainerKind, list: Vec<Container>, out: &mut Vec<ContainerView>) {
    for (index, mut c) in list.into_iter().enumerate() {
        let execs = execs(&mut c);
        let res = c.resources.unwrap_or_default();
        let qty = |m: Option<BTreeMap<String, Qty>>| {
            m.map(|m| m.into_iter().map(|(k, v)| (k, v.0)).collect())
                .unwrap_or_default()
        };
        out.push(ContainerView {
            kind,
            index,
            name: c.name,
            image: c.image.unwrap_or_default(),
            command: c.command.unwrap_or_default(),
            args: c.args.unwrap_or_default(),
            env: c
                .env
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, e)| {
                    e.value.map(|value| EnvView {
                        index: i,
                        name: e.name,
                        value,
                    })
                })
                .collect(),
            ports: c
                .ports
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, p)| PortView {
                    index: i,
                    container_port: p.container_port,
                    protocol: p.protocol,
                    name: p.name,
                })
                .collect(),
            requests: qty(res.requests),
            limits: qty(res.limits),
            claims: res.claims.into_iter().flatten().map(|c| c.name).collect(),
            execs,
        });
    }
}

/// Builds the view of a PodSpec; name and namespace from `owner`, labels from `labels`.
fn view(
    kind: &str,
    owner: &Meta,
    labels: Option<BTreeMap<String, String>>,
    spec: Spec,
    path: &[&'static str],
) -> PodView {
    let mut cs = Vec::new();
    containers(
        ContainerKind::Init,
        spec.init_containers.unwrap_or_default(),
        &mut cs,
    );
    containers(
        ContainerKind::Regular,
        spec.containers.unwrap_or_default(),
        &mut cs,
    );
    containers(
        ContainerKind::Ephemeral,
        spec.ephemeral_containers.unwrap_or_default(),
        &mut cs,
    );
    let mut node_affinity = Vec::new();
    if let Some(na) = spec.affinity.and_then(|a| a.node_affinity) {
        let required = na
            .required_during_scheduling_ignored_during_execution
            .map(|s| s.node_selector_terms)
            .unwrap_or_default();
        let preferred = na
            .preferred_during_scheduling_ignored_during_execution
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.preference);
        for term in required.into_iter().chain(preferred) {
            for e in term.match_expressions.unwrap_or_default() {
                node_affinity.push(NodeRequirement {
                    key: e.key,
                    operator: e.operator,
                    values: e.values.unwrap_or_default(),
                });
            }
        }
    }
    PodView {
        kind: kind.to_string(),
        name: owner
            .name
            .clone()
            .or_else(|| owner.generate_name.clone())
            .unwrap_or_default(),
        namespace: owner.namespace.clone(),
        labels: labels.unwrap_or_default(),
        annotations: BTreeMap::new(),
        service_account: spec.service_account_name,
        spec_path: FieldPath::fields(path),
        containers: cs,
        resource_claims: spec
            .resource_claims
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, c)| ClaimView {
                index,
                name: c.name,
                source: match (c.resource_claim_name, c.resource_claim_template_name) {
                    (Some(n), _) => ClaimSource::Claim(n),
                    (None, Some(t)) => ClaimSource::Template(t),
                    (None, None) => ClaimSource::Unknown,
                },
                devices: Vec::new(),
                resolved: false,
            })
            .collect(),
        node_name: spec.node_name,
        node_selector: spec.node_selector.unwrap_or_default(),
        node_affinity,
        tolerations: spec
            .tolerations
            .unwrap_or_default()
            .into_iter()
            .map(|t| TolerationView {
                key: t.key,
                operator: t.operator,
                value: t.value,
                effect: t.effect,
            })
            .collect(),
    }
}

/// Classifies a decoded object. `inherit`: kind and apiVersion a typed List gives its items.
pub fn object<I>(top: Top<I>, inherit: Option<(&str, Option<&str>)>) -> Lean {
    let kind = top
        .kind
        .as_deref()
        .or(inherit.map(|(k, _)| k))
        .unwrap_or_default()
        .to_string();
    let api = top
        .api_version
        .as_deref()
        .or(inherit.and_then(|(_, a)| a))
        .unwrap_or_default()
        .to_string();
    if is_claim_kind(&kind, &api) {
        return Lean::Claim;
    }
    // a kind without apiVersion is read as its current version (as the typed path does)
    let api_for_check = if top.api_version.is_none() && inherit.and_then(|(_, a)| a).is_none() {
        match kind.as_str() {
            "Pod" | "ReplicationController" | "PodTemplate" => "v1",
            "Job" | "CronJob" => "batch/v1",
            _ => "apps/v1",
        }
    } else {
        api.as_str()
    };
    let Some(path) = spec_path(&kind, api_for_check) else {
        // another kind with a pod template (`spec.template.spec.containers`: Argo Rollouts,
        // Knative Services, ...) is evaluated as a workload of its kind, as the typed path does
        let template = top.spec.and_then(|s| s.template);
        return match template {
            Some(t)
                if !kind.is_empty() && t.spec.as_ref().is_some_and(|s| s.containers.is_some()) =>
            {
                let meta = top.metadata.unwrap_or_default();
                let labels = t.metadata.and_then(|m| m.labels);
                let spec = t.spec.unwrap_or_default();
                Lean::Target(Box::new(view(
                    &kind,
                    &meta,
                    labels,
                    spec,
                    &["spec", "template", "spec"],
                )))
            }
            _ => Lean::Skipped,
        };
    };
    let meta = top.metadata.unwrap_or_default();
    // the fields the typed API objects require on the way to the PodSpec
    let spec = top.spec;
    let (labels, spec) = match kind.as_str() {
        "Pod" => (meta.labels.clone(), spec),
        "PodTemplate" => match top.template {
            Some(t) => (t.metadata.and_then(|m| m.labels), t.spec),
            None => (None, None),
        },
        "CronJob" => match spec {
            None => (None, None),
            Some(s) => {
                if s.schedule.is_none() {
                    return Lean::Fallback;
                }
                let Some(job) = s.job_template else {
                    return Lean::Fallback;
                };
                match job.spec {
                    None => (None, None),
                    Some(js) => match js.template {
                        Some(t) => (t.metadata.and_then(|m| m.labels), t.spec),
                        None => return Lean::Fallback,
                    },
                }
            }
        },
        other => match spec {
            None => (None, None),
            Some(s) => {
                let needs_selector = matches!(
                    other,
                    "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
                );
                let needs_template =
                    matches!(other, "Deployment" | "StatefulSet" | "DaemonSet" | "Job");
                if (needs_selector && s.selector.is_none())
                    || (needs_template && s.template.is_none())
                {
                    return Lean::Fallback;
                }
                match s.template {
                    Some(t) => (t.metadata.and_then(|m| m.labels), t.spec),
                    None => (None, None),
                }
            }
        },
    };
    // a PodSpec, when there is one, must list its containers
    let spec = match spec {
        Some(s) if s.containers.is_none() => return Lean::Fallback,
        Some(s) => s,
        None => Spec {
            containers: Some(Vec::new()),
            ..Spec::default()
        },
    };
    Lean::Target(Box::new(view(&kind, &meta, labels, spec, path)))
}

/// Whether a document's kind is a List (`List`, `PodList`, ...).
pub fn is_list_kind(kind: &str) -> bool {
    kind == "List" || (kind.ends_with("List") && kind.len() > 4)
}
