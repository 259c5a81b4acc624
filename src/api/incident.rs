//! `CryptojackIncident`: the durable record of one detection and of everything
//! done about it.
//!
//! The spec holds the facts, written once by the operator when it detects
//! (plus `resolution`, which a responder sets). The status holds the work: the
//! phase, every containment action with its state and the data needed to undo
//! it, times, and the cost estimate. The incident is the operator's durable work
//! queue: after a crash or a leader change, the reconciler finishes whatever
//! action is not recorded as done.
//!
//! Incidents carry no `ownerReferences` to the pod, its workload or the policy:
//! they must outlive all of them (garbage collection would otherwise delete the
//! record of an attack together with the attacker's pod). The operator that
//! creates them must not add any.
//!
//! Times that measure the response (`detectedAt`, action start/finish,
//! `containedAt`) are `MicroTime`s, so that sub-second containment is visible in
//! the record; times copied from other objects (`podCreatedAt`) are `Time`s like
//! the objects they come from.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Finding, Severity};

/// Prefix of every incident name.
pub const INCIDENT_NAME_PREFIX: &str = "cji-";

/// Longest `spec.topIndicator` the schema accepts (characters); see [`bounded`].
pub const MAX_TOP_INDICATOR_CHARS: usize = 256;
/// Longest `spec.sourceDetail` the schema accepts (characters).
pub const MAX_SOURCE_DETAIL_CHARS: usize = 1024;
/// Longest `lastError`/`message` of an action the schema accepts (characters).
pub const MAX_ACTION_MESSAGE_CHARS: usize = 2048;

/// Condition type: `True` once the containment plan finished (every action
/// Succeeded or Skipped), `False` with a reason while it runs or when it failed.
pub const CONDITION_CONTAINED: &str = "Contained";

/// One detection of cryptojacking and the response to it.
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
    doc = "One detection of cryptojacking and the response to it. Never owned by the pod or the policy.",
    printcolumn = r#"{"name":"Workload","type":"string","jsonPath":".spec.workload","description":"Top-level owner (Kind/name), or Pod/name for a bare pod"}"#,
    printcolumn = r#"{"name":"Severity","type":"string","jsonPath":".spec.severity","description":"Highest severity among the findings"}"#,
    printcolumn = r#"{"name":"Indicator","type":"string","jsonPath":".spec.topIndicator","description":"The most severe finding"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Where the response stands"}"#,
    printcolumn = r#"{"name":"Cost","type":"string","jsonPath":".status.estimatedCost.display","description":"Estimated cost of the resources the workload ran on"}"#,
    printcolumn = r#"{"name":"Tier","type":"string","jsonPath":".status.costTier","description":"Playbook cost tier by hours running"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.source","priority":1}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.nodeName","priority":1}"#,
    printcolumn = r#"{"name":"Policy","type":"string","jsonPath":".spec.policy","priority":1}"#,
    printcolumn = r#"{"name":"Resolution","type":"string","jsonPath":".spec.resolution.state","priority":1}"#,
    selectable = ".spec.severity",
    selectable = ".spec.source"
)]
#[serde(rename_all = "camelCase")]
pub struct CryptojackIncidentSpec {
    /// What the incident is about, for people: `Kind/name` of the top-level owner
    /// (`Deployment/miner`), or `Pod/<name>` when the pod has no owner.
    #[schemars(length(min = 1, max = 512))]
    pub workload: String,
    /// The pods this incident covers (empty when the source was an admission
    /// request that was denied, so no pod exists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<AffectedPod>,
    /// The top-level owner (the end of `ownerChain`); absent for a bare pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRef>,
    /// Owners from the pod's controller up to the top-level owner, in that order:
    /// `[ReplicaSet, Deployment]`, `[Job, CronJob]`, `[DaemonSet]`, `[]` for a bare pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_chain: Vec<OwnerRef>,
    /// ServiceAccount the pods run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Node the (first) pod was scheduled on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Every container image of the pods (init, regular, ephemeral), deduplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// What the detection engine found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Highest severity among `findings`.
    pub severity: Severity,
    /// Short text of the most severe finding (rule and evidence), for the printer column.
    /// At most [`MAX_TOP_INDICATOR_CHARS`] characters (use [`bounded`]).
    #[serde(default)]
    #[schemars(length(max = MAX_TOP_INDICATOR_CHARS))]
    pub top_indicator: String,
    /// Name of the CryptojackPolicy that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// How the detection reached the operator.
    #[schemars(extend("maxLength" = 16))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("source is immutable"))]
    pub source: IncidentSource,
    /// Free-form detail about the source: the alerting rule (`falco: Detect outbound
    /// connections to common miner pool ports`), the admission request UID, the user
    /// who created a Manual incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SOURCE_DETAIL_CHARS))]
    pub source_detail: Option<String>,
    /// When the operator detected it.
    #[x_kube(validation = Rule::new("self == oldSelf").message("detectedAt is immutable"))]
    pub detected_at: MicroTime,
    /// `metadata.creationTimestamp` of the (first) pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_created_at: Option<Time>,
    /// The field manager that created the pod (`metadata.managedFields[]` entry with
    /// operation `Update` or `Apply` that was first), e.g. `kubectl-run`, `helm`,
    /// `kube-controller-manager` (a controller created it; see `ownerChain` for who
    /// created the owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_manager: Option<String>,
    /// Resources the pods request, summed over the pods (for the cost estimate).
    #[serde(default)]
    pub requested: RequestedResources,
    /// A responder's verdict. Setting `FalsePositive` or `Authorized` asks the
    /// operator to undo the containment (status phase `Restoring` then `Restored`).
    #[serde(default)]
    pub resolution: Resolution,
}

/// A pod covered by an incident.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AffectedPod {
    pub name: String,
    pub uid: String,
    /// Node the pod was scheduled on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `status.phase` when last seen (`Pending`, `Running`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// A reference to an owner object (from `metadata.ownerReferences`), with who
/// created it when the operator could read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The field manager that created this owner (from its `managedFields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_manager: Option<String>,
    /// The owner's `metadata.creationTimestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
}

/// Resources requested by the affected pods, for the cost estimate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestedResources {
    /// CPU cores requested (limits when there is no request), summed over pods and containers.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub cpu_cores: f64,
    /// GPUs requested, by extended resource name (`nvidia.com/gpu: 8`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gpus: BTreeMap<String, u32>,
}

/// How the detection reached the operator.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum IncidentSource {
    /// The operator's pod watch saw a pod created or changed.
    #[default]
    Watch,
    /// The admission webhook saw (and possibly denied) a create or update request.
    Admission,
    /// An external alert (Falco/Falcosidekick, generic JSON webhook) named the pod.
    Alert,
    /// A sweep over existing pods (operator start, periodic resync, policy change).
    Scan,
    /// A person created the incident (e.g. from an EDR or cloud provider alert).
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

/// A responder's verdict on an incident.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.state == 'Unresolved' || self.state == 'TruePositive' || (has(self.note) && self.note.trim().size() > 0)"
).message("a note is required when the incident is resolved as FalsePositive or Authorized").field_path(".note"))]
#[x_kube(validation = Rule::new("self.state == 'Unresolved' || (has(self.by) && self.by.size() > 0)")
    .message("resolution.by (who resolved the incident) is required once state is not Unresolved").field_path(".by"))]
pub struct Resolution {
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub state: ResolutionState,
    /// Why (required for FalsePositive and Authorized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub note: Option<String>,
    /// Who resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub by: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Time>,
}

/// A responder's verdict.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ResolutionState {
    /// Nobody has looked yet.
    #[default]
    Unresolved,
    /// Confirmed cryptojacking; containment stays in place.
    TruePositive,
    /// Not cryptojacking; the operator undoes the containment.
    FalsePositive,
    /// Cryptocurrency work that is allowed here (approved research, a sanctioned
    /// GPU job); the operator undoes the containment.
    Authorized,
}

/// Where the response stands.
///
/// ```text
/// Detected ─┬─> AuditOnly                       (Audit mode, or below response.minSeverity)
///           └─> Containing ─┬─> Contained
///                           ├─> PartiallyContained
///                           └─> Failed
/// any of the above ──(resolution FalsePositive/Authorized)──> Restoring ─> Restored
/// any of the above ──(resolution TruePositive)──────────────> Resolved
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum IncidentPhase {
    /// Recorded; the response has not been planned yet.
    #[default]
    Detected,
    /// No action will be taken: the policy is in Audit mode or the severity is below
    /// `response.minSeverity`.
    AuditOnly,
    /// Actions are planned and at least one is Pending or Running.
    Containing,
    /// Every action Succeeded or was Skipped (not applicable).
    Contained,
    /// Every action finished; some Succeeded and some Failed (e.g. the pod was
    /// evicted but the ServiceAccount could not be revoked).
    PartiallyContained,
    /// Every action finished and none Succeeded.
    Failed,
    /// A responder resolved the incident as FalsePositive or Authorized; the
    /// operator is undoing the actions that have undo data.
    Restoring,
    /// Every undoable action was undone.
    Restored,
    /// A responder confirmed the incident (TruePositive) and closed it; nothing more happens.
    Resolved,
}

impl IncidentPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentPhase::Detected => "Detected",
            IncidentPhase::AuditOnly => "AuditOnly",
            IncidentPhase::Containing => "Containing",
            IncidentPhase::Contained => "Contained",
            IncidentPhase::PartiallyContained => "PartiallyContained",
            IncidentPhase::Failed => "Failed",
            IncidentPhase::Restoring => "Restoring",
            IncidentPhase::Restored => "Restored",
            IncidentPhase::Resolved => "Resolved",
        }
    }

    /// Phases in which the operator still has work to do.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            IncidentPhase::Detected | IncidentPhase::Containing | IncidentPhase::Restoring
        )
    }
}

/// Observed state of an incident: the response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CryptojackIncidentStatus {
    #[serde(default)]
    pub phase: IncidentPhase,
    /// Every containment action, in the order they are run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ContainmentAction>,
    /// When the last containment action finished (phase became Contained,
    /// PartiallyContained or Failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contained_at: Option<MicroTime>,
    /// `containedAt - spec.detectedAt`, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_contain_ms: Option<u64>,
    /// Estimated cost of what the workload ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<EstimatedCost>,
    /// Playbook tier of `estimatedCost.hoursRunning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_tier: Option<CostTier>,
    /// `Contained` (see [`CONDITION_CONTAINED`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` (spec version, e.g. the resolution) this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

/// What a containment action does.
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
pub enum ActionKind {
    /// Evict a pod (Eviction API, PodDisruptionBudget-aware; deletion after `forceAfterSeconds`).
    Evict,
    /// Stop the top-level owner from recreating pods: scale to 0, suspend a Job/CronJob,
    /// park a DaemonSet on a node selector that matches no node.
    SuspendOwner,
    /// Deny the pods' egress with a per-incident label and NetworkPolicy.
    IsolateNetwork,
    /// Delete legacy token Secrets and recreate the ServiceAccount (a new UID
    /// invalidates every bound token issued for the old one).
    RevokeServiceAccount,
    /// Remove (and save) the RoleBindings/ClusterRoleBindings that grant the ServiceAccount.
    QuarantineBindings,
    /// A ResourceQuota with GPU requests = 0 in the namespace.
    CapGpuQuota,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Evict => "Evict",
            ActionKind::SuspendOwner => "SuspendOwner",
            ActionKind::IsolateNetwork => "IsolateNetwork",
            ActionKind::RevokeServiceAccount => "RevokeServiceAccount",
            ActionKind::QuarantineBindings => "QuarantineBindings",
            ActionKind::CapGpuQuota => "CapGpuQuota",
        }
    }
}

/// Progress of an action (or of its undo).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum ActionState {
    /// Planned, not started.
    #[default]
    Pending,
    /// Started; may be retried (e.g. an eviction blocked by a PodDisruptionBudget).
    Running,
    /// Done and verified.
    Succeeded,
    /// Gave up; `lastError` says why.
    Failed,
    /// Not applicable (a bare pod has no owner to suspend) or disabled; `message` says why.
    Skipped,
}

impl ActionState {
    /// Succeeded, Failed or Skipped.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ActionState::Succeeded | ActionState::Failed | ActionState::Skipped
        )
    }
}

/// One containment action and its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.state != 'Failed' || (has(self.lastError) && self.lastError.size() > 0)")
    .message("a Failed action must say why in lastError").field_path(".lastError"))]
pub struct ContainmentAction {
    pub kind: ActionKind,
    /// The object acted on.
    pub target: ObjectRef,
    #[serde(default)]
    #[schemars(extend("maxLength" = 16))]
    pub state: ActionState,
    /// How many times the action was tried.
    #[serde(default)]
    pub attempts: u32,
    /// Why the last attempt failed (at most [`MAX_ACTION_MESSAGE_CHARS`]; use [`bounded`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ACTION_MESSAGE_CHARS))]
    pub last_error: Option<String>,
    /// What happened, for people (why it was Skipped, what it did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ACTION_MESSAGE_CHARS))]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<MicroTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<MicroTime>,
    /// What is needed to undo the action; written before the change is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<UndoData>,
    /// Progress of the undo, once a restore was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreProgress>,
}

/// A reference to any object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// Absent for cluster-scoped objects (ClusterRoleBinding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// UID of the object when the action started (a recreated object has another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// What is needed to undo a containment action. Only the fields of the action's
/// kind are set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UndoData {
    /// SuspendOwner on a Deployment/ReplicaSet/StatefulSet/ReplicationController:
    /// the original `spec.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// SuspendOwner on a Job/CronJob: the original `spec.suspend` (absent counts as false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// SuspendOwner on a DaemonSet: the original `spec.template.spec.nodeSelector`
    /// (`{}` when it had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// SuspendOwner on a DaemonSet: the node-selector key added to park it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parking_key: Option<String>,
    /// IsolateNetwork: the per-incident pod label (`key=value`) added to the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_label: Option<String>,
    /// IsolateNetwork: names of the policies created (NetworkPolicy, and
    /// AdminNetworkPolicy/Cilium/Calico policies where used), as `Kind/name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_policies: Vec<String>,
    /// RevokeServiceAccount: the ServiceAccount as it was before it was recreated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountUndo>,
    /// QuarantineBindings: the removed bindings, to be recreated on restore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<SavedObject>,
    /// CapGpuQuota: the quota and the values it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_quota: Option<QuotaUndo>,
}

/// A ServiceAccount before revocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountUndo {
    /// UID of the ServiceAccount that was deleted (tokens bound to it stay invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_uid: Option<String>,
    /// Legacy token Secrets that were deleted (cannot be restored; recorded for the report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_secrets: Vec<String>,
    /// The ServiceAccount object as it was (without uid/resourceVersion), to recreate
    /// its labels, annotations, imagePullSecrets and automount setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub object: Option<serde_json::Value>,
}

/// A whole object saved for restore (e.g. a RoleBinding).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedObject {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// The object as it was (JSON), without uid/resourceVersion/managedFields.
    #[schemars(schema_with = "preserve_unknown_required")]
    pub object: serde_json::Value,
}

/// A ResourceQuota before the GPU cap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUndo {
    pub name: String,
    /// True when the operator created the quota (restore deletes it).
    #[serde(default)]
    pub created: bool,
    /// `spec.hard` entries the cap replaced (resource name → quantity); absent keys were unset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub previous_hard: BTreeMap<String, String>,
}

/// Progress of an undo.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreProgress {
    #[serde(default)]
    pub state: ActionState,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<MicroTime>,
}

/// Estimated cost of an incident.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstimatedCost {
    #[schemars(range(min = 0))]
    pub amount: f64,
    /// ISO 4217 code, from the policy's `cost.currency`.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// From the first pod's creation to containment (or to now, while running).
    #[schemars(range(min = 0))]
    pub hours_running: f64,
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub gpu_hours: f64,
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub cpu_hours: f64,
    /// `amount` and currency for the printer column, e.g. `1234.56 USD`.
    #[serde(default)]
    pub display: String,
}

impl EstimatedCost {
    /// Builds an estimate; `display` is `amount` with two decimals and the currency.
    pub fn new(
        amount: f64,
        currency: &str,
        hours_running: f64,
        gpu_hours: f64,
        cpu_hours: f64,
    ) -> Self {
        EstimatedCost {
            amount,
            currency: currency.to_string(),
            hours_running,
            gpu_hours,
            cpu_hours,
            display: format!("{amount:.2} {currency}"),
        }
    }
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
    /// Under 1 hour (playbook: $100 - $1,000).
    Low,
    /// 1 to 24 hours (playbook: $1,000 - $50,000).
    Medium,
    /// More than 1 day, up to 7 days (playbook: $50,000 - $500,000).
    High,
    /// More than 7 days (playbook: $500,000+).
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

/// The incident name for a pod: `cji-` followed by 16 lowercase hex digits of the
/// 64-bit FNV-1a hash of the pod UID (for an admission denial, where no pod exists
/// yet, the admission request UID).
///
/// Deterministic across runs, versions and replicas, so that every replica and
/// every retry computes the same name and an incident is created once per pod
/// (a create that returns 409 AlreadyExists means the incident is already there).
/// The result is a valid DNS-1123 subdomain and label (20 characters). FNV-1a is
/// not collision resistant against chosen inputs, but pod UIDs are chosen by the
/// API server, not by the attacker.
pub fn incident_name(pod_uid: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = pod_uid
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("{INCIDENT_NAME_PREFIX}{hash:016x}")
}

/// `text` cut to at most `max_chars` characters (on a character boundary), the
/// last one replaced by `…` when something was cut. For strings whose length the
/// schema bounds (an over-long value would make the API server reject the
/// whole incident or status update).
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

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true
    })
}

fn preserve_unknown_required(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
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
    }
}
