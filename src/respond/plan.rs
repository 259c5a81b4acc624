//! PURE: which actions an incident calls for, in which order, and what is skipped and
//! why. Takes values (the incident, the merged response of the matching policies, the
//! facts the controller read), returns values. No client, no async, no clock.

use std::collections::{BTreeMap, BTreeSet};

use super::network::{self, Resolved};
use crate::api::{
    Action, ActionState, ActionVerb, BlockScope, Category, CostSpec, CryptojackIncident,
    DnsAllowance, EstimatedCost, IncidentPhase, MAX_MESSAGE_CHARS, Mode, NetworkFlavor, ObjectRef,
    OwnerKind, SavedBinding, ServiceAccountRevocation, ServiceAccountUndo, Severity, action_id,
    bounded, cost_tier,
};
use crate::detect::{CompiledPolicy, WorkloadMatcher};

/// The response of every policy that matched an incident, merged: the strictest mode
/// and the union of enabled actions over the Contain policies whose `minSeverity` the
/// incident meets; the shortest grace period and force deadline win.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub mode: Mode,
    /// Policies whose response is in force (Contain and severity met), or, in Audit,
    /// every matching policy (the plan Contain would run).
    pub policies: Vec<String>,
    pub evict: bool,
    pub grace_period_seconds: i64,
    pub force_after_seconds: i64,
    pub suspend: bool,
    pub suspend_kinds: BTreeSet<OwnerKind>,
    /// Why the workload is protected (isolated and evicted only), if it is.
    pub protected_by: Option<String>,
    /// Most incidents per minute (the smallest limit of the policies in force).
    pub max_incidents_per_minute: i32,
    pub cost: CostSpec,
    /// Quarantine of the pods (None: no policy in force enables it).
    pub isolation: Option<Isolation>,
    /// Stratum-port block (None: disabled).
    pub stratum: Option<Stratum>,
    /// The strictest ServiceAccount revocation of the policies in force.
    pub revoke_service_account: ServiceAccountRevocation,
    pub quarantine_bindings: bool,
    /// The longest recent window (seconds) for the investigation.
    pub recent_window_seconds: i64,
    pub gpu_quota: bool,
    /// Container logs saved before eviction: (tail lines, bytes per container).
    pub collect_logs: Option<(i32, i32)>,
}

/// Quarantine settings merged over the policies in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Isolation {
    /// The first flavour a policy forces, else Auto.
    pub flavor: NetworkFlavor,
    pub deny_ingress: bool,
    pub dns: Option<DnsAllowance>,
}

/// Stratum-port block settings merged over the policies in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Stratum {
    pub ports: Vec<i32>,
    pub scope: BlockScope,
    pub in_cluster_cidrs: Vec<String>,
}

/// Seconds of a `24h`/`90m`/`1h30m` duration (0 when it does not parse).
pub fn duration_seconds(text: &str) -> i64 {
    let mut total = 0i64;
    let mut n = 0i64;
    for c in text.trim().chars() {
        match c {
            '0'..='9' => n = n.saturating_mul(10).saturating_add(c as i64 - '0' as i64),
            'h' => {
                total += n * 3600;
                n = 0;
            }
            'm' => {
                total += n * 60;
                n = 0;
            }
            's' => {
                total += n;
                n = 0;
            }
            _ => return 0,
        }
    }
    total
}

/// Merges the response of `policies` (those named by the incident that still exist)
/// for an incident of `severity` on workload `kind/name` in `namespace`.
pub fn merge_response(
    policies: &[&CompiledPolicy],
    severity: Severity,
    namespace: &str,
    workload_kind: &str,
    workload_name: &str,
    pod_labels: &BTreeMap<String, String>,
) -> Response {
    let contain: Vec<&&CompiledPolicy> = policies
        .iter()
        .filter(|p| p.mode() == Mode::Contain && severity >= p.spec().response.min_severity)
        .collect();
    let (mode, in_force): (Mode, Vec<&&CompiledPolicy>) = if contain.is_empty() {
        (Mode::Audit, policies.iter().collect())
    } else {
        (Mode::Contain, contain)
    };
    let mut r = Response {
        mode,
        policies: in_force.iter().map(|p| p.name().to_string()).collect(),
        evict: false,
        grace_period_seconds: i64::MAX,
        force_after_seconds: i64::MAX,
        suspend: false,
        suspend_kinds: BTreeSet::new(),
        protected_by: None,
        max_incidents_per_minute: i32::MAX,
        cost: in_force
            .first()
            .map(|p| p.spec().cost.clone())
            .unwrap_or_default(),
        isolation: None,
        stratum: None,
        revoke_service_account: ServiceAccountRevocation::Never,
        quarantine_bindings: false,
        recent_window_seconds: 0,
        gpu_quota: false,
        collect_logs: None,
    };
    for p in &in_force {
        let resp = &p.spec().response;
        if resp.evict.enabled {
            r.evict = true;
            r.grace_period_seconds = r.grace_period_seconds.min(resp.evict.grace_period_seconds);
            r.force_after_seconds = r.force_after_seconds.min(resp.evict.force_after_seconds);
        }
        if resp.suspend_owner.enabled {
            r.suspend = true;
            r.suspend_kinds
                .extend(resp.suspend_owner.kinds.iter().copied());
        }
        let protect: Vec<WorkloadMatcher> = p.protect();
        if r.protected_by.is_none()
            && protect
                .iter()
                .any(|m| m.matches(namespace, workload_kind, workload_name, pod_labels))
        {
            r.protected_by = Some(format!(
                "protected by policy {} (spec.response.protect): isolated and evicted only",
                p.name()
            ));
        }
        r.max_incidents_per_minute = r
            .max_incidents_per_minute
            .min(p.spec().limits.max_incidents_per_minute);
        let ni = &resp.network_isolation;
        if ni.enabled {
            let iso = r.isolation.get_or_insert(Isolation {
                flavor: NetworkFlavor::Auto,
                deny_ingress: false,
                dns: ni.allow_dns.enabled.then(|| ni.allow_dns.clone()),
            });
            if iso.flavor == NetworkFlavor::Auto {
                iso.flavor = ni.flavor;
            }
            iso.deny_ingress |= ni.deny_ingress;
            if !ni.allow_dns.enabled {
                // the strictest: a policy that allows no DNS wins
                iso.dns = None;
            }
        }
        let sb = &resp.stratum_port_block;
        if sb.enabled {
            let st = r.stratum.get_or_insert(Stratum {
                ports: Vec::new(),
                scope: BlockScope::Namespace,
                in_cluster_cidrs: Vec::new(),
            });
            st.ports.extend(sb.ports.iter().copied());
            st.ports.sort_unstable();
            st.ports.dedup();
            if sb.scope == BlockScope::Cluster {
                st.scope = BlockScope::Cluster;
            }
            for c in &sb.in_cluster_cidrs {
                if !st.in_cluster_cidrs.contains(c) {
                    st.in_cluster_cidrs.push(c.clone());
                }
            }
        }
        let rc = &resp.revoke_credentials;
        let rank = |s: ServiceAccountRevocation| match s {
            ServiceAccountRevocation::Never => 0,
            ServiceAccountRevocation::IfDedicated => 1,
            ServiceAccountRevocation::Always => 2,
        };
        if rank(rc.service_account) > rank(r.revoke_service_account) {
            r.revoke_service_account = rc.service_account;
        }
        r.quarantine_bindings |= rc.quarantine_bindings;
        r.recent_window_seconds = r
            .recent_window_seconds
            .max(duration_seconds(&rc.recent_window));
        r.gpu_quota |= resp.gpu_quota.enabled;
        let ev = &resp.evidence;
        if ev.collect_logs {
            let (t, b) = r.collect_logs.unwrap_or((0, 0));
            r.collect_logs = Some((t.max(ev.tail_lines), b.max(ev.limit_bytes)));
        }
    }
    if r.grace_period_seconds == i64::MAX {
        r.grace_period_seconds = 5;
    }
    if r.force_after_seconds == i64::MAX {
        r.force_after_seconds = 30;
    }
    if r.max_incidents_per_minute == i32::MAX {
        r.max_incidents_per_minute = 10;
    }
    r
}

/// The state of the top-level owner, as read by the controller.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnerState {
    /// A bare pod: nothing recreates it.
    BarePod,
    /// The owner no longer exists.
    Gone,
    /// Scaled through `spec.replicas` or the `scale` subresource.
    Replicas {
        replicas: i32,
        /// The field manager that last set `spec.replicas` (for drift).
        manager: Option<String>,
    },
    /// A Job or CronJob.
    Suspend { suspend: bool },
    /// A DaemonSet: its pod template's node selector.
    DaemonSet {
        node_selector: BTreeMap<String, String>,
    },
    /// Neither scalable nor suspendable.
    Unsupported { reason: String },
}

/// A Job a CronJob started and that is still active.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveJob {
    pub target: ObjectRef,
    pub suspend: bool,
}

/// What the controller read before planning.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub operator_namespace: String,
    pub owner: OwnerState,
    /// Live, non-terminating pods of the workload.
    pub live_pods: Vec<String>,
    pub active_jobs: Vec<ActiveJob>,
    /// Live pods that lack the incident's quarantine label.
    pub unlabelled_pods: Vec<String>,
    /// The network API the quarantine uses, or why there is none.
    pub network: Result<Resolved, String>,
    /// The ServiceAccount (read once, before any credential action is planned).
    pub service_account: Option<ServiceAccountFacts>,
    /// Bindings that name the ServiceAccount as a subject (None: not read, or not
    /// permitted: the reason).
    pub bindings: Option<Result<Vec<SavedBinding>, String>>,
    /// Resources the GPU quota caps (`requests.<name>`).
    pub gpu_resources: Vec<String>,
}

impl Facts {
    /// Facts with nothing read beyond the owner.
    pub fn new(operator_namespace: &str, owner: OwnerState) -> Facts {
        Facts {
            operator_namespace: operator_namespace.to_string(),
            owner,
            live_pods: Vec::new(),
            active_jobs: Vec::new(),
            unlabelled_pods: Vec::new(),
            network: Ok(Resolved::NetworkPolicy),
            service_account: None,
            bindings: None,
            gpu_resources: Vec::new(),
        }
    }
}

/// The ServiceAccount the pods ran as.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAccountFacts {
    pub name: String,
    /// None: it does not exist.
    pub saved: Option<ServiceAccountUndo>,
    /// Pods outside the incident that use it (names, bounded).
    pub shared_with: Vec<String>,
    /// Its legacy token Secrets, or why they could not be listed.
    pub token_secrets: Result<Vec<String>, String>,
}

/// One action of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub id: String,
    pub verb: ActionVerb,
    pub target: ObjectRef,
    /// Why it is not run (protected, disabled, not applicable).
    pub skip: Option<String>,
    /// The action was done but the cluster drifted back (owner scaled up, new pods).
    pub drift: Option<String>,
    /// The object the action creates (network policies, the GPU quota).
    pub object: Option<serde_json::Value>,
}

/// The node-selector key that parks a DaemonSet.
pub const PARKING_KEY: &str = "cryptojack.dev/parked";

fn owner_kind(target: &ObjectRef) -> OwnerKind {
    match (target.group(), target.kind.as_str()) {
        ("apps", "Deployment") => OwnerKind::Deployment,
        ("apps", "ReplicaSet") => OwnerKind::ReplicaSet,
        ("apps", "StatefulSet") => OwnerKind::StatefulSet,
        ("apps", "DaemonSet") => OwnerKind::DaemonSet,
        ("", "ReplicationController") => OwnerKind::ReplicationController,
        ("batch", "Job") => OwnerKind::Job,
        ("batch", "CronJob") => OwnerKind::CronJob,
        _ => OwnerKind::ScalableCustomResource,
    }
}

/// The actions writing a flavour's network `objects` with `verb`, each skipped with `skip` when
/// set; when the flavour cannot write them (`Err(reason)`), one Skipped action on the
/// NetworkPolicy `fallback` it would have been, with the reason.
fn network_actions(
    verb: ActionVerb,
    objects: Result<Vec<serde_json::Value>, String>,
    namespace: &str,
    fallback: String,
    skip: Option<String>,
) -> Vec<Planned> {
    match objects {
        Ok(objects) => objects
            .into_iter()
            .map(|obj| {
                let mut a = planned(verb, &network::object_ref(&obj));
                a.skip = skip.clone();
                a.object = Some(obj);
                a
            })
            .collect(),
        Err(reason) => {
            let target = ObjectRef {
                api_version: "networking.k8s.io/v1".into(),
                kind: "NetworkPolicy".into(),
                namespace: Some(namespace.to_string()),
                name: fallback,
                uid: None,
            };
            let mut a = planned(verb, &target);
            a.skip = Some(reason);
            vec![a]
        }
    }
}

fn planned(verb: ActionVerb, target: &ObjectRef) -> Planned {
    Planned {
        id: action_id(verb, target),
        verb,
        target: target.clone(),
        skip: None,
        drift: None,
        object: None,
    }
}

/// Execution order: evidence first, then cut the network, then stop what recreates the
/// pods and evict them (the end of the time to contain), then the rest.
pub fn rank(verb: ActionVerb) -> u8 {
    match verb {
        ActionVerb::CollectLogs => 0,
        ActionVerb::Label => 1,
        ActionVerb::Isolate => 2,
        ActionVerb::BlockPorts => 3,
        ActionVerb::Scale | ActionVerb::Suspend | ActionVerb::Park => 4,
        ActionVerb::Evict => 5,
        ActionVerb::CapGpuQuota => 6,
        ActionVerb::DeleteTokens => 7,
        ActionVerb::RecreateServiceAccount => 8,
        ActionVerb::QuarantineBinding => 9,
    }
}

/// The incident label `key=value` put on quarantined pods.
pub fn quarantine_label(incident: &str) -> String {
    format!("{}={incident}", crate::api::LABEL_INCIDENT)
}

/// The ResourceQuota that caps GPUs for an incident.
pub fn gpu_quota_name(incident: &str) -> String {
    format!("cryptojack-gpu-cap-{incident}")
}

/// The Secret holding an incident's evidence (container logs).
pub fn evidence_secret_name(incident: &str) -> String {
    format!("{incident}-evidence")
}

/// Whether the incident involves GPUs (requested, or found unapproved).
pub fn involves_gpu(incident: &CryptojackIncident) -> bool {
    !incident.spec.requested.gpus.is_empty()
        || incident
            .spec
            .findings
            .iter()
            .any(|f| f.category == Category::GpuUnapproved)
}

/// The plan for `incident`, in execution order (see [`rank`]).
pub fn plan(incident: &CryptojackIncident, response: &Response, facts: &Facts) -> Vec<Planned> {
    let top = &incident.spec.top_owner;
    let name = incident.metadata.name.clone().unwrap_or_default();
    let namespace = top
        .namespace
        .clone()
        .or_else(|| incident.metadata.namespace.clone())
        .unwrap_or_default();
    let own_namespace = namespace == facts.operator_namespace;
    let own = || Some("the operator's own namespace is never acted on".to_string());
    let mut out = Vec::new();

    // 0. evidence, before the pods go
    if let Some((_, _)) = response.collect_logs {
        let target = ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some(namespace.clone()),
            name: evidence_secret_name(&name),
            uid: None,
        };
        let mut a = planned(ActionVerb::CollectLogs, &target);
        if own_namespace {
            a.skip = own();
        }
        out.push(a);
    }

    // 1. quarantine: label the pods, deny their traffic
    if let Some(iso) = &response.isolation {
        let mut label = planned(ActionVerb::Label, top);
        if own_namespace {
            label.skip = own();
        } else if !facts.unlabelled_pods.is_empty() {
            label.drift = Some(format!(
                "{} pod(s) without the quarantine label",
                facts.unlabelled_pods.len()
            ));
        }
        out.push(label);
        let objects = facts.network.clone().map(|flavor| {
            network::quarantine(
                flavor,
                &network::Quarantine {
                    incident: name.clone(),
                    namespace: namespace.clone(),
                    deny_ingress: iso.deny_ingress,
                    dns: iso.dns.clone(),
                },
            )
        });
        out.extend(network_actions(
            ActionVerb::Isolate,
            objects,
            &namespace,
            network::object_name(&name, "quarantine"),
            if own_namespace { own() } else { None },
        ));
    }
    if let Some(st) = &response.stratum {
        let b = network::StratumBlock {
            incident: name.clone(),
            namespace: namespace.clone(),
            scope: st.scope,
            ports: st.ports.clone(),
            in_cluster_cidrs: st.in_cluster_cidrs.clone(),
            exclude_namespaces: vec![facts.operator_namespace.clone()],
        };
        let objects = facts
            .network
            .clone()
            .and_then(|flavor| network::stratum_block(flavor, &b));
        out.extend(network_actions(
            ActionVerb::BlockPorts,
            objects,
            &namespace,
            network::object_name(&name, "stratum"),
            if own_namespace { own() } else { None },
        ));
    }

    // 2. what would recreate the pods
    let suspend_skip = |kind: OwnerKind| -> Option<String> {
        if own_namespace {
            own()
        } else if let Some(p) = &response.protected_by {
            Some(p.clone())
        } else if !response.suspend {
            Some("suspendOwner is disabled in every policy in force".into())
        } else if !response.suspend_kinds.contains(&kind) {
            Some(format!("suspendOwner.kinds does not include {kind:?}"))
        } else {
            None
        }
    };
    match &facts.owner {
        OwnerState::BarePod => {}
        OwnerState::Gone => {
            let mut a = planned(verb_for(top), top);
            a.skip = Some(format!("{} {} no longer exists", top.kind, top.name));
            out.push(a);
        }
        OwnerState::Unsupported { reason } => {
            let mut a = planned(ActionVerb::Scale, top);
            a.skip = Some(format!(
                "{reason}; its pods are evicted and kept out as they come back"
            ));
            out.push(a);
        }
        OwnerState::Replicas { replicas, manager } => {
            let mut a = planned(ActionVerb::Scale, top);
            a.skip = suspend_skip(owner_kind(top));
            if *replicas > 0 {
                a.drift = Some(match manager {
                    Some(m) => format!(
                        "{} {} is at {replicas} replicas (set by {m})",
                        top.kind, top.name
                    ),
                    None => format!("{} {} is at {replicas} replicas", top.kind, top.name),
                });
            }
            out.push(a);
        }
        OwnerState::Suspend { suspend } => {
            let mut a = planned(ActionVerb::Suspend, top);
            a.skip = suspend_skip(owner_kind(top));
            if !suspend {
                a.drift = Some(format!("{} {} is not suspended", top.kind, top.name));
            }
            out.push(a);
            for job in &facts.active_jobs {
                let mut j = planned(ActionVerb::Suspend, &job.target);
                j.skip = suspend_skip(OwnerKind::Job);
                if !job.suspend {
                    j.drift = Some(format!("Job {} is not suspended", job.target.name));
                }
                out.push(j);
            }
        }
        OwnerState::DaemonSet { node_selector } => {
            let mut a = planned(ActionVerb::Park, top);
            a.skip = suspend_skip(OwnerKind::DaemonSet);
            if !node_selector.contains_key(PARKING_KEY) {
                a.drift = Some(format!("DaemonSet {} is not parked", top.name));
            }
            out.push(a);
        }
    }

    // 3. the pods
    let mut evict = planned(ActionVerb::Evict, top);
    if own_namespace {
        evict.skip = own();
    } else if !response.evict {
        evict.skip = Some("evict is disabled in every policy in force".into());
    }
    if !facts.live_pods.is_empty() {
        evict.drift = Some(format!(
            "{} pod(s) running: {}",
            facts.live_pods.len(),
            facts
                .live_pods
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push(evict);

    // 4. the spending limit
    if response.gpu_quota && involves_gpu(incident) {
        let target = ObjectRef {
            api_version: "v1".into(),
            kind: "ResourceQuota".into(),
            namespace: Some(namespace.clone()),
            name: gpu_quota_name(&name),
            uid: None,
        };
        let mut a = planned(ActionVerb::CapGpuQuota, &target);
        if own_namespace {
            a.skip = own();
        } else if facts.gpu_resources.is_empty() {
            a.skip =
                Some("no GPU resource name to cap (none configured, none on the nodes)".into());
        } else {
            let hard: serde_json::Map<String, serde_json::Value> = facts
                .gpu_resources
                .iter()
                .map(|r| {
                    // DRA device classes are counted under their own name (no `requests.`)
                    let key = if r.ends_with(".deviceclass.resource.k8s.io/devices") {
                        r.clone()
                    } else {
                        format!("requests.{r}")
                    };
                    (key, serde_json::json!("0"))
                })
                .collect();
            a.object = Some(serde_json::json!({
                "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": target.name, "namespace": namespace, "labels": {
                    crate::api::LABEL_INCIDENT: name, crate::api::LABEL_INCIDENT_NAMESPACE: namespace,
                    "app.kubernetes.io/managed-by": "cryptojack"}},
                "spec": {"hard": hard}
            }));
        }
        out.push(a);
    }

    // 5. credentials
    if let Some(sa) = &facts.service_account
        && response.revoke_service_account != ServiceAccountRevocation::Never
    {
        let target = ObjectRef {
            api_version: "v1".into(),
            kind: "ServiceAccount".into(),
            namespace: Some(namespace.clone()),
            name: sa.name.clone(),
            uid: sa.saved.as_ref().map(|s| s.old_uid.clone()),
        };
        let skip = if own_namespace {
            own()
        } else if sa.saved.is_none() {
            Some(format!("ServiceAccount {} does not exist", sa.name))
        } else if response.revoke_service_account == ServiceAccountRevocation::IfDedicated
            && !sa.shared_with.is_empty()
        {
            Some(format!(
                "ServiceAccount {} is shared with {} pod(s) outside the incident (e.g. {}): left alone (revokeCredentials.serviceAccount: IfDedicated)",
                sa.name,
                sa.shared_with.len(),
                sa.shared_with
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else {
            None
        };
        let mut tokens = planned(ActionVerb::DeleteTokens, &target);
        tokens.skip = skip.clone().or_else(|| match &sa.token_secrets {
            Err(reason) => Some(reason.clone()),
            Ok(list) if list.is_empty() => Some("no legacy token Secret".into()),
            Ok(_) => None,
        });
        out.push(tokens);
        let mut recreate = planned(ActionVerb::RecreateServiceAccount, &target);
        recreate.skip = skip;
        out.push(recreate);
    }
    if response.quarantine_bindings
        && let Some(bindings) = &facts.bindings
    {
        match bindings {
            Ok(list) => {
                for b in list {
                    let target = ObjectRef {
                        api_version: "rbac.authorization.k8s.io/v1".into(),
                        kind: b.kind.clone(),
                        namespace: b.namespace.clone(),
                        name: b.name.clone(),
                        uid: None,
                    };
                    let mut a = planned(ActionVerb::QuarantineBinding, &target);
                    if own_namespace {
                        a.skip = own();
                    }
                    out.push(a);
                }
            }
            Err(reason) => {
                let target = ObjectRef {
                    api_version: "rbac.authorization.k8s.io/v1".into(),
                    kind: "RoleBinding".into(),
                    namespace: Some(namespace.clone()),
                    name: "*".into(),
                    uid: None,
                };
                let mut a = planned(ActionVerb::QuarantineBinding, &target);
                a.skip = Some(reason.clone());
                out.push(a);
            }
        }
    }
    out.sort_by_key(|a| rank(a.verb));
    out
}

fn verb_for(top: &ObjectRef) -> ActionVerb {
    match owner_kind(top) {
        OwnerKind::Job | OwnerKind::CronJob => ActionVerb::Suspend,
        OwnerKind::DaemonSet => ActionVerb::Park,
        _ => ActionVerb::Scale,
    }
}

/// Why nothing may run now (besides the mode).
#[derive(Clone, Debug, PartialEq)]
pub enum Hold {
    /// Run.
    None,
    /// `--dry-run`: decide and record, change nothing.
    DryRun,
    /// Over the rate limit.
    RateLimited,
}

/// Merges `plan` into `actions` (keyed by id). New actions are added; in Contain a
/// Planned action becomes Pending, a Done action whose effect drifted back becomes
/// Pending again; skipped actions get their reason. Undo data is never touched.
/// Returns whether anything changed, and the number of drifts found.
pub fn merge(actions: &mut Vec<Action>, plan: &[Planned], mode: Mode, hold: &Hold) -> (bool, u32) {
    let run = mode == Mode::Contain && *hold == Hold::None;
    let mut changed = false;
    let mut drifts = 0;
    for p in plan {
        let pos = actions.iter().position(|a| a.id == p.id);
        let a = match pos {
            Some(i) => &mut actions[i],
            None => {
                actions.push(Action {
                    id: p.id.clone(),
                    verb: p.verb,
                    target: p.target.clone(),
                    state: ActionState::Planned,
                    attempts: 0,
                    message: None,
                    error: None,
                    started_at: None,
                    finished_at: None,
                    undo: None,
                    pods: None,
                    new_uid: None,
                    restore: None,
                });
                changed = true;
                let last = actions.len() - 1;
                &mut actions[last]
            }
        };
        if let Some(reason) = &p.skip {
            // a skip never undoes what was done (e.g. a policy edit after containment)
            if matches!(
                a.state,
                ActionState::Planned | ActionState::Pending | ActionState::Skipped
            ) && (a.state != ActionState::Skipped || a.message.as_deref() != Some(reason))
            {
                a.state = ActionState::Skipped;
                a.message = Some(bounded(reason, MAX_MESSAGE_CHARS));
                changed = true;
            }
            continue;
        }
        match a.state {
            ActionState::Planned | ActionState::Skipped if run => {
                a.state = ActionState::Pending;
                a.message = None;
                changed = true;
            }
            ActionState::Skipped => {
                // no longer skipped (e.g. protection removed): back in the plan
                a.state = ActionState::Planned;
                a.message = None;
                changed = true;
            }
            ActionState::Done if run && p.drift.is_some() => {
                a.state = ActionState::Pending;
                a.message = p
                    .drift
                    .as_ref()
                    .map(|d| bounded(&format!("drift: {d}"), MAX_MESSAGE_CHARS));
                drifts += 1;
                changed = true;
            }
            ActionState::Failed if run && p.drift.is_some() => {
                // a failed action is retried when its effect is still missing
                a.state = ActionState::Pending;
                changed = true;
            }
            _ => {}
        }
        if !run && a.state == ActionState::Planned {
            let note = match hold {
                Hold::DryRun => Some("dry run: not executed"),
                Hold::RateLimited => Some("waiting for the rate limit"),
                Hold::None => None,
            };
            if a.message.as_deref() != note {
                a.message = note.map(String::from);
                changed = true;
            }
        }
    }
    (changed, drifts)
}

/// The phase an incident's actions put it in (before any resolution).
pub fn phase_of(actions: &[Action], mode: Mode, hold: &Hold) -> IncidentPhase {
    if actions.is_empty() {
        return if mode == Mode::Audit {
            IncidentPhase::Audited
        } else {
            IncidentPhase::Detected
        };
    }
    if actions.iter().any(|a| a.state == ActionState::Pending) {
        return IncidentPhase::Containing;
    }
    if actions.iter().any(|a| a.state == ActionState::Planned) {
        return match (mode, hold) {
            (Mode::Contain, Hold::RateLimited) => IncidentPhase::Detected,
            _ => IncidentPhase::Audited,
        };
    }
    let done = actions
        .iter()
        .filter(|a| a.state == ActionState::Done)
        .count();
    let failed = actions
        .iter()
        .filter(|a| a.state == ActionState::Failed)
        .count();
    match (done, failed) {
        (_, 0) => IncidentPhase::Contained,
        (0, _) => IncidentPhase::Failed,
        _ => IncidentPhase::PartiallyContained,
    }
}

/// Whether every owner is suspended and every eviction or delete accepted: the end of
/// the time to contain.
pub fn contained(actions: &[Action]) -> bool {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a.verb,
                ActionVerb::Scale | ActionVerb::Suspend | ActionVerb::Park | ActionVerb::Evict
            )
        })
        .all(|a| a.state.is_finished())
        && actions.iter().any(|a| a.state == ActionState::Done)
}

fn price(text: &str) -> f64 {
    text.trim().parse::<f64>().unwrap_or(0.0).max(0.0)
}

/// The GPU-hour price of `resource`: an exact key, else the first glob key that matches.
fn gpu_price(cost: &CostSpec, resource: &str) -> f64 {
    if let Some(p) = cost.gpu_hour.get(resource) {
        return price(p);
    }
    cost.gpu_hour
        .iter()
        .find(|(k, _)| {
            globset::Glob::new(k)
                .map(|g| g.compile_matcher().is_match(resource))
                .unwrap_or(false)
        })
        .map(|(_, v)| price(v))
        .unwrap_or(0.0)
}

/// Estimated cost: hours running × (GPUs × GPU-hour price + CPU cores × CPU-hour
/// price), with `hours` from the first pod's creation to containment (or now).
pub fn estimate_cost(incident: &CryptojackIncident, cost: &CostSpec, hours: f64) -> EstimatedCost {
    let hours = if hours.is_finite() {
        hours.max(0.0)
    } else {
        0.0
    };
    let req = &incident.spec.requested;
    let cpu_cores = req.cpu_millicores.max(0) as f64 / 1000.0;
    let cpu_hours = cpu_cores * hours;
    let mut gpu_hours = 0.0;
    let mut amount = cpu_hours * price(&cost.cpu_hour);
    for (resource, n) in &req.gpus {
        let h = (*n).max(0) as f64 * hours;
        gpu_hours += h;
        amount += h * gpu_price(cost, resource);
    }
    EstimatedCost {
        amount: format!("{amount:.2}"),
        currency: cost.currency.clone(),
        hours_running: format!("{hours:.2}"),
        gpu_hours: format!("{gpu_hours:.2}"),
        cpu_hours: format!("{cpu_hours:.2}"),
        display: format!("{amount:.2} {}", cost.currency),
    }
}

pub use crate::api::CostTier;

/// The tier for `hours` (re-exported for the controller).
pub fn tier(hours: f64) -> CostTier {
    cost_tier(hours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        CryptojackIncidentSpec, CryptojackPolicySpec, IncidentSource, RequestedResources,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn policy(name: &str, yaml: &str) -> CompiledPolicy {
        let spec: CryptojackPolicySpec = serde_saphyr::from_str(yaml).expect("spec");
        CompiledPolicy::compile(name, &spec).expect("compiles")
    }

    fn deploy() -> ObjectRef {
        ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
            uid: Some("d1".into()),
        }
    }

    fn incident(top: ObjectRef) -> CryptojackIncident {
        CryptojackIncident::new(
            "cji-x",
            CryptojackIncidentSpec {
                workload: format!("{}/{}", top.kind, top.name),
                top_owner: top,
                owner_chain: vec![],
                forged_owner: None,
                service_account: None,
                node_name: None,
                pods: vec![],
                pod_count: 1,
                images: vec![],
                findings: vec![],
                findings_truncated: false,
                severity: Severity::Critical,
                top_indicator: String::new(),
                policies: vec![],
                source: IncidentSource::Watch,
                source_detail: None,
                detected_at: MicroTime(jiff::Timestamp::UNIX_EPOCH),
                pod_created_at: None,
                field_manager: None,
                requested: RequestedResources {
                    cpu_millicores: 2000,
                    gpus: [("nvidia.com/gpu".to_string(), 2)].into(),
                },
                previous_incident: None,
                resolution: None,
            },
        )
    }

    /// The part-one actions of a plan (what recreates the pods, and the eviction).
    fn core(p: Vec<Planned>) -> Vec<Planned> {
        p.into_iter()
            .filter(|a| {
                matches!(
                    a.verb,
                    ActionVerb::Scale | ActionVerb::Suspend | ActionVerb::Park | ActionVerb::Evict
                )
            })
            .collect()
    }

    fn facts(owner: OwnerState, pods: &[&str]) -> Facts {
        let mut f = Facts::new("cryptojack-system", owner);
        f.live_pods = pods.iter().map(|s| s.to_string()).collect();
        f
    }

    #[test]
    fn strictest_mode_union_of_actions_shortest_deadlines() {
        let audit = policy("a", "mode: Audit\n");
        let contain = policy(
            "c",
            "mode: Contain\nresponse:\n  evict: {gracePeriodSeconds: 10, forceAfterSeconds: 60}\n  suspendOwner: {enabled: false}\n",
        );
        let contain2 = policy(
            "d",
            "mode: Contain\nresponse:\n  evict: {gracePeriodSeconds: 2, forceAfterSeconds: 90}\n  suspendOwner: {kinds: [Deployment]}\n",
        );
        let high_only = policy("h", "mode: Contain\nresponse:\n  minSeverity: Critical\n");
        let none = BTreeMap::new();
        let r = merge_response(
            &[&audit, &contain, &contain2, &high_only],
            Severity::High,
            "shop",
            "Deployment",
            "web",
            &none,
        );
        assert_eq!(r.mode, Mode::Contain);
        assert_eq!(r.policies, ["c", "d"]);
        assert!(r.evict && r.suspend);
        assert_eq!(r.grace_period_seconds, 2);
        assert_eq!(r.force_after_seconds, 60);
        assert_eq!(r.suspend_kinds, [OwnerKind::Deployment].into());
        // only Audit (or a minSeverity not met): Audit with the union plan
        let r = merge_response(
            &[&audit, &high_only],
            Severity::High,
            "shop",
            "Deployment",
            "web",
            &none,
        );
        assert_eq!(r.mode, Mode::Audit);
        assert!(r.evict && r.suspend);
    }

    #[test]
    fn deployment_plan_scales_then_evicts_and_audit_only_plans() {
        let c = policy("c", "mode: Contain\n");
        let none = BTreeMap::new();
        let r = merge_response(
            &[&c],
            Severity::Critical,
            "shop",
            "Deployment",
            "web",
            &none,
        );
        let inc = incident(deploy());
        let f = facts(
            OwnerState::Replicas {
                replicas: 3,
                manager: Some("kubectl".into()),
            },
            &["web-1"],
        );
        let p = core(plan(&inc, &r, &f));
        let ids: Vec<&str> = p.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "scale/apps/Deployment/shop/web",
                "evict/apps/Deployment/shop/web"
            ]
        );
        assert!(p.iter().all(|a| a.skip.is_none()));

        let mut actions = Vec::new();
        let (changed, _) = merge(&mut actions, &p, Mode::Audit, &Hold::None);
        assert!(changed);
        assert!(actions.iter().all(|a| a.state == ActionState::Planned));
        assert_eq!(
            phase_of(&actions, Mode::Audit, &Hold::None),
            IncidentPhase::Audited
        );
        // switching to Contain runs exactly the same plan
        let (changed, _) = merge(&mut actions, &p, Mode::Contain, &Hold::None);
        assert!(changed);
        assert!(actions.iter().all(|a| a.state == ActionState::Pending));
        assert_eq!(
            phase_of(&actions, Mode::Contain, &Hold::None),
            IncidentPhase::Containing
        );
        // idempotent
        assert_eq!(
            merge(&mut actions, &p, Mode::Contain, &Hold::None),
            (false, 0)
        );
    }

    #[test]
    fn protected_and_own_namespace_workloads() {
        let c = policy(
            "c",
            "mode: Contain\nresponse:\n  protect:\n  - {namespace: kube-system, kind: DaemonSet, name: calico-node}\n",
        );
        let none = BTreeMap::new();
        let mut ds = deploy();
        ds.kind = "DaemonSet".into();
        ds.name = "calico-node".into();
        ds.namespace = Some("kube-system".into());
        let r = merge_response(
            &[&c],
            Severity::Critical,
            "kube-system",
            "DaemonSet",
            "calico-node",
            &none,
        );
        assert!(r.protected_by.is_some());
        let p = core(plan(
            &incident(ds),
            &r,
            &facts(
                OwnerState::DaemonSet {
                    node_selector: BTreeMap::new(),
                },
                &["calico-node-x"],
            ),
        ));
        assert_eq!(p[0].verb, ActionVerb::Park);
        assert!(
            p[0].skip
                .as_deref()
                .is_some_and(|s| s.contains("protected"))
        );
        assert_eq!(p[1].verb, ActionVerb::Evict);
        assert!(p[1].skip.is_none(), "a protected workload is still evicted");

        let mut own = deploy();
        own.namespace = Some("cryptojack-system".into());
        let r = merge_response(
            &[&c],
            Severity::Critical,
            "cryptojack-system",
            "Deployment",
            "web",
            &none,
        );
        let p = core(plan(
            &incident(own),
            &r,
            &facts(
                OwnerState::Replicas {
                    replicas: 1,
                    manager: None,
                },
                &["x"],
            ),
        ));
        assert!(p.iter().all(|a| {
            a.skip
                .as_deref()
                .is_some_and(|s| s.contains("own namespace"))
        }));
    }

    #[test]
    fn cronjob_suspends_itself_and_its_active_jobs() {
        let c = policy("c", "mode: Contain\n");
        let mut cj = deploy();
        cj.api_version = "batch/v1".into();
        cj.kind = "CronJob".into();
        let r = merge_response(
            &[&c],
            Severity::Critical,
            "shop",
            "CronJob",
            "web",
            &BTreeMap::new(),
        );
        let mut f = facts(OwnerState::Suspend { suspend: false }, &[]);
        f.active_jobs.push(ActiveJob {
            target: ObjectRef {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                namespace: Some("shop".into()),
                name: "web-123".into(),
                uid: None,
            },
            suspend: false,
        });
        let p = core(plan(&incident(cj), &r, &f));
        let ids: Vec<&str> = p.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "suspend/batch/CronJob/shop/web",
                "suspend/batch/Job/shop/web-123",
                "evict/batch/CronJob/shop/web"
            ]
        );
    }

    #[test]
    fn drift_reopens_a_done_action_without_touching_undo() {
        let c = policy("c", "mode: Contain\n");
        let r = merge_response(
            &[&c],
            Severity::Critical,
            "shop",
            "Deployment",
            "web",
            &BTreeMap::new(),
        );
        let inc = incident(deploy());
        let p0 = core(plan(
            &inc,
            &r,
            &facts(
                OwnerState::Replicas {
                    replicas: 3,
                    manager: None,
                },
                &[],
            ),
        ));
        let mut actions = Vec::new();
        merge(&mut actions, &p0, Mode::Contain, &Hold::None);
        for a in &mut actions {
            a.state = ActionState::Done;
            a.undo = Some(crate::api::Undo {
                replicas: Some(3),
                ..Default::default()
            });
        }
        // contained: owner at 0, no pods
        let quiet = core(plan(
            &inc,
            &r,
            &facts(
                OwnerState::Replicas {
                    replicas: 0,
                    manager: None,
                },
                &[],
            ),
        ));
        assert_eq!(
            merge(&mut actions, &quiet, Mode::Contain, &Hold::None),
            (false, 0)
        );
        assert_eq!(
            phase_of(&actions, Mode::Contain, &Hold::None),
            IncidentPhase::Contained
        );
        // a GitOps controller scales it back up
        let drifted = core(plan(
            &inc,
            &r,
            &facts(
                OwnerState::Replicas {
                    replicas: 2,
                    manager: Some("argocd".into()),
                },
                &["web-9"],
            ),
        ));
        let (changed, drifts) = merge(&mut actions, &drifted, Mode::Contain, &Hold::None);
        assert!(changed);
        assert_eq!(drifts, 2);
        assert!(
            actions[0]
                .message
                .as_deref()
                .is_some_and(|m| m.contains("argocd"))
        );
        assert_eq!(actions[0].undo.as_ref().and_then(|u| u.replicas), Some(3));
        assert_eq!(
            phase_of(&actions, Mode::Contain, &Hold::None),
            IncidentPhase::Containing
        );
    }

    #[test]
    fn rate_limit_and_dry_run_hold_the_plan() {
        let c = policy("c", "mode: Contain\n");
        let r = merge_response(
            &[&c],
            Severity::Critical,
            "shop",
            "Deployment",
            "web",
            &BTreeMap::new(),
        );
        let p = core(plan(
            &incident(deploy()),
            &r,
            &facts(
                OwnerState::Replicas {
                    replicas: 3,
                    manager: None,
                },
                &["a"],
            ),
        ));
        let mut actions = Vec::new();
        merge(&mut actions, &p, Mode::Contain, &Hold::RateLimited);
        assert!(actions.iter().all(|a| a.state == ActionState::Planned));
        assert_eq!(
            phase_of(&actions, Mode::Contain, &Hold::RateLimited),
            IncidentPhase::Detected
        );
        let mut actions = Vec::new();
        merge(&mut actions, &p, Mode::Contain, &Hold::DryRun);
        assert!(
            actions
                .iter()
                .all(|a| a.message.as_deref() == Some("dry run: not executed"))
        );
        assert_eq!(
            phase_of(&actions, Mode::Contain, &Hold::DryRun),
            IncidentPhase::Audited
        );
    }

    #[test]
    fn phases_from_results() {
        let mk = |states: &[ActionState]| -> Vec<Action> {
            states
                .iter()
                .enumerate()
                .map(|(i, s)| Action {
                    id: format!("a{i}"),
                    verb: ActionVerb::Evict,
                    target: deploy(),
                    state: *s,
                    attempts: 1,
                    message: None,
                    error: None,
                    started_at: None,
                    finished_at: None,
                    undo: None,
                    pods: None,
                    new_uid: None,
                    restore: None,
                })
                .collect()
        };
        use ActionState::*;
        let m = Mode::Contain;
        assert_eq!(
            phase_of(&mk(&[Done, Skipped]), m, &Hold::None),
            IncidentPhase::Contained
        );
        assert_eq!(
            phase_of(&mk(&[Done, Failed]), m, &Hold::None),
            IncidentPhase::PartiallyContained
        );
        assert_eq!(
            phase_of(&mk(&[Failed, Skipped]), m, &Hold::None),
            IncidentPhase::Failed
        );
        assert!(contained(&mk(&[Done, Skipped])));
        assert!(!contained(&mk(&[Done, Pending])));
    }

    #[test]
    fn part_two_order_skips_and_reasons() {
        let c = policy(
            "c",
            "mode: Contain\nresponse:\n  revokeCredentials: {serviceAccount: IfDedicated, quarantineBindings: true}\n",
        );
        let none = BTreeMap::new();
        let r = merge_response(
            &[&c],
            Severity::Critical,
            "shop",
            "Deployment",
            "web",
            &none,
        );
        let mut inc = incident(deploy());
        inc.metadata.name = Some("cji-1".into());
        let mut f = facts(
            OwnerState::Replicas {
                replicas: 2,
                manager: None,
            },
            &["web-1"],
        );
        f.unlabelled_pods = vec!["web-1".into()];
        f.gpu_resources = vec!["nvidia.com/gpu".into()];
        f.service_account = Some(ServiceAccountFacts {
            name: "default".into(),
            saved: Some(ServiceAccountUndo {
                old_uid: "u".into(),
                ..Default::default()
            }),
            shared_with: vec!["web-healthy".into()],
            token_secrets: Ok(vec![]),
        });
        f.bindings = Some(Err(
            "listing RoleBindings is forbidden: grant the opt-in ...".into(),
        ));
        let p = plan(&inc, &r, &f);
        let verbs: Vec<ActionVerb> = p.iter().map(|a| a.verb).collect();
        assert_eq!(
            verbs,
            [
                ActionVerb::CollectLogs,
                ActionVerb::Label,
                ActionVerb::Isolate,
                ActionVerb::BlockPorts,
                ActionVerb::Scale,
                ActionVerb::Evict,
                ActionVerb::CapGpuQuota,
                ActionVerb::DeleteTokens,
                ActionVerb::RecreateServiceAccount,
                ActionVerb::QuarantineBinding
            ]
        );
        let by = |v: ActionVerb| p.iter().find(|a| a.verb == v).expect("action");
        assert!(by(ActionVerb::Label).drift.is_some(), "unlabelled pods");
        assert!(
            by(ActionVerb::BlockPorts)
                .skip
                .as_deref()
                .is_some_and(|s| s.contains("cannot deny"))
        );
        assert!(
            by(ActionVerb::RecreateServiceAccount)
                .skip
                .as_deref()
                .is_some_and(|s| s.contains("shared") && s.contains("web-healthy"))
        );
        assert!(
            by(ActionVerb::QuarantineBinding)
                .skip
                .as_deref()
                .is_some_and(|s| s.contains("opt-in"))
        );
        let quota = by(ActionVerb::CapGpuQuota)
            .object
            .clone()
            .expect("the quota object");
        assert_eq!(quota["spec"]["hard"]["requests.nvidia.com/gpu"], "0");
        assert!(by(ActionVerb::Isolate).object.is_some());
        // an unserved forced flavour: isolation skipped with the reason
        f.network = Err(
            "spec.response.networkIsolation.flavor: Cilium is not served by this cluster".into(),
        );
        let p = plan(&inc, &r, &f);
        let iso = p
            .iter()
            .find(|a| a.verb == ActionVerb::Isolate)
            .expect("isolate");
        assert!(
            iso.skip
                .as_deref()
                .is_some_and(|s| s.contains("not served"))
        );
        assert_eq!(duration_seconds("1h30m"), 5400);
        assert_eq!(duration_seconds("24h"), 86400);
        assert_eq!(duration_seconds("bad"), 0);
    }

    #[test]
    fn cost_is_hours_times_prices() {
        let inc = incident(deploy());
        let cost = CostSpec::default();
        let e = estimate_cost(&inc, &cost, 2.0);
        // 2 h x (2 GPUs x 3.06 + 2 cores x 0.048)
        assert_eq!(e.amount, "12.43");
        assert_eq!(e.gpu_hours, "4.00");
        assert_eq!(e.cpu_hours, "4.00");
        assert_eq!(e.display, "12.43 USD");
        assert_eq!(tier(2.0), CostTier::Medium);
        let mut mig = inc.clone();
        mig.spec.requested.gpus = [("nvidia.com/mig-1g.5gb".to_string(), 1)].into();
        mig.spec.requested.cpu_millicores = 0;
        // priced by the glob key nvidia.com/mig-*
        assert_eq!(estimate_cost(&mig, &cost, 10.0).amount, "4.40");
    }
}
