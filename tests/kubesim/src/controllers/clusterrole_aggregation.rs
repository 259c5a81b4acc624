//! ClusterRole aggregation controller (pkg/controller/clusterroleaggregation): a ClusterRole with
//! an `aggregationRule` gets as `rules` the union (first occurrence kept, in order) of the rules of
//! every other ClusterRole whose labels match one of its `clusterRoleSelectors`, those roles taken
//! by name. Aggregation chains (edit aggregates view, admin aggregates edit) converge because the
//! driver reconciles until nothing changes.

use super::*;

pub(crate) fn reconcile(ctx: &Ctx<'_>, out: &mut Vec<Mutation>) {
    let roles = ctx.snap.list(keys::CLUSTER_ROLES);
    for role in roles {
        let Some(selectors) =
            ptr(role, "/aggregationRule/clusterRoleSelectors").and_then(Value::as_array)
        else {
            continue;
        };
        if is_terminating(role) {
            continue;
        }
        let parsed: Vec<LabelSelector> =
            selectors.iter().map(|s| parse_selector(Some(s))).collect();
        let mut sources: Vec<&Value> = roles
            .iter()
            .map(Arc::as_ref)
            .filter(|r| obj_name(r) != obj_name(role))
            .filter(|r| parsed.iter().any(|s| s.matches(obj_labels(r))))
            .collect();
        sources.sort_by(|a, b| obj_name(a).cmp(obj_name(b)));
        let mut rules: Vec<Value> = Vec::new();
        for src in sources {
            for rule in ptr(src, "/rules")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if !rules.iter().any(|r| rules_equal(r, rule)) {
                    rules.push(rule.clone());
                }
            }
        }
        let current = ptr(role, "/rules")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let same = current.len() == rules.len()
            && current.iter().zip(&rules).all(|(a, b)| rules_equal(a, b));
        if same {
            continue;
        }
        let mut o = (**role).clone();
        o["rules"] = Value::Array(rules);
        out.push(Mutation::Update {
            key: keys::CLUSTER_ROLES.into(),
            object: o,
        });
    }
}

/// `equality.Semantic.DeepEqual` of two PolicyRules (an absent list equals an empty one).
fn rules_equal(a: &Value, b: &Value) -> bool {
    [
        "verbs",
        "apiGroups",
        "resources",
        "resourceNames",
        "nonResourceURLs",
    ]
    .iter()
    .all(|f| {
        let list = |r: &Value| {
            r.get(*f)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        list(a) == list(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_matching_roles_in_name_order() {
        let sel = |l: &str| json!({"clusterRoleSelectors": [{"matchLabels": {l: "true"}}]});
        let snap = Snapshot::from_objects([
            (
                keys::CLUSTER_ROLES,
                json!({"metadata": {"name": "view"}, "aggregationRule": sel("agg-view")}),
            ),
            (
                keys::CLUSTER_ROLES,
                json!({"metadata": {"name": "z-chart", "labels": {"agg-view": "true"}},
                       "rules": [{"apiGroups": ["x.dev"], "resources": ["things"], "verbs": ["get"]}]}),
            ),
            (
                keys::CLUSTER_ROLES,
                json!({"metadata": {"name": "a-builtin", "labels": {"agg-view": "true"}},
                       "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                                 {"apiGroups": ["x.dev"], "resources": ["things"], "verbs": ["get"]}]}),
            ),
            (
                keys::CLUSTER_ROLES,
                json!({"metadata": {"name": "unrelated"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
            ),
        ]);
        let mut out = Vec::new();
        reconcile(&Ctx::new(&snap, Timestamp::now()), &mut out);
        let [Mutation::Update { object, .. }] = out.as_slice() else {
            panic!("one update expected: {out:?}");
        };
        assert_eq!(
            object["rules"],
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                   {"apiGroups": ["x.dev"], "resources": ["things"], "verbs": ["get"]}])
        );
    }
}
