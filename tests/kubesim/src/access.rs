//! The access log: which permission each request of a non-privileged user used, and every
//! refusal (HTTP 403), for proving that a role grants exactly what a program uses
//! (tests/chart_rbac.rs runs the operator as the chart's ServiceAccount and compares).
//!
//! Recorded, when RBAC is enforced, for every user outside `system:masters`:
//! - each resource request's authorization (allowed, or denied with the 403 message);
//! - the RBAC storage's `bind`/`escalate` checks ([`crate::escalation`]) that allowed a write,
//!   and every write those checks refused (a 403 after authorization allowed the request).
//!
//! Entries are aggregated by user, verb, resource and object (with a count), so a long run
//! keeps one entry per distinct access. [`AccessLog::unused`] breaks a role's rules down into
//! single permissions (group × resource × verb × resourceName) and returns those no allowed
//! access of the user matched.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::rbac::{Attributes, rule_allows};

/// What was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Check {
    /// The authorization of a request (the RBAC authorizer).
    Request,
    /// A `bind` or `escalate` check of the RBAC storage that allowed a write.
    Escalation,
    /// A write of an RBAC object the escalation checks refused (403).
    EscalationRefused,
}

/// One distinct access.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Access {
    pub user: String,
    pub check: Check,
    pub verb: String,
    pub api_group: String,
    /// The resource, or the URL path of a non-resource request.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub allowed: bool,
}

impl Access {
    fn of(attrs: &Attributes, check: Check, allowed: bool) -> Access {
        Access {
            user: attrs.user.username.clone(),
            check,
            verb: attrs.verb.clone(),
            api_group: attrs.api_group.clone(),
            resource: attrs.resource.clone(),
            subresource: attrs.subresource.clone().filter(|s| !s.is_empty()),
            namespace: attrs.namespace.clone().filter(|s| !s.is_empty()),
            name: attrs.name.clone().filter(|s| !s.is_empty()),
            allowed,
        }
    }

    /// `verb group/resource[/sub] [ns/name]` for people.
    pub fn describe(&self) -> String {
        let mut r = if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.api_group, self.resource)
        };
        if let Some(s) = &self.subresource {
            r = format!("{r}/{s}");
        }
        let obj = match (&self.namespace, &self.name) {
            (Some(ns), Some(n)) => format!(" {ns}/{n}"),
            (Some(ns), None) => format!(" in {ns}"),
            (None, Some(n)) => format!(" {n}"),
            (None, None) => String::new(),
        };
        format!("{} {r}{obj}", self.verb)
    }
}

/// An access with how often it happened and the first answer's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(flatten)]
    pub access: Access,
    pub count: u64,
    /// The 403 message of a refused access; for an allowed `bind`/`escalate` check the RBAC
    /// reason (`RBAC: allowed by ClusterRoleBinding ...`); empty for an allowed request.
    pub reason: String,
}

/// The access log of a server (see the module documentation).
#[derive(Debug, Default)]
pub struct AccessLog {
    entries: Mutex<BTreeMap<Access, (u64, String)>>,
}

fn privileged(attrs: &Attributes) -> bool {
    attrs.user.groups.iter().any(|g| g == "system:masters")
}

impl AccessLog {
    fn add(&self, access: Access, reason: &str) {
        if let Ok(mut m) = self.entries.lock() {
            let e = m.entry(access).or_insert_with(|| (0, reason.to_string()));
            e.0 += 1;
        }
    }

    /// Records the authorization of a request (users in `system:masters` are not recorded:
    /// they bypass RBAC).
    pub fn record_request(&self, attrs: &Attributes, allowed: bool, reason: &str) {
        if !privileged(attrs) {
            self.add(Access::of(attrs, Check::Request, allowed), reason);
        }
    }

    /// Records a `bind`/`escalate` check that allowed a write of an RBAC object.
    pub fn record_escalation(&self, attrs: &Attributes, reason: &str) {
        if !privileged(attrs) {
            self.add(Access::of(attrs, Check::Escalation, true), reason);
        }
    }

    /// Records a write of an RBAC object refused by the escalation checks (`attrs` is the write).
    pub fn record_escalation_refused(&self, attrs: &Attributes, message: &str) {
        if !privileged(attrs) {
            self.add(Access::of(attrs, Check::EscalationRefused, false), message);
        }
    }

    /// Every entry, sorted by user, check, verb and resource.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(a, (count, reason))| Entry {
                        access: a.clone(),
                        count: *count,
                        reason: reason.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The entries of `user`.
    pub fn entries_of(&self, user: &str) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| e.access.user == user)
            .collect()
    }

    /// Every refused access (403), of any user.
    pub fn denials(&self) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| !e.access.allowed)
            .collect()
    }

    /// Forgets everything.
    pub fn clear(&self) {
        if let Ok(mut m) = self.entries.lock() {
            m.clear();
        }
    }

    /// The permissions `rules` grant (see [`permissions`]) that no allowed access of `user`
    /// used.
    pub fn unused(&self, user: &str, rules: &[Value]) -> Vec<Permission> {
        let used: Vec<Access> = self
            .entries_of(user)
            .into_iter()
            .filter(|e| e.access.allowed)
            .map(|e| e.access)
            .collect();
        permissions(rules)
            .into_iter()
            .filter(|p| !used.iter().any(|a| p.matches(a)))
            .collect()
    }
}

/// A single permission: one verb on one resource (or URL) of one group, optionally of one name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub verb: String,
    pub api_group: String,
    /// `pods`, `deployments/scale`, or a non-resource URL (`/healthz`).
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

impl Permission {
    /// The single-permission PolicyRule.
    pub fn rule(&self) -> Value {
        if self.resource.starts_with('/') {
            return serde_json::json!({"verbs": [self.verb], "nonResourceURLs": [self.resource]});
        }
        let mut r = serde_json::json!({
            "verbs": [self.verb],
            "apiGroups": [self.api_group],
            "resources": [self.resource],
        });
        if let Some(n) = &self.resource_name {
            r["resourceNames"] = serde_json::json!([n]);
        }
        r
    }

    /// Whether `access` used this permission.
    pub fn matches(&self, access: &Access) -> bool {
        let attrs = Attributes {
            user: crate::auth::UserInfo::user(&access.user, &[]),
            verb: access.verb.clone(),
            api_group: access.api_group.clone(),
            resource: access.resource.clone(),
            subresource: access.subresource.clone(),
            namespace: access.namespace.clone(),
            name: access.name.clone(),
        };
        rule_allows(&self.rule(), &attrs)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.resource.starts_with('/') {
            return write!(f, "{} {}", self.verb, self.resource);
        }
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(f, "{} {group}/{}", self.verb, self.resource)?;
        if let Some(n) = &self.resource_name {
            write!(f, " (name {n})")?;
        }
        Ok(())
    }
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

/// The rules broken down into single permissions (RBAC's `BreakdownRule`, one level further:
/// one verb each), sorted and without duplicates. Wildcards stay as they are (`*`).
pub fn permissions(rules: &[Value]) -> Vec<Permission> {
    let mut out = Vec::new();
    for rule in rules {
        let verbs = strs(rule, "verbs");
        for url in strs(rule, "nonResourceURLs") {
            for v in &verbs {
                out.push(Permission {
                    verb: v.clone(),
                    api_group: String::new(),
                    resource: url.clone(),
                    resource_name: None,
                });
            }
        }
        let names = strs(rule, "resourceNames");
        let names: Vec<Option<String>> = if names.is_empty() {
            vec![None]
        } else {
            names.into_iter().map(Some).collect()
        };
        for g in strs(rule, "apiGroups") {
            for r in strs(rule, "resources") {
                for v in &verbs {
                    for n in &names {
                        out.push(Permission {
                            verb: v.clone(),
                            api_group: g.clone(),
                            resource: r.clone(),
                            resource_name: n.clone(),
                        });
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::UserInfo;
    use serde_json::json;

    fn attrs(user: &UserInfo, verb: &str, group: &str, res: &str, sub: Option<&str>) -> Attributes {
        Attributes {
            user: user.clone(),
            verb: verb.into(),
            api_group: group.into(),
            resource: res.into(),
            subresource: sub.map(String::from),
            namespace: Some("ns".into()),
            name: Some("x".into()),
        }
    }

    #[test]
    fn rules_break_down_into_single_permissions() {
        let p = permissions(&[
            json!({"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "patch"]}),
            json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["a", "b"], "verbs": ["get"]}),
            json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}),
            json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}),
        ]);
        let shown: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "get /metrics",
                "get apps/deployments",
                "get apps/deployments/scale",
                "get coordination.k8s.io/leases (name a)",
                "get coordination.k8s.io/leases (name b)",
                "patch apps/deployments",
                "patch apps/deployments/scale",
            ]
        );
    }

    #[test]
    fn unused_lists_what_no_allowed_access_matched() {
        let log = AccessLog::default();
        let bot = UserInfo::service_account("ns", "bot", "u1");
        let other = UserInfo::service_account("ns", "other", "u2");
        log.record_request(
            &attrs(&bot, "get", "apps", "deployments", Some("scale")),
            true,
            "",
        );
        log.record_request(
            &attrs(&bot, "get", "apps", "deployments", Some("scale")),
            true,
            "",
        );
        // a denied access uses nothing; another user's access is not this user's
        log.record_request(
            &attrs(&bot, "patch", "apps", "deployments", Some("scale")),
            false,
            "no",
        );
        log.record_request(&attrs(&other, "get", "apps", "deployments", None), true, "");
        let rules = [
            json!({"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "patch"]}),
        ];
        let unused: Vec<String> = log
            .unused(&bot.username, &rules)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            unused,
            [
                "get apps/deployments",
                "patch apps/deployments",
                "patch apps/deployments/scale"
            ]
        );
        let entries = log.entries_of(&bot.username);
        assert_eq!(entries.len(), 2, "aggregated by access: {entries:?}");
        assert_eq!(entries[0].count, 2);
        assert_eq!(log.denials().len(), 1);
        assert_eq!(
            log.denials()[0].access.describe(),
            "patch apps/deployments/scale ns/x"
        );
    }

    #[test]
    fn privileged_users_are_not_recorded() {
        let log = AccessLog::default();
        let admin = UserInfo::user("admin", &["system:masters"]);
        log.record_request(&attrs(&admin, "get", "", "pods", None), true, "");
        log.record_escalation_refused(
            &attrs(
                &admin,
                "create",
                "rbac.authorization.k8s.io",
                "rolebindings",
                None,
            ),
            "x",
        );
        assert!(log.entries().is_empty());
        let bot = UserInfo::service_account("ns", "bot", "u1");
        log.record_escalation(
            &attrs(
                &bot,
                "bind",
                "rbac.authorization.k8s.io",
                "clusterroles",
                None,
            ),
            "RBAC: allowed",
        );
        log.record_escalation_refused(
            &attrs(
                &bot,
                "update",
                "rbac.authorization.k8s.io",
                "rolebindings",
                None,
            ),
            "attempting to grant",
        );
        assert_eq!(log.entries().len(), 2);
        assert_eq!(log.denials().len(), 1);
        assert_eq!(log.denials()[0].access.check, Check::EscalationRefused);
        log.clear();
        assert!(log.entries().is_empty());
    }
}
