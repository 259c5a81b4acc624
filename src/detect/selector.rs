//! Kubernetes `LabelSelector` matching (`matchLabels` + `matchExpressions` with `In`, `NotIn`,
//! `Exists`, `DoesNotExist`): validated once with errors that name the field, then matched
//! by kube's own [`Selector`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

use super::error::FieldError;
use super::glob::{Case, Glob};

/// A validated label selector, matched by [`kube::core::Selector`]. An empty selector matches
/// every label set (as in Kubernetes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelectorMatcher {
    selector: Selector,
}

impl LabelSelectorMatcher {
    /// Validate `selector` as the API server does (kube's conversion alone accepts `In`
    /// without values); `field` is its path in the enclosing object (used in errors, e.g.
    /// `spec.match.podSelector`). Every problem is reported, each naming its field.
    pub fn new(
        selector: &LabelSelector,
        field: &str,
    ) -> Result<LabelSelectorMatcher, Vec<FieldError>> {
        let mut errors = Vec::new();
        for (k, _) in selector.match_labels.iter().flatten() {
            if k.is_empty() {
                errors.push(FieldError::new(
                    format!("{field}.matchLabels"),
                    "empty label key",
                ));
            }
        }
        for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
            let at = format!("{field}.matchExpressions[{i}]");
            if e.key.is_empty() {
                errors.push(FieldError::new(format!("{at}.key"), "empty label key"));
            }
            let n = e.values.as_ref().map_or(0, Vec::len);
            match e.operator.as_str() {
                "In" | "NotIn" if n == 0 => errors.push(FieldError::new(
                    format!("{at}.values"),
                    format!("operator {} needs at least one value", e.operator),
                )),
                "Exists" | "DoesNotExist" if n > 0 => errors.push(FieldError::new(
                    format!("{at}.values"),
                    format!("operator {} takes no values", e.operator),
                )),
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => errors.push(FieldError::new(
                    format!("{at}.operator"),
                    format!(
                        "invalid operator {other:?} (expected In, NotIn, Exists or DoesNotExist)"
                    ),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Selector::try_from(selector.clone())
            .map(|selector| LabelSelectorMatcher { selector })
            .map_err(|e| vec![FieldError::new(field, e.to_string())])
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector.matches(labels)
    }
}

/// One-shot: validate `selector` and match it against `labels`.
pub fn label_selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
    field: &str,
) -> Result<bool, Vec<FieldError>> {
    Ok(LabelSelectorMatcher::new(selector, field)?.matches(labels))
}

/// A compiled [`WorkloadSelector`](crate::api::WorkloadSelector): namespace (exact), kind of
/// the top-level owner, a glob over its name, and optionally pod labels that narrow it.
#[derive(Clone, Debug)]
pub struct WorkloadMatcher {
    namespace: String,
    kind: Option<String>,
    name: Option<Glob>,
    pods: Option<LabelSelectorMatcher>,
}

impl WorkloadMatcher {
    /// Validate `sel`; `field` is its path (`spec.match.exempt[0]`).
    pub fn new(
        sel: &crate::api::WorkloadSelector,
        field: &str,
    ) -> Result<WorkloadMatcher, Vec<FieldError>> {
        let mut errors = Vec::new();
        if sel.namespace.trim().is_empty() {
            errors.push(FieldError::new(
                format!("{field}.namespace"),
                "must name a namespace",
            ));
        }
        let name = match sel.name.as_deref() {
            None => None,
            Some(glob) => match Glob::new(glob, Case::Sensitive) {
                Ok(g) => Some(g),
                Err(e) => {
                    errors.push(FieldError::new(
                        format!("{field}.name"),
                        format!("invalid glob: {e}"),
                    ));
                    None
                }
            },
        };
        let pods = match &sel.pod_selector {
            None => None,
            Some(s) => match LabelSelectorMatcher::new(s, &format!("{field}.podSelector")) {
                Ok(m) => Some(m),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(WorkloadMatcher {
            namespace: sel.namespace.clone(),
            kind: sel.kind.clone(),
            name,
            pods,
        })
    }

    /// Whether the workload `kind/name` in `namespace`, whose pod carries `pod_labels`, is
    /// selected. Labels only narrow: a selector always names the namespace.
    pub fn matches(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
        pod_labels: &BTreeMap<String, String>,
    ) -> bool {
        self.namespace == namespace
            && self.kind.as_deref().is_none_or(|k| k == kind)
            && self.name.as_ref().is_none_or(|g| g.is_match(name))
            && self.pods.as_ref().is_none_or(|p| p.matches(pod_labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|v| v.to_string()).collect())
            },
        }
    }

    #[test]
    fn workload_matcher_needs_the_namespace_and_labels_only_narrow() {
        let sel = crate::api::WorkloadSelector {
            namespace: "kube-system".into(),
            kind: Some("DaemonSet".into()),
            name: Some("calico-*".into()),
            pod_selector: Some(LabelSelector {
                match_labels: Some([("k8s-app".to_string(), "calico-node".to_string())].into()),
                ..Default::default()
            }),
        };
        let m = WorkloadMatcher::new(&sel, "spec.response.protect[0]").unwrap();
        let l = labels(&[("k8s-app", "calico-node")]);
        assert!(m.matches("kube-system", "DaemonSet", "calico-node", &l));
        assert!(!m.matches("default", "DaemonSet", "calico-node", &l));
        assert!(!m.matches("kube-system", "Deployment", "calico-node", &l));
        assert!(!m.matches("kube-system", "DaemonSet", "miner", &l));
        assert!(!m.matches("kube-system", "DaemonSet", "calico-node", &labels(&[])));
        let bad = crate::api::WorkloadSelector {
            namespace: "x".into(),
            name: Some("a[".into()),
            ..Default::default()
        };
        let e = WorkloadMatcher::new(&bad, "spec.match.exempt[2]").unwrap_err();
        assert_eq!(e[0].field, "spec.match.exempt[2].name");
    }

    #[test]
    fn empty_selector_matches_everything() {
        let m = LabelSelectorMatcher::new(&LabelSelector::default(), "s").unwrap();
        assert!(m.matches(&labels(&[])));
        assert!(m.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("team", "ml")])),
            match_expressions: Some(vec![
                expr("env", "In", &["prod", "staging"]),
                expr("tier", "NotIn", &["batch"]),
                expr("owner", "Exists", &[]),
                expr("legacy", "DoesNotExist", &[]),
            ]),
        };
        let m = LabelSelectorMatcher::new(&sel, "spec.match.podSelector").unwrap();
        assert!(m.matches(&labels(&[("team", "ml"), ("env", "prod"), ("owner", "x")])));
        assert!(!m.matches(&labels(&[("team", "web"), ("env", "prod"), ("owner", "x")])));
        assert!(!m.matches(&labels(&[("team", "ml"), ("env", "dev"), ("owner", "x")])));
        assert!(!m.matches(&labels(&[
            ("team", "ml"),
            ("env", "prod"),
            ("owner", "x"),
            ("tier", "batch")
        ])));
        assert!(!m.matches(&labels(&[("team", "ml"), ("env", "prod")])));
        assert!(!m.matches(&labels(&[
            ("team", "ml"),
            ("env", "prod"),
            ("owner", "x"),
            ("legacy", "1")
        ])));
        // NotIn is satisfied by an absent key.
        assert!(m.matches(&labels(&[
            ("team", "ml"),
            ("env", "staging"),
            ("owner", "y")
        ])));
    }

    #[test]
    fn invalid_operator_and_values_name_the_field() {
        let sel = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![
                expr("a", "Equals", &["x"]),
                expr("b", "In", &[]),
                expr("c", "Exists", &["v"]),
            ]),
        };
        let errs = LabelSelectorMatcher::new(&sel, "spec.match.podSelector").unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.match.podSelector.matchExpressions[0].operator",
                "spec.match.podSelector.matchExpressions[1].values",
                "spec.match.podSelector.matchExpressions[2].values",
            ]
        );
        assert!(errs[0].message.contains("Equals"));
    }

    #[test]
    fn one_shot_helper() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("a", "1")])),
            match_expressions: None,
        };
        assert_eq!(
            label_selector_matches(&sel, &labels(&[("a", "1")]), "s"),
            Ok(true)
        );
        assert_eq!(
            label_selector_matches(&sel, &labels(&[("a", "2")]), "s"),
            Ok(false)
        );
    }
}
