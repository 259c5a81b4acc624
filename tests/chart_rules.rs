//! The chart's PrometheusRule and Grafana dashboard: every rule passes `promtool check rules`,
//! every alert has `promtool test rules` cases (tests/chart_common/alerts.test.yaml) that pass,
//! the dashboard's queries are valid PromQL, and alerts and dashboard use only metrics the
//! operator exports (src/metrics.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::chart_common;

use std::collections::BTreeSet;
use std::process::Command;

use chart_common::*;
use serde_json::{Value, json};

/// The rendered PrometheusRule's `spec` as a Prometheus rule file (YAML is JSON's superset).
fn rule_file() -> Value {
    let r = render("metrics:\n  prometheusRule:\n    enabled: true\n");
    let rules = r.of_kind("PrometheusRule");
    assert_eq!(rules.len(), 1);
    json!({"groups": rules[0]["spec"]["groups"]})
}

fn promtool(args: &[&str], dir: &std::path::Path) -> String {
    let out = run(Command::new(promtool_bin()).args(args).current_dir(dir));
    ok(&format!("promtool {args:?}"), out)
}

fn alert_names(rules: &Value) -> BTreeSet<String> {
    rules["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["alert"].as_str().map(String::from))
        .collect()
}

#[test]
fn the_alerts_pass_promtool_check_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = rule_file();
    std::fs::write(dir.path().join("rules.yaml"), rules.to_string()).expect("write");
    let out = promtool(&["check", "rules", "rules.yaml"], dir.path());
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");
    assert_eq!(
        alert_names(&rules),
        [
            "CryptojackContainmentFailed",
            "CryptojackIncidentDetected",
            "CryptojackIncidentNotContained",
            "CryptojackNoLeader",
            "CryptojackOperatorDown",
            "CryptojackPolicyNotReady",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
}

#[test]
fn every_alert_has_promtool_test_cases_and_they_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = rule_file();
    std::fs::write(dir.path().join("rules.yaml"), rules.to_string()).expect("write");
    let cases = std::fs::read_to_string(fixtures().join("alerts.test.yaml")).expect("test cases");
    std::fs::write(dir.path().join("alerts.test.yaml"), &cases).expect("write");
    let out = promtool(&["test", "rules", "alerts.test.yaml"], dir.path());
    assert!(out.contains("SUCCESS"), "{out}");
    // Each alert has a case where it fires and one where it must stay quiet.
    let cases: Value = serde_saphyr::from_str(&cases).expect("test cases parse");
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for t in cases["tests"].as_array().expect("tests") {
        for a in t["alert_rule_test"].as_array().into_iter().flatten() {
            let name = a["alertname"].as_str().expect("alertname").to_string();
            if a["exp_alerts"].as_array().is_some_and(|e| !e.is_empty()) {
                firing.insert(name);
            } else {
                quiet.insert(name);
            }
        }
    }
    let names = alert_names(&rules);
    assert_eq!(firing, names, "alerts with a firing case");
    assert_eq!(quiet, names, "alerts with a quiet case");
}

/// The metric names the operator exports, as a scraper sees them (`_total` counters,
/// `_bucket`/`_sum`/`_count` histograms), plus Prometheus' own `up`.
fn exported_metrics() -> BTreeSet<String> {
    use cryptojack::metrics::*;
    // A family shows up once it has a series: give each one.
    let m = Metrics::new();
    m.incidents
        .get_or_create(&IncidentLabels {
            category: "MinerBinary",
            severity: "Critical",
        })
        .inc();
    m.actions
        .get_or_create(&ActionLabels {
            verb: "Scale",
            result: "Done",
        })
        .inc();
    m.error("incidents", "write");
    m.policies
        .get_or_create(&ReadyLabels { ready: "true" })
        .set(1);
    m.incidents_by_phase
        .get_or_create(&PhaseLabels { phase: "Contained" })
        .set(1);
    m.estimated_cost
        .get_or_create(&CurrencyLabels {
            currency: "USD".into(),
        })
        .inc_by(1.5);
    let text = m.encode_classic();
    let mut out: BTreeSet<String> = ["up".to_string()].into();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let (Some(name), Some(kind)) = (it.next(), it.next()) else {
            continue;
        };
        if kind == "histogram" {
            for s in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{name}{s}"));
            }
        } else {
            out.insert(name.to_string());
        }
    }
    out
}

/// Every `cryptojack_*` or `up` metric name in a PromQL expression.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\b(cryptojack_[a-z_]+|up)\b\s*[{\[]").expect("regex");
    re.captures_iter(expr).map(|c| c[1].to_string()).collect()
}

fn dashboard() -> Value {
    let path = chart_dir().join("dashboards/cryptojack.json");
    serde_json::from_slice(&std::fs::read(path).expect("dashboard")).expect("the dashboard is JSON")
}

/// Every PromQL expression of the dashboard's panels, with Grafana's variables replaced by
/// values Prometheus accepts.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in dashboard()["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().unwrap_or("?").to_string();
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("expr");
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$__range", "1d")
                .replace("$job", ".*");
            out.push((title.clone(), expr));
        }
    }
    out
}

#[test]
fn alerts_and_dashboard_use_only_metrics_the_operator_exports() {
    let exported = exported_metrics();
    assert!(
        exported.contains("cryptojack_time_to_contain_seconds_bucket"),
        "{exported:?}"
    );
    assert!(
        exported.contains("cryptojack_incidents_total"),
        "{exported:?}"
    );
    let mut used = BTreeSet::new();
    for g in rule_file()["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            let expr = r["expr"].as_str().expect("expr");
            let m = metrics_in(expr);
            assert!(!m.is_empty(), "{}: no metric found in {expr}", r["alert"]);
            for name in &m {
                assert!(
                    exported.contains(name),
                    "{}: {name} is not exported",
                    r["alert"]
                );
            }
            used.extend(m);
        }
    }
    for (title, expr) in dashboard_queries() {
        let m = metrics_in(&expr);
        assert!(!m.is_empty(), "{title}: no metric found in {expr}");
        for name in &m {
            assert!(
                exported.contains(name),
                "panel {title}: {name} is not exported"
            );
        }
        used.extend(m);
    }
    // The dashboard covers what the issue asks for.
    let titles: Vec<String> = dashboard()["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["title"].as_str().map(String::from))
        .collect();
    for t in [
        "Incidents by severity",
        "Time to contain",
        "Actions by result",
        "Estimated cost",
    ] {
        assert!(
            titles.iter().any(|x| x == t),
            "no panel {t:?} in {titles:?}"
        );
    }
    // And every exported metric is shown or alerted on somewhere.
    let unused: Vec<&String> = exported
        .iter()
        .filter(|m| !used.contains(*m) && !m.ends_with("_sum") && !m.ends_with("_count"))
        .collect();
    assert!(
        unused.is_empty(),
        "metrics neither on the dashboard nor in an alert: {unused:?}"
    );
}

#[test]
fn the_dashboard_queries_are_valid_promql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules: Vec<Value> = dashboard_queries()
        .into_iter()
        .enumerate()
        .map(|(i, (_, expr))| json!({"record": format!("dashboard:query_{i}:check"), "expr": expr}))
        .collect();
    let n = rules.len();
    let file = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(dir.path().join("dashboard.yaml"), file.to_string()).expect("write");
    let out = promtool(&["check", "rules", "dashboard.yaml"], dir.path());
    assert!(out.contains(&format!("SUCCESS: {n} rules found")), "{out}");
    // and the check can fail
    let bad = json!({"groups": [{"name": "bad", "rules": [{"record": "x:y:z", "expr": "sum by (le (rate(x[5m]))"}]}]});
    std::fs::write(dir.path().join("bad.yaml"), bad.to_string()).expect("write");
    let out = run(Command::new(promtool_bin())
        .args(["check", "rules", "bad.yaml"])
        .current_dir(dir.path()));
    assert!(!out.status.success());
}
