//! The RBAC storage's privilege-escalation prevention (pkg/registry/rbac/*/policybased,
//! pkg/registry/rbac/validation, k8s.io/component-helpers/auth/rbac/validation):
//!
//! - Creating or updating a Role/ClusterRole requires the `escalate` verb on it, or holding every
//!   permission it grants; a ClusterRole with an `aggregationRule` (on either side of an update)
//!   requires holding everything (cluster-admin).
//! - Creating or updating a RoleBinding/ClusterRoleBinding requires the `bind` verb on the
//!   referenced role, or holding every permission of the referenced role (a missing role is a 404).
//! - Members of `system:masters` skip these checks; so do updates that only change ownerReferences
//!   or finalizers (`IsOnlyMutatingGCFields`).
//!
//! The permissions "held" are the requester's rules in the request's namespace (cluster-wide
//! bindings plus, for namespaced objects, the RoleBindings of that namespace), as `RulesFor`.

use serde_json::{Value, json};

use crate::access::AccessLog;
use crate::api::{ApiError, name_of, namespace_of};
use crate::auth::UserInfo;
use crate::controllers::Snapshot;
use crate::rbac::{Attributes, aggregate, cluster_admin_rules, decide, role_ref_rules, rules_for};
use crate::resources::ResourceDef;

const GROUP: &str = "rbac.authorization.k8s.io";

fn strs(rule: &Value, field: &str) -> Vec<String> {
    rule.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A PolicyRule broken down (`BreakdownRule`) or compacted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    non_resource_urls: Vec<String>,
    verbs: Vec<String>,
}

impl Rule {
    fn of(v: &Value) -> Rule {
        Rule {
            api_groups: strs(v, "apiGroups"),
            resources: strs(v, "resources"),
            resource_names: strs(v, "resourceNames"),
            non_resource_urls: strs(v, "nonResourceURLs"),
            verbs: strs(v, "verbs"),
        }
    }

    /// `rbacv1helpers.CompactString`.
    fn compact_string(&self) -> String {
        let q = |l: &[String]| {
            format!(
                "[{}]",
                l.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let mut parts = Vec::new();
        if !self.api_groups.is_empty() {
            parts.push(format!("APIGroups:{}", q(&self.api_groups)));
        }
        if !self.resources.is_empty() {
            parts.push(format!("Resources:{}", q(&self.resources)));
        }
        if !self.non_resource_urls.is_empty() {
            parts.push(format!("NonResourceURLs:{}", q(&self.non_resource_urls)));
        }
        if !self.resource_names.is_empty() {
            parts.push(format!("ResourceNames:{}", q(&self.resource_names)));
        }
        if !self.verbs.is_empty() {
            parts.push(format!("Verbs:{}", q(&self.verbs)));
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// `BreakdownRule`: one verb, resource (or URL) and resource name per rule.
fn breakdown(r: &Rule) -> Vec<Rule> {
    let mut out = Vec::new();
    for g in &r.api_groups {
        for res in &r.resources {
            for v in &r.verbs {
                if r.resource_names.is_empty() {
                    out.push(Rule {
                        api_groups: vec![g.clone()],
                        resources: vec![res.clone()],
                        verbs: vec![v.clone()],
                        ..Rule::default()
                    });
                } else {
                    for n in &r.resource_names {
                        out.push(Rule {
                            api_groups: vec![g.clone()],
                            resources: vec![res.clone()],
                            verbs: vec![v.clone()],
                            resource_names: vec![n.clone()],
                            ..Rule::default()
                        });
                    }
                }
            }
        }
    }
    for u in &r.non_resource_urls {
        for v in &r.verbs {
            out.push(Rule {
                non_resource_urls: vec![u.clone()],
                verbs: vec![v.clone()],
                ..Rule::default()
            });
        }
    }
    out
}

fn has(set: &[String], e: &str) -> bool {
    set.iter().any(|s| s == e)
}

fn has_all(set: &[String], want: &[String]) -> bool {
    want.iter().all(|w| has(set, w))
}

fn resource_covers_all(owner: &[String], want: &[String]) -> bool {
    if has(owner, "*") || has_all(owner, want) {
        return true;
    }
    want.iter().all(|path| {
        if has(owner, path) {
            return true;
        }
        match path.split_once('/') {
            Some((_, sub)) => has(owner, &format!("*/{sub}")),
            None => false,
        }
    })
}

fn url_covers(owner: &str, sub: &str) -> bool {
    owner == sub
        || owner
            .strip_suffix('*')
            .is_some_and(|p| sub.starts_with(p.trim_end_matches('*')))
}

/// `ruleCovers`.
fn rule_covers(owner: &Rule, sub: &Rule) -> bool {
    let verbs = has(&owner.verbs, "*") || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, "*") || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls = sub
        .non_resource_urls
        .iter()
        .all(|u| owner.non_resource_urls.iter().any(|o| url_covers(o, u)));
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs && groups && resources && names && urls
}

/// `Covers`: the servant rules not covered by the owner's (broken down).
fn uncovered(owner: &[Value], servant: &[Value]) -> Vec<Rule> {
    let owner: Vec<Rule> = owner.iter().map(Rule::of).collect();
    servant
        .iter()
        .flat_map(|r| breakdown(&Rule::of(r)))
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect()
}

/// `CompactRules`: single group/resource rules without names or URLs merged by verbs.
fn compact(rules: Vec<Rule>) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    let mut simple: Vec<Rule> = Vec::new();
    for r in rules {
        let is_simple = r.resource_names.is_empty()
            && r.non_resource_urls.is_empty()
            && r.api_groups.len() == 1
            && r.resources.len() == 1;
        if !is_simple {
            out.push(r);
            continue;
        }
        match simple
            .iter_mut()
            .find(|s| s.api_groups == r.api_groups && s.resources == r.resources)
        {
            Some(s) => s.verbs.extend(r.verbs),
            None => simple.push(r),
        }
    }
    out.extend(simple);
    out
}

/// `ConfirmNoEscalation`: Err(the message) when `user` does not hold every rule of `rules` in
/// `namespace`.
pub fn confirm_no_escalation(
    user: &UserInfo,
    namespace: &str,
    rules: &[Value],
    snap: &Snapshot,
) -> Result<(), String> {
    let (owner, err) = rules_for(user, namespace, snap);
    let missing = uncovered(&owner, rules);
    if missing.is_empty() {
        return Ok(());
    }
    let mut descriptions: Vec<String> = compact(missing).iter().map(Rule::compact_string).collect();
    descriptions.sort();
    descriptions.dedup();
    let groups = format!(
        "[{}]",
        user.groups
            .iter()
            .map(|g| format!("{g:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut msg = format!(
        "user {:?} (groups={groups}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.username,
        descriptions.join("\n")
    );
    if let Some(e) = err {
        msg = format!("{msg}; resolution errors: [{}]", aggregate(&[e]));
    }
    Err(msg)
}

fn forbidden(def: &ResourceDef, name: &str, why: &str) -> ApiError {
    let msg = format!("{} {name:?} is forbidden: {why}", def.qualified());
    ApiError::forbidden(msg).with_details(json!({"name": name, "group": GROUP, "kind": def.plural}))
}

/// `IsOnlyMutatingGCFields`: `new` equals `old` but for ownerReferences and finalizers (and the
/// metadata the server owns).
fn only_gc_fields(old: &Value, new: &Value) -> bool {
    let mut n = new.clone();
    let old_md = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(md) = n.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "ownerReferences",
            "finalizers",
            "selfLink",
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            match old_md.get(k) {
                Some(v) => {
                    md.insert(k.into(), v.clone());
                }
                None => {
                    md.remove(k);
                }
            }
        }
    }
    n == *old
}

/// May `user` do `verb` on `resource` `name` in `namespace` (an RBAC check)?
fn allowed(
    user: &UserInfo,
    verb: &str,
    resource: &str,
    ns: &str,
    name: &str,
    snap: &Snapshot,
    log: Option<&AccessLog>,
) -> bool {
    let attrs = Attributes {
        user: user.clone(),
        verb: verb.into(),
        api_group: GROUP.into(),
        resource: resource.into(),
        subresource: None,
        namespace: (!ns.is_empty()).then(|| ns.to_string()),
        name: (!name.is_empty()).then(|| name.to_string()),
    };
    let d = decide(&attrs, snap);
    if d.allowed
        && let Some(log) = log
    {
        log.record_escalation(&attrs, &d.reason);
    }
    d.allowed
}

/// The escalation checks for a create (`old` None) or update of an RBAC object by `user`.
/// `log` records the `bind`/`escalate` checks that allowed it.
pub fn check(
    user: &UserInfo,
    def: &ResourceDef,
    obj: &Value,
    old: Option<&Value>,
    snap: &Snapshot,
    log: Option<&AccessLog>,
) -> Result<(), ApiError> {
    if def.group != GROUP || user.groups.iter().any(|g| g == "system:masters") {
        return Ok(());
    }
    if let Some(old) = old
        && only_gc_fields(old, obj)
    {
        return Ok(());
    }
    let name = name_of(obj);
    let ns = namespace_of(obj);
    match def.plural.as_str() {
        "roles" | "clusterroles" => {
            // RoleEscalationAuthorized: the request's name (none on a create).
            let req_name = if old.is_some() { name } else { "" };
            if allowed(user, "escalate", &def.plural, ns, req_name, snap, log) {
                return Ok(());
            }
            let rules = obj
                .get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            confirm_no_escalation(user, ns, &rules, snap).map_err(|e| forbidden(def, name, &e))?;
            let aggregating = |o: &Value| o.get("aggregationRule").is_some_and(|a| !a.is_null());
            if def.plural == "clusterroles"
                && (aggregating(obj) || old.is_some_and(aggregating))
                && confirm_no_escalation(user, ns, &cluster_admin_rules(), snap).is_err()
            {
                return Err(forbidden(
                    def,
                    name,
                    "must have cluster-admin privileges to use the aggregationRule",
                ));
            }
            Ok(())
        }
        "rolebindings" | "clusterrolebindings" => {
            let kind = obj
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or("");
            let role = obj
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let resource = match kind {
                "ClusterRole" => Some("clusterroles"),
                "Role" => Some("roles"),
                _ => None,
            };
            if let Some(resource) = resource
                && allowed(user, "bind", resource, ns, role, snap, log)
            {
                return Ok(());
            }
            let rules = match kind {
                "Role" | "ClusterRole" => {
                    role_ref_rules(kind, role, Some(ns).filter(|n| !n.is_empty()), snap).map_err(
                        |e| {
                            // The lister's NotFound names the singular resource.
                            let res = if kind == "Role" {
                                "role"
                            } else {
                                "clusterrole"
                            };
                            ApiError::new(404, "NotFound", e)
                                .with_details(json!({"name": role, "group": GROUP, "kind": res}))
                        },
                    )?
                }
                other => {
                    return Err(ApiError::internal(format!(
                        "unsupported role reference kind: {other:?}"
                    )));
                }
            };
            confirm_no_escalation(user, ns, &rules, snap).map_err(|e| forbidden(def, name, &e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::keys;

    fn bot() -> UserInfo {
        UserInfo::service_account("ns", "bot", "u1")
    }

    fn snap_with(rules: Value) -> Snapshot {
        Snapshot::from_objects([
            (
                keys::ROLES,
                json!({"metadata": {"name": "held", "namespace": "ns"}, "rules": rules}),
            ),
            (
                keys::ROLE_BINDINGS,
                json!({"metadata": {"name": "held", "namespace": "ns"},
                       "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "held"},
                       "subjects": [{"kind": "ServiceAccount", "name": "bot"}]}),
            ),
        ])
    }

    #[test]
    fn covers_and_message() {
        let snap = snap_with(json!([
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["*"]}
        ]));
        let ok = json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]}]);
        assert!(confirm_no_escalation(&bot(), "ns", ok.as_array().unwrap(), &snap).is_ok());
        let too_much = json!([{"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "delete"]}]);
        let e =
            confirm_no_escalation(&bot(), "ns", too_much.as_array().unwrap(), &snap).unwrap_err();
        assert_eq!(
            e,
            "user \"system:serviceaccount:ns:bot\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:ns\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\"]}\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"delete\"]}"
        );
        // Held only in another namespace: not held here.
        assert!(confirm_no_escalation(&bot(), "other", ok.as_array().unwrap(), &snap).is_err());
    }

    #[test]
    fn resource_names_and_urls() {
        let snap = snap_with(json!([
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]}
        ]));
        let named = json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]}]);
        assert!(confirm_no_escalation(&bot(), "ns", named.as_array().unwrap(), &snap).is_ok());
        let all = json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]);
        assert!(confirm_no_escalation(&bot(), "ns", all.as_array().unwrap(), &snap).is_err());
        // Bootstrap discovery rules are held by every authenticated user.
        let disco = json!([{"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}]);
        assert!(confirm_no_escalation(&bot(), "ns", disco.as_array().unwrap(), &snap).is_ok());
    }

    #[test]
    fn bind_verb_and_missing_role() {
        let reg = crate::resources::Registry::with_builtins();
        let rbs = reg
            .get("rbac.authorization.k8s.io/rolebindings")
            .expect("rb");
        let mut snap = snap_with(json!([
            {"apiGroups": [GROUP], "resources": ["clusterroles"], "resourceNames": ["admin"], "verbs": ["bind"]}
        ]));
        snap.objects
            .entry(keys::CLUSTER_ROLES.into())
            .or_default()
            .push(std::sync::Arc::new(json!({"metadata": {"name": "admin"},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})));
        let binding = |role: &str| {
            json!({"metadata": {"name": "b", "namespace": "ns"},
                   "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
                   "subjects": [{"kind": "User", "name": "eve"}]})
        };
        check(&bot(), &rbs, &binding("admin"), None, &snap, None).expect("bind verb");
        let e = check(&bot(), &rbs, &binding("gone"), None, &snap, None).unwrap_err();
        assert_eq!(e.code, 404);
        assert_eq!(
            e.message,
            "clusterrole.rbac.authorization.k8s.io \"gone\" not found"
        );
    }
}
