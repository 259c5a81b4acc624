//! What every controller shares: clients, metrics, the Event recorder, the compiled
//! policies, the namespace cache, the rate limiter and the test hooks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, ObjectReference};
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;

use crate::detect::PolicySet;
use crate::metrics::Metrics;
use crate::respond::Executor;

/// Test hooks (hidden command-line flags).
#[derive(Debug, Default)]
pub struct Hooks {
    /// Exit the process (as `kill -9` would) right after this many cluster mutations.
    pub crash_after_mutations: Option<u32>,
    pub mutations: AtomicU32,
}

impl Hooks {
    /// Called right after each mutation of the cluster, before it is recorded.
    pub fn after_mutation(&self) {
        let n = self.mutations.fetch_add(1, Ordering::SeqCst) + 1;
        if self.crash_after_mutations.is_some_and(|limit| n >= limit) {
            tracing::warn!(mutations = n, "test hook: exiting right after a mutation");
            std::process::exit(137);
        }
    }
}

/// Incidents started per minute, per policy (a sliding window).
#[derive(Debug, Default)]
pub struct RateLimiter {
    /// Per policy: when each incident (namespace/name) in the window started.
    starts: HashMap<String, VecDeque<(Instant, String)>>,
}

impl RateLimiter {
    /// Takes one start for `incident` in every policy of `policies` if all have room under
    /// `limit` per minute; otherwise takes nothing and says how long to wait. An incident
    /// that already holds its start in every policy's window is let through without taking
    /// another: a reconcile repeated before the first one could record its progress (a
    /// conflict, an API error) must not spend the budget twice and then wait for itself.
    pub fn try_start(
        &mut self,
        policies: &[String],
        limit: i32,
        incident: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        let window = Duration::from_secs(60);
        let limit = limit.max(1) as usize;
        let mut wait = Duration::ZERO;
        let mut holds = !policies.is_empty();
        for p in policies {
            let q = self.starts.entry(p.clone()).or_default();
            while q
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) >= window)
            {
                q.pop_front();
            }
            holds &= q.iter().any(|(_, i)| i == incident);
            if q.len() >= limit
                && let Some((oldest, _)) = q.front()
            {
                wait = wait.max(window.saturating_sub(now.duration_since(*oldest)));
            }
        }
        if holds {
            return Ok(());
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for p in policies {
            let q = self.starts.entry(p.clone()).or_default();
            if !q.iter().any(|(_, i)| i == incident) {
                q.push_back((now, incident.to_string()));
            }
        }
        Ok(())
    }
}

/// The shared context of the controllers.
pub struct Context {
    pub client: Client,
    pub executor: Executor,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub operator_namespace: String,
    pub dry_run: bool,
    /// The compiled policies that are Ready.
    pub policies: RwLock<PolicySet>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// The nodes' labels (node signals of the pods bound to them).
    pub nodes: Store<PartialObjectMeta<Node>>,
    pub rate: Mutex<RateLimiter>,
    pub hooks: Hooks,
    /// Which deny-capable network APIs the cluster serves (refreshed while leading).
    pub served: RwLock<crate::respond::network::Served>,
    /// The `resource.k8s.io` version serving ResourceClaims, if any (refreshed with `served`).
    pub dra: RwLock<Option<String>>,
    /// Per-incident error backoff (attempts), for `error_policy`.
    pub backoff: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn policy_set(&self) -> PolicySet {
        self.policies.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// The labels of `namespace` from the cache, or None when not (yet) known.
    pub fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&kube::runtime::reflector::ObjectRef::new(namespace))
            .map(|ns| ns.metadata.labels.clone().unwrap_or_default())
    }

    /// The labels of node `name` from the cache, or None when not known.
    pub fn node_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.nodes
            .get(&kube::runtime::reflector::ObjectRef::new(name))
            .map(|n| n.metadata.labels.clone().unwrap_or_default())
    }

    /// Whether `namespace` is being deleted (from the cache).
    pub fn namespace_terminating(&self, namespace: &str) -> bool {
        self.namespaces
            .get(&kube::runtime::reflector::ObjectRef::new(namespace))
            .is_some_and(|ns| ns.metadata.deletion_timestamp.is_some())
    }

    /// Publishes an Event about `regarding`; when that fails (a terminating namespace),
    /// the Event goes to the operator's namespace, regarding the operator's Lease.
    pub async fn event(
        &self,
        regarding: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let note = crate::api::bounded(&note, 1000);
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note.clone()),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, regarding).await {
            tracing::debug!(error = %e, "event on {:?} failed; recording it in the operator namespace", regarding.name);
            let fallback = ObjectReference {
                api_version: Some("coordination.k8s.io/v1".into()),
                kind: Some("Lease".into()),
                namespace: Some(self.operator_namespace.clone()),
                name: Some(super::leader::LEASE_NAME.into()),
                ..Default::default()
            };
            let ev = Event {
                note: Some(crate::api::bounded(
                    &format!(
                        "{}/{}: {note}",
                        regarding.namespace.as_deref().unwrap_or(""),
                        regarding.name.as_deref().unwrap_or("")
                    ),
                    1000,
                )),
                ..ev
            };
            if let Err(e) = self.recorder.publish(&ev, &fallback).await {
                tracing::warn!(error = %e, reason, "could not record an Event");
            }
        }
    }
}

/// The reporter of the operator's Events.
pub fn reporter(instance: &str) -> Reporter {
    Reporter {
        controller: "cryptojack".into(),
        instance: Some(instance.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_counts_incidents_per_policy_per_minute() {
        let mut r = RateLimiter::default();
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let p = vec!["strict".to_string()];
        assert!(r.try_start(&p, 2, "a/one", t0).is_ok());
        assert!(r.try_start(&p, 2, "a/two", s(1)).is_ok());
        let wait = r.try_start(&p, 2, "a/three", s(2)).expect_err("over");
        assert_eq!(wait, Duration::from_secs(58));
        // an incident that already started is let through again, spending nothing
        assert!(r.try_start(&p, 2, "a/one", s(2)).is_ok());
        assert!(r.try_start(&p, 2, "a/three", s(2)).is_err());
        // another policy has its own budget, but an incident under both waits for both
        let q = vec!["other".to_string()];
        assert!(r.try_start(&q, 2, "b/one", s(2)).is_ok());
        let both = vec!["strict".to_string(), "other".to_string()];
        assert!(r.try_start(&both, 2, "c/one", s(3)).is_err());
        // holding a start in one policy only is not holding it in both
        assert!(r.try_start(&both, 2, "a/one", s(3)).is_err());
        assert!(r.try_start(&p, 2, "a/three", s(61)).is_ok());
    }
}
