//! Kubernetes `LabelSelector` matching (`matchLabels` + `matchExpressions` with `In`, `NotIn`,
//! `Exists`, `DoesNotExist`), validated once and then matched without allocation.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::error::FieldError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A validated label selector. An empty selector matches every label set (as in Kubernetes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelectorMatcher {
    requirements: Vec<Requirement>,
}

impl LabelSelectorMatcher {
    /// Validate `selector`; `field` is its path in the enclosing object (used in errors, e.g.
    /// `spec.match.podSelector`). Every problem is reported, each naming its field.
    pub fn new(
        selector: &LabelSelector,
        field: &str,
    ) -> Result<LabelSelectorMatcher, Vec<FieldError>> {
        let mut requirements = Vec::new();
        let mut errors = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            if k.is_empty() {
                errors.push(FieldError::new(
                    format!("{field}.matchLabels"),
                    "empty label key",
                ));
            }
            requirements.push(Requirement::Equals(k.clone(), v.clone()));
        }
        for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
            let at = format!("{field}.matchExpressions[{i}]");
            if e.key.is_empty() {
                errors.push(FieldError::new(format!("{at}.key"), "empty label key"));
            }
            let values = e.values.clone().unwrap_or_default();
            match e.operator.as_str() {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        errors.push(FieldError::new(
                            format!("{at}.values"),
                            format!("operator {} needs at least one value", e.operator),
                        ));
                    }
                    requirements.push(if e.operator == "In" {
                        Requirement::In(e.key.clone(), values)
                    } else {
                        Requirement::NotIn(e.key.clone(), values)
                    });
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        errors.push(FieldError::new(
                            format!("{at}.values"),
                            format!("operator {} takes no values", e.operator),
                        ));
                    }
                    requirements.push(if e.operator == "Exists" {
                        Requirement::Exists(e.key.clone())
                    } else {
                        Requirement::DoesNotExist(e.key.clone())
                    });
                }
                other => errors.push(FieldError::new(
                    format!("{at}.operator"),
                    format!(
                        "invalid operator {other:?} (expected In, NotIn, Exists or DoesNotExist)"
                    ),
                )),
            }
        }
        if errors.is_empty() {
            Ok(LabelSelectorMatcher { requirements })
        } else {
            Err(errors)
        }
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
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
