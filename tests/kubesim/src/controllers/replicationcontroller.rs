//! ReplicationController controller (pkg/controller/replication), simulated: Kubernetes runs the
//! ReplicaSet controller's code for ReplicationControllers, with the RC's plain-map selector as a
//! `matchLabels` selector; so does kubesim (replicaset.rs). Pods are created with
//! `generateName: <rc>-` and a controller ownerReference `v1/ReplicationController`; orphans
//! matching the selector are adopted; the status carries replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas and observedGeneration.

use serde_json::json;

use super::replicaset::{SetKind, sync};
use super::*;

const RC: SetKind = SetKind {
    key: keys::REPLICATION_CONTROLLERS,
    api_version: "v1",
    kind: "ReplicationController",
};

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    for rc in ctx.snap.list(keys::REPLICATION_CONTROLLERS) {
        // An RC's selector is a map of labels; a missing one was defaulted to the template's.
        let selector = ptr(rc, "/spec/selector")
            .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
            .map(|s| json!({"matchLabels": s}));
        sync(ctx, rc, &RC, selector.as_ref(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use serde_json::Value;

    fn rc(replicas: i64) -> Value {
        json!({"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"old","namespace":"ns","uid":"uid-rc","generation":1},
               "spec":{"replicas":replicas,"selector":{"app":"old"},
                       "template":{"metadata":{"labels":{"app":"old"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}})
    }

    #[test]
    fn keeps_its_pods() {
        let now = t("2024-05-01T10:00:00Z");
        let mut s = MiniStore::new(vec![
            (keys::REPLICATION_CONTROLLERS, rc(2)),
            ("/nodes", node("n1", json!({}))),
        ]);
        s.settle(now, &ControllerSet::all());
        let pods = s.list("/pods");
        assert_eq!(pods.len(), 2);
        for p in &pods {
            assert!(obj_name(p).starts_with("old-"));
            let r = &p["metadata"]["ownerReferences"][0];
            assert_eq!(
                (&r["kind"], &r["apiVersion"], &r["uid"], &r["controller"]),
                (
                    &json!("ReplicationController"),
                    &json!("v1"),
                    &json!("uid-rc"),
                    &json!(true)
                )
            );
        }
        let st = &s.get(keys::REPLICATION_CONTROLLERS, "old")["status"];
        assert_eq!(
            (st["replicas"].clone(), st["readyReplicas"].clone()),
            (json!(2), json!(2))
        );
        s.get_mut(keys::REPLICATION_CONTROLLERS, "old")["spec"]["replicas"] = json!(0);
        s.settle(now, &ControllerSet::all());
        assert!(s.list("/pods").is_empty());
    }

    #[test]
    fn switched_off_with_its_flag() {
        let snap = Snapshot::from_objects([(keys::REPLICATION_CONTROLLERS, rc(1))]);
        let set = ControllerSet {
            replicationcontrollers: false,
            ..ControllerSet::all()
        };
        let m = crate::controllers::reconcile(&snap, t("2024-05-01T10:00:00Z"), &set);
        assert!(!m.iter().any(|m| matches!(m, Mutation::Create { .. })));
    }
}
