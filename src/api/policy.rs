//! `CryptojackPolicy`: what to detect, where, and what to do about it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Severity;

/// Cluster-wide detection and containment policy.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "cryptojack.dev",
    version = "v1alpha1",
    kind = "CryptojackPolicy",
    plural = "cryptojackpolicies",
    shortname = "cjp",
    category = "cryptojack",
    status = "CryptojackPolicyStatus",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Rules","type":"integer","jsonPath":".status.compiledRules"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CryptojackPolicySpec {
    /// `Audit` records incidents only; `Contain` also runs the response actions.
    #[serde(default)]
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    #[default]
    Audit,
    Contain,
}

/// Scope of a policy. Nothing is exempt by default (not even kube-system:
/// attackers deploy there on purpose).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    pub exclude_namespaces: Vec<String>,
    /// Pods matching any of these selectors are exempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt_pods: Vec<LabelSelector>,
}

/// Detection settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetectSpec {
    /// Use the built-in signature set shipped with cryptojack.
    #[serde(default = "default_true")]
    pub builtin: bool,
    /// Built-in rule ids to switch off (e.g. `builtin/port/stratum-port`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_rules: Vec<String>,
    /// Extra patterns matched against container image references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PatternRule>,
    /// Extra patterns matched against command lines (command + args, shell scripts, env values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<PatternRule>,
    /// Sigma-style rules over `Image` and `CommandLine`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatternRule {
    /// Rule id reported in findings; defaults to `policy/<policy>/<field>[<index>]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub pattern: String,
    #[serde(default)]
    pub syntax: PatternSyntax,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigmaRule {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Sigma level: informational, low, medium, high, critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Accepted for copy-paste compatibility; not interpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub logsource: Option<serde_json::Value>,
    /// Selections and `condition`, as in Sigma.
    #[schemars(schema_with = "preserve_unknown_object")]
    pub detection: serde_json::Value,
}

/// GPU approval rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuRule {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Extended resource names that count as GPUs.
    #[serde(default = "default_gpu_resources")]
    pub resources: Vec<String>,
    /// Label that approves a pod's GPU use.
    #[serde(default = "default_approval_label")]
    pub approval_label: String,
    /// Value the approval label must have.
    #[serde(default = "default_approval_value")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSignals {
    /// Glob patterns of GPU instance types (`node.kubernetes.io/instance-type`).
    #[serde(default = "default_instance_types")]
    pub gpu_instance_types: Vec<String>,
    /// Regions where workloads are expected (`topology.kubernetes.io/region`); empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseSpec {
    /// Contain only incidents at or above this severity.
    #[serde(default)]
    pub min_severity: Severity,
    #[serde(default)]
    pub evict: EvictAction,
    #[serde(default)]
    pub suspend_owner: SuspendOwnerAction,
    #[serde(default)]
    pub network_isolation: NetworkIsolationAction,
    #[serde(default)]
    pub revoke_service_account: RevokeServiceAccountAction,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvictAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Grace period given to the pod; absent uses the pod's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    /// When a PodDisruptionBudget blocks the eviction for longer than this, delete the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_after_seconds: Option<i64>,
}

impl Default for EvictAction {
    fn default() -> Self {
        EvictAction { enabled: true, grace_period_seconds: None, force_after_seconds: None }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkIsolationAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Deny all egress of the offending pods (DNS excepted when `allowDns`).
    #[serde(default = "default_true")]
    pub deny_all_egress: bool,
    #[serde(default = "default_true")]
    pub allow_dns: bool,
    /// Ports blocked when `denyAllEgress` is false (and on cluster-wide deny policies).
    #[serde(default = "default_block_ports")]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokeServiceAccountAction {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Also remove (and save for restore) the RoleBindings/ClusterRoleBindings that grant it.
    #[serde(default)]
    pub quarantine_bindings: bool,
}

impl Default for RevokeServiceAccountAction {
    fn default() -> Self {
        RevokeServiceAccountAction { enabled: true, quarantine_bindings: false }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostSpec {
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Price of one GPU-hour, by extended resource name.
    #[serde(default = "default_gpu_hour_prices")]
    pub gpu_hour: BTreeMap<String, f64>,
    /// Price of one CPU-hour (one core).
    #[serde(default = "default_cpu_hour")]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSpec {
    /// Most containment actions the operator takes per minute under this policy.
    #[serde(default = "default_actions_per_minute")]
    pub max_actions_per_minute: u32,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec { max_actions_per_minute: default_actions_per_minute() }
    }
}

/// Observed state of a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CryptojackPolicyStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled_rules: Option<u32>,
}

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

fn default_true() -> bool {
    true
}

pub fn default_gpu_resources() -> Vec<String> {
    ["nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "gpu.intel.com/xe"]
        .into_iter()
        .map(String::from)
        .collect()
}

pub fn default_approval_label() -> String {
    "cryptojack.dev/gpu-approved".to_string()
}

fn default_approval_value() -> String {
    "true".to_string()
}

fn default_instance_types() -> Vec<String> {
    ["p2.*", "p3.*", "p3dn.*", "p4d.*", "p4de.*", "p5.*", "g3.*", "g4dn.*", "g4ad.*", "g5.*", "g5g.*", "g6.*"]
        .into_iter()
        .map(String::from)
        .collect()
}

pub fn default_block_ports() -> Vec<u16> {
    vec![3333, 4444, 5555, 7777, 8888, 9999, 14433, 14444, 45560, 45700]
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
