//! The bundled examples: every workload shows the finding it is named after, every
//! false-positive trap stays quiet, every example policy compiles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

fn scan(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cryptojack"))
        .arg("scan")
        .args(args)
        .args(["--format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cryptojack");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));
    (out.status.code().expect("exit code"), report, stderr)
}

/// Findings per workload file name (without directory).
fn by_file(report: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in report["findings"].as_array().expect("findings") {
        let file = f["file"].as_str().expect("file");
        let name = file.rsplit('/').next().unwrap_or(file).to_string();
        map.entry(name).or_default().push(f.clone());
    }
    map
}

fn categories(fs: &[Value]) -> Vec<&str> {
    fs.iter().filter_map(|f| f["category"].as_str()).collect()
}

fn at_least_high(fs: &[Value]) -> bool {
    fs.iter()
        .any(|f| matches!(f["severity"].as_str(), Some("high" | "critical")))
}

#[test]
fn examples_show_each_kind_of_finding() {
    let (code, report, stderr) = scan(&["examples/"]);
    assert_eq!(code, 1, "findings at or above high: exit 1 ({stderr})");
    assert_eq!(report["summary"]["errors"], 0, "{stderr}");
    let files = by_file(&report);
    let expect = [
        ("miner-image-deployment.yaml", "miner-image"),
        ("miner-binary-shell.yaml", "miner-binary"),
        ("renamed-binary-flags-daemonset.yaml", "miner-flags"),
        ("pool-cronjob.yaml", "pool"),
        ("wallet-env-statefulset.yaml", "wallet"),
        ("known-ioc-image-replicaset.yaml", "known-ioc"),
        ("unapproved-gpu-job.yaml", "gpu-unapproved"),
        ("node-signal-gpu-spot.yaml", "node"),
        ("kubectl-list-dump.yaml", "miner-binary"),
        ("kubectl-list-dump.yaml", "gpu-unapproved"),
    ];
    for (file, category) in expect {
        let fs = files
            .get(file)
            .unwrap_or_else(|| panic!("{file}: no finding"));
        assert!(
            categories(fs).contains(&category),
            "{file}: expected {category}, got {:?}",
            categories(fs)
        );
    }
    for file in [
        "miner-image-deployment.yaml",
        "miner-binary-shell.yaml",
        "renamed-binary-flags-daemonset.yaml",
        "pool-cronjob.yaml",
        "wallet-env-statefulset.yaml",
        "known-ioc-image-replicaset.yaml",
        "unapproved-gpu-job.yaml",
    ] {
        assert!(
            at_least_high(&files[file]),
            "{file} must be high or critical"
        );
    }
    // The renamed binary is caught by its flags alone: no miner-binary or miner-image.
    let flags = categories(&files["renamed-binary-flags-daemonset.yaml"]);
    assert!(!flags.contains(&"miner-image"), "{flags:?}");
    // The wallet is shortened in the evidence.
    for f in files["wallet-env-statefulset.yaml"]
        .iter()
        .filter(|f| f["category"] == "wallet")
    {
        let ev = f["evidence"].as_str().unwrap_or("");
        assert!(!ev.contains("4BASi45ub7Qe4ZE36UT5G6cU4ud8Fhhe4deS4F3cw9KTAb8dLcukC7edhDQ7cn5d4gEYkbUrMWeWQLGsCmrG6dLaYyNoVKf"), "{ev}");
    }
    // Port only: low and nothing else.
    let port = &files["port-only-low-signal.yaml"];
    assert!(
        port.iter()
            .all(|f| f["severity"] == "low" && f["category"] == "port"),
        "{port:?}"
    );
    // The node signal pod has an approved GPU: no gpu-unapproved.
    assert!(!categories(&files["node-signal-gpu-spot.yaml"]).contains(&"gpu-unapproved"));
    // List items carry their index; the Service item is skipped.
    assert!(
        files["kubectl-list-dump.yaml"]
            .iter()
            .all(|f| f["item"] == 0)
    );
}

#[test]
fn false_positive_traps_stay_quiet() {
    let (_, report, stderr) = scan(&["examples/workloads"]);
    assert_eq!(report["summary"]["errors"], 0, "{stderr}");
    let files = by_file(&report);
    for trap in [
        "benign-minio.yaml",
        "benign-minecraft-server.yaml",
        "benign-gcc-pool-o.yaml",
        "benign-rl-algo-ppo.yaml",
        "benign-geth-node.yaml",
        "benign-approved-gpu-training.json",
    ] {
        assert!(!files.contains_key(trap), "{trap}: {:?}", files.get(trap));
    }
    for low_only in [
        "benign-selenium-4444.yaml",
        "benign-celery-flower-5555.yaml",
    ] {
        let fs = files.get(low_only).map(Vec::as_slice).unwrap_or_default();
        assert!(
            fs.iter().all(|f| f["severity"] == "low"),
            "{low_only}: {fs:?}"
        );
    }
}

#[test]
fn example_policies_compile_and_are_skipped_as_workloads() {
    for policy in [
        "default-audit",
        "strict-contain",
        "gpu-approval",
        "iocs-from-a-report",
    ] {
        let path = format!("examples/policies/{policy}.yaml");
        let (code, report, stderr) = scan(&[
            "examples/workloads/miner-image-deployment.yaml",
            "--policy",
            &path,
        ]);
        assert_eq!(code, 1, "{policy}: {stderr}");
        assert_eq!(report["summary"]["errors"], 0, "{policy}: {stderr}");
        assert_eq!(report["summary"]["policies"], serde_json::json!([policy]));
    }
    let (_, report, _) = scan(&["examples/policies"]);
    assert_eq!(
        report["summary"]["skipped"], 4,
        "policies are not workloads"
    );
    assert_eq!(report["summary"]["objects"], 0);
}

#[test]
fn ioc_policy_catches_what_the_default_does_not() {
    let file = "examples/workloads/report-ioc-cronjob.yaml";
    let (code, report, stderr) = scan(&[file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(report["findings"].as_array().is_some_and(Vec::is_empty));
    let (code, report, stderr) = scan(&[
        file,
        "--policy",
        "examples/policies/iocs-from-a-report.yaml",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let findings = report["findings"].as_array().expect("findings");
    let rules: Vec<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(
        rules.contains(&"policy/iocs-from-a-report/iocs.domains[0]")
            && rules.contains(&"policy/iocs-from-a-report/iocs.ipRanges[0]"),
        "{rules:?}"
    );
    assert!(findings.iter().all(|f| f["category"] == "known-ioc"));
    assert!(
        findings.iter().all(|f| f["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("Example Threat Report"))),
        "{findings:?}"
    );
}

#[test]
fn gpu_approval_policy_uses_its_own_label() {
    // Approved with the default label, but the gpu-approval policy wants its own.
    let file = "examples/workloads/benign-approved-gpu-training.json";
    let (code, report, stderr) = scan(&[file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(report["findings"].as_array().is_some_and(Vec::is_empty));
    let (code, report, stderr) = scan(&[file, "--policy", "examples/policies/gpu-approval.yaml"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["category"] == "gpu-unapproved")
    );
}

#[test]
fn strict_policy_custom_and_sigma_rules_fire() {
    let (code, report, stderr) = scan(&[
        "tests/fixtures/scan/mirror-image.yaml",
        "examples/workloads/miner-binary-shell.yaml",
        "--policy",
        "examples/policies/strict-contain.yaml",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(
        rules.contains(&"custom/image/internal-miner-mirror"),
        "{rules:?}"
    );
    // The Sigma rule "Crypto Mining Process Detected", as written, fires on `./xmrig`.
    assert!(
        rules.contains(&"sigma/7c2c8a2d-53f3-4b05-9f22-5c6a2d3f11c5"),
        "{rules:?}"
    );
}

/// Runs scripts/eval-corpus.py with this build over a labelled directory.
fn eval_corpus(dir: &std::path::Path) {
    let out = Command::new("python3")
        .arg("scripts/eval-corpus.py")
        .arg(dir)
        .env("CRYPTOJACK_BIN", env!("CARGO_BIN_EXE_cryptojack"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run python3 scripts/eval-corpus.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "labels do not hold for {}:\n{stdout}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().filter(|l| l.ends_with("  ok")).count() >= 10,
        "{stdout}"
    );
}

#[test]
fn example_labels_hold() {
    eval_corpus(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workloads"));
}

/// The shared evaluation corpus (`../shared/corpus` beside the checkout, as on CI).
#[test]
fn shared_corpus_labels_hold() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !dir.join("labels.tsv").exists() {
        eprintln!("skipped: {} not found", dir.display());
        return;
    }
    eval_corpus(&dir);
}
