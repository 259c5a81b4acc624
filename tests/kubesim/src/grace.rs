//! Graceful pod deletion: what the apiserver does with a DELETE (or an eviction) of a pod, and
//! when the simulated kubelet removes a Terminating pod.
//!
//! The apiserver side follows `rest.BeforeDelete` (staging/src/k8s.io/apiserver/pkg/registry/rest/
//! delete.go) and the pod strategy's `CheckGracefulDelete` (pkg/registry/core/pod/strategy.go):
//! - first delete: the grace period is the request's `gracePeriodSeconds`, else the pod's
//!   `spec.terminationGracePeriodSeconds` (else 0); 0 for a pod not bound to a node or already
//!   Succeeded/Failed; a negative value becomes 1. Grace 0 removes the pod at once (unless
//!   finalizers remain); otherwise `deletionTimestamp = now + grace`,
//!   `deletionGracePeriodSeconds = grace` and `metadata.generation` is bumped;
//! - a pod already being deleted may only have its grace period shortened: a request with a
//!   grace period ≥ the current one (or none) changes nothing; a shorter one moves
//!   `deletionTimestamp` to `deletionTimestamp - old grace + new grace` (never into the past: then
//!   now, with grace 1 unless 0 was asked); grace 0 removes the pod; a pod with
//!   `deletionGracePeriodSeconds` 0 (or none) is removed.
//!
//! The kubelet side: the containers of a pod normally exit at SIGTERM, so the simulated kubelet
//! removes a Terminating pod at its next pass. A pod annotated [`IGNORE_SIGTERM`]`: "true"`
//! models containers that trap SIGTERM: the kubelet waits for the whole grace period and then
//! kills them (SIGKILL), as on a real node, so the pod stays Terminating until
//! `deletionTimestamp` (request time + grace, kept with sub-second precision by kubesim; the
//! object's `deletionTimestamp` has one-second resolution). The deadline follows the simulated
//! clock, so `Sim::advance_time` ends grace periods as real time does.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// kubesim-only pod annotation: the pod's containers ignore SIGTERM (value `"true"`).
pub const IGNORE_SIGTERM: &str = "kubesim.dev/ignore-sigterm";

/// Whether the pod carries `kubesim.dev/ignore-sigterm: "true"`.
pub fn ignores_sigterm(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(IGNORE_SIGTERM))
        .and_then(Value::as_str)
        == Some("true")
}

/// What a DELETE does to a pod.
#[derive(Debug, Clone, PartialEq)]
pub enum PodDelete {
    /// Remove it from storage now (or, with finalizers, mark it deleting with grace 0).
    Now,
    /// Set `deletionTimestamp` (`deadline`, precise) and `deletionGracePeriodSeconds`.
    Graceful { deadline: Timestamp, grace: i64 },
    /// Already being deleted with a grace period no longer than the request's: unchanged.
    Pending,
}

fn parse_ts(v: Option<&Value>) -> Option<Timestamp> {
    v.and_then(Value::as_str).and_then(|s| s.parse().ok())
}

/// The apiserver's decision for a DELETE of `pod` with `requested` grace seconds at `now`.
/// `kubelet`: the simulated kubelet runs (without it nothing would ever finish a graceful
/// deletion, so pods are removed at once); `precise`: kubesim's sub-second deadline of a pod
/// already being deleted.
pub fn pod_delete(
    pod: &Value,
    requested: Option<i64>,
    kubelet: bool,
    now: Timestamp,
    precise: Option<Timestamp>,
) -> PodDelete {
    let md = pod.get("metadata");
    if let Some(ts) = md.and_then(|m| m.get("deletionTimestamp")) {
        let current = md
            .and_then(|m| m.get("deletionGracePeriodSeconds"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if current == 0 {
            return PodDelete::Now;
        }
        let Some(mut period) = requested else {
            return PodDelete::Pending;
        };
        if period >= current {
            return PodDelete::Pending;
        }
        let Some(old) = precise.or_else(|| parse_ts(Some(ts))) else {
            return PodDelete::Now;
        };
        let mut deadline = old
            .checked_sub(SignedDuration::from_secs(current))
            .and_then(|t| t.checked_add(SignedDuration::from_secs(period.max(0))))
            .unwrap_or(now);
        if deadline < now {
            deadline = now;
            if period != 0 {
                period = 1;
            }
        }
        if period <= 0 {
            return PodDelete::Now;
        }
        return PodDelete::Graceful {
            deadline,
            grace: period,
        };
    }
    let spec = pod.get("spec");
    let mut period = requested.unwrap_or_else(|| {
        spec.and_then(|s| s.get("terminationGracePeriodSeconds"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    });
    let scheduled = spec
        .and_then(|s| s.get("nodeName"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let terminal = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !scheduled || terminal {
        period = 0;
    }
    if period < 0 {
        period = 1;
    }
    if period == 0 || !kubelet {
        return PodDelete::Now;
    }
    PodDelete::Graceful {
        deadline: now
            .checked_add(SignedDuration::from_secs(period))
            .unwrap_or(now),
        grace: period,
    }
}

/// Precise termination deadlines of pods being deleted gracefully, by uid.
#[derive(Debug, Default, Clone)]
pub struct Deadlines {
    by_uid: HashMap<String, Timestamp>,
}

impl Deadlines {
    pub fn get(&self, uid: &str) -> Option<Timestamp> {
        self.by_uid.get(uid).copied()
    }

    pub fn set(&mut self, uid: &str, t: Timestamp) {
        self.by_uid.insert(uid.to_string(), t);
    }

    pub fn remove(&mut self, uid: &str) {
        self.by_uid.remove(uid);
    }

    pub fn uids(&self) -> impl Iterator<Item = &str> {
        self.by_uid.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_uid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }
}

/// Whether the simulated kubelet removes this Terminating pod at `now`: at once when its
/// containers exit at SIGTERM; at the end of its grace period ([`Deadlines`], else
/// `deletionTimestamp` + 1 s: the stored timestamp is truncated to the second) when they ignore it.
pub fn kubelet_done(pod: &Value, now: Timestamp, precise: Option<Timestamp>) -> bool {
    if !ignores_sigterm(pod) {
        return true;
    }
    let deadline = precise.or_else(|| {
        parse_ts(pod.pointer("/metadata/deletionTimestamp"))
            .and_then(|t| t.checked_add(SignedDuration::from_secs(1)).ok())
    });
    deadline.is_none_or(|d| d <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn pod(extra_meta: Value, grace: i64) -> Value {
        let mut md = json!({"name": "p", "uid": "u", "annotations": {IGNORE_SIGTERM: "true"}});
        if let (Some(m), Some(x)) = (md.as_object_mut(), extra_meta.as_object()) {
            m.extend(x.clone());
        }
        json!({"metadata": md, "spec": {"nodeName": "node-0", "terminationGracePeriodSeconds": grace},
               "status": {"phase": "Running"}})
    }

    #[test]
    fn first_delete_uses_the_request_then_the_pod_grace() {
        let now = t("2026-01-01T00:00:00.5Z");
        let p = pod(json!({}), 3600);
        assert!(ignores_sigterm(&p));
        assert_eq!(
            pod_delete(&p, None, true, now, None),
            PodDelete::Graceful {
                deadline: t("2026-01-01T01:00:00.5Z"),
                grace: 3600
            }
        );
        assert_eq!(
            pod_delete(&p, Some(5), true, now, None),
            PodDelete::Graceful {
                deadline: t("2026-01-01T00:00:05.5Z"),
                grace: 5
            }
        );
        assert_eq!(pod_delete(&p, Some(0), true, now, None), PodDelete::Now);
        assert_eq!(
            pod_delete(&p, Some(-3), true, now, None),
            PodDelete::Graceful {
                deadline: t("2026-01-01T00:00:01.5Z"),
                grace: 1
            }
        );
        // No kubelet, no node, or a finished pod: at once.
        assert_eq!(pod_delete(&p, Some(5), false, now, None), PodDelete::Now);
        let mut unscheduled = p.clone();
        unscheduled["spec"]["nodeName"] = json!("");
        assert_eq!(
            pod_delete(&unscheduled, Some(5), true, now, None),
            PodDelete::Now
        );
        let mut done = p.clone();
        done["status"]["phase"] = json!("Succeeded");
        assert_eq!(pod_delete(&done, None, true, now, None), PodDelete::Now);
    }

    #[test]
    fn a_second_delete_may_only_shorten() {
        let p = pod(
            json!({"deletionTimestamp": "2026-01-01T01:00:00Z", "deletionGracePeriodSeconds": 3600}),
            3600,
        );
        let precise = Some(t("2026-01-01T01:00:00.5Z"));
        let now = t("2026-01-01T00:00:10Z");
        assert_eq!(pod_delete(&p, None, true, now, precise), PodDelete::Pending);
        assert_eq!(
            pod_delete(&p, Some(7200), true, now, precise),
            PodDelete::Pending
        );
        // Shortened relative to the original request time (00:00:00.5), not to now.
        assert_eq!(
            pod_delete(&p, Some(30), true, now, precise),
            PodDelete::Graceful {
                deadline: t("2026-01-01T00:00:30.5Z"),
                grace: 30
            }
        );
        // Would end in the past: now, with grace 1.
        assert_eq!(
            pod_delete(&p, Some(5), true, now, precise),
            PodDelete::Graceful {
                deadline: now,
                grace: 1
            }
        );
        assert_eq!(pod_delete(&p, Some(0), true, now, precise), PodDelete::Now);
        let zero = pod(
            json!({"deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0}),
            30,
        );
        assert_eq!(pod_delete(&zero, None, true, now, None), PodDelete::Now);
    }

    #[test]
    fn the_kubelet_waits_for_pods_that_ignore_sigterm() {
        let p = pod(
            json!({"deletionTimestamp": "2026-01-01T00:00:05Z", "deletionGracePeriodSeconds": 5}),
            30,
        );
        let precise = Some(t("2026-01-01T00:00:05.5Z"));
        assert!(!kubelet_done(&p, t("2026-01-01T00:00:05.2Z"), precise));
        assert!(kubelet_done(&p, t("2026-01-01T00:00:05.5Z"), precise));
        // Without kubesim's precise deadline: the timestamp's second + 1.
        assert!(!kubelet_done(&p, t("2026-01-01T00:00:05.9Z"), None));
        assert!(kubelet_done(&p, t("2026-01-01T00:00:06Z"), None));
        let mut plain = p.clone();
        plain["metadata"]["annotations"] = json!({});
        assert!(kubelet_done(&plain, t("2026-01-01T00:00:00Z"), None));
    }
}
