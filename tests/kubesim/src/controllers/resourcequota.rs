//! Resource quota controller (pkg/controller/resourcequota): keeps `status.hard` (= `spec.hard`)
//! and `status.used` (the usage of the namespace's matching objects) of every ResourceQuota
//! current. The computation lives in [`crate::quota::compute_status`].

use super::*;

const QUOTAS: &str = crate::quota::QUOTAS_KEY;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    let quotas = ctx.snap.list(QUOTAS);
    if quotas.is_empty() {
        return;
    }
    // Objects by namespace (only namespaces that have a quota).
    let namespaces: HashSet<&str> = quotas.iter().filter_map(|q| obj_namespace(q)).collect();
    let mut by_ns: HashMap<&str, Vec<(&str, &Value)>> = HashMap::new();
    for (key, objs) in &ctx.snap.objects {
        for o in objs {
            if let Some(ns) = obj_namespace(o)
                && namespaces.contains(ns)
            {
                by_ns
                    .entry(ns)
                    .or_default()
                    .push((key.as_str(), o.as_ref()));
            }
        }
    }
    for q in quotas {
        if is_terminating(q) {
            continue;
        }
        let ns = obj_namespace(q).unwrap_or("");
        let objects = by_ns.get(ns).map(Vec::as_slice).unwrap_or(&[]);
        let status = crate::quota::compute_status(q, objects, ctx.now);
        if let Some(m) = status_update(QUOTAS, q, status) {
            out.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_hard_and_used() {
        let snap = Snapshot::from_objects([
            (
                QUOTAS,
                json!({"metadata": {"name": "q", "namespace": "ns", "resourceVersion": "1"},
                       "spec": {"hard": {"pods": "3", "requests.cpu": "2"}}}),
            ),
            (
                keys::PODS,
                json!({"metadata": {"name": "p", "namespace": "ns"},
                       "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}}),
            ),
            (
                keys::PODS,
                json!({"metadata": {"name": "other", "namespace": "elsewhere"},
                       "spec": {"containers": [{"name": "c"}]}}),
            ),
        ]);
        let mut out = Vec::new();
        reconcile(&Ctx::new(&snap, Timestamp::now()), &mut out);
        let [Mutation::Update { object, .. }] = out.as_slice() else {
            panic!("one update expected: {out:?}");
        };
        assert_eq!(
            object["status"],
            json!({"hard": {"pods": "3", "requests.cpu": "2"}, "used": {"pods": "1", "requests.cpu": "500m"}})
        );
        // Converged: recomputing over the same objects writes nothing.
        let mut objects: Vec<(String, Value)> = snap
            .objects
            .iter()
            .filter(|(k, _)| k.as_str() != QUOTAS)
            .flat_map(|(k, v)| v.iter().map(|o| (k.clone(), (**o).clone())))
            .collect();
        objects.push((QUOTAS.to_string(), object.clone()));
        let snap = Snapshot::from_objects(objects);
        let mut again = Vec::new();
        reconcile(&Ctx::new(&snap, Timestamp::now()), &mut again);
        assert!(again.is_empty());
    }
}
