//! Several policies evaluated together, with attribution: every finding says which
//! policies produced it, and the verdict says which policies matched.

use std::collections::HashMap;

use super::view::{EvalContext, PodView};
use super::{CompiledPolicy, Finding};
use crate::api::Severity;

/// The compiled policies, evaluated together. Cloning shares the compiled automata.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    policies: Vec<CompiledPolicy>,
}

/// A node signal read from the labels of the node the pod runs on (not from the pod's own
/// node selection): its field is the pod's `nodeName`.
pub fn is_placement_context(f: &Finding) -> bool {
    f.category == crate::api::Category::Node
        && (f.field == "nodeName" || f.field.ends_with(".nodeName"))
}

/// What a pod's evaluation found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Findings of every policy that applies, deduplicated by rule, container and field
    /// (each lists every policy that produced it; the most severe is kept), most severe
    /// first.
    pub findings: Vec<Finding>,
    /// Names of the policies that produced at least one finding, in set order.
    pub policies: Vec<String>,
}

impl Verdict {
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    /// Highest severity, if any finding. Look-alike registry findings are already raised
    /// (see [`incident_severity`](Self::incident_severity)), so this is the incident's
    /// severity for verdicts made by [`PolicySet::evaluate`].
    pub fn severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The incident's severity with the look-alike registry rule applied to whatever
    /// findings the verdict holds (also ones merged from elsewhere): a look-alike registry
    /// account or host (`builtin/lookalike-registry/...`, medium on its own) raises the
    /// severity of the other signals by one level, at most to High.
    pub fn incident_severity(&self) -> Option<Severity> {
        let others = self
            .findings
            .iter()
            .filter(|f| !super::is_lookalike(f))
            .map(|f| f.severity)
            .max();
        let lookalike = self.findings.iter().any(super::is_lookalike);
        match (others, lookalike) {
            (Some(o), true) => Some(o.max(Severity::Medium).raised(Severity::High).max(o)),
            (Some(o), false) => Some(o),
            (None, true) => Some(Severity::Medium),
            (None, false) => None,
        }
    }

    /// Whether the verdict holds a look-alike registry finding.
    pub fn has_lookalike(&self) -> bool {
        self.findings.iter().any(super::is_lookalike)
    }
}

impl PolicySet {
    pub fn new(policies: Vec<CompiledPolicy>) -> PolicySet {
        PolicySet { policies }
    }

    pub fn policies(&self) -> &[CompiledPolicy] {
        &self.policies
    }

    pub fn get(&self, name: &str) -> Option<&CompiledPolicy> {
        self.policies.iter().find(|p| p.name() == name)
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn names(&self) -> Vec<String> {
        self.policies.iter().map(|p| p.name().to_string()).collect()
    }

    /// Evaluates every policy that applies to the pod.
    pub fn evaluate(&self, view: &PodView, ctx: &EvalContext<'_>) -> Verdict {
        let mut verdict = Verdict::default();
        // (rule, container, field) -> index in findings
        let mut index: HashMap<(String, Option<String>, String), usize> = HashMap::new();
        for policy in &self.policies {
            if !policy.applies_to(view, ctx) {
                continue;
            }
            let found = policy.evaluate(view, ctx);
            if found.is_empty() {
                continue;
            }
            let name = policy.name().to_string();
            verdict.policies.push(name.clone());
            for mut f in found {
                let key = (f.rule.clone(), f.container.clone(), f.field.clone());
                match index.get(&key) {
                    Some(&i) => {
                        let kept = &mut verdict.findings[i];
                        if f.severity > kept.severity {
                            kept.severity = f.severity;
                            kept.evidence = f.evidence;
                        }
                        if !kept.policies.contains(&name) {
                            kept.policies.push(name.clone());
                        }
                    }
                    None => {
                        f.policies = vec![name.clone()];
                        index.insert(key, verdict.findings.len());
                        verdict.findings.push(f);
                    }
                }
            }
        }
        // Where a pod landed (its node's labels) is context for its other findings, never a
        // case alone: every DaemonSet pod and every pod on a spot or GPU node would be one.
        if verdict.findings.iter().all(is_placement_context) {
            return Verdict::default();
        }
        // Context never outranks the case: a placement finding is at most as severe as the
        // most severe finding from the pod itself (a Selenium hub's low port finding on a
        // GPU node stays a Low case, led by its port), and comes after findings as severe.
        let own = verdict
            .findings
            .iter()
            .filter(|f| !is_placement_context(f))
            .map(|f| f.severity)
            .max();
        if let Some(own) = own {
            for f in verdict
                .findings
                .iter_mut()
                .filter(|f| is_placement_context(f))
            {
                f.severity = f.severity.min(own);
            }
        }
        super::raise_lookalikes(&mut verdict.findings);
        verdict
            .findings
            .sort_by_key(|f| (std::cmp::Reverse(f.severity), is_placement_context(f)));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CryptojackPolicySpec;
    use crate::detect::view::{NamespaceLabels, Workload};
    use crate::detect::{ContainerKind, ContainerView};
    use std::collections::BTreeMap;

    fn spec(yaml: &str) -> CryptojackPolicySpec {
        serde_saphyr::from_str(yaml).expect("valid policy spec")
    }

    fn xmrig_pod(ns: &str) -> PodView {
        PodView {
            kind: "Pod".into(),
            name: "p".into(),
            namespace: Some(ns.into()),
            spec_path: crate::detect::FieldPath::fields(&["spec"]),
            containers: vec![ContainerView {
                kind: ContainerKind::Regular,
                index: 0,
                name: "c".into(),
                image: "busybox".into(),
                command: vec!["xmrig".into(), "--donate-level=1".into()],
                args: vec![],
                env: vec![],
                ports: vec![],
                requests: BTreeMap::new(),
                limits: BTreeMap::new(),
                claims: Vec::new(),
                execs: Vec::new(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn findings_say_which_policies_produced_them() {
        let a = CompiledPolicy::compile("a", &spec("mode: Audit\n")).unwrap();
        let b = CompiledPolicy::compile(
            "b",
            &spec("mode: Contain\ndetect:\n  commands:\n  - pattern: donate-level\n"),
        )
        .unwrap();
        let c =
            CompiledPolicy::compile("c", &spec("match:\n  excludeNamespaces: [shop]\n")).unwrap();
        let set = PolicySet::new(vec![a, b, c]);
        let view = xmrig_pod("shop");
        let v = set.evaluate(&view, &EvalContext::offline(&view));
        assert_eq!(v.policies, vec!["a".to_string(), "b".to_string()]);
        let xmrig = v
            .findings
            .iter()
            .find(|f| f.rule == "builtin/miner-binary/xmrig")
            .expect("xmrig finding");
        assert_eq!(xmrig.policies, vec!["a".to_string(), "b".to_string()]);
        let custom = v
            .findings
            .iter()
            .find(|f| f.rule.starts_with("policy/b/"))
            .expect("b's own pattern");
        assert_eq!(custom.policies, vec!["b".to_string()]);
        // no duplicates of (rule, container, field)
        let mut keys: Vec<_> = v
            .findings
            .iter()
            .map(|f| (f.rule.clone(), f.field.clone()))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn namespace_labels_are_an_explicit_choice() {
        let p = CompiledPolicy::compile(
            "prod-only",
            &spec("match:\n  namespaceSelector:\n    matchLabels: {tier: prod}\n"),
        )
        .unwrap();
        let set = PolicySet::new(vec![p]);
        let view = xmrig_pod("shop");
        let dev: BTreeMap<String, String> = [("tier".to_string(), "dev".to_string())].into();
        let prod: BTreeMap<String, String> = [("tier".to_string(), "prod".to_string())].into();
        let ctx = |l| EvalContext {
            namespace_labels: l,
            workload: None,
            node_labels: None,
        };
        assert!(
            set.evaluate(&view, &ctx(NamespaceLabels::Known(&dev)))
                .is_empty()
        );
        assert!(
            !set.evaluate(&view, &ctx(NamespaceLabels::Known(&prod)))
                .is_empty()
        );
        assert!(
            !set.evaluate(&view, &ctx(NamespaceLabels::UnknownAssumeMatch))
                .is_empty()
        );
    }

    #[test]
    fn exemptions_name_the_workload_and_apply_once_it_is_known() {
        let p = CompiledPolicy::compile(
            "p",
            &spec(
                "match:\n  exempt:\n  - namespace: research\n    kind: Deployment\n    name: hash-*\n",
            ),
        )
        .unwrap();
        let set = PolicySet::new(vec![p]);
        let view = xmrig_pod("research");
        let unknown = EvalContext {
            namespace_labels: NamespaceLabels::UnknownAssumeMatch,
            workload: None,
            node_labels: None,
        };
        assert!(!set.evaluate(&view, &unknown).is_empty());
        let exempt = EvalContext {
            workload: Some(Workload {
                kind: "Deployment",
                name: "hash-bench",
            }),
            ..unknown
        };
        assert!(set.evaluate(&view, &exempt).is_empty());
        let other = EvalContext {
            workload: Some(Workload {
                kind: "Deployment",
                name: "web",
            }),
            ..unknown
        };
        assert!(!set.evaluate(&view, &other).is_empty());
        let other_ns = xmrig_pod("shop");
        assert!(!set.evaluate(&other_ns, &exempt).is_empty());
    }
}
