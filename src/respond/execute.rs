//! The only code that changes the cluster on behalf of an incident. Every operation is
//! idempotent: an action whose effect is already visible is Done without being redone,
//! so a retry after a lost response or a crash repeats nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use serde_json::json;

use super::network;
use super::plan::PARKING_KEY;
use crate::api::{Action, ActionVerb, MAX_POD_SAMPLE, ObjectRef, PodProgress, Undo};
use crate::controller::error::{describe, is_conflict, is_not_found, status_code};
use crate::controller::owners::{self, api_resource};

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "cryptojack";

/// What running (or restoring) an action came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Done(String),
    Failed(String),
    Skipped(String),
    /// Not finished (an eviction blocked by a PodDisruptionBudget, a transient error):
    /// try again after the delay.
    Retry {
        after: Duration,
        message: String,
    },
}

/// Settings of a run that come from the merged policies.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub grace_period_seconds: i64,
    pub force_after_seconds: i64,
    /// The incident's name (the parking value, labels).
    pub incident: String,
    /// Objects the actions create, by action id (network policies, the GPU quota).
    pub objects: std::collections::HashMap<String, serde_json::Value>,
    /// Container logs: (tail lines, bytes per container).
    pub collect_logs: Option<(i32, i32)>,
    /// The ServiceAccount as it was (RecreateServiceAccount).
    pub service_account: Option<crate::api::ServiceAccountUndo>,
    /// Legacy token Secrets to delete.
    pub token_secrets: Vec<String>,
    /// Bindings as they were (QuarantineBinding), by `Kind/namespace/name`.
    pub bindings: std::collections::HashMap<String, crate::api::SavedBinding>,
    /// The incident's top-level owner (whose pods the evidence comes from).
    pub workload: Option<ObjectRef>,
}

impl RunSettings {
    pub fn new(incident: &str, grace_period_seconds: i64, force_after_seconds: i64) -> RunSettings {
        RunSettings {
            grace_period_seconds,
            force_after_seconds,
            incident: incident.to_string(),
            objects: Default::default(),
            collect_logs: None,
            service_account: None,
            token_secrets: Vec::new(),
            bindings: Default::default(),
            workload: None,
        }
    }
}

/// The key of a binding in [`RunSettings::bindings`].
pub fn binding_key(kind: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{kind}/{}/{name}", namespace.unwrap_or("_"))
}

/// The executor: a client with the default retries, and one without them for
/// evictions (kube's default client retries 429 for a long time; a PodDisruptionBudget's
/// 429 must come back to this code at once).
#[derive(Clone)]
pub struct Executor {
    pub client: Client,
    pub evict_client: Client,
}

fn scale_patch(replicas: i32) -> serde_json::Value {
    json!({"spec": {"replicas": replicas}})
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// The undo data of an action, from what the controller read before any change (write-once:
/// recorded in the incident before the action runs).
pub fn undo_for(
    action: &Action,
    facts: &super::plan::Facts,
    settings: &RunSettings,
) -> Option<Undo> {
    use super::plan::OwnerState;
    let job_suspend = facts
        .active_jobs
        .iter()
        .find(|j| action.target.kind == "Job" && j.target.name == action.target.name)
        .map(|j| j.suspend);
    match (action.verb, &facts.owner) {
        (ActionVerb::Scale, OwnerState::Replicas { replicas, .. }) => Some(Undo {
            replicas: Some(*replicas),
            ..Default::default()
        }),
        (ActionVerb::Suspend, OwnerState::Suspend { suspend }) => Some(Undo {
            suspend: Some(job_suspend.unwrap_or(*suspend)),
            ..Default::default()
        }),
        (ActionVerb::Suspend, _) => job_suspend.map(|s| Undo {
            suspend: Some(s),
            ..Default::default()
        }),
        (ActionVerb::Park, OwnerState::DaemonSet { node_selector }) => {
            let mut original = node_selector.clone();
            original.remove(PARKING_KEY);
            Some(Undo {
                node_selector: Some(original),
                parking_key: Some(PARKING_KEY.to_string()),
                ..Default::default()
            })
        }
        (ActionVerb::Label, _) => Some(Undo {
            label: Some(super::plan::quarantine_label(&settings.incident)),
            ..Default::default()
        }),
        (ActionVerb::Isolate | ActionVerb::BlockPorts | ActionVerb::CapGpuQuota, _) => Some(Undo {
            created: vec![ObjectRef {
                uid: None,
                ..action.target.clone()
            }],
            ..Default::default()
        }),
        (ActionVerb::DeleteTokens, _) => Some(Undo {
            deleted_secrets: settings.token_secrets.clone(),
            ..Default::default()
        }),
        (ActionVerb::RecreateServiceAccount, _) => {
            settings.service_account.clone().map(|sa| Undo {
                service_account: Some(sa),
                ..Default::default()
            })
        }
        (ActionVerb::QuarantineBinding, _) => {
            let t = &action.target;
            settings
                .bindings
                .get(&binding_key(&t.kind, t.namespace.as_deref(), &t.name))
                .cloned()
                .map(|b| Undo {
                    binding: Some(b),
                    ..Default::default()
                })
        }
        _ => None,
    }
}

impl Executor {
    async fn dynamic(&self, target: &ObjectRef) -> Result<Api<DynamicObject>, String> {
        let ar = api_resource(&self.client, &target.api_version, &target.kind)
            .await
            .map_err(|e| e.to_string())?;
        let ns = target.namespace.clone().unwrap_or_default();
        Ok(Api::namespaced_with(self.client.clone(), &ns, &ar))
    }

    /// Runs `action` (its undo data is already recorded).
    pub async fn run(&self, action: &mut Action, settings: &RunSettings) -> Outcome {
        match action.verb {
            ActionVerb::Scale => self.scale(&action.target, 0).await,
            ActionVerb::Suspend => self.suspend(&action.target, true).await,
            ActionVerb::Park => self.park(&action.target, &settings.incident).await,
            ActionVerb::Evict => self.evict(action, settings).await,
            ActionVerb::CollectLogs => self.collect_logs(action, settings).await,
            ActionVerb::Label => self.label(action, settings, true).await,
            ActionVerb::Isolate | ActionVerb::BlockPorts | ActionVerb::CapGpuQuota => {
                match settings.objects.get(&action.id) {
                    Some(obj) => self.create_object(obj).await,
                    None => Outcome::Retry {
                        after: Duration::from_secs(2),
                        message: "the object to create is not known yet".into(),
                    },
                }
            }
            ActionVerb::DeleteTokens => self.delete_tokens(action, settings).await,
            ActionVerb::RecreateServiceAccount => {
                self.recreate_service_account(action, settings).await
            }
            ActionVerb::QuarantineBinding => self.quarantine_binding(action, settings).await,
        }
    }

    /// Undoes `action` from its recorded undo data.
    pub async fn restore(&self, action: &Action) -> Outcome {
        let undo = action.undo.clone().unwrap_or_default();
        match action.verb {
            ActionVerb::Scale => match undo.replicas {
                Some(r) => self.scale(&action.target, r).await,
                None => Outcome::Skipped("no replica count was recorded".into()),
            },
            ActionVerb::Suspend => {
                self.suspend(&action.target, undo.suspend.unwrap_or(false))
                    .await
            }
            ActionVerb::Park => self.unpark(&action.target, &undo).await,
            ActionVerb::Evict => Outcome::Skipped(
                "evicted pods are not restored; the owner recreates them once restored".into(),
            ),
            ActionVerb::Label => {
                let settings = RunSettings::new(
                    undo.label
                        .as_deref()
                        .and_then(|l| l.split_once('='))
                        .map(|(_, v)| v)
                        .unwrap_or_default(),
                    0,
                    0,
                );
                self.label(action, &settings, false).await
            }
            ActionVerb::Isolate | ActionVerb::BlockPorts | ActionVerb::CapGpuQuota => {
                self.delete_objects(&undo.created).await
            }
            ActionVerb::CollectLogs => Outcome::Skipped(
                "the evidence Secret is kept until the incident is deleted".into(),
            ),
            ActionVerb::DeleteTokens => Outcome::Skipped(
                "deleted token Secrets cannot be restored: issue new tokens to the legitimate users".into(),
            ),
            ActionVerb::RecreateServiceAccount => Outcome::Skipped(format!(
                "a recreated ServiceAccount cannot get its old UID{} back: every token issued for it stays invalid; issue new tokens to the legitimate users",
                undo.service_account
                    .as_ref()
                    .map(|s| format!(" ({})", s.old_uid))
                    .unwrap_or_default()
            )),
            ActionVerb::QuarantineBinding => match &undo.binding {
                Some(b) => self.restore_binding(b).await,
                None => Outcome::Skipped("no binding was saved".into()),
            },
        }
    }

    async fn scale(&self, target: &ObjectRef, replicas: i32) -> Outcome {
        let api = match self.dynamic(target).await {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e),
        };
        let what = describe_ref(target);
        let before = match api.get_scale(&target.name).await {
            Ok(s) => s.spec.and_then(|s| s.replicas).unwrap_or(0),
            Err(e) if is_not_found(&e) => {
                return Outcome::Skipped(format!("{what} no longer exists"));
            }
            Err(e) => return api_failure(&what, &e),
        };
        if before == replicas {
            return Outcome::Done(format!("{what} is at {replicas} replicas"));
        }
        match api
            .patch_scale(
                &target.name,
                &params(),
                &Patch::Merge(scale_patch(replicas)),
            )
            .await
        {
            Ok(_) => Outcome::Done(format!("Scaled {what} from {before} to {replicas}")),
            Err(e) if is_not_found(&e) => Outcome::Skipped(format!("{what} no longer exists")),
            Err(e) => api_failure(&what, &e),
        }
    }

    async fn suspend(&self, target: &ObjectRef, suspend: bool) -> Outcome {
        let api = match self.dynamic(target).await {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e),
        };
        let what = describe_ref(target);
        match api.get(&target.name).await {
            Ok(o)
                if o.data
                    .pointer("/spec/suspend")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
                    == suspend =>
            {
                return Outcome::Done(format!("{what} has suspend: {suspend}"));
            }
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Outcome::Skipped(format!("{what} no longer exists"));
            }
            Err(e) => return api_failure(&what, &e),
        }
        match api
            .patch(
                &target.name,
                &params(),
                &Patch::Merge(json!({"spec": {"suspend": suspend}})),
            )
            .await
        {
            Ok(_) => Outcome::Done(if suspend {
                format!("Suspended {what}")
            } else {
                format!("Resumed {what}")
            }),
            Err(e) if is_not_found(&e) => Outcome::Skipped(format!("{what} no longer exists")),
            Err(e) => api_failure(&what, &e),
        }
    }

    async fn park(&self, target: &ObjectRef, incident: &str) -> Outcome {
        let api = match self.dynamic(target).await {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e),
        };
        let what = describe_ref(target);
        match api.get(&target.name).await {
            Ok(o)
                if o.data
                    .pointer("/spec/template/spec/nodeSelector")
                    .and_then(|s| s.get(PARKING_KEY))
                    .is_some() =>
            {
                return Outcome::Done(format!("{what} is parked"));
            }
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Outcome::Skipped(format!("{what} no longer exists"));
            }
            Err(e) => return api_failure(&what, &e),
        }
        let patch =
            json!({"spec": {"template": {"spec": {"nodeSelector": {PARKING_KEY: incident}}}}});
        match api
            .patch(&target.name, &params(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Outcome::Done(format!(
                "Parked {what} on node selector {PARKING_KEY}={incident}, which no node has"
            )),
            Err(e) if is_not_found(&e) => Outcome::Skipped(format!("{what} no longer exists")),
            Err(e) => api_failure(&what, &e),
        }
    }

    async fn unpark(&self, target: &ObjectRef, undo: &Undo) -> Outcome {
        let api = match self.dynamic(target).await {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e),
        };
        let what = describe_ref(target);
        let original: BTreeMap<String, String> = undo.node_selector.clone().unwrap_or_default();
        let key = undo
            .parking_key
            .clone()
            .unwrap_or_else(|| PARKING_KEY.to_string());
        let mut selector = serde_json::Map::new();
        selector.insert(key, serde_json::Value::Null);
        for (k, v) in &original {
            selector.insert(k.clone(), json!(v));
        }
        let patch = json!({"spec": {"template": {"spec": {"nodeSelector": selector}}}});
        match api
            .patch(&target.name, &params(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Outcome::Done(format!("Restored {what}'s node selector")),
            Err(e) if is_not_found(&e) => Outcome::Skipped(format!("{what} no longer exists")),
            Err(e) => api_failure(&what, &e),
        }
    }

    /// Evicts every live pod of the action's target with the policy's grace period; a pod
    /// that a PodDisruptionBudget keeps for `forceAfterSeconds` is deleted.
    async fn evict(&self, action: &mut Action, settings: &RunSettings) -> Outcome {
        let target = action.target.clone();
        let ns = target.namespace.clone().unwrap_or_default();
        let pods = match owners::workload_pods(&self.client, &target).await {
            Ok(p) => p,
            Err(e) => {
                return Outcome::Retry {
                    after: Duration::from_secs(2),
                    message: e.to_string(),
                };
            }
        };
        let progress = action.pods.get_or_insert_with(PodProgress::default);
        progress.blocked = 0;
        let now = jiff::Timestamp::now();
        let mut transient: Option<String> = None;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        for pod in &pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let uid = pod.metadata.uid.clone();
            if pod.metadata.deletion_timestamp.is_some() {
                // already going (the owner's scale-down): make sure the attacker's grace
                // period does not win
                let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
                let counted = progress
                    .sample
                    .iter()
                    .any(|s| s.starts_with(&format!("{name}:")));
                if grace <= settings.grace_period_seconds {
                    if !counted {
                        progress.gone += 1;
                        sample(
                            progress,
                            format!("{name}: already terminating ({grace}s grace)"),
                        );
                    }
                    continue;
                }
                if grace > settings.grace_period_seconds {
                    let dp = DeleteParams {
                        grace_period_seconds: Some(settings.grace_period_seconds as u32),
                        preconditions: uid.clone().map(|u| Preconditions {
                            uid: Some(u),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    match api.delete(&name, &dp).await {
                        Ok(_) => {
                            progress.deleted += 1;
                            sample(
                                progress,
                                format!(
                                    "{name}: terminating with a {grace}s grace period, shortened to {}s",
                                    settings.grace_period_seconds
                                ),
                            );
                        }
                        Err(e) if is_not_found(&e) => progress.gone += 1,
                        Err(e) => transient = Some(describe(&e)),
                    }
                }
                continue;
            }
            match self
                .evict_one(&ns, &name, settings.grace_period_seconds)
                .await
            {
                Ok(()) => {
                    progress.evicted += 1;
                    sample(progress, format!("{name}: evicted"));
                }
                Err(404) => {
                    progress.gone += 1;
                }
                Err(429) => {
                    let since = progress
                        .blocked_since
                        .get_or_insert(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                            now,
                        ))
                        .0;
                    let waited = now.duration_since(since).as_secs();
                    if waited >= settings.force_after_seconds {
                        let dp = DeleteParams {
                            grace_period_seconds: Some(settings.grace_period_seconds as u32),
                            preconditions: uid.clone().map(|u| Preconditions {
                                uid: Some(u),
                                resource_version: None,
                            }),
                            ..Default::default()
                        };
                        match api.delete(&name, &dp).await {
                            Ok(_) => {
                                progress.deleted += 1;
                                sample(
                                    progress,
                                    format!(
                                        "{name}: deleted after a PodDisruptionBudget blocked eviction for {waited}s"
                                    ),
                                );
                            }
                            Err(e) if is_not_found(&e) => progress.gone += 1,
                            Err(e) => transient = Some(describe(&e)),
                        }
                    } else {
                        progress.blocked += 1;
                    }
                }
                Err(403) => {
                    return Outcome::Failed(format!("evicting pod {ns}/{name}: 403 Forbidden"));
                }
                Err(code) => transient = Some(format!("evicting pod {ns}/{name}: HTTP {code}")),
            }
        }
        progress.total = progress.evicted + progress.deleted + progress.gone + progress.blocked;
        if progress.blocked > 0 {
            let left = settings.force_after_seconds
                - progress
                    .blocked_since
                    .as_ref()
                    .map(|t| now.duration_since(t.0).as_secs())
                    .unwrap_or(0);
            return Outcome::Retry {
                after: Duration::from_secs(left.clamp(1, 5) as u64),
                message: format!(
                    "{} pod(s) held by a PodDisruptionBudget; deleted in {}s unless evicted sooner",
                    progress.blocked,
                    left.max(0)
                ),
            };
        }
        if let Some(t) = transient {
            return Outcome::Retry {
                after: Duration::from_secs(1),
                message: t,
            };
        }
        if progress.total == 0 {
            return Outcome::Done("no pod left to evict".into());
        }
        Outcome::Done(format!(
            "{} pod(s) evicted, {} deleted, {} already gone (grace period {}s)",
            progress.evicted, progress.deleted, progress.gone, settings.grace_period_seconds
        ))
    }

    async fn api_for(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, String> {
        let ar = api_resource(&self.client, api_version, kind)
            .await
            .map_err(|e| e.to_string())?;
        Ok(match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// Creates an object (a 409 means it is already there: done).
    async fn create_object(&self, obj: &serde_json::Value) -> Outcome {
        let r = network::object_ref(obj);
        let what = describe_ref(&r);
        let api = match self
            .api_for(&r.api_version, &r.kind, r.namespace.as_deref())
            .await
        {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(format!("{what}: {e}")),
        };
        // Calico's tiered policies need cryptojack's tier
        if r.api_version.contains("projectcalico.org")
            && (r.kind == "NetworkPolicy" || r.kind == "GlobalNetworkPolicy")
            && let Ok(tiers) = self.api_for(&r.api_version, "Tier", None).await
        {
            let tier = network::calico_tier(r.api_version.starts_with("projectcalico.org"));
            if let Ok(t) = serde_json::from_value::<DynamicObject>(tier)
                && let Err(e) = tiers.create(&kube::api::PostParams::default(), &t).await
                && !is_conflict(&e)
            {
                return api_failure(&format!("Calico Tier {}", network::CALICO_TIER), &e);
            }
        }
        let Ok(dynamic) = serde_json::from_value::<DynamicObject>(obj.clone()) else {
            return Outcome::Failed(format!("{what}: not a Kubernetes object"));
        };
        let pp = kube::api::PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match api.create(&pp, &dynamic).await {
            Ok(_) => Outcome::Done(format!("Created {what}")),
            Err(e) if is_conflict(&e) => Outcome::Done(format!("{what} exists")),
            Err(e) => api_failure(&what, &e),
        }
    }

    async fn delete_objects(&self, refs: &[ObjectRef]) -> Outcome {
        let mut done = Vec::new();
        for r in refs {
            let what = describe_ref(r);
            let api = match self
                .api_for(&r.api_version, &r.kind, r.namespace.as_deref())
                .await
            {
                Ok(a) => a,
                Err(e) => return Outcome::Failed(format!("{what}: {e}")),
            };
            match api.delete(&r.name, &DeleteParams::default()).await {
                Ok(_) => done.push(format!("Deleted {what}")),
                Err(e) if is_not_found(&e) => done.push(format!("{what} was already gone")),
                Err(e) => return api_failure(&what, &e),
            }
        }
        Outcome::Done(done.join("; "))
    }

    /// Adds (or, on restore, removes) the quarantine label on the workload's pods.
    async fn label(&self, action: &Action, settings: &RunSettings, add: bool) -> Outcome {
        let ns = action.target.namespace.clone().unwrap_or_default();
        let key = crate::api::LABEL_INCIDENT;
        let value = settings.incident.clone();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let pods = if add {
            match owners::workload_pods(&self.client, &action.target).await {
                Ok(p) => p,
                Err(e) => {
                    return Outcome::Retry {
                        after: Duration::from_secs(1),
                        message: e.to_string(),
                    };
                }
            }
        } else {
            match api
                .list(&kube::api::ListParams::default().labels(&format!("{key}={value}")))
                .await
            {
                Ok(l) => l.items,
                Err(e) => return api_failure(&format!("pods in {ns}"), &e),
            }
        };
        let mut n = 0;
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let has = pod.metadata.labels.as_ref().and_then(|l| l.get(key)) == Some(&value);
            if has == add || (add && pod.metadata.deletion_timestamp.is_some()) {
                continue;
            }
            let patch = if add {
                json!({"metadata": {"labels": {key: value}}})
            } else {
                json!({"metadata": {"labels": {key: serde_json::Value::Null}}})
            };
            match api.patch(&name, &params(), &Patch::Merge(patch)).await {
                Ok(_) => n += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return api_failure(&format!("pod {ns}/{name}"), &e),
            }
        }
        Outcome::Done(if add {
            format!("Labelled {n} pod(s) {key}={value}")
        } else {
            format!("Removed {key} from {n} pod(s)")
        })
    }

    /// Saves the last lines of each container's log of the workload's pods in a Secret.
    async fn collect_logs(&self, action: &Action, settings: &RunSettings) -> Outcome {
        let ns = action.target.namespace.clone().unwrap_or_default();
        let secret_name = action.target.name.clone();
        // The operator may create and delete Secrets, not read them (reading Secrets is in
        // the opt-in role): the create's 409 says the evidence is already saved.
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.client.clone(), &ns);
        let (tail, limit) = settings.collect_logs.unwrap_or((200, 32 * 1024));
        let Some(workload) = settings.workload.clone() else {
            return Outcome::Failed("the incident's workload is not known".into());
        };
        let pods = match owners::workload_pods(&self.client, &workload).await {
            Ok(p) => p,
            Err(e) => {
                return Outcome::Retry {
                    after: Duration::from_secs(1),
                    message: e.to_string(),
                };
            }
        };
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let mut data = std::collections::BTreeMap::new();
        let mut total = 0usize;
        let mut notes = Vec::new();
        for pod in pods.iter().take(MAX_EVIDENCE_PODS) {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let containers: Vec<String> = pod
                .spec
                .iter()
                .flat_map(|s| {
                    s.init_containers
                        .iter()
                        .flatten()
                        .chain(s.containers.iter())
                })
                .map(|c| c.name.clone())
                .collect();
            for c in containers {
                if total >= MAX_EVIDENCE_BYTES {
                    notes.push("size limit reached".to_string());
                    break;
                }
                let lp = kube::api::LogParams {
                    container: Some(c.clone()),
                    tail_lines: Some(tail as i64),
                    limit_bytes: Some(limit as i64),
                    ..Default::default()
                };
                match api.logs(&pod_name, &lp).await {
                    Ok(text) => {
                        let masked = mask_secrets(&text);
                        total += masked.len();
                        data.insert(format!("{pod_name}.{c}.log"), masked);
                    }
                    Err(e) => notes.push(format!("{pod_name}/{c}: {}", describe(&e))),
                }
            }
        }
        if pods.len() > MAX_EVIDENCE_PODS {
            notes.push(format!(
                "logs of {} of {} pods",
                MAX_EVIDENCE_PODS,
                pods.len()
            ));
        }
        let n = data.len();
        let secret: k8s_openapi::api::core::v1::Secret = match serde_json::from_value(json!({
            "metadata": {"name": secret_name, "namespace": ns, "labels": {
                crate::api::LABEL_INCIDENT: settings.incident, crate::api::LABEL_INCIDENT_NAMESPACE: ns,
                "app.kubernetes.io/managed-by": "cryptojack"}},
            "type": "Opaque",
            "stringData": data
        })) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("building the evidence Secret: {e}")),
        };
        let pp = kube::api::PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match secrets.create(&pp, &secret).await {
            Ok(_) => Outcome::Done(format!(
                "saved {n} container log(s) ({total} bytes, secrets masked) in Secret {ns}/{secret_name}{}",
                if notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", notes.join("; "))
                }
            )),
            Err(e) if is_conflict(&e) => Outcome::Done(format!(
                "evidence already saved in Secret {ns}/{secret_name}"
            )),
            Err(e) => api_failure(&format!("Secret {ns}/{secret_name}"), &e),
        }
    }

    async fn delete_tokens(&self, action: &Action, settings: &RunSettings) -> Outcome {
        let ns = action.target.namespace.clone().unwrap_or_default();
        let names = action
            .undo
            .as_ref()
            .map(|u| u.deleted_secrets.clone())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| settings.token_secrets.clone());
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.client.clone(), &ns);
        let mut deleted = 0;
        for name in &names {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => deleted += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) if status_code(&e) == Some(403) => {
                    return Outcome::Skipped(format!(
                        "deleting Secret {ns}/{name} is forbidden: grant the opt-in credential-revocation ClusterRole"
                    ));
                }
                Err(e) => return api_failure(&format!("Secret {ns}/{name}"), &e),
            }
        }
        Outcome::Done(format!(
            "Deleted {deleted} legacy token Secret(s) of ServiceAccount {ns}/{}: {}",
            action.target.name,
            names.join(", ")
        ))
    }

    async fn recreate_service_account(
        &self,
        action: &mut Action,
        settings: &RunSettings,
    ) -> Outcome {
        use k8s_openapi::api::core::v1::ServiceAccount;
        let ns = action.target.namespace.clone().unwrap_or_default();
        let name = action.target.name.clone();
        let what = format!("ServiceAccount {ns}/{name}");
        let Some(saved) = action
            .undo
            .as_ref()
            .and_then(|u| u.service_account.clone())
            .or_else(|| settings.service_account.clone())
        else {
            return Outcome::Failed(format!("{what}: nothing recorded to recreate it from"));
        };
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &ns);
        match api.get_opt(&name).await {
            Ok(Some(sa)) if sa.metadata.uid.as_deref() != Some(saved.old_uid.as_str()) => {
                action.new_uid = sa.metadata.uid.clone();
                return Outcome::Done(format!(
                    "{what} already recreated (UID {} → {}): tokens issued for the old one are invalid",
                    saved.old_uid,
                    sa.metadata.uid.unwrap_or_default()
                ));
            }
            Ok(Some(_)) => {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: Some(saved.old_uid.clone()),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(&name, &dp).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                    Err(e) if status_code(&e) == Some(403) => {
                        return Outcome::Skipped(format!(
                            "deleting {what} is forbidden: grant the opt-in credential-revocation ClusterRole"
                        ));
                    }
                    Err(e) => return api_failure(&what, &e),
                }
            }
            Ok(None) => {}
            Err(e) => return api_failure(&what, &e),
        }
        let sa: ServiceAccount = match serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns, "labels": saved.labels, "annotations": saved.annotations},
            "imagePullSecrets": saved.image_pull_secrets.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
            "automountServiceAccountToken": saved.automount_service_account_token,
        })) {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(format!("{what}: {e}")),
        };
        let created = match api.create(&kube::api::PostParams::default(), &sa).await {
            Ok(c) => c,
            Err(e) if is_conflict(&e) => {
                // the cluster's controller recreated it first (the namespace's `default`)
                match api.get(&name).await {
                    Ok(c) => c,
                    Err(e) => return api_failure(&what, &e),
                }
            }
            Err(e) => return api_failure(&what, &e),
        };
        action.new_uid = created.metadata.uid.clone();
        Outcome::Done(format!(
            "Recreated {what} (UID {} → {}): every token bound to the old UID is invalid",
            saved.old_uid,
            created.metadata.uid.unwrap_or_default()
        ))
    }

    async fn quarantine_binding(&self, action: &Action, settings: &RunSettings) -> Outcome {
        let t = &action.target;
        let what = describe_ref(t);
        let Some(saved) = action
            .undo
            .as_ref()
            .and_then(|u| u.binding.clone())
            .or_else(|| {
                settings
                    .bindings
                    .get(&binding_key(&t.kind, t.namespace.as_deref(), &t.name))
                    .cloned()
            })
        else {
            return Outcome::Failed(format!("{what}: the binding was not saved"));
        };
        let sa_ns = saved.subjects.iter().find(|s| s.kind == "ServiceAccount");
        let api = match self
            .api_for(&t.api_version, &t.kind, t.namespace.as_deref())
            .await
        {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(format!("{what}: {e}")),
        };
        for _ in 0..5 {
            let mut current = match api.get_opt(&t.name).await {
                Ok(Some(b)) => b,
                Ok(None) => return Outcome::Done(format!("{what} no longer exists")),
                Err(e) => return api_failure(&what, &e),
            };
            let subjects = current
                .data
                .get("subjects")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            let keep: Vec<serde_json::Value> = subjects
                .iter()
                .filter(|s| !is_incident_subject(s, &saved, &action.id))
                .cloned()
                .collect();
            if keep.len() == subjects.len() {
                return Outcome::Done(format!("{what} no longer grants the ServiceAccount"));
            }
            current.data["subjects"] = json!(keep);
            match api
                .replace(&t.name, &kube::api::PostParams::default(), &current)
                .await
            {
                Ok(_) => {
                    return Outcome::Done(format!(
                        "Removed ServiceAccount {} from {what} (saved for restore)",
                        sa_ns
                            .map(|s| format!(
                                "{}/{}",
                                s.namespace.clone().unwrap_or_default(),
                                s.name
                            ))
                            .unwrap_or_default()
                    ));
                }
                Err(e) if is_conflict(&e) => continue,
                Err(e) if status_code(&e) == Some(403) => {
                    return Outcome::Skipped(format!(
                        "changing {what} is forbidden ({}): grant the opt-in credential-revocation ClusterRole (bind/escalate)",
                        describe(&e)
                    ));
                }
                Err(e) => return api_failure(&what, &e),
            }
        }
        Outcome::Retry {
            after: Duration::from_secs(1),
            message: format!("{what} kept changing"),
        }
    }

    async fn restore_binding(&self, saved: &crate::api::SavedBinding) -> Outcome {
        let api_version = "rbac.authorization.k8s.io/v1";
        let what = describe_ref(&ObjectRef {
            api_version: String::new(),
            kind: saved.kind.clone(),
            namespace: saved.namespace.clone(),
            name: saved.name.clone(),
            uid: None,
        });
        let api = match self
            .api_for(api_version, &saved.kind, saved.namespace.as_deref())
            .await
        {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(format!("{what}: {e}")),
        };
        let subjects: Vec<serde_json::Value> = saved
            .subjects
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect();
        for _ in 0..5 {
            match api.get_opt(&saved.name).await {
                Ok(Some(mut current)) => {
                    let mut list = current
                        .data
                        .get("subjects")
                        .and_then(|v| v.as_array())
                        .cloned()
                        .unwrap_or_default();
                    let before = list.len();
                    for s in &subjects {
                        if !list.contains(s) {
                            list.push(s.clone());
                        }
                    }
                    if list.len() == before {
                        return Outcome::Done(format!("{what} already grants its saved subjects"));
                    }
                    current.data["subjects"] = json!(list);
                    match api
                        .replace(&saved.name, &kube::api::PostParams::default(), &current)
                        .await
                    {
                        Ok(_) => return Outcome::Done(format!("Restored the subjects of {what}")),
                        Err(e) if is_conflict(&e) => continue,
                        Err(e) => return api_failure(&what, &e),
                    }
                }
                Ok(None) => {
                    let obj = json!({
                        "apiVersion": api_version, "kind": saved.kind,
                        "metadata": {"name": saved.name, "namespace": saved.namespace, "labels": saved.labels},
                        "roleRef": {"apiGroup": saved.role_ref.api_group, "kind": saved.role_ref.kind, "name": saved.role_ref.name},
                        "subjects": subjects,
                    });
                    let Ok(d) = serde_json::from_value::<DynamicObject>(obj) else {
                        return Outcome::Failed(format!("{what}: cannot rebuild it"));
                    };
                    return match api.create(&kube::api::PostParams::default(), &d).await {
                        Ok(_) => Outcome::Done(format!("Recreated {what}")),
                        Err(e) if is_conflict(&e) => continue,
                        Err(e) => api_failure(&what, &e),
                    };
                }
                Err(e) => return api_failure(&what, &e),
            }
        }
        Outcome::Retry {
            after: Duration::from_secs(1),
            message: format!("{what} kept changing"),
        }
    }

    /// POST the policy/v1 Eviction itself: kube's `Api::evict` serializes its delete
    /// options under `delete_options`, which the API server ignores (so the pod's own,
    /// attacker-chosen grace period would win). Sent through the client without retries
    /// so that a PodDisruptionBudget's 429 comes back at once. Err is the HTTP status.
    async fn evict_one(&self, ns: &str, name: &str, grace: i64) -> Result<(), u16> {
        let body = json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": ns},
            "deleteOptions": {"gracePeriodSeconds": grace}
        });
        let Ok(body) = serde_json::to_vec(&body) else {
            return Err(500);
        };
        let uri = format!("/api/v1/namespaces/{ns}/pods/{name}/eviction");
        let Ok(req) = http::Request::post(uri)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
        else {
            return Err(500);
        };
        match self.evict_client.request::<serde_json::Value>(req).await {
            Ok(_) => Ok(()),
            Err(e) => Err(status_code(&e).unwrap_or(503)),
        }
    }
}

/// Most pods whose logs are saved.
const MAX_EVIDENCE_PODS: usize = 5;
/// Most bytes of logs saved (a Secret holds at most 1 MiB).
const MAX_EVIDENCE_BYTES: usize = 512 * 1024;

/// Whether a binding subject is the incident's ServiceAccount.
fn is_incident_subject(
    subject: &serde_json::Value,
    saved: &crate::api::SavedBinding,
    _id: &str,
) -> bool {
    let Some(sa) = saved.subjects.iter().find(|s| s.kind == "ServiceAccount") else {
        return false;
    };
    subject.get("kind").and_then(|v| v.as_str()) == Some("ServiceAccount")
        && subject.get("name").and_then(|v| v.as_str()) == Some(sa.name.as_str())
        && subject.get("namespace").and_then(|v| v.as_str()) == sa.namespace.as_deref()
}

/// Masks values that look like secrets in log text: `password=...`, `token: ...`, AWS
/// access keys, JWTs, private key blocks, long base64/hex runs.
pub fn mask_secrets(text: &str) -> String {
    static PATTERNS: std::sync::OnceLock<Vec<regex::Regex>> = std::sync::OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            r"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|authorization|bearer)\s*[:=]\s*)\S+",
            r"\bAKIA[0-9A-Z]{16}\b",
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            r"\b[A-Za-z0-9+/]{40,}={0,2}",
            r"\b[0-9a-fA-F]{40,}\b",
        ]
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect()
    });
    let mut out = text.to_string();
    for (i, re) in patterns.iter().enumerate() {
        out = if i == 0 {
            re.replace_all(&out, "${1}***").into_owned()
        } else {
            re.replace_all(&out, "***").into_owned()
        };
    }
    out
}

/// `Kind namespace/name` (or `Kind name` for a cluster-scoped object), for messages.
pub fn describe_ref(r: &ObjectRef) -> String {
    match &r.namespace {
        Some(ns) => format!("{} {ns}/{}", r.kind, r.name),
        None => format!("{} {}", r.kind, r.name),
    }
}

fn sample(progress: &mut PodProgress, line: String) {
    if progress.sample.len() < MAX_POD_SAMPLE {
        progress.sample.push(crate::api::bounded(&line, 300));
    }
}

/// 403/404/422 are final; the rest is retried.
fn api_failure(what: &str, e: &kube::Error) -> Outcome {
    match status_code(e) {
        Some(403) => Outcome::Failed(format!(
            "{what}: {} (the operator's ClusterRole lacks this permission)",
            describe(e)
        )),
        Some(422) | Some(400) => Outcome::Failed(format!("{what}: {}", describe(e))),
        _ => Outcome::Retry {
            after: Duration::from_secs(1),
            message: format!("{what}: {}", describe(e)),
        },
    }
}
