//! PodDisruptionBudgets: the disruption controller's status computation
//! (pkg/controller/disruption/disruption.go) and the eviction subresource's admission decision
//! (pkg/registry/core/pod/storage/eviction.go), on JSON objects.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::controllers::{
    Snapshot, add_seconds, controller_ref, existing_conditions, fmt_time, generation, i64_at,
    is_terminating, keys, obj_labels, obj_name, obj_namespace, parse_selector, parse_time,
    pod_phase, pod_ready, ptr, scaled_int_or_percent, selector_matches, set_condition, str_at,
};

/// Entries of `status.disruptedPods` older than this are dropped (`DeletionTimeout`).
pub const DELETION_TIMEOUT_SECONDS: i64 = 120;
/// `MaxDisruptedPodSize` of the eviction handler.
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;

/// Why an eviction was refused: the HTTP code and the metav1.Status body to send.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{detail}")]
pub struct EvictionBlocked {
    pub code: u16,
    /// The Status message ("Cannot evict pod as it would violate the pod's disruption budget.").
    pub message: String,
    /// The specific reason: the DisruptionBudget cause message when there is one, else `message`.
    /// This is what `Display` shows.
    pub detail: String,
    /// The full `metav1.Status` response body.
    pub status: Value,
}

fn too_many_requests(retry_after: i64, cause: String) -> EvictionBlocked {
    let message = "Cannot evict pod as it would violate the pod's disruption budget.".to_string();
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    EvictionBlocked {
        code: 429,
        detail: cause.clone(),
        status: crate::status::failure(429, "TooManyRequests", &message, Some(details)),
        message,
    }
}

fn forbidden(pdb_name: &str, why: &str) -> EvictionBlocked {
    let message = format!("poddisruptionbudgets.policy \"{pdb_name}\" is forbidden: {why}");
    EvictionBlocked {
        code: 403,
        detail: message.clone(),
        status: crate::status::failure(
            403,
            "Forbidden",
            &message,
            Some(json!({"name": pdb_name, "group": "policy", "kind": "poddisruptionbudgets"})),
        ),
        message,
    }
}

/// PDBs in the pod's namespace whose selector matches the pod (`getPodDisruptionBudgets`: in
/// policy/v1 an empty selector matches every pod, a null one none).
pub fn matching_pdbs<'a>(pod: &Value, snap: &'a Snapshot) -> Vec<&'a Value> {
    let ns = obj_namespace(pod);
    snap.list(keys::PDBS)
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| {
            obj_namespace(p) == ns && selector_matches(ptr(p, "/spec/selector"), obj_labels(pod))
        })
        .collect()
}

/// The eviction REST handler's decision for `pod`.
///
/// - Pods that are Succeeded, Failed or Pending, or already being deleted, are evicted without
///   looking at budgets (`canIgnorePDB`).
/// - More than one matching PDB → 500 "This pod has more than one PodDisruptionBudget, which the
///   eviction subresource does not support.".
/// - A pod that is not Ready is evicted without touching the budget when the PDB's
///   `unhealthyPodEvictionPolicy` is AlwaysAllow, or (IfHealthyBudget, the default) when
///   `currentHealthy >= desiredHealthy > 0`.
/// - Otherwise `checkAndDecrement`: a PDB whose status has not observed its generation → 429 with
///   Retry-After 10 and the cause "The disruption budget <name> is still being processed by the
///   server."; negative disruptionsAllowed or more than 2000 disruptedPods → 403;
///   disruptionsAllowed == 0 → 429 "Cannot evict pod as it would violate the pod's disruption
///   budget." with cause `DisruptionBudget` "The disruption budget <name> needs <desired> healthy
///   pods and has <current> currently"; else Ok with the PDB whose disruptionsAllowed is
///   decremented (condition DisruptionAllowed=False InsufficientPods when it reaches 0) and
///   `disruptedPods[<pod>] = now`. The caller stores it (with its resourceVersion precondition)
///   and then deletes the pod.
///
/// Ok(empty) means: delete the pod, no budget to update.
pub fn check_eviction(
    pod: &Value,
    snap: &Snapshot,
    now: Timestamp,
) -> Result<Vec<Value>, EvictionBlocked> {
    if matches!(pod_phase(pod), "Succeeded" | "Failed" | "Pending") || is_terminating(pod) {
        return Ok(Vec::new());
    }
    let pdbs = matching_pdbs(pod, snap);
    if pdbs.len() > 1 {
        let message = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".to_string();
        return Err(EvictionBlocked {
            code: 500,
            detail: message.clone(),
            status: crate::status::failure(500, "", &message, None),
            message,
        });
    }
    let Some(pdb) = pdbs.first() else {
        return Ok(Vec::new());
    };
    let st = |f: &str| i64_at(pdb, &format!("/status/{f}")).unwrap_or(0);
    if !pod_ready(pod) {
        if str_at(pdb, "/spec/unhealthyPodEvictionPolicy") == Some("AlwaysAllow") {
            return Ok(Vec::new());
        }
        if st("currentHealthy") >= st("desiredHealthy") && st("desiredHealthy") > 0 {
            return Ok(Vec::new());
        }
    }
    let name = obj_name(pdb);
    if st("observedGeneration") < generation(pdb) {
        return Err(too_many_requests(
            10,
            format!("The disruption budget {name} is still being processed by the server."),
        ));
    }
    let allowed = st("disruptionsAllowed");
    if allowed < 0 {
        return Err(forbidden(name, "pdb disruptions allowed is negative"));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map(Map::len)
        .unwrap_or(0);
    if disrupted > MAX_DISRUPTED_POD_SIZE {
        return Err(forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            0,
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                st("desiredHealthy"),
                st("currentHealthy")
            ),
        ));
    }
    let mut updated = (*pdb).clone();
    updated["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        let mut conds = existing_conditions(pdb);
        set_condition(
            &mut conds,
            "DisruptionAllowed",
            "False",
            "InsufficientPods",
            "",
            now,
            false,
        );
        for c in &mut conds {
            if c["type"] == "DisruptionAllowed" {
                c["observedGeneration"] = json!(generation(pdb));
            }
        }
        updated["status"]["conditions"] = Value::Array(conds);
    }
    if !updated["status"]
        .get("disruptedPods")
        .is_some_and(Value::is_object)
    {
        updated["status"]["disruptedPods"] = json!({});
    }
    updated["status"]["disruptedPods"][obj_name(pod)] = json!(fmt_time(now));
    Ok(vec![updated])
}

/// Sum of the scales of the pods' controllers (`getExpectedScale`): ReplicaSets (their Deployment's
/// replicas when they have one), StatefulSets, ReplicationControllers and Deployments. A pod with no
/// controller, or whose controller has no scale (e.g. a DaemonSet or Job), is an error, as in
/// Kubernetes.
fn expected_scale(pods: &[&Value], snap: &Snapshot) -> Result<i64, String> {
    let mut scales: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    let mut seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for p in pods {
        let Some(r) = controller_ref(p) else {
            return Err(format!("found no controller ref for pod {:?}", obj_name(p)));
        };
        let uid = r
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !seen.insert(uid.clone()) {
            continue;
        }
        let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = r.get("name").and_then(Value::as_str).unwrap_or("");
        let ns = obj_namespace(p);
        let find = |key: &str, name: &str| {
            snap.get(key, ns, name)
                .filter(|o| crate::controllers::obj_uid(o) == Some(uid.as_str()))
        };
        let scale = match kind {
            "ReplicaSet" => find(keys::REPLICA_SETS, name).map(|rs| {
                let dep = controller_ref(rs)
                    .filter(|r| r.get("kind").and_then(Value::as_str) == Some("Deployment"))
                    .and_then(|r| r.get("name").and_then(Value::as_str))
                    .and_then(|d| snap.get(keys::DEPLOYMENTS, ns, d));
                match dep {
                    Some(d) => (
                        crate::controllers::obj_uid(d).unwrap_or("").to_string(),
                        i64_at(d, "/spec/replicas").unwrap_or(1),
                    ),
                    None => (uid.clone(), i64_at(rs, "/spec/replicas").unwrap_or(1)),
                }
            }),
            "StatefulSet" => find(keys::STATEFUL_SETS, name)
                .map(|s| (uid.clone(), i64_at(s, "/spec/replicas").unwrap_or(1))),
            "ReplicationController" => find(keys::REPLICATION_CONTROLLERS, name)
                .map(|s| (uid.clone(), i64_at(s, "/spec/replicas").unwrap_or(1))),
            _ => None,
        };
        match scale {
            Some((k, v)) => {
                scales.insert(k, v);
            }
            None => return Err(format!("found no controllers for pod {:?}", obj_name(p))),
        }
    }
    Ok(scales.values().sum())
}

/// The PodDisruptionBudget status the disruption controller would write, given the pods of its
/// namespace. `expectedPods` for an integer minAvailable is the number of matching pods; for a
/// percentage or maxUnavailable it is the sum of the controllers' scales (see [`expected_scale`]).
/// Errors (e.g. unmanaged pods with maxUnavailable) give the controller's fail-safe status:
/// disruptionsAllowed 0 and condition DisruptionAllowed=False reason SyncFailed.
pub fn compute_status(pdb: &Value, ns_pods: &[&Value], snap: &Snapshot, now: Timestamp) -> Value {
    let sel = parse_selector(ptr(pdb, "/spec/selector"));
    let pods: Vec<&Value> = ns_pods
        .iter()
        .copied()
        .filter(|p| sel.matches(obj_labels(p)))
        .collect();
    let mut status = pdb
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let min_avail = ptr(pdb, "/spec/minAvailable").filter(|v| !v.is_null());
    let max_unav = ptr(pdb, "/spec/maxUnavailable").filter(|v| !v.is_null());
    let counts: Result<(i64, i64), String> = if let Some(mu) = max_unav {
        expected_scale(&pods, snap).and_then(|expected| {
            let m = scaled_int_or_percent(Some(mu), expected, true)?.unwrap_or(0);
            Ok((expected, (expected - m).max(0)))
        })
    } else if let Some(ma) = min_avail {
        if ma.is_number() {
            Ok((pods.len() as i64, ma.as_i64().unwrap_or(0)))
        } else {
            expected_scale(&pods, snap).and_then(|expected| {
                Ok((
                    expected,
                    scaled_int_or_percent(Some(ma), expected, true)?.unwrap_or(0),
                ))
            })
        }
    } else {
        Ok((0, 0))
    };
    // disruptedPods: drop pods gone, being deleted, or recorded too long ago.
    let mut disrupted = Map::new();
    if let Some(d) = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
    {
        for (name, when) in d {
            let Some(p) = pods.iter().find(|p| obj_name(p) == name) else {
                continue;
            };
            if is_terminating(p) {
                continue;
            }
            let Some(t) = when.as_str().and_then(parse_time) else {
                continue;
            };
            if add_seconds(t, DELETION_TIMEOUT_SECONDS) < now {
                continue;
            }
            disrupted.insert(name.clone(), when.clone());
        }
    }
    let current_healthy = pods
        .iter()
        .filter(|p| !is_terminating(p) && !disrupted.contains_key(obj_name(p)) && pod_ready(p))
        .count() as i64;
    let mut conds = existing_conditions(pdb);
    let pdb_gen = generation(pdb);
    match counts {
        Ok((expected, desired)) => {
            let allowed = if expected <= 0 || current_healthy - desired <= 0 {
                0
            } else {
                current_healthy - desired
            };
            status["expectedPods"] = json!(expected);
            status["desiredHealthy"] = json!(desired);
            status["currentHealthy"] = json!(current_healthy);
            status["disruptionsAllowed"] = json!(allowed);
            if allowed > 0 {
                set_condition(
                    &mut conds,
                    "DisruptionAllowed",
                    "True",
                    "SufficientPods",
                    "",
                    now,
                    false,
                );
            } else {
                set_condition(
                    &mut conds,
                    "DisruptionAllowed",
                    "False",
                    "InsufficientPods",
                    "",
                    now,
                    false,
                );
            }
        }
        Err(e) => {
            status["disruptionsAllowed"] = json!(0);
            set_condition(
                &mut conds,
                "DisruptionAllowed",
                "False",
                "SyncFailed",
                &e,
                now,
                false,
            );
        }
    }
    for c in &mut conds {
        if c["type"] == "DisruptionAllowed" {
            c["observedGeneration"] = json!(pdb_gen);
        }
    }
    status["conditions"] = Value::Array(conds);
    status["observedGeneration"] = json!(pdb_gen);
    if disrupted.is_empty() {
        if let Some(m) = status.as_object_mut() {
            m.remove("disruptedPods");
        }
    } else {
        status["disruptedPods"] = Value::Object(disrupted);
    }
    status
}

/// Convenience for callers that have a PDB and a snapshot (e.g. the eviction handler after
/// re-reading the budget).
pub fn compute_status_from_snapshot(pdb: &Value, snap: &Snapshot, now: Timestamp) -> Value {
    let ns = obj_namespace(pdb);
    let pods: Vec<&Value> = snap
        .list(keys::PODS)
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| obj_namespace(p) == ns)
        .collect();
    compute_status(pdb, &pods, snap, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn pod(name: &str, ready: bool, rs: &str) -> Value {
        json!({"kind":"Pod","metadata":{"name":name,"namespace":"ns","uid":format!("u-{name}"),"labels":{"app":"web"},
                "ownerReferences":[{"kind":"ReplicaSet","name":rs,"uid":format!("u-{rs}"),"controller":true}]},
               "spec":{"nodeName":"n1"},
               "status":{"phase":"Running","conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}})
    }

    fn pdb(spec: Value) -> Value {
        let mut s = spec;
        s["selector"] = json!({"matchLabels":{"app":"web"}});
        json!({"kind":"PodDisruptionBudget","metadata":{"name":"web-pdb","namespace":"ns","uid":"u-pdb","generation":1},"spec":s})
    }

    fn rs(name: &str, replicas: i64) -> Value {
        json!({"kind":"ReplicaSet","metadata":{"name":name,"namespace":"ns","uid":format!("u-{name}")},"spec":{"replicas":replicas}})
    }

    fn with_status(p: Value, snap_items: Vec<(&str, Value)>, now: Timestamp) -> (Value, Snapshot) {
        let snap = Snapshot::from_objects(snap_items.clone());
        let mut p = p;
        p["status"] = compute_status_from_snapshot(&p, &snap, now);
        let mut items = snap_items;
        items.push(("policy/poddisruptionbudgets", p.clone()));
        (p, Snapshot::from_objects(items))
    }

    #[test]
    fn status_min_available_int_and_percent() {
        let now = t("2024-01-01T00:00:00Z");
        let items = vec![
            ("/pods", pod("a", true, "rs")),
            ("/pods", pod("b", true, "rs")),
            ("/pods", pod("c", false, "rs")),
            ("apps/replicasets", rs("rs", 3)),
        ];
        let (p, _) = with_status(pdb(json!({"minAvailable": 2})), items.clone(), now);
        assert_eq!(p["status"]["expectedPods"], 3);
        assert_eq!(p["status"]["currentHealthy"], 2);
        assert_eq!(p["status"]["desiredHealthy"], 2);
        assert_eq!(p["status"]["disruptionsAllowed"], 0);
        assert_eq!(p["status"]["conditions"][0]["reason"], "InsufficientPods");
        assert_eq!(p["status"]["observedGeneration"], 1);
        let (p, _) = with_status(pdb(json!({"minAvailable": "50%"})), items.clone(), now);
        assert_eq!(p["status"]["desiredHealthy"], 2, "50% of 3 rounds up");
        let (p, _) = with_status(pdb(json!({"maxUnavailable": 1})), items, now);
        assert_eq!(p["status"]["desiredHealthy"], 2);
        assert_eq!(p["status"]["expectedPods"], 3);
    }

    #[test]
    fn max_unavailable_uses_deployment_scale_and_fails_safe_on_unmanaged() {
        let now = t("2024-01-01T00:00:00Z");
        let d = json!({"kind":"Deployment","metadata":{"name":"web","namespace":"ns","uid":"u-web"},"spec":{"replicas":4}});
        let mut r = rs("rs", 2);
        r["metadata"]["ownerReferences"] =
            json!([{"kind":"Deployment","name":"web","uid":"u-web","controller":true}]);
        let items = vec![
            ("/pods", pod("a", true, "rs")),
            ("/pods", pod("b", true, "rs")),
            ("apps/replicasets", r),
            ("apps/deployments", d),
        ];
        let (p, _) = with_status(pdb(json!({"maxUnavailable": "25%"})), items, now);
        assert_eq!(p["status"]["expectedPods"], 4);
        assert_eq!(p["status"]["desiredHealthy"], 3);
        let mut bare = pod("x", true, "rs");
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
        let (p, _) = with_status(
            pdb(json!({"maxUnavailable": 1})),
            vec![("/pods", bare)],
            now,
        );
        assert_eq!(p["status"]["disruptionsAllowed"], 0);
        assert_eq!(p["status"]["conditions"][0]["reason"], "SyncFailed");
        assert_eq!(
            p["status"]["conditions"][0]["message"],
            "found no controller ref for pod \"x\""
        );
    }

    #[test]
    fn eviction_blocked_then_allowed() {
        let now = t("2024-01-01T00:00:00Z");
        let items = vec![
            ("/pods", pod("a", true, "rs")),
            ("/pods", pod("b", true, "rs")),
            ("apps/replicasets", rs("rs", 2)),
        ];
        let (_, snap) = with_status(pdb(json!({"minAvailable": 2})), items.clone(), now);
        let err = check_eviction(&pod("a", true, "rs"), &snap, now).unwrap_err();
        assert_eq!(err.code, 429);
        assert_eq!(
            err.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        assert_eq!(err.status["reason"], "TooManyRequests");
        assert_eq!(
            err.status["details"]["causes"][0]["reason"],
            "DisruptionBudget"
        );
        assert_eq!(
            err.status["details"]["causes"][0]["message"],
            "The disruption budget web-pdb needs 2 healthy pods and has 2 currently"
        );
        let (_, snap) = with_status(pdb(json!({"minAvailable": 1})), items, now);
        let ok = check_eviction(&pod("a", true, "rs"), &snap, now).unwrap();
        assert_eq!(ok[0]["status"]["disruptionsAllowed"], 0);
        assert_eq!(
            ok[0]["status"]["disruptedPods"]["a"],
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            ok[0]["status"]["conditions"][0]["reason"],
            "InsufficientPods"
        );
        // The controller then excludes the disrupted pod until it expires.
        let mut p = ok[0].clone();
        let snap2 = Snapshot::from_objects([
            ("/pods", pod("a", true, "rs")),
            ("/pods", pod("b", true, "rs")),
        ]);
        p["status"] = compute_status_from_snapshot(&p, &snap2, now);
        assert_eq!(p["status"]["currentHealthy"], 1);
        p["status"] = compute_status_from_snapshot(&p, &snap2, t("2024-01-01T00:02:01Z"));
        assert_eq!(p["status"]["currentHealthy"], 2);
        assert!(p["status"].get("disruptedPods").is_none());
    }

    #[test]
    fn eviction_special_cases() {
        let now = t("2024-01-01T00:00:00Z");
        let items = vec![
            ("/pods", pod("a", true, "rs")),
            ("apps/replicasets", rs("rs", 1)),
        ];
        let (_, snap) = with_status(pdb(json!({"minAvailable": 1})), items.clone(), now);
        let mut pending = pod("a", false, "rs");
        pending["status"]["phase"] = json!("Pending");
        assert_eq!(check_eviction(&pending, &snap, now), Ok(vec![]));
        let mut done = pod("a", true, "rs");
        done["status"]["phase"] = json!("Succeeded");
        assert_eq!(check_eviction(&done, &snap, now), Ok(vec![]));
        // Unready pod while the budget is healthy: allowed without decrement.
        let (_, snap_h) = with_status(
            pdb(json!({"minAvailable": 1})),
            vec![
                ("/pods", pod("a", true, "rs")),
                ("/pods", pod("b", false, "rs")),
            ],
            now,
        );
        assert_eq!(
            check_eviction(&pod("b", false, "rs"), &snap_h, now),
            Ok(vec![])
        );
        // Two PDBs → 500.
        let (p1, _) = with_status(pdb(json!({"minAvailable": 0})), items.clone(), now);
        let mut p2 = p1.clone();
        p2["metadata"]["name"] = json!("other");
        let mut all = items.clone();
        all.push(("policy/poddisruptionbudgets", p1));
        all.push(("policy/poddisruptionbudgets", p2));
        let err =
            check_eviction(&pod("a", true, "rs"), &Snapshot::from_objects(all), now).unwrap_err();
        assert_eq!(err.code, 500);
        assert_eq!(
            err.message,
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
        );
        // Status not yet observed → 429 "still being processed".
        let mut fresh = pdb(json!({"minAvailable": 0}));
        fresh["metadata"]["generation"] = json!(2);
        let mut items2 = items;
        items2.push(("policy/poddisruptionbudgets", fresh));
        let err = check_eviction(&pod("a", true, "rs"), &Snapshot::from_objects(items2), now)
            .unwrap_err();
        assert_eq!(err.code, 429);
        assert_eq!(err.status["details"]["retryAfterSeconds"], 10);
        assert_eq!(
            err.status["details"]["causes"][0]["message"],
            "The disruption budget web-pdb is still being processed by the server."
        );
    }

    #[test]
    fn unhealthy_pod_eviction_policy() {
        let now = t("2024-01-01T00:00:00Z");
        // Budget not healthy (1 of 2 needed): an unready pod is protected by default...
        let items = vec![
            ("/pods", pod("a", true, "rs")),
            ("/pods", pod("b", false, "rs")),
            ("apps/replicasets", rs("rs", 2)),
        ];
        let (_, snap) = with_status(pdb(json!({"minAvailable": 2})), items.clone(), now);
        let err = check_eviction(&pod("b", false, "rs"), &snap, now).unwrap_err();
        assert_eq!(err.code, 429);
        assert_eq!(
            err.to_string(),
            "The disruption budget web-pdb needs 2 healthy pods and has 1 currently"
        );
        // ...unless the PDB says AlwaysAllow.
        let (_, snap) = with_status(
            pdb(json!({"minAvailable": 2, "unhealthyPodEvictionPolicy": "AlwaysAllow"})),
            items,
            now,
        );
        assert_eq!(
            check_eviction(&pod("b", false, "rs"), &snap, now),
            Ok(vec![])
        );
    }
}
