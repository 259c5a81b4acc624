//! ServiceAccounts controller (pkg/controller/serviceaccount): every active namespace has a
//! `default` ServiceAccount; one that is deleted is created again (with a new uid, so that tokens
//! bound to the old one stop authenticating).

use super::*;

pub(crate) const NAMESPACES: &str = "/namespaces";

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    let have: HashSet<&str> = ctx
        .snap
        .list(keys::SERVICE_ACCOUNTS)
        .iter()
        .filter(|sa| obj_name(sa) == "default")
        .filter_map(|sa| obj_namespace(sa))
        .collect();
    for ns in ctx.snap.list(NAMESPACES) {
        let name = obj_name(ns);
        if is_terminating(ns) || str_at(ns, "/status/phase") == Some("Terminating") {
            continue;
        }
        if !have.contains(name) {
            out.push(Mutation::Create {
                key: keys::SERVICE_ACCOUNTS.into(),
                object: json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": name}}),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recreates_default_in_active_namespaces_only() {
        let snap = Snapshot::from_objects([
            (NAMESPACES, json!({"metadata": {"name": "a"}})),
            (NAMESPACES, json!({"metadata": {"name": "b"}})),
            (
                NAMESPACES,
                json!({"metadata": {"name": "gone", "deletionTimestamp": "2024-01-01T00:00:00Z"}}),
            ),
            (
                keys::SERVICE_ACCOUNTS,
                json!({"metadata": {"name": "default", "namespace": "b"}}),
            ),
            (
                keys::SERVICE_ACCOUNTS,
                json!({"metadata": {"name": "other", "namespace": "a"}}),
            ),
        ]);
        let mut out = Vec::new();
        reconcile(&Ctx::new(&snap, Timestamp::now()), &mut out);
        let created: Vec<(Option<&str>, &str)> = out
            .iter()
            .map(|m| match m {
                Mutation::Create { object, .. } => (obj_namespace(object), obj_name(object)),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(created, vec![(Some("a"), "default")]);
    }
}
