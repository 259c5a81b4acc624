//! StatefulSet controller (pkg/controller/statefulset), simulated.
//!
//! - Pods are named `<sts>-<ordinal>` for ordinals 0..replicas-1 (`spec.ordinals.start` honoured),
//!   with the labels `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
//!   `controller-revision-hash: <sts>-<hash>`, `spec.hostname` = pod name and `spec.subdomain` =
//!   `spec.serviceName`.
//! - `podManagementPolicy: OrderedReady` (default): one pod at a time, the next ordinal only when all
//!   lower ones are Running and Ready; scale-down removes the highest ordinal first, one at a time.
//!   `Parallel`: all missing pods are created (and extra pods deleted) at once.
//! - Template changes with `updateStrategy: RollingUpdate` (default): pods of an old revision are
//!   deleted highest ordinal first, one at a time once all pods are ready, and recreated at the new
//!   revision (`partition` honoured). `OnDelete`: only pods deleted by someone else are recreated.
//!   ControllerRevision objects are not created; the revision hash is computed from the template.
//! - PersistentVolumeClaims from volumeClaimTemplates are not created.
//! - Status: replicas, readyReplicas, currentReplicas, updatedReplicas, availableReplicas,
//!   currentRevision, updateRevision, observedGeneration, collisionCount.

use serde_json::{Value, json};

use super::*;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    for sts in ctx.snap.list(keys::STATEFUL_SETS) {
        sync(ctx, sts, out);
    }
}

fn sync(ctx: &Ctx<'_>, sts: &Value, out: &mut Vec<Mutation>) {
    if is_terminating(sts) {
        return;
    }
    let name = obj_name(sts);
    let ns = obj_namespace(sts).unwrap_or("default");
    let replicas = i64_at(sts, "/spec/replicas").unwrap_or(1).max(0);
    let start = i64_at(sts, "/spec/ordinals/start").unwrap_or(0).max(0);
    let parallel = str_at(sts, "/spec/podManagementPolicy") == Some("Parallel");
    let on_delete = str_at(sts, "/spec/updateStrategy/type") == Some("OnDelete");
    let partition = i64_at(sts, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    let template = sts
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let update_rev = format!(
        "{name}-{}",
        super::deployment::compute_hash(&template, None)
    );
    let min_ready = i64_at(sts, "/spec/minReadySeconds").unwrap_or(0);

    let ordinal_of = |p: &Value| -> Option<i64> {
        obj_name(p)
            .strip_prefix(name)?
            .strip_prefix('-')?
            .parse()
            .ok()
    };
    let owned: Vec<&Value> = ctx.owned_pods(sts).to_vec();
    let mut by_ord: std::collections::BTreeMap<i64, &Value> = std::collections::BTreeMap::new();
    for p in &owned {
        if let Some(o) = ordinal_of(p) {
            by_ord.insert(o, p);
        }
    }
    let in_range = |o: i64| o >= start && o < start + replicas;
    let rev_of = |p: &Value| {
        obj_labels(p)
            .and_then(|l| l.get("controller-revision-hash"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };

    let healthy = |p: &Value| !is_terminating(p) && pod_phase(p) == "Running" && pod_ready(p);
    let mut blocked = false;
    // Create missing pods in ordinal order.
    for o in start..start + replicas {
        match by_ord.get(&o) {
            Some(p) => {
                if is_terminating(p) {
                    blocked = true; // wait for the old incarnation to go away
                } else if matches!(pod_phase(p), "Failed" | "Succeeded") {
                    out.push(delete_of(keys::PODS, p)); // the controller recreates failed pods
                    blocked = true;
                } else if !healthy(p) {
                    blocked = true;
                }
            }
            None => {
                if !parallel && blocked {
                    break;
                }
                let pod_name = format!("{name}-{o}");
                let mut t = template.clone();
                if !t.pointer("/metadata/labels").is_some_and(Value::is_object) {
                    if !t.get("metadata").is_some_and(Value::is_object) {
                        t["metadata"] = json!({});
                    }
                    t["metadata"]["labels"] = json!({});
                }
                t["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
                t["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = json!(o.to_string());
                t["metadata"]["labels"]["controller-revision-hash"] = json!(update_rev);
                let mut pod = pod_from_template(
                    &t,
                    ns,
                    controller_owner_ref(sts, "apps/v1", "StatefulSet"),
                    None,
                    Some(&pod_name),
                );
                pod["spec"]["hostname"] = json!(pod_name);
                if let Some(svc) = str_at(sts, "/spec/serviceName").filter(|s| !s.is_empty()) {
                    pod["spec"]["subdomain"] = json!(svc);
                }
                out.push(Mutation::Create {
                    key: keys::PODS.into(),
                    object: pod,
                });
                blocked = true;
                if !parallel {
                    break;
                }
            }
        }
    }
    // Scale down: highest ordinal first.
    let mut extra: Vec<&Value> = by_ord
        .iter()
        .filter(|(o, _)| !in_range(**o))
        .map(|(_, p)| *p)
        .collect();
    extra.reverse();
    let all_healthy_in_range =
        (start..start + replicas).all(|o| by_ord.get(&o).is_some_and(|p| healthy(p)));
    if parallel {
        for p in extra.iter().filter(|p| !is_terminating(p)) {
            out.push(delete_of(keys::PODS, p));
        }
    } else if let Some(p) = extra.first()
        && extra.iter().all(|p| !is_terminating(p))
    {
        out.push(delete_of(keys::PODS, p));
    }
    // Rolling update: highest stale ordinal >= partition, when everything is healthy.
    if !on_delete && all_healthy_in_range && extra.is_empty() {
        let stale = (start..start + replicas)
            .rev()
            .filter(|o| *o - start >= partition)
            .filter_map(|o| by_ord.get(&o))
            .find(|p| rev_of(p).as_deref() != Some(update_rev.as_str()));
        if let Some(p) = stale {
            out.push(delete_of(keys::PODS, p));
        }
    }

    let live: Vec<&Value> = owned
        .iter()
        .copied()
        .filter(|p| !is_terminating(p))
        .collect();
    let updated = live
        .iter()
        .filter(|p| rev_of(p).as_deref() == Some(update_rev.as_str()))
        .count() as i64;
    let current_rev = str_at(sts, "/status/currentRevision").map(str::to_string);
    let current_rev = match current_rev {
        Some(c) if updated < replicas => c,
        _ => update_rev.clone(),
    };
    let current = live
        .iter()
        .filter(|p| rev_of(p).as_deref() == Some(current_rev.as_str()))
        .count() as i64;
    let mut status = sts
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    status["observedGeneration"] = json!(generation(sts));
    status["replicas"] = json!(live.len());
    status["readyReplicas"] = json!(live.iter().filter(|p| pod_ready(p)).count());
    status["availableReplicas"] = json!(
        live.iter()
            .filter(|p| pod_available(p, min_ready, ctx.now))
            .count()
    );
    status["currentReplicas"] = json!(current);
    status["updatedReplicas"] = json!(updated);
    status["currentRevision"] = json!(current_rev);
    status["updateRevision"] = json!(update_rev);
    status["collisionCount"] = json!(i64_at(sts, "/status/collisionCount").unwrap_or(0));
    if let Some(m) = status.as_object_mut() {
        for f in ["readyReplicas", "currentReplicas", "updatedReplicas"] {
            if m.get(f) == Some(&json!(0)) {
                m.remove(f);
            }
        }
    }
    if let Some(m) = status_update(keys::STATEFUL_SETS, sts, status) {
        out.push(m);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn sts(replicas: i64, policy: &str) -> Value {
        json!({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"ns","uid":"uid-sts","generation":1},
               "spec":{"replicas":replicas,"serviceName":"db","podManagementPolicy":policy,"selector":{"matchLabels":{"app":"db"}},
                       "template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"postgres"}]}}}})
    }

    #[test]
    fn ordered_creation_one_per_pass() {
        let now = t("2024-05-01T10:00:00Z");
        let snap = Snapshot::from_objects([("apps/statefulsets", sts(3, "OrderedReady"))]);
        let set = ControllerSet {
            statefulsets: true,
            ..ControllerSet::none()
        };
        let m = crate::controllers::reconcile(&snap, now, &set);
        let creates: Vec<_> = m
            .iter()
            .filter(|m| matches!(m, Mutation::Create { .. }))
            .collect();
        assert_eq!(creates.len(), 1);
        let snap = Snapshot::from_objects([("apps/statefulsets", sts(3, "Parallel"))]);
        let m = crate::controllers::reconcile(&snap, now, &set);
        assert_eq!(
            m.iter()
                .filter(|m| matches!(m, Mutation::Create { .. }))
                .count(),
            3
        );
    }

    #[test]
    fn settles_with_named_pods_and_scales_down() {
        let now = t("2024-05-01T10:00:00Z");
        let mut s = MiniStore::new(vec![
            ("apps/statefulsets", sts(3, "OrderedReady")),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(now, &ControllerSet::all());
        let mut names: Vec<&str> = s.list("/pods").iter().map(|p| obj_name(p)).collect();
        names.sort();
        assert_eq!(names, vec!["db-0", "db-1", "db-2"]);
        let p = s.get("/pods", "db-1");
        assert_eq!(p["spec"]["hostname"], "db-1");
        assert_eq!(p["spec"]["subdomain"], "db");
        assert_eq!(
            p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
            "db-1"
        );
        let st = &s.get("apps/statefulsets", "db")["status"];
        assert_eq!(st["replicas"], 3);
        assert_eq!(st["readyReplicas"], 3);
        assert_eq!(st["currentReplicas"], 3);
        assert_eq!(st["updatedReplicas"], 3);
        assert_eq!(st["availableReplicas"], 3);
        assert_eq!(st["currentRevision"], st["updateRevision"]);
        s.get_mut("apps/statefulsets", "db")["spec"]["replicas"] = json!(1);
        s.settle(now, &ControllerSet::all());
        let names: Vec<&str> = s.list("/pods").iter().map(|p| obj_name(p)).collect();
        assert_eq!(names, vec!["db-0"]);
    }

    #[test]
    fn rolling_update_replaces_pods() {
        let now = t("2024-05-01T10:00:00Z");
        let mut s = MiniStore::new(vec![
            ("apps/statefulsets", sts(2, "OrderedReady")),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(now, &ControllerSet::all());
        s.get_mut("apps/statefulsets", "db")["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("postgres:17");
        s.settle(now, &ControllerSet::all());
        assert_eq!(s.list("/pods").len(), 2);
        assert!(
            s.list("/pods")
                .iter()
                .all(|p| p["spec"]["containers"][0]["image"] == "postgres:17")
        );
        let st = &s.get("apps/statefulsets", "db")["status"];
        assert_eq!(st["updatedReplicas"], 2);
        assert_eq!(st["currentRevision"], st["updateRevision"]);
    }
}
