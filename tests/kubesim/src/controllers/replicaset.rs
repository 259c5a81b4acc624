//! ReplicaSet controller (pkg/controller/replicaset/replica_set.go), simulated.
//!
//! - Active pods are those controlled by the ReplicaSet (controller ownerReference with its uid)
//!   that are not being deleted and not Succeeded/Failed (`controller.FilterActivePods`).
//! - Orphan pods in the namespace whose labels match the selector are adopted (an ownerReference is
//!   added), and controlled pods whose labels no longer match are released (the reference removed),
//!   as the ControllerRefManager does. Terminating pods are neither adopted nor released.
//! - Missing pods are created from the template with `generateName: <rs>-` (at most 500 per pass,
//!   the real `burstReplicas`; the slow-start batching is not modelled); extra pods are deleted in
//!   the order of `controller.ActivePods` (unscheduled, then pending, then not ready, then the most
//!   recently created first).
//! - Status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (ready for
//!   minReadySeconds), observedGeneration. The ReplicaFailure condition is not modelled.

use serde_json::{Value, json};

use super::*;

pub(crate) const BURST_REPLICAS: i64 = 500;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    for rs in ctx.snap.list(keys::REPLICA_SETS) {
        sync(
            ctx,
            rs,
            &SetKind::REPLICA_SET,
            ptr(rs, "/spec/selector"),
            out,
        );
    }
}

/// What distinguishes the ReplicaSet and ReplicationController controllers (the same code in
/// Kubernetes: pkg/controller/replication wraps pkg/controller/replicaset).
pub(crate) struct SetKind {
    pub key: &'static str,
    pub api_version: &'static str,
    pub kind: &'static str,
}

impl SetKind {
    pub const REPLICA_SET: SetKind = SetKind {
        key: keys::REPLICA_SETS,
        api_version: "apps/v1",
        kind: "ReplicaSet",
    };
}

/// One sync of a ReplicaSet-like object `rs` whose pods `selector` (a metav1.LabelSelector)
/// selects.
pub(crate) fn sync(
    ctx: &Ctx<'_>,
    rs: &Value,
    sk: &SetKind,
    selector: Option<&Value>,
    out: &mut Vec<Mutation>,
) {
    if is_terminating(rs) {
        return;
    }
    let ns = obj_namespace(rs).unwrap_or("default");
    let mut pods: Vec<&Value> = Vec::new();
    adopt_and_release(
        ctx,
        rs,
        keys::PODS,
        sk.api_version,
        sk.kind,
        selector,
        &mut pods,
        out,
    );
    let active: Vec<&Value> = pods.iter().copied().filter(|p| pod_active(p)).collect();
    let want = i64_at(rs, "/spec/replicas").unwrap_or(1).max(0);
    let have = active.len() as i64;
    if have < want {
        let template = rs
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let owner = controller_owner_ref(rs, sk.api_version, sk.kind);
        let prefix = format!("{}-", obj_name(rs));
        for _ in 0..(want - have).min(BURST_REPLICAS) {
            out.push(Mutation::Create {
                key: keys::PODS.into(),
                object: pod_from_template(&template, ns, owner.clone(), Some(&prefix), None),
            });
        }
    } else if have > want {
        let mut victims = active.clone();
        victims.sort_by_key(|p| deletion_rank(p));
        for p in victims
            .into_iter()
            .take((have - want).min(BURST_REPLICAS) as usize)
        {
            out.push(delete_of(keys::PODS, p));
        }
    }
    let min_ready = i64_at(rs, "/spec/minReadySeconds").unwrap_or(0);
    let template_labels = rs
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels.is_none_or(|tl| {
                tl.iter()
                    .all(|(k, v)| obj_labels(p).and_then(|l| l.get(k)) == Some(v))
            })
        })
        .count();
    let ready = active.iter().filter(|p| pod_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| pod_available(p, min_ready, ctx.now))
        .count();
    let mut status = rs
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    status["replicas"] = json!(active.len());
    status["fullyLabeledReplicas"] = json!(fully_labeled);
    status["readyReplicas"] = json!(ready);
    status["availableReplicas"] = json!(available);
    status["observedGeneration"] = json!(generation(rs));
    // The real API omits zero-valued optional counters (omitempty).
    for f in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
        if status[f] == json!(0)
            && let Some(m) = status.as_object_mut()
        {
            m.remove(f);
        }
    }
    if let Some(m) = status_update(sk.key, rs, status) {
        out.push(m);
    }
}

/// Sort key of `controller.ActivePods`: pods that are cheaper to lose come first.
fn deletion_rank(p: &Value) -> (u8, u8, u8, std::cmp::Reverse<String>, String) {
    let unscheduled = u8::from(str_at(p, "/spec/nodeName").is_some_and(|n| !n.is_empty()));
    let phase = match pod_phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let ready = u8::from(pod_ready(p));
    let created = str_at(p, "/metadata/creationTimestamp")
        .unwrap_or("")
        .to_string();
    (
        unscheduled,
        phase,
        ready,
        std::cmp::Reverse(created),
        obj_name(p).to_string(),
    )
}

/// The ControllerRefManager's claim: returns (in `claimed`) the pods this owner controls after
/// adoption/release, and emits the ownerReference updates.
#[allow(clippy::too_many_arguments)]
pub(crate) fn adopt_and_release<'a>(
    ctx: &Ctx<'a>,
    owner: &Value,
    key: &str,
    api_version: &str,
    kind: &str,
    selector: Option<&Value>,
    claimed: &mut Vec<&'a Value>,
    out: &mut Vec<Mutation>,
) {
    let ns = obj_namespace(owner).unwrap_or("default");
    let Some(uid) = obj_uid(owner) else { return };
    // A null or empty selector is rejected by validation for workloads; never adopt with it.
    let selector_usable = selector.is_some_and(|s| s.as_object().is_some_and(|o| !o.is_empty()));
    let parsed = parse_selector(selector);
    let candidates = ctx
        .owned_pods(owner)
        .iter()
        .chain(ctx.orphan_pods_in(ns).iter());
    for p in candidates {
        let mine = controller_uid(p) == Some(uid);
        let matches = selector_usable && parsed.matches(obj_labels(p));
        if mine {
            if matches || is_terminating(p) {
                claimed.push(p);
            } else {
                let mut np = (*p).clone();
                if let Some(refs) = np
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                }
                out.push(Mutation::Update {
                    key: key.into(),
                    object: np,
                });
            }
        } else if matches
            && controller_ref(p).is_none()
            && !is_terminating(p)
            && !is_terminating(owner)
        {
            let mut np = (*p).clone();
            let r = controller_owner_ref(owner, api_version, kind);
            match np
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                Some(refs) => refs.push(r),
                None => np["metadata"]["ownerReferences"] = json!([r]),
            }
            out.push(Mutation::Update {
                key: key.into(),
                object: np,
            });
            claimed.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn rs(replicas: i64) -> Value {
        json!({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web","namespace":"ns","uid":"uid-rs","generation":2},
               "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":"web"}},
                       "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}})
    }

    #[test]
    fn keeps_pod_count_and_recreates_deleted() {
        let now = t("2024-05-01T10:00:00Z");
        let mut s = MiniStore::new(vec![
            ("apps/replicasets", rs(3)),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(now, &ControllerSet::all());
        let pods = s.list("/pods");
        assert_eq!(pods.len(), 3);
        assert!(pods.iter().all(|p| obj_name(p).starts_with("web-")));
        assert!(
            pods.iter()
                .all(|p| p["metadata"]["ownerReferences"][0]["uid"] == "uid-rs")
        );
        let st = &s.get("apps/replicasets", "web")["status"];
        assert_eq!(st["replicas"], 3);
        assert_eq!(st["readyReplicas"], 3);
        assert_eq!(st["availableReplicas"], 3);
        assert_eq!(st["observedGeneration"], 2);
        // Mark one pod as being deleted: a replacement is created at once.
        let victim = obj_name(pods[0]).to_string();
        s.get_mut("/pods", &victim)["metadata"]["deletionTimestamp"] =
            json!("2024-05-01T10:00:30Z");
        s.settle(now, &ControllerSet::all());
        assert_eq!(s.list("/pods").len(), 4);
        assert_eq!(
            s.list("/pods")
                .iter()
                .filter(|p| !is_terminating(p))
                .count(),
            3
        );
        // Scale to 0.
        s.get_mut("apps/replicasets", "web")["spec"]["replicas"] = json!(0);
        s.settle(t("2024-05-01T10:01:00Z"), &ControllerSet::all());
        assert!(s.list("/pods").is_empty());
        assert_eq!(s.get("apps/replicasets", "web")["status"]["replicas"], 0);
    }

    #[test]
    fn adopts_orphans_and_releases_mismatched() {
        let orphan = json!({"metadata":{"name":"o","namespace":"ns","uid":"uid-o","labels":{"app":"web"}},"spec":{}});
        let stray = json!({"metadata":{"name":"s","namespace":"ns","uid":"uid-s","labels":{"app":"other"},
            "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"uid-rs","controller":true}]},"spec":{}});
        let snap = Snapshot::from_objects([
            ("apps/replicasets", rs(1)),
            ("/pods", orphan),
            ("/pods", stray),
        ]);
        let set = ControllerSet {
            replicasets: true,
            ..ControllerSet::none()
        };
        let m = crate::controllers::reconcile(&snap, t("2024-05-01T10:00:00Z"), &set);
        let updates: Vec<&Value> = m
            .iter()
            .filter_map(|m| match m {
                Mutation::Update { key, object } if key == "/pods" => Some(object),
                _ => None,
            })
            .collect();
        assert_eq!(updates.len(), 2);
        let s = updates.iter().find(|o| obj_name(o) == "s").unwrap();
        assert!(owner_refs(s).is_empty());
        let o = updates.iter().find(|o| obj_name(o) == "o").unwrap();
        assert_eq!(controller_uid(o), Some("uid-rs"));
        assert!(
            !m.iter().any(|m| matches!(m, Mutation::Create { .. })),
            "the adopted pod counts"
        );
    }

    #[test]
    fn deletes_unready_pods_first() {
        let mk = |n: &str, ready: bool| {
            json!({"metadata":{"name":n,"namespace":"ns","uid":format!("u{n}"),"labels":{"app":"web"},"creationTimestamp":"2024-01-01T00:00:00Z",
                "ownerReferences":[{"uid":"uid-rs","controller":true}]},"spec":{"nodeName":"n1"},
                "status":{"phase":"Running","conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}]}})
        };
        let snap = Snapshot::from_objects([
            ("apps/replicasets", rs(1)),
            ("/pods", mk("a", true)),
            ("/pods", mk("b", false)),
        ]);
        let set = ControllerSet {
            replicasets: true,
            ..ControllerSet::none()
        };
        let m = crate::controllers::reconcile(&snap, t("2024-05-01T10:00:00Z"), &set);
        assert!(
            m.iter()
                .any(|m| matches!(m, Mutation::Delete { name, .. } if name == "b"))
        );
        assert!(
            !m.iter()
                .any(|m| matches!(m, Mutation::Delete { name, .. } if name == "a"))
        );
    }
}
