//! Garbage collector (pkg/controller/garbagecollector) and the legacy service-account token
//! controller (pkg/controller/serviceaccount/tokens_controller.go), simulated.
//!
//! GC, by uid as the real one:
//! - a dependent whose ownerReferences all name uids that no longer exist is deleted (background
//!   propagation); one with some dangling references has those references removed;
//! - references to kinds the simulator does not know (neither a built-in kind nor a kind of any
//!   stored object) are left alone, as the real GC cannot resolve them;
//! - foreground deletion (`foregroundDeletion` finalizer) and orphaning are done by kscore's driver
//!   and API layer, not here.
//!
//! Token controller: a Secret of type `kubernetes.io/service-account-token` whose ServiceAccount
//! (annotation `kubernetes.io/service-account.name`) does not exist, or exists with another uid
//! than the `kubernetes.io/service-account.uid` annotation, is deleted; otherwise the controller
//! sets the uid annotation and fills `data.token` (a JWT-shaped token, see
//! [`crate::auth::legacy_token_for_secret`]) and `data.namespace`. `data["ca.crt"]` is not set.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::*;

const BUILTIN_KINDS: &[&str] = &[
    "Pod",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Node",
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Service",
    "Endpoints",
    "ReplicationController",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "PodDisruptionBudget",
    "Lease",
    "NetworkPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "Event",
    "ResourceQuota",
    "ControllerRevision",
    "EndpointSlice",
    "Ingress",
];

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    let snap = ctx.snap;
    let total: usize = snap.objects.values().map(Vec::len).sum();
    let mut uids: HashSet<&str> = HashSet::with_capacity(total);
    let mut kinds: HashSet<&str> = BUILTIN_KINDS.iter().copied().collect();
    for objs in snap.objects.values() {
        // All objects of a resource share its kind.
        if let Some(k) = objs
            .first()
            .and_then(|o| o.get("kind"))
            .and_then(Value::as_str)
        {
            kinds.insert(k);
        }
        uids.extend(objs.iter().filter_map(|o| obj_uid(o)));
    }
    for (key, objs) in &snap.objects {
        for o in objs {
            let refs = owner_refs(o);
            if refs.is_empty() || is_terminating(o) {
                continue;
            }
            let dangling: Vec<&Value> = refs
                .iter()
                .filter(|r| {
                    let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
                    let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
                    !uids.contains(uid) && kinds.contains(kind)
                })
                .collect();
            if dangling.is_empty() {
                continue;
            }
            if dangling.len() == refs.len() {
                out.push(delete_of(key, o));
            } else {
                let gone: HashSet<&str> = dangling
                    .iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str))
                    .collect();
                let mut n = o.as_ref().clone();
                if let Some(a) = n
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    a.retain(|r| {
                        !r.get("uid")
                            .and_then(Value::as_str)
                            .is_some_and(|u| gone.contains(u))
                    });
                }
                out.push(Mutation::Update {
                    key: key.clone(),
                    object: n,
                });
            }
        }
    }
}

pub(crate) fn reconcile_sa_token_secrets(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for s in ctx.snap.list(keys::SECRETS) {
        if str_at(s, "/type") != Some("kubernetes.io/service-account-token") || is_terminating(s) {
            continue;
        }
        let ns = obj_namespace(s).unwrap_or("default");
        let ann = s
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        let sa_name = ann
            .and_then(|a| a.get("kubernetes.io/service-account.name"))
            .and_then(Value::as_str);
        let sa_uid = ann
            .and_then(|a| a.get("kubernetes.io/service-account.uid"))
            .and_then(Value::as_str);
        let sa = sa_name.and_then(|n| ctx.snap.get(keys::SERVICE_ACCOUNTS, Some(ns), n));
        let Some(sa) = sa else {
            out.push(delete_of(keys::SECRETS, s));
            continue;
        };
        if sa_uid.is_some_and(|u| Some(u) != obj_uid(sa)) {
            out.push(delete_of(keys::SECRETS, s));
            continue;
        }
        let has_token = s
            .pointer("/data/token")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        if has_token && sa_uid.is_some() {
            continue;
        }
        let mut n = s.as_ref().clone();
        n["metadata"]["annotations"]["kubernetes.io/service-account.uid"] =
            json!(obj_uid(sa).unwrap_or(""));
        if !has_token {
            if !n.get("data").is_some_and(Value::is_object) {
                n["data"] = json!({});
            }
            let token = crate::auth::legacy_token_for_secret(s, sa);
            n["data"]["token"] = json!(b64.encode(token));
            n["data"]["namespace"] = json!(b64.encode(ns));
        }
        out.push(Mutation::Update {
            key: keys::SECRETS.into(),
            object: n,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn obj(kind: &str, name: &str, uid: &str, owners: Value) -> Value {
        json!({"kind":kind,"metadata":{"name":name,"namespace":"ns","uid":uid,"ownerReferences":owners}})
    }

    fn gc_only() -> ControllerSet {
        ControllerSet {
            gc: true,
            ..ControllerSet::none()
        }
    }

    #[test]
    fn deletes_orphans_by_uid_and_trims_dangling() {
        let owner = obj("ReplicaSet", "rs", "u-rs", json!([]));
        let dead = obj(
            "Pod",
            "dead",
            "u-p1",
            json!([{"kind":"ReplicaSet","name":"rs","uid":"u-old"}]),
        );
        let alive = obj(
            "Pod",
            "alive",
            "u-p2",
            json!([{"kind":"ReplicaSet","name":"rs","uid":"u-rs"}]),
        );
        let mixed = obj(
            "ConfigMap",
            "mixed",
            "u-c",
            json!([{"kind":"ReplicaSet","uid":"u-rs"},{"kind":"Job","uid":"u-gone"}]),
        );
        let unknown = obj(
            "Pod",
            "unknown",
            "u-p3",
            json!([{"kind":"Frobnicator","uid":"u-zz"}]),
        );
        let snap = Snapshot::from_objects([
            ("apps/replicasets", owner),
            ("/pods", dead.clone()),
            ("/pods", alive),
            ("/configmaps", mixed),
            ("/pods", unknown),
        ]);
        let m = reconcile_all(&snap);
        assert!(m.contains(&delete_of("/pods", &dead)));
        assert_eq!(
            m.iter()
                .filter(|m| matches!(m, Mutation::Delete { .. }))
                .count(),
            1
        );
        let upd = m.iter().find_map(|m| match m {
            Mutation::Update { object, .. } => Some(object),
            _ => None,
        });
        assert_eq!(owner_refs(upd.unwrap()).len(), 1);
    }

    fn reconcile_all(snap: &Snapshot) -> Vec<Mutation> {
        super::super::reconcile(snap, t("2024-01-01T00:00:00Z"), &gc_only())
    }

    #[test]
    fn legacy_token_secrets() {
        use base64::Engine as _;
        let sa = json!({"kind":"ServiceAccount","metadata":{"name":"bot","namespace":"ns","uid":"u-sa"}});
        let secret = json!({"kind":"Secret","type":"kubernetes.io/service-account-token",
            "metadata":{"name":"bot-token","namespace":"ns","uid":"u-s","annotations":{"kubernetes.io/service-account.name":"bot"}}});
        let snap = Snapshot::from_objects([("/serviceaccounts", sa), ("/secrets", secret.clone())]);
        let m = reconcile_all(&snap);
        let Mutation::Update { object, .. } = &m[0] else {
            panic!("{m:?}")
        };
        assert_eq!(
            object["metadata"]["annotations"]["kubernetes.io/service-account.uid"],
            "u-sa"
        );
        let tok = base64::engine::general_purpose::STANDARD
            .decode(object["data"]["token"].as_str().unwrap())
            .unwrap();
        assert_eq!(tok.iter().filter(|b| **b == b'.').count(), 2, "JWT-shaped");
        // Without its ServiceAccount the secret is deleted.
        let snap = Snapshot::from_objects([("/secrets", secret.clone())]);
        assert_eq!(reconcile_all(&snap), vec![delete_of("/secrets", &secret)]);
    }
}
