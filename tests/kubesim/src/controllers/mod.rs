//! Simulated controllers: pure reconcilers over a [`Snapshot`] of the store.
//!
//! Each reconciler is a pure function of the snapshot and the current time and returns the
//! [`Mutation`]s a real controller would issue through the API. kscore's driver applies them through
//! the store (so that watches see them) and calls [`reconcile`] again until it returns nothing. A
//! reconciler never remembers anything between calls: everything it needs is read back from the
//! objects (as the real controllers do after a restart), so every mutation must be idempotent across
//! passes and a status is only written when it changes (otherwise the loop never goes quiet).
//!
//! Conventions the driver relies on:
//! - `Create` may carry `metadata.generateName` instead of a name; the store fills name, uid,
//!   resourceVersion and creationTimestamp.
//! - `Update` carries the whole object (spec and status) with the resourceVersion as read; a conflict
//!   can simply be dropped because the next pass recomputes everything.
//! - At most one `Update` per object is returned per pass and never an `Update` of an object that
//!   is deleted in the same pass (see [`reconcile`]).
//! - `Delete` carries the uid as a precondition (the store must then really remove the object, or
//!   set `deletionTimestamp` when finalizers remain).

mod clusterrole_aggregation;
mod cronjob;
mod daemonset;
mod deployment;
mod gc;
mod job;
mod pdb_status;
mod pods;
mod replicaset;
mod replicationcontroller;
mod resourcequota;
mod serviceaccounts;
mod statefulset;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::selector::{LabelSelector, label_selector_from_object};

/// Resource keys ("GROUP/PLURAL") used by the controllers.
pub mod keys {
    pub const PODS: &str = "/pods";
    pub const NODES: &str = "/nodes";
    pub const SECRETS: &str = "/secrets";
    pub const SERVICE_ACCOUNTS: &str = "/serviceaccounts";
    pub const DEPLOYMENTS: &str = "apps/deployments";
    pub const REPLICA_SETS: &str = "apps/replicasets";
    pub const STATEFUL_SETS: &str = "apps/statefulsets";
    pub const DAEMON_SETS: &str = "apps/daemonsets";
    pub const JOBS: &str = "batch/jobs";
    pub const CRON_JOBS: &str = "batch/cronjobs";
    pub const PDBS: &str = "policy/poddisruptionbudgets";
    pub const REPLICATION_CONTROLLERS: &str = "/replicationcontrollers";
    pub const ROLES: &str = "rbac.authorization.k8s.io/roles";
    pub const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";
    pub const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
    pub const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
}

/// A consistent view of the store: every stored object per resource key ("GROUP/PLURAL").
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub objects: BTreeMap<String, Vec<Arc<Value>>>,
}

impl Snapshot {
    pub fn new(objects: BTreeMap<String, Vec<Arc<Value>>>) -> Self {
        Snapshot { objects }
    }

    /// Convenience for tests: build a snapshot from `(key, object)` pairs.
    pub fn from_objects<I, K>(items: I) -> Self
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        let mut objects: BTreeMap<String, Vec<Arc<Value>>> = BTreeMap::new();
        for (k, v) in items {
            objects.entry(k.into()).or_default().push(Arc::new(v));
        }
        Snapshot { objects }
    }

    /// All objects of one resource (empty when the key is unknown).
    pub fn list(&self, key: &str) -> &[Arc<Value>] {
        self.objects.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// One object by namespace (None for cluster-scoped resources) and name. Linear in the size
    /// of the resource list.
    pub fn get(&self, key: &str, ns: Option<&str>, name: &str) -> Option<&Value> {
        self.list(key)
            .iter()
            .map(Arc::as_ref)
            .find(|o| obj_name(o) == name && obj_namespace(o) == ns.filter(|n| !n.is_empty()))
    }

    /// The object with this uid and its resource key. Linear in the size of the snapshot.
    pub fn by_uid(&self, uid: &str) -> Option<(&str, &Value)> {
        self.objects.iter().find_map(|(k, objs)| {
            objs.iter()
                .find(|o| obj_uid(o) == Some(uid))
                .map(|o| (k.as_str(), o.as_ref()))
        })
    }
}

/// A change a controller asks the driver to make through the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    Create {
        key: String,
        object: Value,
    },
    Update {
        key: String,
        object: Value,
    },
    Delete {
        key: String,
        namespace: Option<String>,
        name: String,
        uid: Option<String>,
    },
}

impl Mutation {
    fn target(&self) -> (String, Option<String>, String) {
        match self {
            Mutation::Create { key, object } | Mutation::Update { key, object } => (
                key.clone(),
                obj_namespace(object).map(str::to_string),
                obj_name(object).to_string(),
            ),
            Mutation::Delete {
                key,
                namespace,
                name,
                ..
            } => (key.clone(), namespace.clone(), name.clone()),
        }
    }
}

/// Which simulated controllers run. `pods` is the scheduler plus the kubelet; `gc` is the garbage
/// collector plus the legacy service-account token controller (fills `data.token` of
/// `kubernetes.io/service-account-token` Secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerSet {
    pub deployments: bool,
    pub replicasets: bool,
    pub replicationcontrollers: bool,
    pub statefulsets: bool,
    pub daemonsets: bool,
    pub jobs: bool,
    pub cronjobs: bool,
    pub pods: bool,
    pub gc: bool,
    pub pdb_status: bool,
    /// The resource quota controller (ResourceQuota status).
    pub quota: bool,
    /// The serviceaccounts controller (a `default` ServiceAccount in every namespace).
    pub serviceaccounts: bool,
    /// The ClusterRole aggregation controller.
    pub clusterrole_aggregation: bool,
}

impl ControllerSet {
    pub fn all() -> Self {
        ControllerSet {
            deployments: true,
            replicasets: true,
            replicationcontrollers: true,
            statefulsets: true,
            daemonsets: true,
            jobs: true,
            cronjobs: true,
            pods: true,
            gc: true,
            pdb_status: true,
            quota: true,
            serviceaccounts: true,
            clusterrole_aggregation: true,
        }
    }

    pub fn none() -> Self {
        ControllerSet {
            deployments: false,
            replicasets: false,
            replicationcontrollers: false,
            statefulsets: false,
            daemonsets: false,
            jobs: false,
            cronjobs: false,
            pods: false,
            gc: false,
            pdb_status: false,
            quota: false,
            serviceaccounts: false,
            clusterrole_aggregation: false,
        }
    }
}

impl Default for ControllerSet {
    fn default() -> Self {
        ControllerSet::all()
    }
}

/// Runs every enabled controller once over `snap` and returns their mutations.
///
/// Controllers run in the order deployments, replicasets, replicationcontrollers, statefulsets,
/// daemonsets, cronjobs, jobs, pods, gc, pdb status, resource quota, serviceaccounts, clusterrole
/// aggregation. Only the first `Update` of a given object is kept, and updates of objects
/// deleted in the same pass are dropped: the next pass recomputes whatever was dropped.
pub fn reconcile(snap: &Snapshot, now: Timestamp, set: &ControllerSet) -> Vec<Mutation> {
    let ctx = Ctx::new(snap, now);
    let mut out = Vec::new();
    if set.deployments {
        deployment::reconcile(&ctx, &mut out);
    }
    if set.replicasets {
        replicaset::reconcile(&ctx, &mut out);
    }
    if set.replicationcontrollers {
        replicationcontroller::reconcile(&ctx, &mut out);
    }
    if set.statefulsets {
        statefulset::reconcile(&ctx, &mut out);
    }
    if set.daemonsets {
        daemonset::reconcile(&ctx, &mut out);
    }
    if set.cronjobs {
        cronjob::reconcile(&ctx, &mut out);
    }
    if set.jobs {
        job::reconcile(&ctx, &mut out);
    }
    if set.pods {
        pods::reconcile(&ctx, &mut out);
    }
    if set.gc {
        gc::reconcile(&ctx, &mut out);
        gc::reconcile_sa_token_secrets(&ctx, &mut out);
    }
    if set.pdb_status {
        pdb_status::reconcile(&ctx, &mut out);
    }
    if set.quota {
        resourcequota::reconcile(&ctx, &mut out);
    }
    if set.serviceaccounts {
        serviceaccounts::reconcile(&ctx, &mut out);
    }
    if set.clusterrole_aggregation {
        clusterrole_aggregation::reconcile(&ctx, &mut out);
    }
    dedupe(out)
}

fn dedupe(muts: Vec<Mutation>) -> Vec<Mutation> {
    let deleted: HashSet<_> = muts
        .iter()
        .filter(|m| matches!(m, Mutation::Delete { .. }))
        .map(Mutation::target)
        .collect();
    let mut updated = HashSet::new();
    let mut deletes_seen = HashSet::new();
    muts.into_iter()
        .filter(|m| match m {
            Mutation::Update { .. } => {
                let t = m.target();
                !deleted.contains(&t) && updated.insert(t)
            }
            Mutation::Delete { .. } => deletes_seen.insert(m.target()),
            Mutation::Create { .. } => true,
        })
        .collect()
}

/// Per-pass indexes shared by the controllers.
pub(crate) struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub now: Timestamp,
    /// Pods by the uid of their controller (ownerReference with controller=true).
    pub pods_by_controller: HashMap<&'a str, Vec<&'a Value>>,
    /// Pods by namespace.
    pub pods_by_ns: HashMap<&'a str, Vec<&'a Value>>,
    /// Pods without a controller, by namespace (adoption candidates).
    pub orphan_pods_by_ns: HashMap<&'a str, Vec<&'a Value>>,
    /// ReplicaSets and Jobs by the uid of their controller.
    pub children_by_controller: HashMap<&'a str, Vec<(&'a str, &'a Value)>>,
}

impl<'a> Ctx<'a> {
    pub fn new(snap: &'a Snapshot, now: Timestamp) -> Self {
        let mut pods_by_controller: HashMap<&str, Vec<&Value>> = HashMap::new();
        let mut pods_by_ns: HashMap<&str, Vec<&Value>> = HashMap::new();
        let mut orphan_pods_by_ns: HashMap<&str, Vec<&Value>> = HashMap::new();
        for p in snap.list(keys::PODS) {
            let p = p.as_ref();
            let ns = obj_namespace(p).unwrap_or("");
            match controller_uid(p) {
                Some(u) => pods_by_controller.entry(u).or_default().push(p),
                None => orphan_pods_by_ns.entry(ns).or_default().push(p),
            }
            pods_by_ns.entry(ns).or_default().push(p);
        }
        let mut children_by_controller: HashMap<&str, Vec<(&str, &Value)>> = HashMap::new();
        for key in [keys::REPLICA_SETS, keys::JOBS] {
            for o in snap.list(key) {
                if let Some(u) = controller_uid(o) {
                    children_by_controller
                        .entry(u)
                        .or_default()
                        .push((key, o.as_ref()));
                }
            }
        }
        Ctx {
            snap,
            now,
            pods_by_controller,
            pods_by_ns,
            orphan_pods_by_ns,
            children_by_controller,
        }
    }

    pub fn owned_pods(&self, owner: &Value) -> &[&'a Value] {
        obj_uid(owner)
            .and_then(|u| self.pods_by_controller.get(u))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn pods_in(&self, ns: &str) -> &[&'a Value] {
        self.pods_by_ns.get(ns).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn orphan_pods_in(&self, ns: &str) -> &[&'a Value] {
        self.orphan_pods_by_ns
            .get(ns)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Objects of `key` controlled by `owner` (ownerReference controller=true with its uid).
    pub fn owned(&self, key: &str, owner: &Value) -> Vec<&'a Value> {
        let Some(u) = obj_uid(owner) else {
            return Vec::new();
        };
        if key == keys::PODS {
            return self.pods_by_controller.get(u).cloned().unwrap_or_default();
        }
        if key == keys::REPLICA_SETS || key == keys::JOBS {
            return self
                .children_by_controller
                .get(u)
                .map(|v| {
                    v.iter()
                        .filter(|(k, _)| *k == key)
                        .map(|(_, o)| *o)
                        .collect()
                })
                .unwrap_or_default();
        }
        self.snap
            .list(key)
            .iter()
            .map(Arc::as_ref)
            .filter(|o| controller_uid(o) == Some(u))
            .collect()
    }
}

// ---------------------------------------------------------------- object accessors

/// `Value::pointer` without its per-token allocations (the paths used here contain no `~`
/// escapes); this is the hot path of every controller pass.
pub(crate) fn ptr<'a>(o: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = o;
    for tok in path.split('/').skip(1) {
        cur = match cur {
            Value::Object(m) => m.get(tok)?,
            Value::Array(a) => a.get(tok.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

pub(crate) fn obj_name(o: &Value) -> &str {
    ptr(o, "/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(crate) fn obj_namespace(o: &Value) -> Option<&str> {
    ptr(o, "/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(crate) fn obj_uid(o: &Value) -> Option<&str> {
    ptr(o, "/metadata/uid").and_then(Value::as_str)
}

pub(crate) fn obj_labels(o: &Value) -> Option<&Map<String, Value>> {
    ptr(o, "/metadata/labels").and_then(Value::as_object)
}

pub(crate) fn generation(o: &Value) -> i64 {
    ptr(o, "/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

pub(crate) fn is_terminating(o: &Value) -> bool {
    ptr(o, "/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

pub(crate) fn owner_refs(o: &Value) -> &[Value] {
    ptr(o, "/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(crate) fn controller_ref(o: &Value) -> Option<&Value> {
    owner_refs(o)
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

pub(crate) fn controller_uid(o: &Value) -> Option<&str> {
    controller_ref(o)
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// `metadata.ownerReferences` entry as the workload controllers write it (controller=true,
/// blockOwnerDeletion=true: `metav1.NewControllerRef`).
pub(crate) fn controller_owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": obj_name(owner),
        "uid": obj_uid(owner).unwrap_or(""),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub(crate) fn i64_at(o: &Value, path: &str) -> Option<i64> {
    ptr(o, path).and_then(Value::as_i64)
}

pub(crate) fn str_at<'a>(o: &'a Value, path: &str) -> Option<&'a str> {
    ptr(o, path).and_then(Value::as_str)
}

pub(crate) fn bool_at(o: &Value, path: &str) -> bool {
    ptr(o, path).and_then(Value::as_bool).unwrap_or(false)
}

// ---------------------------------------------------------------- time

/// RFC 3339 with second precision, as metav1.Time serialises.
pub(crate) fn fmt_time(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

pub(crate) fn time_at(o: &Value, path: &str) -> Option<Timestamp> {
    str_at(o, path).and_then(parse_time)
}

pub(crate) fn add_seconds(t: Timestamp, secs: i64) -> Timestamp {
    Timestamp::from_second(t.as_second().saturating_add(secs)).unwrap_or(t)
}

// ---------------------------------------------------------------- selectors

/// metav1.LabelSelector (matchLabels + matchExpressions) against labels, as
/// `metav1.LabelSelectorAsSelector`: a null/absent selector matches nothing, an empty one
/// everything; an invalid one (bad operator, key or value) matches nothing. For a selector used
/// against many objects, parse it once with [`parse_selector`].
pub(crate) fn selector_matches(sel: Option<&Value>, labels: Option<&Map<String, Value>>) -> bool {
    parse_selector(sel).matches(labels)
}

/// [`selector_matches`]'s selector, parsed once (`crate::selector` is the one implementation).
pub(crate) fn parse_selector(sel: Option<&Value>) -> LabelSelector {
    sel.and_then(|s| label_selector_from_object(s).ok())
        .unwrap_or_else(LabelSelector::nothing)
}

// ---------------------------------------------------------------- pods

pub(crate) fn pod_phase(p: &Value) -> &str {
    str_at(p, "/status/phase").unwrap_or("Pending")
}

/// `podutil.IsPodReady`: condition Ready is True.
pub(crate) fn pod_ready(p: &Value) -> bool {
    condition(p, "Ready").is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// `podutil.IsPodAvailable`: ready for at least minReadySeconds.
pub(crate) fn pod_available(p: &Value, min_ready_seconds: i64, now: Timestamp) -> bool {
    if !pod_ready(p) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    let since = condition(p, "Ready")
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .and_then(parse_time);
    since.is_some_and(|t| add_seconds(t, min_ready_seconds) <= now)
}

/// `controller.IsPodActive`: not Succeeded/Failed and not being deleted.
pub(crate) fn pod_active(p: &Value) -> bool {
    !is_terminating(p) && !matches!(pod_phase(p), "Succeeded" | "Failed")
}

pub(crate) fn condition<'a>(o: &'a Value, type_: &str) -> Option<&'a Value> {
    ptr(o, "/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// Builds a pod from a pod template as `controller.GetPodFromTemplate` does: labels, annotations
/// and finalizers of the template, `generateName: <prefix>`, the owner's namespace, the controller
/// ownerReference, and the template spec.
pub(crate) fn pod_from_template(
    template: &Value,
    namespace: &str,
    owner_ref: Value,
    generate_name: Option<&str>,
    name: Option<&str>,
) -> Value {
    let mut meta = Map::new();
    if let Some(n) = name {
        meta.insert("name".into(), json!(n));
    } else if let Some(g) = generate_name {
        meta.insert("generateName".into(), json!(g));
    }
    meta.insert("namespace".into(), json!(namespace));
    for f in ["labels", "annotations", "finalizers"] {
        if let Some(v) = ptr(template, &format!("/metadata/{f}"))
            && !v.is_null()
        {
            meta.insert(f.into(), v.clone());
        }
    }
    meta.insert("ownerReferences".into(), json!([owner_ref]));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": Value::Object(meta),
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": {"phase": "Pending"},
    })
}

// ---------------------------------------------------------------- status helpers

/// Sets (or adds) a condition, keeping `lastTransitionTime` when the status does not change and
/// `lastUpdateTime` (when `with_update_time`) when status, reason and message do not change, so
/// that recomputing an unchanged status is a no-op.
pub(crate) fn set_condition(
    conds: &mut Vec<Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
    with_update_time: bool,
) {
    let existing = conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_));
    // Steady state: nothing changes (the common case; avoids formatting the time).
    if let Some(old) = existing.as_deref()
        && old.get("status").and_then(Value::as_str) == Some(status)
        && old.get("reason").and_then(Value::as_str).unwrap_or("") == reason
        && old.get("message").and_then(Value::as_str).unwrap_or("") == message
        && old.get("lastTransitionTime").is_some()
        && (!with_update_time || old.get("lastUpdateTime").is_some())
    {
        return;
    }
    let now_s = fmt_time(now);
    let mut new = Map::new();
    new.insert("type".into(), json!(type_));
    new.insert("status".into(), json!(status));
    if let Some(old) = existing {
        let same_status = old.get("status").and_then(Value::as_str) == Some(status);
        let same_all = same_status
            && old.get("reason").and_then(Value::as_str).unwrap_or("") == reason
            && old.get("message").and_then(Value::as_str).unwrap_or("") == message;
        let ltt = if same_status {
            old.get("lastTransitionTime")
                .cloned()
                .unwrap_or_else(|| json!(now_s))
        } else {
            json!(now_s)
        };
        if with_update_time {
            let lut = if same_all {
                old.get("lastUpdateTime")
                    .cloned()
                    .unwrap_or_else(|| json!(now_s))
            } else {
                json!(now_s)
            };
            new.insert("lastUpdateTime".into(), lut);
        }
        new.insert("lastTransitionTime".into(), ltt);
        if !reason.is_empty() {
            new.insert("reason".into(), json!(reason));
        }
        if !message.is_empty() {
            new.insert("message".into(), json!(message));
        }
        *old = Value::Object(new);
    } else {
        if with_update_time {
            new.insert("lastUpdateTime".into(), json!(now_s));
        }
        new.insert("lastTransitionTime".into(), json!(now_s));
        if !reason.is_empty() {
            new.insert("reason".into(), json!(reason));
        }
        if !message.is_empty() {
            new.insert("message".into(), json!(message));
        }
        conds.push(Value::Object(new));
    }
}

pub(crate) fn existing_conditions(o: &Value) -> Vec<Value> {
    ptr(o, "/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// An `Update` replacing `status` when it differs from the stored one.
pub(crate) fn status_update(key: &str, obj: &Value, status: Value) -> Option<Mutation> {
    if obj.get("status") == Some(&status) {
        return None;
    }
    let mut o = obj.clone();
    o["status"] = status;
    Some(Mutation::Update {
        key: key.to_string(),
        object: o,
    })
}

pub(crate) fn delete_of(key: &str, o: &Value) -> Mutation {
    Mutation::Delete {
        key: key.to_string(),
        namespace: obj_namespace(o).map(str::to_string),
        name: obj_name(o).to_string(),
        uid: obj_uid(o).map(str::to_string),
    }
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int, or "N%" of `total` rounded up or down.
pub(crate) fn scaled_int_or_percent(
    v: Option<&Value>,
    total: i64,
    round_up: bool,
) -> Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("invalid value {n}")),
        Some(Value::String(s)) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"))?;
            let prod = pct * total;
            Ok(Some(if round_up {
                (prod + 99).div_euclid(100)
            } else {
                prod.div_euclid(100)
            }))
        }
        Some(other) => Err(format!("invalid value {other}")),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    pub fn node(name: &str, labels: Value) -> Value {
        json!({"apiVersion":"v1","kind":"Node","metadata":{"name":name,"uid":format!("uid-node-{name}"),"labels":labels},
               "status":{"addresses":[{"type":"InternalIP","address":"192.168.0.10"}]}})
    }

    /// Applies mutations like a tiny store (uids from a counter, generateName + counter) so that
    /// the reconcilers can be driven to a fixed point in unit tests. Objects keep insertion order.
    pub struct MiniStore {
        pub objs: BTreeMap<String, BTreeMap<u64, Value>>,
        index: HashMap<(String, String), u64>,
        pub counter: u64,
    }

    impl MiniStore {
        pub fn new(items: Vec<(&str, Value)>) -> Self {
            let mut s = MiniStore {
                objs: BTreeMap::new(),
                index: HashMap::new(),
                counter: 0,
            };
            for (k, v) in items {
                s.insert(k.to_string(), v);
            }
            s
        }

        fn insert(&mut self, key: String, v: Value) {
            self.counter += 1;
            let id = obj_uid(&v).unwrap_or("").to_string();
            self.index.insert((key.clone(), id), self.counter);
            self.objs.entry(key).or_default().insert(self.counter, v);
        }

        pub fn snapshot(&self) -> Snapshot {
            Snapshot::new(
                self.objs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.values().cloned().map(Arc::new).collect()))
                    .collect(),
            )
        }

        pub fn apply(&mut self, muts: Vec<Mutation>, now: Timestamp) {
            for m in muts {
                match m {
                    Mutation::Create { key, mut object } => {
                        let n = self.counter + 1;
                        if obj_name(&object).is_empty() {
                            let g = str_at(&object, "/metadata/generateName")
                                .unwrap_or("x-")
                                .to_string();
                            object["metadata"]["name"] = json!(format!("{g}{n:05}"));
                        }
                        object["metadata"]["uid"] = json!(format!("uid-{n}"));
                        object["metadata"]["creationTimestamp"] = json!(fmt_time(now));
                        if object["metadata"].get("generation").is_none() {
                            object["metadata"]["generation"] = json!(1);
                        }
                        self.insert(key, object);
                    }
                    Mutation::Update { key, object } => {
                        let id = obj_uid(&object).unwrap_or("").to_string();
                        if let Some(seq) = self.index.get(&(key.clone(), id))
                            && let Some(o) = self.objs.get_mut(&key).and_then(|l| l.get_mut(seq))
                        {
                            *o = object;
                        }
                    }
                    Mutation::Delete {
                        key,
                        name,
                        namespace,
                        ..
                    } => {
                        if let Some(list) = self.objs.get_mut(&key) {
                            let gone: Vec<u64> = list
                                .iter()
                                .filter(|(_, o)| {
                                    obj_name(o) == name && obj_namespace(o) == namespace.as_deref()
                                })
                                .map(|(k, _)| *k)
                                .collect();
                            for g in gone {
                                list.remove(&g);
                            }
                        }
                    }
                }
            }
        }

        /// Runs reconcile until quiet (at most 50 passes); returns the number of passes.
        pub fn settle(&mut self, now: Timestamp, set: &ControllerSet) -> usize {
            for i in 0..50 {
                let muts = reconcile(&self.snapshot(), now, set);
                if muts.is_empty() {
                    return i;
                }
                self.apply(muts, now);
            }
            panic!("controllers did not settle in 50 passes");
        }

        pub fn list(&self, key: &str) -> Vec<&Value> {
            self.objs
                .get(key)
                .map(|v| v.values().collect())
                .unwrap_or_default()
        }

        pub fn get_mut(&mut self, key: &str, name: &str) -> &mut Value {
            self.objs
                .get_mut(key)
                .unwrap()
                .values_mut()
                .find(|o| obj_name(o) == name)
                .unwrap()
        }

        pub fn get(&self, key: &str, name: &str) -> &Value {
            self.objs[key]
                .values()
                .find(|o| obj_name(o) == name)
                .unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_semantics() {
        let l = json!({"app":"a","tier":"web"});
        let l = l.as_object();
        assert!(selector_matches(Some(&json!({})), l));
        assert!(!selector_matches(None, l));
        assert!(!selector_matches(Some(&Value::Null), l));
        assert!(selector_matches(
            Some(&json!({"matchLabels":{"app":"a"}})),
            l
        ));
        assert!(!selector_matches(
            Some(&json!({"matchLabels":{"app":"b"}})),
            l
        ));
        let e = |op: &str, vals: Value| json!({"matchExpressions":[{"key":"tier","operator":op,"values":vals}]});
        assert!(selector_matches(Some(&e("In", json!(["web", "db"]))), l));
        assert!(!selector_matches(Some(&e("NotIn", json!(["web"]))), l));
        assert!(selector_matches(Some(&e("Exists", json!([]))), l));
        assert!(!selector_matches(Some(&e("DoesNotExist", json!([]))), l));
    }

    #[test]
    fn conditions_keep_times_when_unchanged() {
        let mut c = Vec::new();
        set_condition(
            &mut c,
            "Ready",
            "True",
            "R",
            "",
            testutil::t("2024-01-01T00:00:00Z"),
            true,
        );
        set_condition(
            &mut c,
            "Ready",
            "True",
            "R",
            "",
            testutil::t("2024-01-01T00:05:00Z"),
            true,
        );
        assert_eq!(c[0]["lastTransitionTime"], "2024-01-01T00:00:00Z");
        set_condition(
            &mut c,
            "Ready",
            "False",
            "X",
            "m",
            testutil::t("2024-01-01T00:06:00Z"),
            true,
        );
        assert_eq!(c[0]["lastTransitionTime"], "2024-01-01T00:06:00Z");
        assert_eq!(c[0]["message"], "m");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn int_or_percent() {
        assert_eq!(
            scaled_int_or_percent(Some(&json!("50%")), 3, true),
            Ok(Some(2))
        );
        assert_eq!(
            scaled_int_or_percent(Some(&json!("50%")), 3, false),
            Ok(Some(1))
        );
        assert_eq!(scaled_int_or_percent(Some(&json!(4)), 3, true), Ok(Some(4)));
        assert!(scaled_int_or_percent(Some(&json!("x")), 3, true).is_err());
    }

    #[test]
    fn dedupe_keeps_first_update_and_drops_updates_of_deleted() {
        let o = json!({"metadata":{"name":"a","namespace":"n","uid":"u"}});
        let muts = vec![
            Mutation::Update {
                key: "/pods".into(),
                object: o.clone(),
            },
            Mutation::Update {
                key: "/pods".into(),
                object: o.clone(),
            },
            Mutation::Update {
                key: "apps/x".into(),
                object: o.clone(),
            },
            delete_of("apps/x", &o),
        ];
        let d = dedupe(muts);
        assert_eq!(d.len(), 2);
        assert!(matches!(&d[1], Mutation::Delete { .. }));
    }
}

#[cfg(test)]
mod perf {
    use super::testutil::*;
    use super::*;

    /// A quiet pass over 50,000 running pods owned by 5,000 ReplicaSets of 5,000 Deployments:
    /// run with `cargo test -p kubesim --lib perf -- --ignored --nocapture` (numbers in the report).
    #[test]
    #[ignore]
    fn quiet_pass_over_50k_pods() {
        let n_deploy: usize = std::env::var("KUBESIM_PERF_DEPLOYMENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5000);
        let now = t("2024-05-01T10:00:00Z");
        let mut s = MiniStore::new(vec![
            ("/nodes", node("n1", json!({}))),
            ("/nodes", node("n2", json!({}))),
        ]);
        for i in 0..n_deploy {
            s.apply(
                vec![Mutation::Create {
                    key: keys::DEPLOYMENTS.into(),
                    object: json!({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":format!("d{i}"),"namespace":"ns"},
                        "spec":{"replicas":10,"selector":{"matchLabels":{"app":format!("d{i}")}},
                                "template":{"metadata":{"labels":{"app":format!("d{i}")}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}),
                }],
                now,
            );
        }
        let start = std::time::Instant::now();
        let passes = s.settle(now, &ControllerSet::all());
        eprintln!(
            "settled {n_deploy} deployments / {} pods in {passes} passes, {:?}",
            n_deploy * 10,
            start.elapsed()
        );
        assert_eq!(s.list(keys::PODS).len(), n_deploy * 10);
        let snap = s.snapshot();
        let one = |f: fn(&mut ControllerSet)| {
            let mut set = ControllerSet::none();
            f(&mut set);
            let start = std::time::Instant::now();
            let n = reconcile(&snap, now, &set).len();
            (start.elapsed(), n)
        };
        eprintln!("deployments {:?}", one(|s| s.deployments = true));
        eprintln!("replicasets {:?}", one(|s| s.replicasets = true));
        eprintln!("pods {:?}", one(|s| s.pods = true));
        eprintln!("gc {:?}", one(|s| s.gc = true));
        eprintln!("none {:?}", one(|_| {}));
        let start = std::time::Instant::now();
        let muts = reconcile(&snap, now, &ControllerSet::all());
        let quiet = start.elapsed();
        eprintln!("quiet reconcile over {} pods: {quiet:?}", n_deploy * 10);
        assert!(muts.is_empty());
    }
}
