//! `CryptojackPolicy`: what to detect, where, and what to do about it.
//!
//! Types only. Every default lives in a `default_*` function so that serde (a
//! manifest that omits a field) and the generated CRD schema (the API server's
//! defaulting) agree. Validation the API server can do itself is declared on the
//! types: enums, ranges, patterns, and CEL rules (`x-kubernetes-validations`) for
//! constraints that span fields. What the API server cannot check (a regex that
//! does not compile, a Sigma condition that does not parse, a network flavour the
//! cluster does not serve) is reported by the operator in the policy's `Ready`
//! condition.
//!
//! Conventions (Kubernetes API conventions): enum values are CamelCase; no floats
//! (prices are decimal strings) and no unsigned integers; conditions are a list
//! map keyed by `type`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Severity;

/// A qualified Kubernetes label key (`[prefix/]name`), or the empty string.
const LABEL_KEY_OR_EMPTY: &str = r"^$|^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// A Kubernetes label value (may be empty).
const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
/// A namespace name (DNS-1123 label).
const DNS1123_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// An extended resource name such as `nvidia.com/gpu`, or a glob over such names
/// (`nvidia.com/mig-*`, `*.com/gpu`).
const RESOURCE_NAME_PATTERN: &str = r"^([a-z0-9*]([-a-z0-9*]*[a-z0-9*])?(\.[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?)*/)?[A-Za-z0-9*]([-A-Za-z0-9_.*]*[A-Za-z0-9*])?$";
/// A non-negative decimal number (`3.06`, `0.048`, `12`).
const DECIMAL: &str = r"^[0-9]{1,9}(\.[0-9]{1,6})?$";
/// A Go-style duration of hours, minutes and seconds (`24h`, `90m`, `1h30m`).
const DURATION: &str = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$";
/// An IPv4 or IPv6 CIDR (shape only; the operator parses it).
const CIDR: &str = r"^[0-9a-fA-F.:]{2,39}/[0-9]{1,3}$";

/// Cluster-wide detection and containment policy.
///
/// Several policies may exist; a pod is evaluated by every policy whose `match`
/// selects it. One incident per offending workload records every matching policy;
/// the response takes the strictest mode and the union of enabled actions.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "cryptojack.dev",
    version = "v1alpha1",
    kind = "CryptojackPolicy",
    plural = "cryptojackpolicies",
    shortname = "cjp",
    category = "cryptojack",
    status = "CryptojackPolicyStatus",
    doc = "Cluster-wide cryptojacking detection and containment policy.",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode","description":"Audit records incidents and the plan; Contain also runs it"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether every rule compiled"}"#,
    printcolumn = r#"{"name":"Rules","type":"integer","jsonPath":".status.compiledRules","description":"Number of compiled rules"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.mode != 'Contain' || !has(self.response) || \
     (has(self.response.evict) && self.response.evict.enabled) || \
     (has(self.response.suspendOwner) && self.response.suspendOwner.enabled) || \
     (has(self.response.networkIsolation) && self.response.networkIsolation.enabled) || \
     (has(self.response.stratumPortBlock) && self.response.stratumPortBlock.enabled) || \
     (has(self.response.revokeCredentials) && (self.response.revokeCredentials.serviceAccount != 'Never' || self.response.revokeCredentials.quarantineBindings)) || \
     (has(self.response.gpuQuota) && self.response.gpuQuota.enabled)"
).message("mode Contain needs at least one response action enabled (use mode Audit to only record incidents)").field_path(".response"))]
pub struct CryptojackPolicySpec {
    /// `Audit` records incidents and lists, as `Planned`, the actions `Contain` would take;
    /// `Contain` also runs them.
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub mode: Mode,
    /// Which pods this policy applies to.
    #[serde(default, rename = "match")]
    pub match_: PolicyMatch,
    /// What counts as cryptojacking.
    #[serde(default)]
    pub detect: DetectSpec,
    /// Containment actions (run in `Contain` mode; listed as `Planned` in `Audit`).
    #[serde(default)]
    pub response: ResponseSpec,
    /// Prices used to estimate the cost of an incident.
    #[serde(default)]
    pub cost: CostSpec,
    /// Bounds on how much the operator may do.
    #[serde(default)]
    pub limits: LimitsSpec,
}

/// What a policy does with a detection.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Mode {
    /// Record an incident with the planned actions (and an Event and metrics); change
    /// nothing in the cluster.
    #[default]
    Audit,
    /// Record an incident and run the enabled response actions.
    Contain,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Audit => "Audit",
            Mode::Contain => "Contain",
        }
    }
}

/// Scope of a policy. Nothing is exempt by default (not even kube-system:
/// attackers deploy there on purpose).
///
/// Trust model: pod labels are written by whoever creates the pod, perhaps the
/// attacker. Selectors over labels may only narrow what a policy covers
/// (`podSelector`) or narrow an exemption; an exemption itself names the
/// namespace and the workload (`exempt`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMatch {
    /// Namespaces whose labels match; absent means every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Pods whose labels match; absent means every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces never evaluated by this policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(regex(pattern = DNS1123_LABEL), length(max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub exclude_namespaces: Vec<String>,
    /// Workloads this policy never evaluates, by namespace and top-level owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub exempt: Vec<WorkloadSelector>,
}

/// Names workloads by namespace and top-level owner (kind and name). Labels only
/// narrow the selection, they never grant it alone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// The namespace (exact).
    #[schemars(regex(pattern = DNS1123_LABEL), length(min = 1, max = 63))]
    pub namespace: String,
    /// Kind of the top-level owner (`Deployment`, `DaemonSet`, `CronJob`, `Pod` for a bare
    /// pod, or a custom kind such as `Rollout`); absent means any kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z][A-Za-z0-9]*$"), length(max = 63))]
    pub kind: Option<String>,
    /// Name of the top-level owner, a glob (`*`, `?`); absent means any name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
    /// Narrows the selection to pods whose labels also match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// Detection settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetectSpec {
    /// Use the built-in signature set shipped with cryptojack.
    #[serde(default = "default_true")]
    pub builtin: bool,
    /// Built-in rule ids to switch off (e.g. `builtin/port/stratum-port`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub disabled_rules: Vec<String>,
    /// Extra patterns matched against container image references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 512))]
    pub images: Vec<PatternRule>,
    /// Extra patterns matched against command lines (command + args, shell scripts, env values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 512))]
    pub commands: Vec<PatternRule>,
    /// Sigma-style rules over `Image` and `CommandLine`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub sigma: Vec<SigmaRule>,
    /// Indicators of compromise from reports, matched with the same context rules as the
    /// built-in indicators (updatable without a release).
    #[serde(default)]
    pub iocs: IocSpec,
    /// GPU requests without approval.
    #[serde(default)]
    pub gpu: GpuRule,
    /// Node signals (GPU instance types, regions, spot capacity).
    #[serde(default)]
    pub node: NodeSignals,
}

impl Default for DetectSpec {
    fn default() -> Self {
        DetectSpec {
            builtin: true,
            disabled_rules: Vec::new(),
            images: Vec::new(),
            commands: Vec::new(),
            sigma: Vec::new(),
            iocs: IocSpec::default(),
            gpu: GpuRule::default(),
            node: NodeSignals::default(),
        }
    }
}

/// A user pattern with an explicit syntax.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatternRule {
    /// Rule id reported in findings; defaults to `policy/<policy>/<field>[<index>]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub id: Option<String>,
    /// The pattern, interpreted according to `syntax`.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self.trim().size() > 0").message("pattern must not be blank"))]
    pub pattern: String,
    /// How `pattern` is interpreted.
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub syntax: PatternSyntax,
    /// Severity of a finding produced by this pattern.
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub severity: Severity,
    /// Shown to responders next to the finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
}

/// Pattern syntax of a [`PatternRule`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum PatternSyntax {
    /// Case-insensitive substring.
    #[default]
    Substring,
    /// Shell glob (`*`, `?`, `[...]`) over the whole value, case-insensitive.
    Glob,
    /// Rust `regex` syntax, unanchored.
    Regex,
}

/// A Sigma rule, as written for `process_creation`: `detection` holds named
/// selections (`Image|contains: [...]`, `CommandLine|re: ...`) and a `condition`
/// such as `selection and not filter`. `level` keeps Sigma's own lowercase spelling
/// so that rules can be pasted as they are published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigmaRule {
    /// Rule title, reported in findings.
    #[schemars(length(min = 1, max = 256))]
    pub title: String,
    /// Sigma rule id (usually a UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub id: Option<String>,
    /// Sigma level: informational, low, medium, high, critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "sigma_level_schema")]
    pub level: Option<String>,
    /// Accepted for copy-paste compatibility; not interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub logsource: Option<serde_json::Value>,
    /// Selections and `condition`, as in Sigma.
    #[schemars(schema_with = "sigma_detection_schema")]
    pub detection: serde_json::Value,
}

/// Indicators of compromise a team adds from a new report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IocSpec {
    /// Image references (globs over the whole reference, e.g. `docker.io/evil/*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub images: Vec<IocEntry>,
    /// Domains (a finding for the domain and its subdomains, as a URL host or a `host:port`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub domains: Vec<IocEntry>,
    /// IP ranges in CIDR notation (`203.0.113.0/24`, a single address as `/32`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub ip_ranges: Vec<IocEntry>,
}

/// One indicator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IocEntry {
    /// The indicator (glob, domain or CIDR, by list).
    #[schemars(length(min = 1, max = 512))]
    pub value: String,
    /// Where it comes from (a report's URL or title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub source: Option<String>,
    /// Severity of a finding (default Critical).
    #[serde(default = "default_critical")]
    #[schemars(extend("maxLength" = 16))]
    pub severity: Severity,
}

/// Where a GPU approval is read from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ApprovalFrom {
    /// The pod's own label (whoever creates the pod sets it).
    #[default]
    Pod,
    /// The namespace's label (set by whoever administers namespaces).
    Namespace,
    /// Both the pod and its namespace must carry it.
    PodAndNamespace,
}

/// GPU approval rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || self.approvalLabel.size() > 0")
    .message("approvalLabel must be set when the GPU rule is enabled").field_path(".approvalLabel"))]
#[x_kube(validation = Rule::new("!self.enabled || self.resources.size() > 0")
    .message("resources must name at least one GPU resource when the GPU rule is enabled").field_path(".resources"))]
pub struct GpuRule {
    /// Report pods that request or limit a GPU resource without approval.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Extended resource names that count as GPUs; globs (`nvidia.com/mig-*`) allowed.
    #[serde(default = "default_gpu_resources")]
    #[schemars(length(max = 64), inner(regex(pattern = RESOURCE_NAME_PATTERN), length(max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub resources: Vec<String>,
    /// Label that approves GPU use.
    #[serde(default = "default_approval_label")]
    #[schemars(regex(pattern = LABEL_KEY_OR_EMPTY), length(max = 317))]
    pub approval_label: String,
    /// Value the approval label must have.
    #[serde(default = "default_approval_value")]
    #[schemars(regex(pattern = LABEL_VALUE), length(max = 63))]
    pub approval_value: String,
    /// Where the approval label is read from.
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub approval_from: ApprovalFrom,
}

impl Default for GpuRule {
    fn default() -> Self {
        GpuRule {
            enabled: true,
            resources: default_gpu_resources(),
            approval_label: default_approval_label(),
            approval_value: default_approval_value(),
            approval_from: ApprovalFrom::Pod,
        }
    }
}

/// Node-level signals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSignals {
    /// Glob patterns of GPU instance types (`node.kubernetes.io/instance-type`).
    #[serde(default = "default_instance_types")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 253)))]
    pub gpu_instance_types: Vec<String>,
    /// Regions where workloads are expected (`topology.kubernetes.io/region`); empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_regions: Vec<String>,
    /// Flag pods that ask for spot/preemptible capacity.
    #[serde(default = "default_true")]
    pub flag_spot: bool,
}

impl Default for NodeSignals {
    fn default() -> Self {
        NodeSignals {
            gpu_instance_types: default_instance_types(),
            allowed_regions: Vec::new(),
            flag_spot: true,
        }
    }
}

/// Containment actions: run in `Contain` mode, listed as `Planned` in `Audit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(self.stratumPortBlock) || self.stratumPortBlock.scope != 'Cluster' || \
     !has(self.networkIsolation) || self.networkIsolation.flavor != 'NetworkPolicy'"
).message("stratumPortBlock.scope Cluster needs a cluster-scoped deny flavour (networkIsolation.flavor Auto, ClusterNetworkPolicy, AdminNetworkPolicy, Cilium or Calico)").field_path(".stratumPortBlock.scope"))]
pub struct ResponseSpec {
    /// Contain only incidents at or above this severity.
    #[serde(default = "default_high")]
    #[schemars(extend("maxLength" = 16))]
    pub min_severity: Severity,
    /// Evict the offending pods.
    #[serde(default)]
    pub evict: EvictAction,
    /// Stop what would recreate the pods (scale to 0, suspend, park a DaemonSet).
    #[serde(default)]
    pub suspend_owner: SuspendOwnerAction,
    /// Workloads that are only isolated and evicted, never scaled, suspended or parked
    /// (e.g. a CNI DaemonSet with an injected miner). The operator's own namespace is
    /// always protected, and never acted on at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub protect: Vec<WorkloadSelector>,
    /// Cut the offending pods' traffic (per-incident label, deny policy).
    #[serde(default)]
    pub network_isolation: NetworkIsolationAction,
    /// Block egress to mining-pool ports leaving the cluster.
    #[serde(default)]
    pub stratum_port_block: StratumPortBlockAction,
    /// Revoke the credentials the pods ran with.
    #[serde(default)]
    pub revoke_credentials: RevokeCredentialsAction,
    /// ResourceQuota with GPU requests = 0 in the offending namespace.
    #[serde(default)]
    pub gpu_quota: GpuQuotaAction,
    /// Evidence kept before the pods are evicted.
    #[serde(default)]
    pub evidence: EvidenceSpec,
}

impl Default for ResponseSpec {
    fn default() -> Self {
        ResponseSpec {
            min_severity: Severity::High,
            evict: EvictAction::default(),
            suspend_owner: SuspendOwnerAction::default(),
            protect: Vec::new(),
            network_isolation: NetworkIsolationAction::default(),
            stratum_port_block: StratumPortBlockAction::default(),
            revoke_credentials: RevokeCredentialsAction::default(),
            gpu_quota: GpuQuotaAction::default(),
            evidence: EvidenceSpec::default(),
        }
    }
}

/// Evict the offending pods through the Eviction API. The attacker controls the pod's
/// `terminationGracePeriodSeconds` and its PodDisruptionBudget, so the policy's grace
/// period wins and a PodDisruptionBudget only delays the eviction until `forceAfterSeconds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvictAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Grace period given to the pod, overriding its own `terminationGracePeriodSeconds`.
    #[serde(default = "default_grace_period")]
    #[schemars(range(min = 0, max = 3600))]
    pub grace_period_seconds: i64,
    /// When a PodDisruptionBudget blocks the eviction for this long, the pod is deleted.
    #[serde(default = "default_force_after")]
    #[schemars(range(min = 0, max = 86400))]
    pub force_after_seconds: i64,
}

impl Default for EvictAction {
    fn default() -> Self {
        EvictAction {
            enabled: true,
            grace_period_seconds: default_grace_period(),
            force_after_seconds: default_force_after(),
        }
    }
}

/// Owner kinds the operator may suspend.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum OwnerKind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    ReplicationController,
    Job,
    CronJob,
    DaemonSet,
    /// Any other owner that serves the `scale` subresource (Argo Rollouts, many CRDs).
    ScalableCustomResource,
}

impl OwnerKind {
    pub const ALL: [OwnerKind; 8] = [
        OwnerKind::Deployment,
        OwnerKind::ReplicaSet,
        OwnerKind::StatefulSet,
        OwnerKind::ReplicationController,
        OwnerKind::Job,
        OwnerKind::CronJob,
        OwnerKind::DaemonSet,
        OwnerKind::ScalableCustomResource,
    ];
}

/// Suspend the top-level owner of the offending pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuspendOwnerAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Owner kinds that may be suspended; an owner of another kind is recorded as
    /// `Skipped` and its pods are still evicted.
    #[serde(default = "default_owner_kinds")]
    #[schemars(length(max = 8))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub kinds: Vec<OwnerKind>,
}

impl Default for SuspendOwnerAction {
    fn default() -> Self {
        SuspendOwnerAction {
            enabled: true,
            kinds: default_owner_kinds(),
        }
    }
}

/// Which network API carries the deny rules.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum NetworkFlavor {
    /// The first deny-capable API the cluster serves (ClusterNetworkPolicy,
    /// AdminNetworkPolicy, Cilium, Calico), else NetworkPolicy.
    #[default]
    Auto,
    /// `networking.k8s.io/v1` NetworkPolicy (additive: another policy can re-allow traffic).
    NetworkPolicy,
    /// `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy, tier Admin, action Deny.
    ClusterNetworkPolicy,
    /// `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy, action Deny.
    AdminNetworkPolicy,
    /// `cilium.io/v2` CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy with `egressDeny`.
    Cilium,
    /// Calico NetworkPolicy / GlobalNetworkPolicy with action Deny.
    Calico,
}

impl NetworkFlavor {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkFlavor::Auto => "Auto",
            NetworkFlavor::NetworkPolicy => "NetworkPolicy",
            NetworkFlavor::ClusterNetworkPolicy => "ClusterNetworkPolicy",
            NetworkFlavor::AdminNetworkPolicy => "AdminNetworkPolicy",
            NetworkFlavor::Cilium => "Cilium",
            NetworkFlavor::Calico => "Calico",
        }
    }
}

/// Traffic isolation of exactly the offending pods, selected by a per-incident label
/// the operator sets (`cryptojack.dev/incident=<name>`), never by the owner's labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkIsolationAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The network API to write; `Auto` chooses at start-up through discovery. A forced
    /// flavour the cluster does not serve makes the policy `Ready=False`.
    #[serde(default)]
    #[schemars(extend("maxLength" = 32))]
    pub flavor: NetworkFlavor,
    /// Deny ingress too.
    #[serde(default = "default_true")]
    pub deny_ingress: bool,
    /// DNS to the cluster DNS pods only (never port 53 to anywhere: a pool proxy can
    /// listen on 53).
    #[serde(default)]
    pub allow_dns: DnsAllowance,
}

impl Default for NetworkIsolationAction {
    fn default() -> Self {
        NetworkIsolationAction {
            enabled: true,
            flavor: NetworkFlavor::Auto,
            deny_ingress: true,
            allow_dns: DnsAllowance::default(),
        }
    }
}

/// Which DNS servers an isolated pod may still reach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsAllowance {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Namespace of the DNS pods (exact name).
    #[serde(default = "default_dns_namespace")]
    #[schemars(regex(pattern = DNS1123_LABEL), length(min = 1, max = 63))]
    pub namespace: String,
    /// Labels of the DNS pods.
    #[serde(default = "default_dns_labels")]
    #[schemars(length(min = 1))]
    pub pod_labels: BTreeMap<String, String>,
    /// Ports (UDP and TCP).
    #[serde(default = "default_dns_ports")]
    #[schemars(length(min = 1, max = 8), inner(range(min = 1, max = 65535)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub ports: Vec<i32>,
}

impl Default for DnsAllowance {
    fn default() -> Self {
        DnsAllowance {
            enabled: true,
            namespace: default_dns_namespace(),
            pod_labels: default_dns_labels(),
            ports: default_dns_ports(),
        }
    }
}

/// Where a stratum-port block applies.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum BlockScope {
    /// The incident's namespace.
    #[default]
    Namespace,
    /// The whole cluster (needs a cluster-scoped deny flavour).
    Cluster,
}

/// Block egress leaving the cluster on common mining-pool ports, separately from the
/// per-pod isolation: in-cluster destinations (`inClusterCidrs`) stay reachable so that
/// in-cluster services on 4444/5555 keep working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StratumPortBlockAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// TCP ports blocked (default: common pool ports, see [`default_stratum_ports`]).
    #[serde(default = "default_stratum_ports")]
    #[schemars(length(min = 1, max = 128), inner(range(min = 1, max = 65535)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub ports: Vec<i32>,
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub scope: BlockScope,
    /// The cluster's pod and service ranges (and other private ranges), which the block
    /// does not apply to.
    #[serde(default = "default_in_cluster_cidrs")]
    #[schemars(length(max = 64), inner(regex(pattern = CIDR)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub in_cluster_cidrs: Vec<String>,
}

impl Default for StratumPortBlockAction {
    fn default() -> Self {
        StratumPortBlockAction {
            enabled: true,
            ports: default_stratum_ports(),
            scope: BlockScope::Namespace,
            in_cluster_cidrs: default_in_cluster_cidrs(),
        }
    }
}

/// When the pods' ServiceAccount is recreated (which invalidates every token bound to it).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ServiceAccountRevocation {
    Never,
    /// Only when no pod outside the incident uses that ServiceAccount.
    #[default]
    IfDedicated,
    Always,
}

/// Revoke the credentials the offending pods ran with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokeCredentialsAction {
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub service_account: ServiceAccountRevocation,
    /// Remove the ServiceAccount from RoleBindings/ClusterRoleBindings (saved for restore).
    #[serde(default)]
    pub quarantine_bindings: bool,
    /// RBAC objects and ServiceAccounts created within this window are listed in the
    /// incident as possible backdoors (`24h`, `90m`).
    #[serde(default = "default_recent_window")]
    #[schemars(regex(pattern = DURATION), length(min = 2, max = 24))]
    pub recent_window: String,
}

impl Default for RevokeCredentialsAction {
    fn default() -> Self {
        RevokeCredentialsAction {
            service_account: ServiceAccountRevocation::IfDedicated,
            quarantine_bindings: false,
            recent_window: default_recent_window(),
        }
    }
}

/// Cap GPU requests in the offending namespace with a ResourceQuota of the operator's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuQuotaAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for GpuQuotaAction {
    fn default() -> Self {
        GpuQuotaAction { enabled: true }
    }
}

/// Evidence kept before the pods are evicted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceSpec {
    /// Save the last lines of each affected container's log in a Secret of the incident's.
    #[serde(default = "default_true")]
    pub collect_logs: bool,
    #[serde(default = "default_tail_lines")]
    #[schemars(range(min = 1, max = 2000))]
    pub tail_lines: i32,
    #[serde(default = "default_limit_bytes")]
    #[schemars(range(min = 1024, max = 262144))]
    pub limit_bytes: i32,
}

impl Default for EvidenceSpec {
    fn default() -> Self {
        EvidenceSpec {
            collect_logs: true,
            tail_lines: default_tail_lines(),
            limit_bytes: default_limit_bytes(),
        }
    }
}

/// Prices for the cost estimate, as decimal strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSpec {
    /// ISO 4217 currency code of every price.
    #[serde(default = "default_currency")]
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// Price of one GPU-hour, by extended resource name (a glob, like the GPU rule's).
    #[serde(default = "default_gpu_hour_prices")]
    #[schemars(schema_with = "price_map_schema")]
    pub gpu_hour: BTreeMap<String, String>,
    /// Price of one CPU-hour (one core).
    #[serde(default = "default_cpu_hour")]
    #[schemars(regex(pattern = DECIMAL))]
    pub cpu_hour: String,
}

impl Default for CostSpec {
    fn default() -> Self {
        CostSpec {
            currency: default_currency(),
            gpu_hour: default_gpu_hour_prices(),
            cpu_hour: default_cpu_hour(),
        }
    }
}

/// Rate limits on containment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSpec {
    /// Most incidents the operator starts containing per minute under this policy; an
    /// incident over the limit waits, with a `RateLimited` condition saying so.
    #[serde(default = "default_incidents_per_minute")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_incidents_per_minute: i32,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec {
            max_incidents_per_minute: default_incidents_per_minute(),
        }
    }
}

/// Observed state of a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CryptojackPolicyStatus {
    /// `Ready`: `True` when every rule compiled; `False` with reason `InvalidPolicy` and a
    /// message naming the offending field (e.g. `spec.detect.commands[2].pattern`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Number of rules compiled from this policy (built-in and user rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled_rules: Option<i32>,
    /// The network flavour in use (with `Auto`, what discovery found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 32))]
    pub network_flavor: Option<NetworkFlavor>,
}

/// Condition type of a policy that compiled.
pub const CONDITION_READY: &str = "Ready";

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true
    })
}

fn sigma_detection_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Named selections (maps of `Field|modifier: value or list`) and the `condition` combining them.",
        "type": "object",
        "required": ["condition"],
        "properties": {
            "condition": {
                "description": "Sigma condition, e.g. `selection and not filter`.",
                "x-kubernetes-preserve-unknown-fields": true
            }
        },
        "x-kubernetes-preserve-unknown-fields": true
    })
}

fn sigma_level_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Sigma level: informational, low, medium, high, critical (Sigma's own spelling).",
        "type": "string",
        "nullable": true,
        "enum": ["informational", "low", "medium", "high", "critical"]
    })
}

fn price_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Price of one GPU-hour (a decimal string), by extended resource name or glob.",
        "type": "object",
        "maxProperties": 64,
        "additionalProperties": {"type": "string", "pattern": DECIMAL, "maxLength": 17}
    })
}

fn default_true() -> bool {
    true
}

fn default_high() -> Severity {
    Severity::High
}

fn default_critical() -> Severity {
    Severity::Critical
}

/// Extended resource names that count as GPUs unless a policy says otherwise: whole
/// GPUs of every vendor, NVIDIA MIG profiles and shared (time-sliced) GPUs.
pub fn default_gpu_resources() -> Vec<String> {
    [
        "nvidia.com/gpu",
        "nvidia.com/gpu.shared",
        "nvidia.com/mig-*",
        "amd.com/gpu",
        "gpu.intel.com/i915",
        "gpu.intel.com/xe",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Label that approves GPU use unless a policy says otherwise.
pub fn default_approval_label() -> String {
    "cryptojack.dev/gpu-approved".to_string()
}

fn default_approval_value() -> String {
    "true".to_string()
}

fn default_instance_types() -> Vec<String> {
    [
        "p2.*", "p3.*", "p3dn.*", "p4d.*", "p4de.*", "p5.*", "g3.*", "g4dn.*", "g4ad.*", "g5.*",
        "g5g.*", "g6.*",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn default_grace_period() -> i64 {
    5
}

fn default_force_after() -> i64 {
    30
}

fn default_owner_kinds() -> Vec<OwnerKind> {
    OwnerKind::ALL.to_vec()
}

fn default_dns_namespace() -> String {
    "kube-system".to_string()
}

fn default_dns_labels() -> BTreeMap<String, String> {
    [("k8s-app".to_string(), "kube-dns".to_string())]
        .into_iter()
        .collect()
}

fn default_dns_ports() -> Vec<i32> {
    vec![53]
}

/// Common mining-pool ports (stratum and pool front ends), blocked by the stratum-port
/// block unless a policy lists its own.
pub fn default_stratum_ports() -> Vec<i32> {
    vec![
        3333, 3334, 3335, 3336, 3357, 4444, 5555, 5556, 5588, 5730, 6099, 6666, 7777, 7778, 8008,
        8333, 9332, 9999, 14433, 14444, 45560, 45700,
    ]
}

/// Private ranges (RFC 1918, carrier-grade NAT, IPv6 unique local) where clusters put
/// their pod and service networks.
pub fn default_in_cluster_cidrs() -> Vec<String> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn default_recent_window() -> String {
    "24h".to_string()
}

fn default_tail_lines() -> i32 {
    200
}

fn default_limit_bytes() -> i32 {
    32 * 1024
}

fn default_currency() -> String {
    "USD".to_string()
}

fn default_gpu_hour_prices() -> BTreeMap<String, String> {
    [
        ("nvidia.com/gpu", "3.06"),
        ("nvidia.com/gpu.shared", "0.77"),
        ("nvidia.com/mig-*", "0.44"),
        ("amd.com/gpu", "2.00"),
        ("gpu.intel.com/i915", "1.00"),
        ("gpu.intel.com/xe", "1.00"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn default_cpu_hour() -> String {
    "0.048".to_string()
}

fn default_incidents_per_minute() -> i32 {
    10
}
