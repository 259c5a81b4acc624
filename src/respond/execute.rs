//! The only code that changes the cluster on behalf of an incident. Every operation is
//! idempotent: an action whose effect is already visible is Done without being redone,
//! so a retry after a lost response or a crash repeats nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use serde_json::json;

use super::plan::PARKING_KEY;
use crate::api::{Action, ActionVerb, MAX_POD_SAMPLE, ObjectRef, PodProgress, Undo};
use crate::controller::error::{describe, is_not_found, status_code};
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

/// The undo data of an action, read from the owner's current state (before any change).
pub fn undo_from(
    verb: ActionVerb,
    owner: &super::plan::OwnerState,
    job_suspend: Option<bool>,
) -> Option<Undo> {
    use super::plan::OwnerState;
    match (verb, owner) {
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
            other => Outcome::Skipped(format!("{} is not implemented", other.as_str())),
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
            other => Outcome::Skipped(format!("{} has nothing to restore", other.as_str())),
        }
    }

    async fn scale(&self, target: &ObjectRef, replicas: i32) -> Outcome {
        let api = match self.dynamic(target).await {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e),
        };
        let what = format!(
            "{} {}/{}",
            target.kind,
            target.namespace.as_deref().unwrap_or(""),
            target.name
        );
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
        let what = format!(
            "{} {}/{}",
            target.kind,
            target.namespace.as_deref().unwrap_or(""),
            target.name
        );
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
        let what = format!(
            "DaemonSet {}/{}",
            target.namespace.as_deref().unwrap_or(""),
            target.name
        );
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
        let what = format!(
            "DaemonSet {}/{}",
            target.namespace.as_deref().unwrap_or(""),
            target.name
        );
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
                // already going: make sure the attacker's grace period does not win
                let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
                if grace > settings.grace_period_seconds {
                    let dp = DeleteParams {
                        grace_period_seconds: Some(settings.grace_period_seconds as u32),
                        preconditions: uid.clone().map(|u| Preconditions {
                            uid: Some(u),
                            resource_version: None,
                        }),
                        ..Default::default()
                    };
                    if let Err(e) = api.delete(&name, &dp).await
                        && !is_not_found(&e)
                    {
                        transient = Some(describe(&e));
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
            return Outcome::Done(
                "no running pod left to evict (suspending the owner removed them)".into(),
            );
        }
        Outcome::Done(format!(
            "{} pod(s) evicted, {} deleted, {} already gone (grace period {}s)",
            progress.evicted, progress.deleted, progress.gone, settings.grace_period_seconds
        ))
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
