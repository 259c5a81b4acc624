//! RBAC authorisation (plugin/pkg/auth/authorizer/rbac), over the Roles, ClusterRoles,
//! RoleBindings and ClusterRoleBindings held in the store.
//!
//! - Members of `system:masters` are allowed everything (the privileged-group authorizer that
//!   precedes RBAC in a real API server).
//! - ClusterRoleBindings apply everywhere; RoleBindings only to requests in their namespace and may
//!   reference a Role of that namespace or a ClusterRole. Subjects: User (by name), Group,
//!   ServiceAccount (`system:serviceaccount:<ns>:<name>`, the namespace defaulting to the binding's).
//! - A rule allows when verb, API group, resource (`pods`, `pods/eviction`, `*`, `*/scale`),
//!   resourceNames (when set, only requests naming one of them) match; non-resource rules
//!   (`nonResourceURLs`, exact or `prefix*`) apply to requests whose [`Attributes::resource`] is a
//!   path starting with `/` (and with an empty API group), with the lowercase HTTP verb.
//! - The bootstrap bindings a fresh cluster has are always in effect (implicitly, not stored):
//!   `system:discovery`, `system:public-info-viewer` and `system:basic-user` for authenticated users
//!   (and public-info-viewer for `system:unauthenticated`). The user-facing bootstrap ClusterRoles
//!   (`cluster-admin`, `admin`, `edit`, `view` and their `system:aggregate-to-*` sources) are stored
//!   objects seeded at start (`bootstrap.rs`); `admin`/`edit`/`view` get their rules from the
//!   ClusterRole aggregation controller. `cluster-admin`, when referenced but not stored, still
//!   means everything.
//! - [`decide`] gives the decision with the RBAC authorizer's reason (`RBAC: allowed by
//!   RoleBinding "b/ns" of Role "r" to ServiceAccount "sa/ns"`) for SubjectAccessReviews;
//!   [`rules_for`] the rules a user holds (SelfSubjectRulesReview, escalation checks).
//! - A denial returns the message `forbiddenMessage` + `apierrors.NewForbidden` produce, with the
//!   RBAC reason (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`) when a binding that
//!   applies references a missing role.

use serde_json::{Value, json};

use crate::auth::{UserInfo, service_account_username};
use crate::controllers::{Snapshot, keys, obj_name, obj_namespace};

/// The request being authorised (`authorizer.Attributes`). For a non-resource request, set
/// `resource` to the URL path (starting with `/`), `api_group` to "" and `verb` to the lowercase
/// HTTP method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Attributes {
    pub fn is_resource_request(&self) -> bool {
        !self.resource.starts_with('/')
    }
}

/// Allowed → Ok; denied → Err(the 403 message).
pub fn authorize(attrs: &Attributes, snap: &Snapshot) -> Result<(), String> {
    let d = decide(attrs, snap);
    if d.allowed {
        return Ok(());
    }
    let mut msg = forbidden_message(attrs);
    if !d.reason.is_empty() {
        msg = format!("{msg}: {}", d.reason);
    }
    Err(msg)
}

/// An authorizer's decision, as a SubjectAccessReview reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"` when allowed by a
    /// binding; `RBAC: <resolution errors>` when denied with errors; empty otherwise (and for
    /// `system:masters`, allowed by the privileged-group authorizer without a reason).
    pub reason: String,
}

/// A source of rules for a user: the binding that grants them (`VisitRulesFor`'s describer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// `ClusterRoleBinding "b" of ClusterRole "r" to Group "g"` (the describer's String()).
    pub describe: String,
    pub rules: Vec<Value>,
}

/// `subject` as `describeSubject` prints it.
fn describe_subject(s: &Value, binding_ns: &str) -> String {
    let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    if kind == "ServiceAccount" {
        let ns = s
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_ns);
        return format!("{kind} {:?}", format!("{name}/{ns}"));
    }
    format!("{kind} {name:?}")
}

/// `DefaultRuleResolver.VisitRulesFor`: every rule that applies to `user` in `namespace` (the
/// cluster-wide bindings, then the RoleBindings of `namespace`), with the bootstrap bindings a
/// fresh cluster has first; and the resolution errors (bindings to missing roles).
pub fn rule_sources(
    user: &UserInfo,
    namespace: &str,
    snap: &Snapshot,
) -> (Vec<RuleSource>, Vec<String>) {
    let mut out = bootstrap_sources(user);
    let mut errors = Vec::new();
    for crb in snap.list(keys::CLUSTER_ROLE_BINDINGS) {
        let Some(subject) = applying_subject(crb, user, "") else {
            continue;
        };
        match role_rules(crb, snap, None) {
            Ok(rules) => out.push(RuleSource {
                describe: format!(
                    "ClusterRoleBinding {:?} of {} {:?} to {}",
                    obj_name(crb),
                    str_field(crb, "/roleRef/kind"),
                    str_field(crb, "/roleRef/name"),
                    describe_subject(subject, "")
                ),
                rules,
            }),
            Err(e) => errors.push(e),
        }
    }
    if !namespace.is_empty() {
        for rb in snap.list(keys::ROLE_BINDINGS) {
            if obj_namespace(rb) != Some(namespace) {
                continue;
            }
            let Some(subject) = applying_subject(rb, user, namespace) else {
                continue;
            };
            match role_rules(rb, snap, Some(namespace)) {
                Ok(rules) => out.push(RuleSource {
                    describe: format!(
                        "RoleBinding {:?} of {} {:?} to {}",
                        format!("{}/{namespace}", obj_name(rb)),
                        str_field(rb, "/roleRef/kind"),
                        str_field(rb, "/roleRef/name"),
                        describe_subject(subject, namespace)
                    ),
                    rules,
                }),
                Err(e) => errors.push(e),
            }
        }
    }
    (out, errors)
}

/// `RulesFor`: the rules of [`rule_sources`], flattened, and the aggregated resolution error.
pub fn rules_for(
    user: &UserInfo,
    namespace: &str,
    snap: &Snapshot,
) -> (Vec<Value>, Option<String>) {
    let (sources, errors) = rule_sources(user, namespace, snap);
    let rules = sources.into_iter().flat_map(|s| s.rules).collect();
    let err = (!errors.is_empty()).then(|| aggregate(&errors));
    (rules, err)
}

/// The RBAC authorizer's decision (`RBACAuthorizer.Authorize`), with `system:masters` allowed
/// first as the apiserver's privileged-group authorizer does.
pub fn decide(attrs: &Attributes, snap: &Snapshot) -> Decision {
    if attrs.user.groups.iter().any(|g| g == "system:masters") {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let ns = attrs.namespace.as_deref().unwrap_or("");
    let (sources, errors) = rule_sources(&attrs.user, ns, snap);
    for s in &sources {
        if s.rules.iter().any(|r| rule_allows(r, attrs)) {
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", s.describe),
            };
        }
    }
    Decision {
        allowed: false,
        reason: if errors.is_empty() {
            String::new()
        } else {
            format!("RBAC: {}", aggregate(&errors))
        },
    }
}

fn str_field<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several deduplicated in brackets.
pub fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&String> = Vec::new();
    for e in errors {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    if seen.len() == 1 {
        seen[0].clone()
    } else {
        format!(
            "[{}]",
            seen.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// `forbiddenMessage` wrapped by `apierrors.NewForbidden`:
/// `pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "ns"`.
pub fn forbidden_message(attrs: &Attributes) -> String {
    let user = &attrs.user.username;
    if !attrs.is_resource_request() {
        return format!(
            "forbidden: User {user:?} cannot {} path {:?}",
            attrs.verb, attrs.resource
        );
    }
    let mut resource = attrs.resource.clone();
    if let Some(s) = attrs.subresource.as_deref().filter(|s| !s.is_empty()) {
        resource = format!("{resource}/{s}");
    }
    let inner = match attrs.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {ns:?}",
            attrs.verb, attrs.api_group
        ),
        None => format!(
            "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
            attrs.verb, attrs.api_group
        ),
    };
    let gr = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    match attrs.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => format!("{gr} {n:?} is forbidden: {inner}"),
        None => format!("{gr} is forbidden: {inner}"),
    }
}

/// The full 403 `metav1.Status` body for a denial message from [`authorize`].
pub fn forbidden_status(attrs: &Attributes, message: &str) -> Value {
    let mut details = json!({});
    if attrs.is_resource_request() {
        details["group"] = json!(attrs.api_group);
        details["kind"] = json!(attrs.resource);
        if let Some(n) = attrs.name.as_deref().filter(|n| !n.is_empty()) {
            details["name"] = json!(n);
        }
    }
    crate::status::failure(403, "Forbidden", message, Some(details))
}

fn applies(binding: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    applying_subject(binding, user, binding_ns).is_some()
}

/// The first subject of `binding` that is `user` (`appliesTo`).
fn applying_subject<'a>(
    binding: &'a Value,
    user: &UserInfo,
    binding_ns: &str,
) -> Option<&'a Value> {
    let subjects = binding.get("subjects").and_then(Value::as_array)?;
    subjects.iter().find(|s| {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        match kind {
            "User" => user.username == name,
            "Group" => user.groups.iter().any(|g| g == name),
            "ServiceAccount" => {
                let ns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(binding_ns);
                !ns.is_empty() && user.username == service_account_username(ns, name)
            }
            _ => false,
        }
    })
}

fn role_rules(binding: &Value, snap: &Snapshot, ns: Option<&str>) -> Result<Vec<Value>, String> {
    let kind = binding
        .pointer("/roleRef/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = binding
        .pointer("/roleRef/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    role_ref_rules(kind, name, ns, snap)
}

/// `GetRoleReferenceRules`: the rules of the Role (in `ns`) or ClusterRole `name`; Err(the lister's
/// NotFound message) when it does not exist.
pub fn role_ref_rules(
    kind: &str,
    name: &str,
    ns: Option<&str>,
    snap: &Snapshot,
) -> Result<Vec<Value>, String> {
    let found = match (kind, ns) {
        ("Role", Some(ns)) => snap.get(keys::ROLES, Some(ns), name),
        ("ClusterRole", _) => snap.get(keys::CLUSTER_ROLES, None, name),
        _ => None,
    };
    match found {
        Some(r) => Ok(r
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()),
        None if kind == "ClusterRole" && name == "cluster-admin" => Ok(cluster_admin_rules()),
        None if kind == "Role" => Err(format!("role.rbac.authorization.k8s.io {name:?} not found")),
        None => Err(format!(
            "clusterrole.rbac.authorization.k8s.io {name:?} not found"
        )),
    }
}

/// The rules of `cluster-admin` (`fullAuthority`).
pub fn cluster_admin_rules() -> Vec<Value> {
    vec![
        json!({"apiGroups":["*"],"resources":["*"],"verbs":["*"]}),
        json!({"nonResourceURLs":["*"],"verbs":["*"]}),
    ]
}

/// The bootstrap ClusterRoleBindings every cluster has for (un)authenticated users, as rule
/// sources (they are not stored objects in kubesim).
fn bootstrap_sources(user: &UserInfo) -> Vec<RuleSource> {
    let authenticated = user.groups.iter().any(|g| g == "system:authenticated");
    let unauthenticated = user.groups.iter().any(|g| g == "system:unauthenticated");
    let mut out = Vec::new();
    let src = |role: &str, group: &str, rules: Vec<Value>| RuleSource {
        describe: format!("ClusterRoleBinding {role:?} of ClusterRole {role:?} to Group {group:?}"),
        rules,
    };
    if authenticated {
        out.push(src(
            "system:basic-user",
            "system:authenticated",
            vec![
                json!({"apiGroups":["authorization.k8s.io"],"resources":["selfsubjectaccessreviews","selfsubjectrulesreviews"],"verbs":["create"]}),
                json!({"apiGroups":["authentication.k8s.io"],"resources":["selfsubjectreviews"],"verbs":["create"]}),
            ],
        ));
        out.push(src(
            "system:discovery",
            "system:authenticated",
            vec![json!({"nonResourceURLs":["/api","/api/*","/apis","/apis/*","/healthz","/livez","/openapi","/openapi/*","/readyz","/version","/version/"],"verbs":["get"]})],
        ));
    }
    if authenticated || unauthenticated {
        out.push(src(
            "system:public-info-viewer",
            if authenticated {
                "system:authenticated"
            } else {
                "system:unauthenticated"
            },
            vec![json!({"nonResourceURLs":["/healthz","/livez","/readyz","/version","/version/"],"verbs":["get"]})],
        ));
    }
    out
}

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

/// `RuleAllows` / `NonResourceURLMatches`.
pub fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    let verbs = strs(rule, "verbs");
    if !verbs.iter().any(|v| v == "*" || *v == attrs.verb) {
        return false;
    }
    if !attrs.is_resource_request() {
        return strs(rule, "nonResourceURLs").iter().any(|u| {
            u == "*"
                || *u == attrs.resource
                || u.strip_suffix('*')
                    .is_some_and(|p| attrs.resource.starts_with(p))
        });
    }
    let groups = strs(rule, "apiGroups");
    if !groups.iter().any(|g| g == "*" || *g == attrs.api_group) {
        return false;
    }
    let sub = attrs.subresource.as_deref().filter(|s| !s.is_empty());
    let combined = match sub {
        Some(s) => format!("{}/{s}", attrs.resource),
        None => attrs.resource.clone(),
    };
    let resources = strs(rule, "resources");
    let resource_ok = resources.iter().any(|r| {
        r == "*" || *r == combined || sub.is_some_and(|s| r.strip_prefix("*/") == Some(s))
    });
    if !resource_ok {
        return false;
    }
    let names = strs(rule, "resourceNames");
    names.is_empty()
        || attrs
            .name
            .as_deref()
            .is_some_and(|n| names.iter().any(|x| x == n))
}

/// Names of the Roles/ClusterRoles bound to the user (diagnostics).
pub fn bound_role_names(user: &UserInfo, snap: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for crb in snap.list(keys::CLUSTER_ROLE_BINDINGS) {
        if applies(crb, user, "") {
            out.push(format!(
                "{} (ClusterRoleBinding {})",
                crb.pointer("/roleRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                obj_name(crb)
            ));
        }
    }
    for rb in snap.list(keys::ROLE_BINDINGS) {
        let ns = obj_namespace(rb).unwrap_or("");
        if applies(rb, user, ns) {
            out.push(format!(
                "{} (RoleBinding {ns}/{})",
                rb.pointer("/roleRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                obj_name(rb)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa_user() -> UserInfo {
        UserInfo::service_account("ns", "bot", "u1")
    }

    fn attrs(
        verb: &str,
        group: &str,
        res: &str,
        sub: Option<&str>,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Attributes {
        Attributes {
            user: sa_user(),
            verb: verb.into(),
            api_group: group.into(),
            resource: res.into(),
            subresource: sub.map(str::to_string),
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
        }
    }

    fn snap() -> Snapshot {
        Snapshot::from_objects([
            (
                keys::ROLES,
                json!({"kind":"Role","metadata":{"name":"pod-reader","namespace":"ns"},
                "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]},
                         {"apiGroups":[""],"resources":["configmaps"],"resourceNames":["cfg"],"verbs":["get"]}]}),
            ),
            (
                keys::ROLE_BINDINGS,
                json!({"kind":"RoleBinding","metadata":{"name":"rb","namespace":"ns"},
                "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"pod-reader"},
                "subjects":[{"kind":"ServiceAccount","name":"bot"}]}),
            ),
            (
                keys::CLUSTER_ROLES,
                json!({"kind":"ClusterRole","metadata":{"name":"evictor"},
                "rules":[{"apiGroups":[""],"resources":["pods/eviction"],"verbs":["create"]},
                         {"apiGroups":["apps"],"resources":["*/scale"],"verbs":["update"]},
                         {"nonResourceURLs":["/metrics","/debug/*"],"verbs":["get"]}]}),
            ),
            (
                keys::CLUSTER_ROLE_BINDINGS,
                json!({"kind":"ClusterRoleBinding","metadata":{"name":"crb"},
                "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"evictor"},
                "subjects":[{"kind":"Group","name":"system:serviceaccounts:ns"}]}),
            ),
        ])
    }

    #[test]
    fn role_binding_grants_in_namespace_only() {
        let s = snap();
        assert!(authorize(&attrs("list", "", "pods", None, Some("ns"), None), &s).is_ok());
        assert!(authorize(&attrs("get", "", "pods", None, Some("ns"), Some("p")), &s).is_ok());
        assert_eq!(
            authorize(&attrs("list", "", "pods", None, Some("other"), None), &s).unwrap_err(),
            "pods is forbidden: User \"system:serviceaccount:ns:bot\" cannot list resource \"pods\" in API group \"\" in the namespace \"other\""
        );
        assert_eq!(
            authorize(
                &attrs("delete", "", "pods", None, Some("ns"), Some("x")),
                &s
            )
            .unwrap_err(),
            "pods \"x\" is forbidden: User \"system:serviceaccount:ns:bot\" cannot delete resource \"pods\" in API group \"\" in the namespace \"ns\""
        );
    }

    #[test]
    fn resource_names_subresources_and_cluster_scope() {
        let s = snap();
        assert!(
            authorize(
                &attrs("get", "", "configmaps", None, Some("ns"), Some("cfg")),
                &s
            )
            .is_ok()
        );
        assert!(
            authorize(
                &attrs("get", "", "configmaps", None, Some("ns"), Some("other")),
                &s
            )
            .is_err()
        );
        assert!(authorize(&attrs("list", "", "configmaps", None, Some("ns"), None), &s).is_err());
        assert!(
            authorize(
                &attrs(
                    "create",
                    "",
                    "pods",
                    Some("eviction"),
                    Some("any"),
                    Some("p")
                ),
                &s
            )
            .is_ok()
        );
        assert!(
            authorize(
                &attrs(
                    "update",
                    "apps",
                    "deployments",
                    Some("scale"),
                    Some("ns"),
                    Some("d")
                ),
                &s
            )
            .is_ok()
        );
        assert!(
            authorize(
                &attrs("update", "apps", "deployments", None, Some("ns"), Some("d")),
                &s
            )
            .is_err()
        );
        let e = authorize(
            &attrs(
                "create",
                "",
                "pods",
                Some("eviction"),
                Some("ns"),
                Some("p"),
            ),
            &Snapshot::default(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "pods \"p\" is forbidden: User \"system:serviceaccount:ns:bot\" cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"ns\""
        );
        let e = authorize(&attrs("list", "", "nodes", None, None, None), &s).unwrap_err();
        assert_eq!(e, "nodes is forbidden: User \"system:serviceaccount:ns:bot\" cannot list resource \"nodes\" at the cluster scope".replace("\"nodes\" at", "\"nodes\" in API group \"\" at"));
        let e = authorize(
            &attrs("get", "apps", "deployments", None, None, Some("d")),
            &s,
        )
        .unwrap_err();
        assert!(e.starts_with("deployments.apps \"d\" is forbidden: "));
    }

    #[test]
    fn non_resource_and_bootstrap() {
        let s = snap();
        assert!(authorize(&attrs("get", "", "/metrics", None, None, None), &s).is_ok());
        assert!(authorize(&attrs("get", "", "/debug/pprof", None, None, None), &s).is_ok());
        assert!(
            authorize(
                &attrs("get", "", "/apis/apps/v1", None, None, None),
                &Snapshot::default()
            )
            .is_ok()
        );
        assert!(
            authorize(
                &attrs(
                    "create",
                    "authorization.k8s.io",
                    "selfsubjectaccessreviews",
                    None,
                    None,
                    None
                ),
                &Snapshot::default()
            )
            .is_ok()
        );
        assert_eq!(
            authorize(&attrs("post", "", "/metrics", None, None, None), &s).unwrap_err(),
            "forbidden: User \"system:serviceaccount:ns:bot\" cannot post path \"/metrics\""
        );
    }

    #[test]
    fn masters_and_missing_roles() {
        let mut a = attrs("delete", "", "nodes", None, None, Some("n"));
        a.user = UserInfo::user("admin", &["system:masters"]);
        assert!(authorize(&a, &Snapshot::default()).is_ok());
        let s = Snapshot::from_objects([(
            keys::CLUSTER_ROLE_BINDINGS,
            json!({"metadata":{"name":"x"},
            "roleRef":{"kind":"ClusterRole","name":"gone"},"subjects":[{"kind":"User","name":"alice"}]}),
        )]);
        let mut a = attrs("list", "", "pods", None, Some("ns"), None);
        a.user = UserInfo::user("alice", &[]);
        assert_eq!(
            authorize(&a, &s).unwrap_err(),
            "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"ns\": RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found"
        );
        let s = Snapshot::from_objects([(
            keys::CLUSTER_ROLE_BINDINGS,
            json!({"metadata":{"name":"x"},
            "roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"alice"}]}),
        )]);
        assert!(authorize(&a, &s).is_ok());
        let st = forbidden_status(
            &attrs("get", "apps", "deployments", None, Some("ns"), Some("d")),
            "m",
        );
        assert_eq!(
            st["details"],
            json!({"group":"apps","kind":"deployments","name":"d"})
        );
        assert_eq!(st["code"], 403);
    }
}
