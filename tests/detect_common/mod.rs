//! Shared helpers of the detection integration tests: build `PodView`s from manifests.
#![allow(dead_code)]

use cryptojack::detect::{CompiledPolicy, Finding, PodView, Severity};
use cryptojack::scan::objects::{Object, entries};

/// One `PodView` from a single-document manifest (Pod or a workload with a pod template),
/// built by the same adapter `cryptojack scan` uses.
pub fn view_from_yaml(yaml: &str) -> PodView {
    let v: serde_json::Value = serde_saphyr::from_str(yaml).expect("valid YAML");
    let mut found = entries(v);
    assert_eq!(found.len(), 1, "one object per manifest");
    match found.remove(0).object {
        Object::Target(view) => *view,
        other => panic!("not a Pod or workload: {other:?}"),
    }
}

/// The label the corpus convention gives a result: `miner` (some high/critical finding other
/// than gpu-unapproved), `gpu` (a gpu-unapproved finding), `miner+gpu`, `suspicious` (a
/// medium finding, nothing high) or `benign`.
pub fn label_of(findings: &[Finding]) -> &'static str {
    let gpu = findings
        .iter()
        .any(|f| f.category == cryptojack::detect::Category::GpuUnapproved);
    let miner = findings.iter().any(|f| {
        f.category != cryptojack::detect::Category::GpuUnapproved && f.severity >= Severity::High
    });
    match (miner, gpu) {
        (true, true) => "miner+gpu",
        (true, false) => "miner",
        (false, true) => "gpu",
        (false, false) if findings.iter().any(|f| f.severity >= Severity::Medium) => "suspicious",
        (false, false) => "benign",
    }
}

/// Findings of the built-in default policy for a manifest.
pub fn default_findings(yaml: &str) -> Vec<Finding> {
    CompiledPolicy::builtin_default().evaluate_offline(&view_from_yaml(yaml))
}
