//! `CryptojackIncident`: the durable record of one offending workload and of
//! everything done about it.
//!
//! One incident per offending top-level workload (the owner at the top of the
//! chain; a bare pod is its own top), across every policy that matched: its name
//! is derived from the top owner's UID alone ([`incident_name`]), so every replica
//! and every retry computes the same name and it is created once.
//!
//! The spec holds the facts. Most are immutable (CEL transition rules); the pod
//! list, the findings, the images and the policies only grow; `spec.resolution` is
//! the only field a responder writes, and it cannot go back once set. The status
//! holds the work: the phase and every action, as a list map keyed by a
//! deterministic id (`scale/apps/Deployment/shop/web`), with its state and the data
//! needed to undo it — written before the change is made and never changed after
//! (a CEL rule), so a retry after a lost response cannot overwrite the original
//! replica count with 0. The incident is the operator's work queue: after a crash
//! or a leader change, the next leader finishes what is not `Done`.
//!
//! Every list is bounded (`maxItems`) and every free text too, so an incident never
//! approaches etcd's 1.5 MiB object limit.
//!
//! Incidents carry no `ownerReferences` to the pod, its workload or the policy:
//! they must outlive all of them. They carry the operator's finalizer, so deleting
//! one cannot silently lose the undo data before a responder decided.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Finding, Severity, fnv1a64};
use super::policy::{Mode, NetworkFlavor};

/// Prefix of every incident name.
pub const INCIDENT_NAME_PREFIX: &str = "cji-";
/// The operator's finalizer on incidents.
pub const INCIDENT_FINALIZER: &str = "cryptojack.dev/incident-protection";
/// Label on an incident: the UID of the top-level owner it is about.
pub const LABEL_OWNER_UID: &str = "cryptojack.dev/owner-uid";
/// Label on quarantined pods and on every object the operator creates for an
/// incident: the incident's name.
pub const LABEL_INCIDENT: &str = "cryptojack.dev/incident";
/// Label on objects the operator creates: the incident's namespace.
pub const LABEL_INCIDENT_NAMESPACE: &str = "cryptojack.dev/incident-namespace";

/// Most pods listed in `spec.pods` (the rest are counted in `podCount`).
pub const MAX_PODS: usize = 100;
/// Most findings recorded.
pub const MAX_FINDINGS: usize = 64;
/// Most images recorded.
pub const MAX_IMAGES: usize = 32;
/// Most policies recorded.
pub const MAX_POLICIES: usize = 16;
/// Most actions in an incident.
pub const MAX_ACTIONS: usize = 64;
/// Most pod names in an aggregated eviction's sample.
pub const MAX_POD_SAMPLE: usize = 10;
/// Most entries in each investigation list.
pub const MAX_INVESTIGATION_ITEMS: usize = 32;
/// Longest `spec.topIndicator` (characters).
pub const MAX_TOP_INDICATOR_CHARS: usize = 256;
/// Longest `spec.sourceDetail` (characters).
pub const MAX_SOURCE_DETAIL_CHARS: usize = 1024;
/// Longest message or error of an action (characters); see [`bounded`].
pub const MAX_MESSAGE_CHARS: usize = 512;

/// Condition type: `True` once every action is Done or Skipped; `False` with a reason
/// while containing, when partially contained, or when it failed.
pub const CONDITION_CONTAINED: &str = "Contained";
/// Condition type: `True` while the incident waits for the policy's rate limit.
pub const CONDITION_RATE_LIMITED: &str = "RateLimited";
/// Condition type: after a FalsePositive resolution, whether everything was restored.
pub const CONDITION_RESTORED: &str = "Restored";

/// One offending workload and the response to it.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "cryptojack.dev",
    version = "v1alpha1",
    kind = "CryptojackIncident",
    plural = "cryptojackincidents",
    shortname = "cji",
    category = "cryptojack",
    namespaced,
    status = "CryptojackIncidentStatus",
    doc = "One offending workload and the response to it. Never owned by the pod, the workload or the policy.",
    printcolumn = r#"{"name":"Workload","type":"string","jsonPath":".spec.workload","description":"Top-level owner (Kind/name), or Pod/name for a bare pod"}"#,
    printcolumn = r#"{"name":"Severity","type":"string","jsonPath":".spec.severity","description":"Highest severity among the findings"}"#,
    printcolumn = r#"{"name":"Indicator","type":"string","jsonPath":".spec.topIndicator","description":"The most severe finding"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Where the response stands"}"#,
    printcolumn = r#"{"name":"Contained-In","type":"string","jsonPath":".status.timeToContain","description":"Detection to containment"}"#,
    printcolumn = r#"{"name":"Cost","type":"string","jsonPath":".status.estimatedCost.display","description":"Estimated cost of the resources the workload ran on"}"#,
    printcolumn = r#"{"name":"Tier","type":"string","jsonPath":".status.costTier","description":"Playbook cost tier by hours running"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".status.mode","priority":1}"#,
    printcolumn = r#"{"name":"Pods","type":"integer","jsonPath":".spec.podCount","priority":1}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.nodeName","priority":1}"#,
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.source","priority":1}"#,
    printcolumn = r#"{"name":"Resolution","type":"string","jsonPath":".spec.resolution.state","priority":1}"#,
    selectable = ".spec.severity",
    selectable = ".spec.source"
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(oldSelf.resolution) || has(self.resolution)")
    .message("a resolution cannot be removed once set").field_path(".resolution"))]
#[x_kube(validation = Rule::new("has(oldSelf.serviceAccount) == has(self.serviceAccount)")
    .message("serviceAccount is immutable").field_path(".serviceAccount"))]
#[x_kube(validation = Rule::new("!has(oldSelf.ownerChain) || has(self.ownerChain)")
    .message("ownerChain is immutable").field_path(".ownerChain"))]
#[x_kube(validation = Rule::new("!has(oldSelf.findings) || has(self.findings)")
    .message("findings are append-only").field_path(".findings"))]
#[x_kube(validation = Rule::new("!has(oldSelf.pods) || has(self.pods)")
    .message("pods are append-only").field_path(".pods"))]
#[x_kube(validation = Rule::new("!has(self.pods) || self.podCount >= self.pods.size()")
    .message("podCount counts every pod, listed or not").field_path(".podCount"))]
pub struct CryptojackIncidentSpec {
    /// What the incident is about, for people: `Kind/name` of the top-level owner
    /// (`Deployment/miner`), or `Pod/<name>` for a bare pod.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("workload is immutable"))]
    pub workload: String,
    /// The top-level owner (the pod itself for a bare pod).
    #[x_kube(validation = Rule::new("self == oldSelf").message("topOwner is immutable"))]
    pub top_owner: ObjectRef,
    /// Owners from the pod's controller up to the top-level owner, in that order:
    /// `[ReplicaSet, Deployment]`, `[Job, CronJob]`, `[DaemonSet]`, `[]` for a bare pod.
    /// Only owners verified to control the pod are listed (see `forgedOwner`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("ownerChain is immutable"))]
    pub owner_chain: Vec<OwnerRef>,
    /// An ownerReference the pod claimed but that does not control it (a miner pod
    /// naming a production Deployment as its owner); the pod is then treated as bare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forged_owner: Option<ObjectRef>,
    /// ServiceAccount the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("serviceAccount is immutable"))]
    pub service_account: Option<String>,
    /// Node the first pod was scheduled on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub node_name: Option<String>,
    /// The pods this incident covers (append-only; at most 100, see `podCount`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_PODS))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["uid".into()]))]
    #[x_kube(validation = Rule::new("oldSelf.all(p, self.exists(q, q.uid == p.uid))")
        .message("pods are append-only"))]
    pub pods: Vec<AffectedPod>,
    /// Every pod seen, listed or not.
    #[serde(default)]
    #[schemars(range(min = 0))]
    #[x_kube(validation = Rule::new("self >= oldSelf").message("podCount only grows"))]
    pub pod_count: i32,
    /// Container images of the pods (init, regular, ephemeral), deduplicated (append-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_IMAGES), inner(length(max = 1024)))]
    #[x_kube(validation = Rule::new("oldSelf.all(i, i in self)").message("images are append-only"))]
    pub images: Vec<String>,
    /// What the detection engine found, each with the policies that produced it
    /// (append-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_FINDINGS))]
    #[x_kube(validation = Rule::new(
        "oldSelf.all(f, self.exists(g, g.rule == f.rule && g.field == f.field && g.evidence == f.evidence))"
    ).message("findings are append-only"))]
    pub findings: Vec<Finding>,
    /// More findings existed than are listed.
    #[serde(default)]
    pub findings_truncated: bool,
    /// Highest severity among `findings` (raised by a look-alike registry, never lowered).
    #[schemars(extend("maxLength" = 16))]
    pub severity: Severity,
    /// Short text of the most severe finding (rule and evidence), for the printer column.
    #[serde(default)]
    #[schemars(length(max = MAX_TOP_INDICATOR_CHARS))]
    pub top_indicator: String,
    /// Every CryptojackPolicy that matched (append-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_POLICIES), inner(length(max = 253)))]
    #[x_kube(validation = Rule::new("oldSelf.all(p, p in self)").message("policies are append-only"))]
    pub policies: Vec<String>,
    /// How the detection reached the operator.
    #[schemars(extend("maxLength" = 16))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("source is immutable"))]
    pub source: IncidentSource,
    /// Free-form detail about the source (an alerting rule, an admission request UID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SOURCE_DETAIL_CHARS))]
    pub source_detail: Option<String>,
    /// When the operator detected it.
    #[x_kube(validation = Rule::new("self == oldSelf").message("detectedAt is immutable"))]
    pub detected_at: MicroTime,
    /// `metadata.creationTimestamp` of the first pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_created_at: Option<Time>,
    /// The field manager that created the first pod (its first `managedFields` entry),
    /// e.g. `kubectl-create`, `helm`, `kube-controller-manager`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub field_manager: Option<String>,
    /// Resources requested by the pods alive at detection, summed (for the cost estimate).
    #[serde(default)]
    pub requested: RequestedResources,
    /// Name of this owner's previous incident, when it offended again after a resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub previous_incident: Option<String>,
    /// A responder's verdict; the only field a responder writes. Final once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// A pod covered by an incident.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AffectedPod {
    #[schemars(length(max = 253))]
    pub name: String,
    #[schemars(length(max = 64))]
    pub uid: String,
    /// Node the pod was scheduled on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub node: Option<String>,
    /// The pod's `metadata.creationTimestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
}

/// A reference to an owner object, with who created it when the operator could read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRef {
    #[schemars(length(max = 253))]
    pub api_version: String,
    #[schemars(length(max = 63))]
    pub kind: String,
    #[schemars(length(max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub uid: Option<String>,
    /// The field manager that created this owner (from its `managedFields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub field_manager: Option<String>,
    /// The owner's `metadata.creationTimestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
}

/// Resources requested, for the cost estimate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestedResources {
    /// CPU in millicores (requests; limits when there is no request).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub cpu_millicores: i64,
    /// GPUs by extended resource name (`nvidia.com/gpu: 8`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "gpu_count_map")]
    pub gpus: BTreeMap<String, i64>,
}

/// How the detection reached the operator.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum IncidentSource {
    /// The pod watch saw a pod created or changed.
    #[default]
    Watch,
    /// The admission webhook saw a create or update request.
    Admission,
    /// An external alert named the pod.
    Alert,
    /// A sweep over existing pods (operator start, policy change).
    Scan,
    /// A person created the incident.
    Manual,
}

impl IncidentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSource::Watch => "Watch",
            IncidentSource::Admission => "Admission",
            IncidentSource::Alert => "Alert",
            IncidentSource::Scan => "Scan",
            IncidentSource::Manual => "Manual",
        }
    }
}

/// A responder's verdict on an incident. Final once set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.state == oldSelf.state")
    .message("a resolution is final: its state cannot change").field_path(".state"))]
#[x_kube(validation = Rule::new("self.state != 'FalsePositive' || (has(self.note) && self.note.trim().size() > 0)")
    .message("a note is required when the incident is resolved as FalsePositive").field_path(".note"))]
pub struct Resolution {
    #[schemars(extend("maxLength" = 16))]
    pub state: ResolutionState,
    /// Why (required for FalsePositive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub note: Option<String>,
    /// Who resolved it (free text; the API server's audit log has the authenticated user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub by: Option<String>,
}

/// A responder's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ResolutionState {
    /// Confirmed cryptojacking; containment stays in place and the incident is closed.
    Confirmed,
    /// Not cryptojacking: the operator restores what containment changed, and the same
    /// findings on this workload are not contained again.
    FalsePositive,
}

impl ResolutionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionState::Confirmed => "Confirmed",
            ResolutionState::FalsePositive => "FalsePositive",
        }
    }
}

/// Where the response stands.
///
/// ```text
/// Detected ─┬─> Audited                               (Audit, or below minSeverity)
///           └─> Containing ─┬─> Contained ──(drift)──> Containing
///                           ├─> PartiallyContained
///                           └─> Failed
/// any of the above ──(resolution Confirmed / FalsePositive + restore)──> Resolved
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum IncidentPhase {
    /// Recorded; the response has not been planned yet.
    #[default]
    Detected,
    /// The plan is recorded as `Planned` actions and nothing is done (Audit mode, or
    /// severity below `response.minSeverity`).
    Audited,
    /// Some action is Pending.
    Containing,
    /// Every action Done or Skipped.
    Contained,
    /// Every action finished; some Failed (or a block is known not to be effective).
    PartiallyContained,
    /// Every action finished and none that mattered is Done.
    Failed,
    /// A responder resolved it (Confirmed, or FalsePositive and restored); final.
    Resolved,
}

impl IncidentPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentPhase::Detected => "Detected",
            IncidentPhase::Audited => "Audited",
            IncidentPhase::Containing => "Containing",
            IncidentPhase::Contained => "Contained",
            IncidentPhase::PartiallyContained => "PartiallyContained",
            IncidentPhase::Failed => "Failed",
            IncidentPhase::Resolved => "Resolved",
        }
    }
}

/// Observed state of an incident: the response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CryptojackIncidentStatus {
    #[serde(default)]
    #[schemars(extend("maxLength" = 32))]
    pub phase: IncidentPhase,
    /// The effective mode (Contain when any matching Contain policy's minSeverity is met).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 16))]
    pub mode: Option<Mode>,
    /// Every action, keyed by a deterministic id (`<verb>/<group or core>/<Kind>/<namespace>/<name>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_ACTIONS))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["id".into()]))]
    pub actions: Vec<Action>,
    /// From the watch event's arrival to the incident's creation, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub detection_latency_ms: Option<i64>,
    /// From the pod's `creationTimestamp` (one-second precision) to detection, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_pod_creation_seconds: Option<i64>,
    /// When every owner was suspended and every eviction or delete accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contained_at: Option<MicroTime>,
    /// `containedAt - spec.detectedAt`, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub time_to_contain_ms: Option<i64>,
    /// `timeToContainMs` for people (`412ms`, `3.2s`), for the printer column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub time_to_contain: Option<String>,
    /// When the last affected pod actually disappeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods_gone_at: Option<MicroTime>,
    /// Estimated cost of what the workload ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<EstimatedCost>,
    /// Playbook tier of `estimatedCost.hoursRunning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxLength" = 16))]
    pub cost_tier: Option<CostTier>,
    /// The workload scaled back up (or a new matching pod) after containment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// What the operator found out for the responder (RBAC, secrets, cloud identities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigation: Option<Investigation>,
    /// When the operator saw the resolution and acted on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<MicroTime>,
    /// `Contained`, `RateLimited`, `Restored`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` (spec version, e.g. the resolution) this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

/// What an action does (the verb of its id).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum ActionVerb {
    /// Save the last log lines of the pods' containers in a Secret (before eviction).
    CollectLogs,
    /// Label the pods with the per-incident quarantine label.
    Label,
    /// Deny the pods' traffic (per-incident label selector).
    Isolate,
    /// Block egress to pool ports leaving the cluster.
    BlockPorts,
    /// Scale an owner to 0 (Deployment, ReplicaSet, StatefulSet, ReplicationController,
    /// or any owner serving `scale`).
    Scale,
    /// Set `spec.suspend` of a Job or CronJob.
    Suspend,
    /// Park a DaemonSet on a node selector no node has.
    Park,
    /// Evict the pods (PodDisruptionBudget-aware; deleted after `forceAfterSeconds`).
    Evict,
    /// Delete legacy token Secrets of the ServiceAccount.
    DeleteTokens,
    /// Recreate the ServiceAccount (a new UID invalidates its bound tokens).
    RecreateServiceAccount,
    /// Remove the ServiceAccount from a RoleBinding/ClusterRoleBinding.
    QuarantineBinding,
    /// A ResourceQuota with GPU requests = 0 in the namespace.
    CapGpuQuota,
}

impl ActionVerb {
    /// The id prefix (`scale`, `evict`, ...).
    pub fn id_prefix(self) -> &'static str {
        match self {
            ActionVerb::CollectLogs => "collect-logs",
            ActionVerb::Label => "label",
            ActionVerb::Isolate => "isolate",
            ActionVerb::BlockPorts => "block-ports",
            ActionVerb::Scale => "scale",
            ActionVerb::Suspend => "suspend",
            ActionVerb::Park => "park",
            ActionVerb::Evict => "evict",
            ActionVerb::DeleteTokens => "delete-tokens",
            ActionVerb::RecreateServiceAccount => "recreate-serviceaccount",
            ActionVerb::QuarantineBinding => "quarantine-binding",
            ActionVerb::CapGpuQuota => "cap-gpu-quota",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionVerb::CollectLogs => "CollectLogs",
            ActionVerb::Label => "Label",
            ActionVerb::Isolate => "Isolate",
            ActionVerb::BlockPorts => "BlockPorts",
            ActionVerb::Scale => "Scale",
            ActionVerb::Suspend => "Suspend",
            ActionVerb::Park => "Park",
            ActionVerb::Evict => "Evict",
            ActionVerb::DeleteTokens => "DeleteTokens",
            ActionVerb::RecreateServiceAccount => "RecreateServiceAccount",
            ActionVerb::QuarantineBinding => "QuarantineBinding",
            ActionVerb::CapGpuQuota => "CapGpuQuota",
        }
    }
}

/// Progress of an action (or of its restore).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ActionState {
    /// In the plan, not to be run (Audit mode, below minSeverity, rate-limited).
    #[default]
    Planned,
    /// To be run or running; the undo data (if any) is recorded.
    Pending,
    /// Done and verified.
    Done,
    /// Gave up; `error` says why.
    Failed,
    /// Not applicable, protected, or not permitted; `message` says why.
    Skipped,
}

impl ActionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Planned => "Planned",
            ActionState::Pending => "Pending",
            ActionState::Done => "Done",
            ActionState::Failed => "Failed",
            ActionState::Skipped => "Skipped",
        }
    }

    /// Done, Failed or Skipped.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ActionState::Done | ActionState::Failed | ActionState::Skipped
        )
    }
}

/// One action and its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.state != 'Failed' || (has(self.error) && self.error.size() > 0)")
    .message("a Failed action must say why in error").field_path(".error"))]
#[x_kube(validation = Rule::new("!has(oldSelf.undo) || has(self.undo)")
    .message("undo data is write-once").field_path(".undo"))]
pub struct Action {
    /// `<verb>/<group or core>/<Kind>/<namespace or _>/<name>`, e.g. `scale/apps/Deployment/shop/web`.
    #[schemars(length(min = 1, max = 512))]
    pub id: String,
    #[schemars(extend("maxLength" = 32))]
    pub verb: ActionVerb,
    /// The object acted on.
    pub target: ObjectRef,
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub state: ActionState,
    /// How many times it was tried.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub attempts: i32,
    /// What happened, for people (what it did, why it was Skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_MESSAGE_CHARS))]
    pub message: Option<String>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_MESSAGE_CHARS))]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<MicroTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<MicroTime>,
    /// What is needed to undo it: written before the change is made, never changed after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("undo data is write-once"))]
    pub undo: Option<Undo>,
    /// Eviction of an owner's pods: counters and a sample of names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodProgress>,
    /// The UID of an object the action created (a recreated ServiceAccount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub new_uid: Option<String>,
    /// Progress of the undo, once a FalsePositive resolution asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreProgress>,
}

/// A reference to any object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[schemars(length(max = 253))]
    pub api_version: String,
    #[schemars(length(max = 63))]
    pub kind: String,
    /// Absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    #[schemars(length(max = 253))]
    pub name: String,
    /// UID of the object when the action was planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub uid: Option<String>,
}

impl ObjectRef {
    /// The API group (`""` for core).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }
}

/// What is needed to undo an action. Only the fields of the action's verb are set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Undo {
    /// Scale: the original `spec.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// Suspend: the original `spec.suspend` (absent counts as false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Park: the original `spec.template.spec.nodeSelector` (`{}` when it had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "string_map_nullable")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Park: the node-selector key added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 317))]
    pub parking_key: Option<String>,
    /// Label: the label added to the pods (`key=value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub label: Option<String>,
    /// Objects the action created, deleted on restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub created: Vec<ObjectRef>,
    /// RecreateServiceAccount: the ServiceAccount as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountUndo>,
    /// DeleteTokens: the legacy token Secrets deleted (cannot be restored; for the report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub deleted_secrets: Vec<String>,
    /// QuarantineBinding: the binding as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<SavedBinding>,
}

/// A ServiceAccount before it was recreated.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountUndo {
    #[schemars(length(max = 64))]
    pub old_uid: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "string_map")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 253)))]
    pub image_pull_secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

/// A RoleBinding or ClusterRoleBinding before the ServiceAccount was removed from it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedBinding {
    /// `RoleBinding` or `ClusterRoleBinding`.
    #[schemars(length(max = 32))]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    #[schemars(length(max = 253))]
    pub name: String,
    pub role_ref: SavedRoleRef,
    #[schemars(length(max = 64))]
    pub subjects: Vec<SavedSubject>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "string_map")]
    pub labels: BTreeMap<String, String>,
}

/// `roleRef` of a saved binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedRoleRef {
    #[schemars(length(max = 253))]
    pub api_group: String,
    #[schemars(length(max = 32))]
    pub kind: String,
    #[schemars(length(max = 253))]
    pub name: String,
}

/// A subject of a saved binding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedSubject {
    #[schemars(length(max = 32))]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub api_group: Option<String>,
    #[schemars(length(max = 253))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
}

/// Eviction progress of an owner's pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodProgress {
    /// Pods to remove.
    #[schemars(range(min = 0))]
    pub total: i32,
    /// Removed through the Eviction API.
    #[schemars(range(min = 0))]
    pub evicted: i32,
    /// Deleted after a PodDisruptionBudget blocked the eviction past `forceAfterSeconds`.
    #[schemars(range(min = 0))]
    pub deleted: i32,
    /// Already gone when the operator got to them.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub gone: i32,
    /// Waiting on a PodDisruptionBudget.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub blocked: i32,
    /// A sample of the pods' names, with the path each took (`web-1: evicted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_POD_SAMPLE), inner(length(max = 300)))]
    pub sample: Vec<String>,
    /// When a PodDisruptionBudget first blocked an eviction (the force deadline counts
    /// from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_since: Option<MicroTime>,
}

/// Progress of an undo.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub state: ActionState,
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub attempts: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_MESSAGE_CHARS))]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<MicroTime>,
}

/// The workload came back after containment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// How many times.
    #[schemars(range(min = 0))]
    pub count: i32,
    pub last_at: Option<MicroTime>,
    /// What changed (`Deployment shop/web scaled to 3`, `new pod web-7c9-abcde`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_MESSAGE_CHARS))]
    pub what: Option<String>,
    /// The field manager that made the change (from `managedFields`): pause it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub by: Option<String>,
}

/// What the operator found out for the responder (the playbook's "who launched it"
/// and "check for additional backdoor access").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Investigation {
    /// Bindings that grant the ServiceAccount, with what they grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_INVESTIGATION_ITEMS))]
    pub bindings: Vec<GrantingBinding>,
    /// RBAC objects and ServiceAccounts created within the policy's recent window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_INVESTIGATION_ITEMS))]
    pub recent_objects: Vec<RecentObject>,
    /// Secrets the pods mount or reference in env (possibly exposed to the miner).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_INVESTIGATION_ITEMS), inner(length(max = 253)))]
    pub secrets: Vec<String>,
    /// Cloud identities reachable from the ServiceAccount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub cloud_identities: Vec<CloudIdentity>,
    /// Some list was cut at its bound.
    #[serde(default)]
    pub truncated: bool,
    /// Where evidence (container logs) was saved: a Secret in the incident's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub evidence_secret: Option<String>,
}

/// A binding that grants the incident's ServiceAccount.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantingBinding {
    #[schemars(length(max = 32))]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    #[schemars(length(max = 253))]
    pub name: String,
    /// `ClusterRole/name` or `Role/name`.
    #[schemars(length(max = 300))]
    pub role: String,
    /// What the role grants (`get,list secrets; * pods`), cut to fit.
    #[schemars(length(max = MAX_MESSAGE_CHARS))]
    pub grants: String,
    /// Wildcard verbs on wildcard resources, or cluster-admin itself.
    #[serde(default)]
    pub cluster_admin_like: bool,
}

/// An object created recently.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentObject {
    #[schemars(length(max = 63))]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    #[schemars(length(max = 253))]
    pub name: String,
    pub created_at: Option<Time>,
    /// The field manager that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub by: Option<String>,
}

/// A cloud identity reachable from a ServiceAccount (workload identity annotations).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudIdentity {
    /// `AWS`, `GCP`, `Azure`.
    #[schemars(length(max = 16))]
    pub provider: String,
    #[schemars(length(max = 317))]
    pub annotation: String,
    #[schemars(length(max = 512))]
    pub identity: String,
    /// What to revoke or rotate in the cloud (the operator cannot).
    #[schemars(length(max = MAX_MESSAGE_CHARS))]
    pub advice: String,
}

/// Estimated cost of an incident. Amounts are decimal strings (no floats in the API).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstimatedCost {
    #[schemars(length(max = 32))]
    pub amount: String,
    /// ISO 4217 code, from the policy's `cost.currency`.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"), length(max = 3))]
    pub currency: String,
    /// From the first pod's creation to containment (or to now, while running).
    #[schemars(length(max = 32))]
    pub hours_running: String,
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub gpu_hours: String,
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub cpu_hours: String,
    /// `amount` and currency for the printer column, e.g. `1234.56 USD`.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub display: String,
}

/// The playbook's cost tiers, by how long the workload ran.
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
pub enum CostTier {
    /// Under 1 hour.
    Low,
    /// 1 to 24 hours.
    Medium,
    /// More than 1 day, up to 7 days.
    High,
    /// More than 7 days.
    Catastrophic,
}

impl CostTier {
    pub fn as_str(self) -> &'static str {
        match self {
            CostTier::Low => "Low",
            CostTier::Medium => "Medium",
            CostTier::High => "High",
            CostTier::Catastrophic => "Catastrophic",
        }
    }
}

/// Most entries of a saved label/annotation/selector map, and the longest value: an
/// annotation longer than this is not saved (the action's message says so).
pub const MAX_SAVED_MAP_ENTRIES: usize = 32;
/// Longest saved label/annotation value (characters).
pub const MAX_SAVED_VALUE_CHARS: usize = 2048;

fn string_map(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": MAX_SAVED_MAP_ENTRIES,
        "additionalProperties": {"type": "string", "maxLength": MAX_SAVED_VALUE_CHARS}
    })
}

fn string_map_nullable(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "maxProperties": MAX_SAVED_MAP_ENTRIES,
        "additionalProperties": {"type": "string", "maxLength": MAX_SAVED_VALUE_CHARS}
    })
}

fn gpu_count_map(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 32,
        "additionalProperties": {"type": "integer", "format": "int64", "minimum": 0}
    })
}

/// The network flavour an isolation action used, and why (for messages).
pub fn flavor_note(flavor: NetworkFlavor) -> &'static str {
    match flavor {
        NetworkFlavor::NetworkPolicy => {
            "NetworkPolicy (additive: another policy selecting the pods can re-allow traffic)"
        }
        _ => "a deny-capable API (enforcement by the CNI cannot be verified from the API)",
    }
}

/// The playbook tier for a workload that ran `hours`: `< 1` Low, `1..=24` Medium,
/// `(24, 168]` High, `> 168` Catastrophic. Negative and NaN count as 0.
pub fn cost_tier(hours: f64) -> CostTier {
    if hours.is_nan() || hours < 1.0 {
        CostTier::Low
    } else if hours <= 24.0 {
        CostTier::Medium
    } else if hours <= 24.0 * 7.0 {
        CostTier::High
    } else {
        CostTier::Catastrophic
    }
}

/// The base incident name for a top-level owner: `cji-` followed by 16 lowercase hex
/// digits of the FNV-1a 64 hash of the owner's UID (for a bare pod, the pod's UID).
///
/// Deterministic across runs, versions and replicas, so that every replica and every
/// retry computes the same name (a create that returns 409 AlreadyExists means the
/// incident is already there). UIDs are chosen by the API server, not the attacker.
/// A repeat offence after a resolution gets [`incident_name_nth`].
pub fn incident_name(owner_uid: &str) -> String {
    format!(
        "{INCIDENT_NAME_PREFIX}{:016x}",
        fnv1a64(owner_uid.as_bytes())
    )
}

/// The `n`-th incident of an owner (`n` ≥ 2 appends `-n`; 1 is the base name).
pub fn incident_name_nth(owner_uid: &str, n: u32) -> String {
    let base = incident_name(owner_uid);
    if n <= 1 { base } else { format!("{base}-{n}") }
}

/// The action id: `<verb>/<group or core>/<Kind>/<namespace or _>/<name>`.
pub fn action_id(verb: ActionVerb, target: &ObjectRef) -> String {
    let group = match target.group() {
        "" => "core",
        g => g,
    };
    format!(
        "{}/{}/{}/{}/{}",
        verb.id_prefix(),
        group,
        target.kind,
        target.namespace.as_deref().unwrap_or("_"),
        target.name
    )
}

/// `text` cut to at most `max_chars` characters (on a character boundary), the last
/// one replaced by `…` when something was cut. For strings whose length the schema
/// bounds (an over-long value would make the API server reject the whole write).
pub fn bounded(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    if max_chars > 0 {
        out.push('…');
    }
    out
}

/// A duration in milliseconds for people: `412ms`, `3.2s`, `4m05s`, `2h13m`.
pub fn human_ms(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_tier_boundaries_follow_the_playbook() {
        assert_eq!(cost_tier(0.0), CostTier::Low);
        assert_eq!(cost_tier(0.99), CostTier::Low);
        assert_eq!(cost_tier(1.0), CostTier::Medium);
        assert_eq!(cost_tier(24.0), CostTier::Medium);
        assert_eq!(cost_tier(24.01), CostTier::High);
        assert_eq!(cost_tier(168.0), CostTier::High);
        assert_eq!(cost_tier(168.5), CostTier::Catastrophic);
        assert_eq!(cost_tier(-3.0), CostTier::Low);
        assert_eq!(cost_tier(f64::NAN), CostTier::Low);
        assert_eq!(cost_tier(f64::INFINITY), CostTier::Catastrophic);
    }

    #[test]
    fn bounded_cuts_on_characters() {
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("exactly10!", 10), "exactly10!");
        assert_eq!(bounded("0123456789abc", 10), "012345678…");
        assert_eq!(bounded("ééééé", 3), "éé…");
        assert_eq!(bounded("ééééé", 3).chars().count(), 3);
        assert_eq!(bounded("abc", 0), "");
    }

    #[test]
    fn incident_name_is_deterministic_dns1123_and_distinct() {
        let a = incident_name("0f8d6a52-3c1e-4b7a-9d2f-6e5c4b3a2910");
        assert_eq!(a, incident_name("0f8d6a52-3c1e-4b7a-9d2f-6e5c4b3a2910"));
        assert_ne!(a, incident_name("0f8d6a52-3c1e-4b7a-9d2f-6e5c4b3a2911"));
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("cji-"));
        assert!(
            a[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        // FNV-1a 64 reference value of the empty input is the offset basis.
        assert_eq!(incident_name(""), "cji-cbf29ce484222325");
        // Reference value of "a" (published FNV-1a 64 test vector).
        assert_eq!(incident_name("a"), "cji-af63dc4c8601ec8c");
        assert_eq!(incident_name_nth("a", 1), "cji-af63dc4c8601ec8c");
        assert_eq!(incident_name_nth("a", 3), "cji-af63dc4c8601ec8c-3");
    }

    #[test]
    fn action_ids_follow_the_documented_shape() {
        let deploy = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
            uid: None,
        };
        assert_eq!(
            action_id(ActionVerb::Scale, &deploy),
            "scale/apps/Deployment/shop/web"
        );
        let pod = ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some("shop".into()),
            name: "x".into(),
            uid: None,
        };
        assert_eq!(action_id(ActionVerb::Evict, &pod), "evict/core/Pod/shop/x");
        let crb = ObjectRef {
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind: "ClusterRoleBinding".into(),
            namespace: None,
            name: "b".into(),
            uid: None,
        };
        assert_eq!(
            action_id(ActionVerb::QuarantineBinding, &crb),
            "quarantine-binding/rbac.authorization.k8s.io/ClusterRoleBinding/_/b"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_ms(0), "0ms");
        assert_eq!(human_ms(412), "412ms");
        assert_eq!(human_ms(3_250), "3.2s");
        assert_eq!(human_ms(245_000), "4m05s");
        assert_eq!(human_ms(7_980_000), "2h13m");
        assert_eq!(human_ms(-5), "0ms");
    }

    #[test]
    fn severity_raise_is_capped() {
        assert_eq!(Severity::Low.raised(Severity::High), Severity::Medium);
        assert_eq!(Severity::Medium.raised(Severity::High), Severity::High);
        assert_eq!(Severity::High.raised(Severity::High), Severity::High);
        assert_eq!(
            Severity::Critical.raised(Severity::High),
            Severity::Critical
        );
    }
}
