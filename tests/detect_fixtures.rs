//! Labelled manifests under tests/fixtures/detect/ (labels.tsv: miner, gpu, miner+gpu, benign),
//! evaluated with the built-in default policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use crate::detect_common;

use std::path::Path;

use cryptojack::detect::{Category, CompiledPolicy, MAX_EVIDENCE_CHARS, Severity};
use detect_common::{label_of, view_from_yaml};

fn fixtures() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/detect");
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).unwrap();
    labels
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, expect) = l.split_once('\t').unwrap();
            let yaml = std::fs::read_to_string(dir.join(file)).unwrap();
            (file.to_string(), expect.to_string(), yaml)
        })
        .collect()
}

#[test]
fn every_fixture_gets_its_label() {
    let policy = CompiledPolicy::builtin_default();
    let cases = fixtures();
    assert!(cases.len() >= 12);
    let mut wrong = Vec::new();
    for (file, expect, yaml) in &cases {
        let findings = policy.evaluate_offline(&view_from_yaml(yaml));
        let got = label_of(&findings);
        if got != expect {
            wrong.push(format!(
                "{file}: expected {expect}, got {got}: {findings:#?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn findings_are_sorted_unique_and_bounded() {
    let policy = CompiledPolicy::builtin_default();
    for (file, _, yaml) in fixtures() {
        let findings = policy.evaluate_offline(&view_from_yaml(&yaml));
        for pair in findings.windows(2) {
            assert!(
                pair[0].severity >= pair[1].severity,
                "{file}: not most severe first"
            );
        }
        let mut keys: Vec<(&str, &str)> = findings
            .iter()
            .map(|f| (f.rule.as_str(), f.field.as_str()))
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "{file}: duplicate rule+field");
        for f in &findings {
            assert!(
                f.evidence.chars().count() <= MAX_EVIDENCE_CHARS,
                "{file}: {}",
                f.evidence
            );
            assert!(!f.evidence.is_empty());
            assert!(f.field.starts_with("spec."), "{file}: {}", f.field);
            // no full-length Monero address in evidence
            assert!(
                !f.evidence
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|r| r.len() == 95),
                "{file}: {}",
                f.evidence
            );
        }
    }
}

#[test]
fn cronjob_script_findings_point_into_the_job_template() {
    let (_, _, yaml) = fixtures()
        .into_iter()
        .find(|(f, _, _)| f == "cronjob-xmrig-script.yaml")
        .unwrap();
    let findings = CompiledPolicy::builtin_default().evaluate_offline(&view_from_yaml(&yaml));
    let bin = findings
        .iter()
        .find(|f| f.rule == "builtin/miner-binary/xmrig" && f.severity == Severity::Critical)
        .unwrap();
    assert_eq!(
        bin.field,
        "spec.jobTemplate.spec.template.spec.containers[0].command[2]"
    );
    assert_eq!(bin.container.as_deref(), Some("rotate"));
    assert!(
        bin.evidence.contains("./xmrig-6.22.0/xmrig"),
        "{}",
        bin.evidence
    );
    let wallet = findings
        .iter()
        .find(|f| f.category == Category::Wallet)
        .unwrap();
    assert!(
        wallet.evidence.contains("48ASi45u…VKf"),
        "{}",
        wallet.evidence
    );
}
