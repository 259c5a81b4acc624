//! Pod-level signals: GPU requests without the approval label, and node signals (GPU
//! instance types, regions outside the allowed list, spot capacity).

use std::collections::BTreeMap;

use super::error::FieldError;
use super::glob::{Case, Globs};
use super::path::FieldPath;
use super::view::{DeviceRequestView, NamespaceLabels, PodView};
use crate::api::{ApprovalFrom, GpuRule, NodeSignals};

/// Node labels naming the instance type.
pub const INSTANCE_TYPE_KEYS: &[&str] = &[
    "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/instance-type",
];
/// Node labels naming the region.
pub const REGION_KEYS: &[&str] = &[
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/region",
];
/// Node labels (and the value, compared case-insensitively) that select spot/preemptible capacity.
pub const SPOT_LABELS: &[(&str, &str)] = &[
    ("karpenter.sh/capacity-type", "spot"),
    ("eks.amazonaws.com/capacityType", "spot"),
    ("cloud.google.com/gke-spot", "true"),
    ("cloud.google.com/gke-preemptible", "true"),
    ("kubernetes.azure.com/scalesetpriority", "spot"),
];

/// Whether a Kubernetes quantity string is greater than zero. Unparseable quantities count as
/// positive: the API server would not have accepted them, so they are suspicious anyway.
pub(crate) fn quantity_positive(q: &str) -> bool {
    let q = q.trim();
    let num_end = q
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E')))
        .unwrap_or(q.len());
    // `1e3` is a number, `1E` (exa) a suffix: try the longest numeric prefix that parses.
    let mut end = num_end;
    while end > 0 {
        if let Ok(v) = q[..end].parse::<f64>() {
            return v > 0.0;
        }
        end -= 1;
    }
    true
}

#[derive(Clone, Debug)]
pub(crate) struct GpuCheck {
    /// Exact resource names (looked up directly) and globs (matched against every
    /// resource the container names).
    exact: Vec<String>,
    globs: Option<Globs>,
    label: String,
    value: String,
    from: ApprovalFrom,
}

/// A GPU request without approval: (container index, field, evidence).
pub(crate) type GpuHit = (usize, FieldPath, String);

/// Words in a DRA device class name (or a selector's driver) that mean a GPU.
const GPU_CLASS_TOKENS: &[&str] = &["gpu", "gpus", "vgpu", "mig", "igpu", "dgpu"];

impl GpuCheck {
    pub(crate) fn new(rule: &GpuRule, errors: &mut Vec<FieldError>) -> Option<GpuCheck> {
        if !rule.enabled {
            return None;
        }
        if rule.approval_label.trim().is_empty() {
            errors.push(FieldError::new(
                "spec.detect.gpu.approvalLabel",
                "must not be empty",
            ));
        }
        let mut exact = Vec::new();
        let mut patterns: Vec<(usize, &str)> = Vec::new();
        for (i, r) in rule.resources.iter().enumerate() {
            if r.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("spec.detect.gpu.resources[{i}]"),
                    "empty resource name",
                ));
            } else if r.contains(['*', '?', '[', '\\']) {
                patterns.push((i, r));
            } else {
                exact.push(r.clone());
            }
        }
        let globs = if patterns.is_empty() {
            None
        } else {
            let list: Vec<&str> = patterns.iter().map(|(_, p)| *p).collect();
            match Globs::new(&list, Case::Sensitive) {
                Ok(g) => Some(g),
                Err(bad) => {
                    for e in bad {
                        errors.push(FieldError::new(
                            format!("spec.detect.gpu.resources[{}]", patterns[e.index].0),
                            format!("invalid glob: {}", e.message),
                        ));
                    }
                    None
                }
            }
        };
        Some(GpuCheck {
            exact,
            globs,
            label: rule.approval_label.clone(),
            value: rule.approval_value.clone(),
            from: rule.approval_from,
        })
    }

    /// Whether `resource` counts as a GPU.
    pub(crate) fn is_gpu(&self, resource: &str) -> bool {
        self.exact.iter().any(|r| r == resource)
            || self.globs.as_ref().is_some_and(|g| g.is_match(resource))
    }

    /// Whether a DRA device request asks for a GPU: its device class is one of the policy's
    /// GPU resources (name or glob), or the class or a selector names a GPU (`gpu.nvidia.com`,
    /// `mig.nvidia.com`, `gpu.amd.com`, `device.driver == "gpu.intel.com"`).
    pub(crate) fn is_gpu_request(&self, d: &DeviceRequestView) -> bool {
        let gpu_word = |s: &str| {
            s.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|t| GPU_CLASS_TOKENS.iter().any(|g| g.eq_ignore_ascii_case(t)))
        };
        self.is_gpu(&d.device_class)
            || gpu_word(&d.device_class)
            || d.selectors
                .iter()
                .any(|e| e.split('"').skip(1).step_by(2).any(gpu_word))
    }

    pub(crate) fn approved(&self, view: &PodView, ns: NamespaceLabels<'_>) -> bool {
        let pod = view.labels.get(&self.label) == Some(&self.value);
        let namespace = match ns {
            NamespaceLabels::Known(l) => l.get(&self.label) == Some(&self.value),
            NamespaceLabels::UnknownAssumeMatch => false,
        };
        match self.from {
            ApprovalFrom::Pod => pod,
            ApprovalFrom::Namespace => namespace,
            ApprovalFrom::PodAndNamespace => pod && namespace,
        }
    }

    /// The first GPU request of a pod, unless `approved` (asked only when there is one).
    pub(crate) fn check(&self, view: &PodView, approved: impl Fn() -> bool) -> Option<GpuHit> {
        let without = || {
            let whose = match self.from {
                ApprovalFrom::Pod => "label",
                ApprovalFrom::Namespace => "namespace label",
                ApprovalFrom::PodAndNamespace => "pod and namespace label",
            };
            format!("without {whose} {}={}", self.label, self.value)
        };
        for (ci, c) in view.containers.iter().enumerate() {
            for (what, map) in [("requests", &c.requests), ("limits", &c.limits)] {
                for (r, q) in map {
                    if self.is_gpu(r) && quantity_positive(q) {
                        if approved() {
                            return None;
                        }
                        let field = c
                            .path(&view.spec_path)
                            .field("resources")
                            .field(what)
                            .key(r.as_str());
                        return Some((ci, field, format!("{r}: {q} {}", without())));
                    }
                }
            }
        }
        // Dynamic Resource Allocation: a claim whose device class is a GPU
        for claim in &view.resource_claims {
            let Some(d) = claim
                .devices
                .iter()
                .find(|d| self.is_gpu_request(d) && d.count.is_none_or(|n| n > 0))
            else {
                continue;
            };
            if approved() {
                return None;
            }
            let count = d.count.map_or("all".to_string(), |n| n.to_string());
            let source = match &claim.source {
                super::view::ClaimSource::Claim(n) => format!("ResourceClaim {n}"),
                super::view::ClaimSource::Template(n) => format!("ResourceClaimTemplate {n}"),
                super::view::ClaimSource::Unknown => "a claim".to_string(),
            };
            let evidence = format!(
                "resourceClaims {} ({source}): {count} x {} {}",
                claim.name,
                d.device_class,
                without()
            );
            // the first container using the claim, else the first container
            let user = view.containers.iter().enumerate().find_map(|(ci, c)| {
                c.claims.iter().position(|n| *n == claim.name).map(|j| {
                    (
                        ci,
                        c.path(&view.spec_path)
                            .field("resources")
                            .field("claims")
                            .index(j),
                    )
                })
            });
            let (ci, field) = match user {
                Some(u) => u,
                None if !view.containers.is_empty() => {
                    (0, view.spec_path.field("resourceClaims").index(claim.index))
                }
                None => continue,
            };
            return Some((ci, field, evidence));
        }
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeSignal {
    InstanceType,
    Region,
    Spot,
}

#[derive(Clone, Debug)]
pub(crate) struct NodeCheck {
    instance_types: Option<Globs>,
    allowed_regions: Vec<String>,
    flag_spot: bool,
}

impl NodeCheck {
    pub(crate) fn new(n: &NodeSignals, errors: &mut Vec<FieldError>) -> NodeCheck {
        let instance_types = if n.gpu_instance_types.is_empty() {
            None
        } else {
            match Globs::new(&n.gpu_instance_types, Case::Insensitive) {
                Ok(g) => Some(g),
                Err(bad) => {
                    for e in bad {
                        errors.push(FieldError::new(
                            format!("spec.detect.node.gpuInstanceTypes[{}]", e.index),
                            format!("invalid glob: {}", e.message),
                        ));
                    }
                    None
                }
            }
        };
        NodeCheck {
            instance_types,
            allowed_regions: n.allowed_regions.clone(),
            flag_spot: n.flag_spot,
        }
    }

    pub(crate) fn active(&self, s: NodeSignal) -> bool {
        match s {
            NodeSignal::InstanceType => self.instance_types.is_some(),
            NodeSignal::Region => !self.allowed_regions.is_empty(),
            NodeSignal::Spot => self.flag_spot,
        }
    }

    fn judge(&self, key: &str, values: &[String]) -> Option<NodeSignal> {
        if INSTANCE_TYPE_KEYS.contains(&key)
            && let Some(set) = &self.instance_types
            && values.iter().any(|v| set.is_match(v))
        {
            return Some(NodeSignal::InstanceType);
        }
        if REGION_KEYS.contains(&key)
            && !self.allowed_regions.is_empty()
            && values.iter().any(|v| {
                !self
                    .allowed_regions
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(v))
            })
        {
            return Some(NodeSignal::Region);
        }
        if self.flag_spot
            && SPOT_LABELS
                .iter()
                .any(|(k, want)| *k == key && values.iter().any(|v| v.eq_ignore_ascii_case(want)))
        {
            return Some(NodeSignal::Spot);
        }
        None
    }

    /// Node signals of a pod: (signal, field path, evidence), from its node selection and
    /// tolerations, then from the labels of the node it runs on (`node_labels`, when known)
    /// for a signal the spec did not show.
    pub(crate) fn check(
        &self,
        view: &PodView,
        node_labels: Option<&BTreeMap<String, String>>,
    ) -> Vec<(NodeSignal, FieldPath, String)> {
        let sp = &view.spec_path;
        let mut out = Vec::new();
        for (k, v) in &view.node_selector {
            if let Some(s) = self.judge(k, std::slice::from_ref(v)) {
                out.push((
                    s,
                    sp.field("nodeSelector").key(k.as_str()),
                    format!("nodeSelector {k}={v}"),
                ));
            }
        }
        for r in &view.node_affinity {
            if r.operator == "In"
                && let Some(s) = self.judge(&r.key, &r.values)
            {
                out.push((
                    s,
                    sp.field("affinity").field("nodeAffinity"),
                    format!("nodeAffinity {} In [{}]", r.key, r.values.join(", ")),
                ));
            }
        }
        if self.flag_spot {
            for (i, t) in view.tolerations.iter().enumerate() {
                let Some(key) = t.key.as_deref() else {
                    continue;
                };
                let Some((_, want)) = SPOT_LABELS.iter().find(|(k, _)| *k == key) else {
                    continue;
                };
                let exists = t.operator.as_deref() == Some("Exists");
                let value = t.value.as_deref().unwrap_or_default();
                if exists || value.eq_ignore_ascii_case(want) {
                    out.push((
                        NodeSignal::Spot,
                        sp.field("tolerations").index(i),
                        format!("toleration {key}={value}"),
                    ));
                }
            }
        }
        if let (Some(labels), Some(_)) = (node_labels, view.node_name.as_deref()) {
            // the evidence names the label, not the node: the pods of one workload on many
            // nodes give one finding (each pod's node is in the incident's pod list)
            for (k, v) in labels {
                if let Some(s) = self.judge(k, std::slice::from_ref(v))
                    && !out.iter().any(|o| o.0 == s)
                {
                    out.push((
                        s,
                        sp.field("nodeName"),
                        format!("runs on a node labelled {k}={v}"),
                    ));
                }
            }
        }
        for o in &mut out {
            o.2 = super::wallet::truncate_chars(&o.2, super::wallet::MAX_EVIDENCE_CHARS);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for q in ["1", "4", "500m", "0.5", "1e3", "2Ki", "garbage"] {
            assert!(quantity_positive(q), "{q}");
        }
        for q in ["0", "0m", "0.0", "-1"] {
            assert!(!quantity_positive(q), "{q}");
        }
    }
}
