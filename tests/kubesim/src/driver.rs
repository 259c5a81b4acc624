//! The controller driver: runs the simulated controllers (`controllers::reconcile`) and kubesim's
//! own background work (graceful pod deletion, foreground deletion, namespace termination) after
//! every batch of changes, on a tick, and when time is advanced, applying every mutation through
//! the API semantics so that watches see them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::api::{Api, DeleteOpts, WriteOpts, name_of, namespace_of, uid_of};
use crate::controllers::{ControllerSet, Mutation, Snapshot};
use crate::store::rv_of;

/// A snapshot of the store (all keys, or only `keys`).
pub fn snapshot(api: &Api, keys: Option<&[&str]>) -> Snapshot {
    Snapshot::new(api.store.snapshot_objects(keys))
}

/// What token authentication needs to see.
pub fn auth_snapshot(api: &Api) -> Snapshot {
    snapshot(api, Some(&["/serviceaccounts", "/secrets", "/pods"]))
}

/// What the RBAC authorizer needs to see.
pub fn rbac_snapshot(api: &Api) -> Snapshot {
    snapshot(
        api,
        Some(&[
            "rbac.authorization.k8s.io/roles",
            "rbac.authorization.k8s.io/rolebindings",
            "rbac.authorization.k8s.io/clusterroles",
            "rbac.authorization.k8s.io/clusterrolebindings",
        ]),
    )
}

/// Upper bound of reconcile rounds per pass (a pass ends earlier when nothing changes).
const MAX_ROUNDS: usize = 64;

/// An idle tick (nothing written since the last quiet pass) still runs a pass this often, for
/// the controllers' time-driven transitions (minReadySeconds, progress deadlines, CronJob
/// schedules: object timestamps have a one-second resolution anyway) — or, when passes are
/// expensive (large stores), every [`IDLE_COST_FACTOR`] times the last pass's duration (at most
/// [`MAX_IDLE_EVERY`]), so that an idle simulation costs at most about a tenth of a core.
const IDLE_PASS_EVERY: Duration = Duration::from_secs(1);
const IDLE_COST_FACTOR: u32 = 10;
const MAX_IDLE_EVERY: Duration = Duration::from_secs(10);

/// A pass that took longer than this is followed by a pause as long as the pass (at most
/// [`MAX_BACKOFF`]) before the next change-driven pass, so that under a sustained write load the
/// controllers use at most about half of the CPU and bursts of changes are coalesced into one
/// pass (the reconcile over 50,000 pods takes ~0.6 s).
const BACKOFF_ABOVE: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub struct Driver {
    pub api: Arc<Api>,
    controllers: Mutex<ControllerSet>,
    pub kick: Arc<Notify>,
    tick: Duration,
    /// Serialises passes (the background loop, `Sim::settle`, `Sim::advance_time`).
    pass_lock: Mutex<()>,
}

impl Driver {
    pub fn new(
        api: Arc<Api>,
        controllers: ControllerSet,
        kick: Arc<Notify>,
        tick: Duration,
    ) -> Self {
        if let Ok(mut b) = api.behaviour.lock() {
            b.kubelet = controllers.pods;
        }
        Driver {
            api,
            controllers: Mutex::new(controllers),
            kick,
            tick,
            pass_lock: Mutex::new(()),
        }
    }

    pub fn controllers(&self) -> ControllerSet {
        *self.controllers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_controllers(&self, set: ControllerSet) {
        *self.controllers.lock().unwrap_or_else(|e| e.into_inner()) = set;
        if let Ok(mut b) = self.api.behaviour.lock() {
            b.kubelet = set.pods;
        }
        self.kick.notify_one();
    }

    /// Runs forever: a pass after changes (debounced, and coalesced while a long pass runs), on
    /// kicks, and on ticks unless idle (see [`IDLE_PASS_EVERY`]). Passes run on the blocking
    /// thread pool, never on the async workers that serve requests.
    pub async fn run(self: Arc<Self>) {
        // The store's resourceVersion after the last pass that changed nothing.
        let mut quiet_at: Option<u64> = None;
        let mut last_pass = tokio::time::Instant::now();
        let mut idle_every = IDLE_PASS_EVERY;
        loop {
            let forced = tokio::select! {
                _ = self.api.store.changed() => {
                    // Let a burst of writes land before reconciling.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    true
                }
                _ = self.kick.notified() => true,
                _ = tokio::time::sleep(self.tick) => false,
            };
            if !forced
                && quiet_at == Some(self.api.store.current_rv())
                && last_pass.elapsed() < idle_every
            {
                continue;
            }
            let started = tokio::time::Instant::now();
            let applied = self.pass().await;
            last_pass = tokio::time::Instant::now();
            quiet_at = (applied == 0).then(|| self.api.store.current_rv());
            let cost = last_pass - started;
            idle_every = (cost * IDLE_COST_FACTOR).clamp(IDLE_PASS_EVERY, MAX_IDLE_EVERY);
            if cost > BACKOFF_ABOVE {
                tokio::time::sleep(cost.min(MAX_BACKOFF)).await;
            }
        }
    }

    /// Reconciles until nothing changes (bounded), on the blocking thread pool; returns the
    /// number of mutations applied.
    pub async fn pass(self: &Arc<Self>) -> usize {
        let this = Arc::clone(self);
        match tokio::task::spawn_blocking(move || this.pass_blocking()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "controller pass failed");
                0
            }
        }
    }

    /// [`Driver::pass`] on the calling thread.
    pub fn pass_blocking(&self) -> usize {
        let _g = self.pass_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0;
        for _ in 0..MAX_ROUNDS {
            let n = self.core_round() + self.controller_round();
            total += n;
            if n == 0 {
                break;
            }
        }
        total
    }

    fn controller_round(&self) -> usize {
        let set = self.controllers();
        if set == ControllerSet::none() {
            return 0;
        }
        let snap = snapshot(&self.api, None);
        let muts = crate::controllers::reconcile(&snap, self.api.clock.now(), &set);
        let mut applied = 0;
        for m in muts {
            if self.apply(m) {
                applied += 1;
            }
        }
        applied
    }

    /// Applies one controller mutation; false when it was dropped (conflict, gone).
    pub fn apply(&self, m: Mutation) -> bool {
        let api = &self.api;
        let opts = WriteOpts {
            field_manager: Some("kube-controller-manager".into()),
            ..WriteOpts::default()
        };
        match m {
            Mutation::Create { key, object } => {
                let Some(def) = api.registry.get(&key) else {
                    return false;
                };
                let ns = namespace_of(&object).to_string();
                let ns = (!ns.is_empty()).then_some(ns);
                let status = object.get("status").cloned();
                match api.create(&def, &def.version, ns.as_deref(), object, &opts) {
                    Ok(created) => {
                        // Controllers may create objects with a status (the kubelet's view of a
                        // pod it just started): write it through /status.
                        if let Some(s) = status
                            && def.status
                            && created.get("status") != Some(&s)
                        {
                            let mut o = (*created).clone();
                            o["status"] = s;
                            let _ = api.update(
                                &def,
                                &def.version,
                                ns.as_deref(),
                                name_of(&created),
                                o,
                                crate::api::Target::Status,
                                &opts,
                            );
                        }
                        true
                    }
                    Err(e) => {
                        tracing::debug!(key, error = %e, "controller create dropped");
                        false
                    }
                }
            }
            Mutation::Update { key, object } => {
                let Some(def) = api.registry.get(&key) else {
                    return false;
                };
                match api.controller_update(&def, object) {
                    Ok(changed) => changed,
                    Err(e) => {
                        tracing::debug!(key, error = %e, "controller update dropped");
                        false
                    }
                }
            }
            Mutation::Delete {
                key,
                namespace,
                name,
                uid,
            } => {
                let Some(def) = api.registry.get(&key) else {
                    return false;
                };
                let opts = DeleteOpts {
                    precondition_uid: uid,
                    propagation_policy: Some("Background".into()),
                    ..DeleteOpts::default()
                };
                api.delete(&def, namespace.as_deref(), &name, &opts).is_ok()
            }
        }
    }

    /// kubesim's own background work; returns the number of changes made.
    fn core_round(&self) -> usize {
        let api = &self.api;
        let mut n = 0;
        let kubelet = self.controllers().pods;
        let deleting = |o: &Value| o.pointer("/metadata/deletionTimestamp").is_some();
        // 1. Graceful pod deletion: the simulated kubelet stops the containers at once, or at the
        //    end of the grace period for containers that ignore SIGTERM (grace.rs).
        if kubelet {
            let now = api.clock.now();
            let terminating = api
                .store
                .page("/pods", None, None, usize::MAX, Some(&deleting))
                .items;
            let deadlines = api
                .behaviour
                .lock()
                .map(|b| b.deadlines.clone())
                .unwrap_or_default();
            let mut gone: std::collections::HashSet<&str> = std::collections::HashSet::new();
            for p in &terminating {
                let has_fin = p
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                if !has_fin
                    && crate::grace::kubelet_done(p, now, deadlines.get(uid_of(p)))
                    && api
                        .store
                        .delete("/pods", namespace_of(p), name_of(p), Some(rv_of(p)))
                        .is_ok()
                {
                    gone.insert(uid_of(p));
                    n += 1;
                }
            }
            // Forget the deadlines of pods that are gone (those deleted by others too).
            if !deadlines.is_empty() {
                let live: std::collections::HashSet<&str> = terminating
                    .iter()
                    .map(|p| uid_of(p))
                    .filter(|u| !gone.contains(u))
                    .collect();
                let stale: Vec<String> = deadlines
                    .uids()
                    .filter(|u| !live.contains(u))
                    .map(str::to_string)
                    .collect();
                if let Ok(mut g) = api.behaviour.lock() {
                    for u in stale {
                        g.deadlines.remove(&u);
                    }
                }
            }
        }
        // 2. Foreground deletion and 3. namespace termination need every object being deleted.
        let mut pending = Vec::new();
        for key in api.store.keys() {
            for o in api
                .store
                .page(&key, None, None, usize::MAX, Some(&deleting))
                .items
            {
                pending.push((key.clone(), o));
            }
        }
        if pending.is_empty() {
            return n;
        }
        let all = api.store.snapshot_objects(None);
        for (key, o) in pending {
            let fg = o
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|f| f == "foregroundDeletion"));
            if fg {
                let uid = uid_of(&o).to_string();
                let mut remaining = 0;
                for (dkey, objs) in &all {
                    for d in objs {
                        let owned = d
                            .pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .is_some_and(|refs| {
                                refs.iter().any(|r| {
                                    r.get("uid").and_then(Value::as_str) == Some(uid.as_str())
                                })
                            });
                        if !owned {
                            continue;
                        }
                        remaining += 1;
                        if d.pointer("/metadata/deletionTimestamp").is_none()
                            && let Some(ddef) = api.registry.get(dkey)
                        {
                            let ns = namespace_of(d).to_string();
                            let ns = (!ns.is_empty()).then_some(ns);
                            let opts = DeleteOpts {
                                propagation_policy: Some("Foreground".into()),
                                ..DeleteOpts::default()
                            };
                            if api.delete(&ddef, ns.as_deref(), name_of(d), &opts).is_ok() {
                                n += 1;
                            }
                        }
                    }
                }
                if remaining == 0 {
                    api.remove_finalizer(&key, &o, "foregroundDeletion");
                    n += 1;
                }
                continue;
            }
            if key == "/namespaces" {
                n += self.terminate_namespace(&o, &all);
            }
        }
        n
    }

    fn terminate_namespace(
        &self,
        ns_obj: &Value,
        all: &std::collections::BTreeMap<String, Vec<Arc<Value>>>,
    ) -> usize {
        let api = &self.api;
        let ns = name_of(ns_obj);
        let mut n = 0;
        let mut remaining = 0;
        for (key, objs) in all {
            let Some(def) = api.registry.get(key) else {
                continue;
            };
            if !def.namespaced {
                continue;
            }
            for o in objs.iter().filter(|o| namespace_of(o) == ns) {
                remaining += 1;
                if o.pointer("/metadata/deletionTimestamp").is_none() {
                    let opts = DeleteOpts {
                        propagation_policy: Some("Background".into()),
                        grace_period_seconds: Some(0),
                        ..DeleteOpts::default()
                    };
                    if api.delete(&def, Some(ns), name_of(o), &opts).is_ok() {
                        n += 1;
                    }
                }
            }
        }
        let meta_fins = ns_obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if remaining == 0 && !meta_fins {
            // The namespace controller removes the `kubernetes` finalizer, then the namespace goes.
            if api
                .store
                .delete("/namespaces", "", ns, Some(rv_of(ns_obj)))
                .is_ok()
            {
                n += 1;
            }
        }
        n
    }
}
