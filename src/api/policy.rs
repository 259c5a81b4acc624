//! `CryptojackPolicy`: what to detect, where, and what to do about it.
//!
//! Types only. Every default lives in a `default_*` function so that serde (a
//! manifest that omits a field) and the generated CRD schema (the API server's
//! defaulting) agree. Validation the API server can do itself is declared on the
//! types: enums, ranges, patterns, and CEL rules (`x-kubernetes-validations`) for
//! constraints that span fields. What the API server cannot check (a regex that
//! does not compile, a Sigma condition that does not parse) is reported by the
//! operator in the policy's `Ready` condition.

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
/// An extended resource name such as `nvidia.com/gpu`.
const RESOURCE_NAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";

/// Cluster-wide detection and containment policy.
///
/// Several policies may exist; a pod is evaluated by every policy whose `match`
/// selects it. Nothing is exempt by default.
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
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode","description":"Audit records incidents; Contain also runs the response actions"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether every rule compiled"}"#,
    printcolumn = r#"{"name":"Rules","type":"integer","jsonPath":".status.compiledRules","description":"Number of compiled rules"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.mode != 'Contain' || !has(self.response) || \
     (has(self.response.evict) && self.response.evict.enabled) || \
     (has(self.response.suspendOwner) && self.response.suspendOwner.enabled) || \
     (has(self.response.networkIsolation) && self.response.networkIsolation.enabled) || \
     (has(self.response.revokeServiceAccount) && self.response.revokeServiceAccount.enabled) || \
     (has(self.response.gpuQuota) && self.response.gpuQuota.enabled)"
).message("mode Contain needs at least one response action enabled (use mode Audit to only record incidents)").field_path(".response"))]
pub struct CryptojackPolicySpec {
    /// `Audit` records incidents only; `Contain` also runs the response actions.
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub mode: Mode,
    /// Which pods this policy applies to.
    #[serde(default, rename = "match")]
    pub match_: PolicyMatch,
    /// What counts as cryptojacking.
    #[serde(default)]
    pub detect: DetectSpec,
    /// Containment actions (run in `Contain` mode only).
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
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Mode {
    /// Record an incident (and emit an Event and metrics); change nothing in the cluster.
    #[default]
    Audit,
    /// Record an incident and run the enabled response actions.
    Contain,
}

/// Scope of a policy. Nothing is exempt by default (not even kube-system:
/// attackers deploy there on purpose).
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
    #[schemars(inner(regex(pattern = DNS1123_LABEL), length(max = 63)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub exclude_namespaces: Vec<String>,
    /// Pods matching any of these selectors are exempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt_pods: Vec<LabelSelector>,
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
    #[schemars(inner(length(min = 1, max = 253)))]
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
    /// GPU requests without an approval label.
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
    pub syntax: PatternSyntax,
    /// Severity of a finding produced by this pattern.
    #[serde(default)]
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
#[serde(rename_all = "lowercase")]
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
/// such as `selection and not filter`.
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

/// GPU approval rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || self.approvalLabel.size() > 0")
    .message("approvalLabel must be set when the GPU rule is enabled").field_path(".approvalLabel"))]
#[x_kube(validation = Rule::new("!self.enabled || self.resources.size() > 0")
    .message("resources must name at least one GPU resource when the GPU rule is enabled").field_path(".resources"))]
pub struct GpuRule {
    /// Report pods that request or limit a GPU resource without the approval label.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Extended resource names that count as GPUs.
    #[serde(default = "default_gpu_resources")]
    #[schemars(length(max = 64), inner(regex(pattern = RESOURCE_NAME), length(max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub resources: Vec<String>,
    /// Label that approves a pod's GPU use.
    #[serde(default = "default_approval_label")]
    #[schemars(regex(pattern = LABEL_KEY_OR_EMPTY), length(max = 317))]
    pub approval_label: String,
    /// Value the approval label must have.
    #[serde(default = "default_approval_value")]
    #[schemars(regex(pattern = LABEL_VALUE), length(max = 63))]
    pub approval_value: String,
}

impl Default for GpuRule {
    fn default() -> Self {
        GpuRule {
            enabled: true,
            resources: default_gpu_resources(),
            approval_label: default_approval_label(),
            approval_value: default_approval_value(),
        }
    }
}

/// Node-level signals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSignals {
    /// Glob patterns of GPU instance types (`node.kubernetes.io/instance-type`).
    #[serde(default = "default_instance_types")]
    #[schemars(inner(length(min = 1, max = 253)))]
    pub gpu_instance_types: Vec<String>,
    /// Regions where workloads are expected (`topology.kubernetes.io/region`); empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 63)))]
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

/// Containment actions, executed by the operator in `Contain` mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseSpec {
    /// Contain only incidents at or above this severity.
    #[serde(default)]
    pub min_severity: Severity,
    /// Evict the offending pods.
    #[serde(default)]
    pub evict: EvictAction,
    /// Stop what would recreate the pods (scale to 0, suspend, park a DaemonSet).
    #[serde(default)]
    pub suspend_owner: SuspendOwnerAction,
    /// Cut the offending pods' egress.
    #[serde(default)]
    pub network_isolation: NetworkIsolationAction,
    /// Invalidate the ServiceAccount credentials the pods ran with.
    #[serde(default)]
    pub revoke_service_account: RevokeServiceAccountAction,
    /// ResourceQuota with GPU requests = 0 in the offending namespace.
    #[serde(default)]
    pub gpu_quota: GpuQuotaAction,
}

impl Default for ResponseSpec {
    fn default() -> Self {
        ResponseSpec {
            min_severity: Severity::High,
            evict: EvictAction::default(),
            suspend_owner: SuspendOwnerAction::default(),
            network_isolation: NetworkIsolationAction::default(),
            revoke_service_account: RevokeServiceAccountAction::default(),
            gpu_quota: GpuQuotaAction::default(),
        }
    }
}

/// Evict the offending pods through the Eviction API (PodDisruptionBudget-aware).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvictAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Grace period given to the pod; absent uses the pod's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub grace_period_seconds: Option<i64>,
    /// When a PodDisruptionBudget blocks the eviction for longer than this, delete the pod.
    /// Absent: never bypass a PodDisruptionBudget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub force_after_seconds: Option<i64>,
}

impl Default for EvictAction {
    fn default() -> Self {
        EvictAction {
            enabled: true,
            grace_period_seconds: None,
            force_after_seconds: None,
        }
    }
}

/// Suspend the top-level owner of the offending pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuspendOwnerAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for SuspendOwnerAction {
    fn default() -> Self {
        SuspendOwnerAction { enabled: true }
    }
}

/// Egress isolation of exactly the offending pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || self.denyAllEgress || self.blockPorts.size() > 0")
    .message("blockPorts must list at least one port when denyAllEgress is false").field_path(".blockPorts"))]
pub struct NetworkIsolationAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Deny all egress of the offending pods (DNS excepted when `allowDns`).
    #[serde(default = "default_true")]
    pub deny_all_egress: bool,
    /// Keep DNS (port 53 UDP/TCP) open so the pods can still be inspected.
    #[serde(default = "default_true")]
    pub allow_dns: bool,
    /// Ports blocked when `denyAllEgress` is false (and on cluster-wide deny policies).
    #[serde(default = "default_block_ports")]
    #[schemars(length(max = 256), inner(range(min = 1, max = 65535)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub block_ports: Vec<u16>,
}

impl Default for NetworkIsolationAction {
    fn default() -> Self {
        NetworkIsolationAction {
            enabled: true,
            deny_all_egress: true,
            allow_dns: true,
            block_ports: default_block_ports(),
        }
    }
}

/// Revoke the ServiceAccount the offending pods ran with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.enabled || !self.quarantineBindings")
    .message("quarantineBindings requires enabled: true").field_path(".quarantineBindings"))]
pub struct RevokeServiceAccountAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Also remove (and save for restore) the RoleBindings/ClusterRoleBindings that grant it.
    #[serde(default)]
    pub quarantine_bindings: bool,
}

impl Default for RevokeServiceAccountAction {
    fn default() -> Self {
        RevokeServiceAccountAction {
            enabled: true,
            quarantine_bindings: false,
        }
    }
}

/// Cap GPU requests in the offending namespace with a ResourceQuota.
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

/// Prices for the cost estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSpec {
    /// ISO 4217 currency code of every price.
    #[serde(default = "default_currency")]
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// Price of one GPU-hour, by extended resource name.
    #[serde(default = "default_gpu_hour_prices")]
    #[schemars(schema_with = "price_map_schema")]
    pub gpu_hour: BTreeMap<String, f64>,
    /// Price of one CPU-hour (one core).
    #[serde(default = "default_cpu_hour")]
    #[schemars(range(min = 0))]
    pub cpu_hour: f64,
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
    /// Most containment actions the operator takes per minute under this policy.
    #[serde(default = "default_actions_per_minute")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_actions_per_minute: u32,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec {
            max_actions_per_minute: default_actions_per_minute(),
        }
    }
}

/// Observed state of a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CryptojackPolicyStatus {
    /// `Ready`: `True` when every rule compiled; `False` with a reason and a
    /// message naming the offending field (e.g. `spec.detect.commands[2].pattern`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Number of rules compiled from this policy (built-in and user rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled_rules: Option<u32>,
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
        "description": "Sigma level: informational, low, medium, high, critical.",
        "type": "string",
        "nullable": true,
        "enum": ["informational", "low", "medium", "high", "critical"]
    })
}

fn price_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Price of one GPU-hour, by extended resource name.",
        "type": "object",
        "additionalProperties": {"type": "number", "minimum": 0.0}
    })
}

fn default_true() -> bool {
    true
}

/// Extended resource names that count as GPUs unless a policy says otherwise.
pub fn default_gpu_resources() -> Vec<String> {
    [
        "nvidia.com/gpu",
        "amd.com/gpu",
        "gpu.intel.com/i915",
        "gpu.intel.com/xe",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Label that approves a pod's GPU use unless a policy says otherwise.
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

/// Well-known stratum ports blocked when egress is not denied outright.
pub fn default_block_ports() -> Vec<u16> {
    vec![
        3333, 4444, 5555, 7777, 8888, 9999, 14433, 14444, 45560, 45700,
    ]
}

fn default_currency() -> String {
    "USD".to_string()
}

fn default_gpu_hour_prices() -> BTreeMap<String, f64> {
    [
        ("nvidia.com/gpu".to_string(), 3.06),
        ("amd.com/gpu".to_string(), 2.0),
        ("gpu.intel.com/i915".to_string(), 1.0),
        ("gpu.intel.com/xe".to_string(), 1.0),
    ]
    .into_iter()
    .collect()
}

fn default_cpu_hour() -> f64 {
    0.048
}

fn default_actions_per_minute() -> u32 {
    30
}
