//! The CEL rules (`x-kubernetes-validations`) of the generated CRDs compile, stay
//! within the API server's cost budget, and accept or reject objects the way we
//! mean them to. Evaluated client-side with kube-cel (the kube-rs port of the
//! Kubernetes CEL libraries), with schema defaults applied first, as the API
//! server does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use cryptojack::api::{CryptojackIncident, CryptojackPolicy};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube_cel::{ScopeContext, Validator, analyze_rule, compile_schema};
use serde_json::{Value, json};

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("derived CRDs carry an openAPIV3Schema");
    serde_json::to_value(schema).expect("schema serializes")
}

/// Every schema node that carries rules, with its path.
fn rule_nodes(node: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    let Some(obj) = node.as_object() else { return };
    if obj.contains_key("x-kubernetes-validations") {
        out.push((path.to_string(), node.clone()));
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            rule_nodes(sub, &format!("{path}.{k}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = obj.get(key) {
            rule_nodes(sub, &format!("{path}.{key}"), out);
        }
    }
}

#[test]
fn every_rule_compiles_is_in_scope_and_within_budget() {
    let mut total = 0;
    for crd in [CryptojackPolicy::crd(), CryptojackIncident::crd()] {
        let kind = crd.spec.names.kind.clone();
        let schema = schema_of(&crd);
        let compiled = compile_schema(&schema);
        assert!(
            !compiled.has_errors(),
            "{kind}: {:?}",
            compiled.compilation_errors()
        );
        let mut nodes = Vec::new();
        rule_nodes(&schema, &kind, &mut nodes);
        for (path, node) in nodes {
            let compiled_node = compile_schema(&node);
            let errors = compiled_node.compilation_errors();
            assert!(errors.is_empty(), "{path}: {errors:?}");
            for rule in node["x-kubernetes-validations"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let text = rule["rule"].as_str().expect("rule text");
                let warnings: Vec<_> =
                    analyze_rule(text, &compiled_node, ScopeContext::CrdValidation)
                        .into_iter()
                        .filter(|w| !is_macro_binder_warning(text, &w.message))
                        .collect();
                assert!(warnings.is_empty(), "{path}: {text}: {warnings:?}");
                total += 1;
            }
        }
    }
    assert!(total >= 10, "expected at least 10 CEL rules, found {total}");
}

/// kube-cel's analyzer reports the variables bound by CEL's comprehension macros
/// (`oldSelf.all(f, ...)`) as out of scope; the API server accepts them. Only those
/// warnings are ignored: the variable must be bound by a macro in the rule itself.
fn is_macro_binder_warning(rule: &str, message: &str) -> bool {
    let Some(var) = message
        .strip_prefix("variable '")
        .and_then(|m| m.split('\'').next())
    else {
        return false;
    };
    ["all", "exists", "exists_one", "map", "filter"]
        .iter()
        .any(|m| rule.contains(&format!(".{m}({var},")))
}

fn policy(spec: Value) -> Value {
    json!({"apiVersion": "cryptojack.dev/v1alpha1", "kind": "CryptojackPolicy", "metadata": {"name": "p"}, "spec": spec})
}

fn messages(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(schema, object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field_path, e.message))
            .collect(),
    }
}

#[test]
fn policy_rules_reject_contradictions() {
    let schema = schema_of(&CryptojackPolicy::crd());
    let cases = [
        (
            json!({"detect": {"gpu": {"enabled": true, "approvalLabel": ""}}}),
            "approvalLabel must be set",
        ),
        (
            json!({"detect": {"gpu": {"resources": []}}}),
            "resources must name at least one GPU resource",
        ),
        (
            json!({"response": {"stratumPortBlock": {"scope": "Cluster"}, "networkIsolation": {"flavor": "NetworkPolicy"}}}),
            "stratumPortBlock.scope Cluster needs a cluster-scoped deny flavour",
        ),
        (
            json!({"detect": {"commands": [{"pattern": "   "}]}}),
            "pattern must not be blank",
        ),
        (
            json!({"mode": "Contain", "response": {
                "evict": {"enabled": false}, "suspendOwner": {"enabled": false},
                "networkIsolation": {"enabled": false}, "stratumPortBlock": {"enabled": false},
                "revokeCredentials": {"serviceAccount": "Never"},
                "gpuQuota": {"enabled": false}}}),
            "mode Contain needs at least one response action enabled",
        ),
    ];
    for (spec, needle) in cases {
        let found = messages(&schema, &policy(spec.clone()), None);
        assert!(
            found.iter().any(|m| m.contains(needle)),
            "{spec} should fail with {needle:?}, got {found:?}"
        );
    }
}

#[test]
fn policy_rules_accept_what_is_consistent() {
    let schema = schema_of(&CryptojackPolicy::crd());
    let all_off = json!({"evict": {"enabled": false}, "suspendOwner": {"enabled": false},
        "networkIsolation": {"enabled": false}, "stratumPortBlock": {"enabled": false},
        "revokeCredentials": {"serviceAccount": "Never"}, "gpuQuota": {"enabled": false}});
    let mut only_bindings = all_off.clone();
    only_bindings["revokeCredentials"]["quarantineBindings"] = json!(true);
    for spec in [
        json!({}),
        json!({"detect": {"gpu": {"enabled": false, "approvalLabel": "", "resources": []}}}),
        json!({"response": {"stratumPortBlock": {"scope": "Cluster"}, "networkIsolation": {"flavor": "Cilium"}}}),
        json!({"response": {"stratumPortBlock": {"scope": "Cluster"}}}),
        json!({"mode": "Audit", "response": all_off}),
        json!({"mode": "Contain", "response": only_bindings}),
        json!({"detect": {"images": [{"pattern": "xmrig"}], "commands": [{"pattern": " --donate-level ", "syntax": "Substring"}]}}),
    ] {
        let found = messages(&schema, &policy(spec.clone()), None);
        assert!(found.is_empty(), "{spec} should pass, got {found:?}");
    }
}

#[test]
fn example_policies_pass_the_cel_rules() {
    let schema = schema_of(&CryptojackPolicy::crd());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/policies exists") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in docs.iter().filter(|d| d["kind"] == "CryptojackPolicy") {
            let found = messages(&schema, doc, None);
            assert!(found.is_empty(), "{}: {found:?}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 3, "saw {seen} example policies");
}

fn incident(resolution: Option<Value>, actions: Value, source: &str, detected_at: &str) -> Value {
    let mut v = json!({
        "apiVersion": "cryptojack.dev/v1alpha1",
        "kind": "CryptojackIncident",
        "metadata": {"name": "cji-0123456789abcdef", "namespace": "default"},
        "spec": {
            "workload": "Pod/miner",
            "topOwner": {"apiVersion": "v1", "kind": "Pod", "name": "miner", "uid": "u1"},
            "severity": "Critical",
            "topIndicator": "builtin/miner-binary/xmrig: xmrig",
            "source": source,
            "detectedAt": detected_at,
            "podCount": 1,
            "pods": [{"name": "miner", "uid": "u1"}],
            "findings": [{"rule": "builtin/miner-binary/xmrig", "category": "MinerBinary",
                          "severity": "Critical", "field": "spec.containers[0].command[0]",
                          "evidence": "xmrig"}]
        },
        "status": {"phase": "Containing", "actions": actions}
    });
    if let Some(r) = resolution {
        v["spec"]["resolution"] = r;
    }
    v
}

const T0: &str = "2026-11-28T21:00:00.000000Z";

fn scale(state: &str, error: Option<&str>, replicas: Option<i64>) -> Value {
    let mut action = json!({
        "id": "scale/apps/Deployment/default/web",
        "verb": "Scale",
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"},
        "state": state,
        "attempts": 1
    });
    if let Some(e) = error {
        action["error"] = json!(e);
    }
    if let Some(r) = replicas {
        action["undo"] = json!({"replicas": r});
    }
    action
}

#[test]
fn incident_rules_on_resolution_and_actions() {
    let schema = schema_of(&CryptojackIncident::crd());
    let ok = [
        incident(None, json!([]), "Watch", T0),
        incident(
            Some(json!({"state": "Confirmed", "by": "alice"})),
            json!([scale("Done", None, Some(3))]),
            "Watch",
            T0,
        ),
        incident(
            Some(json!({"state": "FalsePositive", "note": "nightly benchmark"})),
            json!([]),
            "Alert",
            T0,
        ),
        incident(
            None,
            json!([scale("Failed", Some("403: forbidden"), None)]),
            "Watch",
            T0,
        ),
    ];
    for object in &ok {
        let found = messages(&schema, object, None);
        assert!(
            found.is_empty(),
            "{} should pass, got {found:?}",
            object["spec"]
        );
    }
    let bad = [
        (
            incident(
                Some(json!({"state": "FalsePositive"})),
                json!([]),
                "Watch",
                T0,
            ),
            "a note is required",
        ),
        (
            incident(
                Some(json!({"state": "FalsePositive", "note": "  "})),
                json!([]),
                "Watch",
                T0,
            ),
            "a note is required",
        ),
        (
            incident(None, json!([scale("Failed", None, None)]), "Watch", T0),
            "a Failed action must say why",
        ),
    ];
    for (object, needle) in &bad {
        let found = messages(&schema, object, None);
        assert!(
            found.iter().any(|m| m.contains(needle)),
            "{needle:?} expected, got {found:?}"
        );
    }
}

#[test]
fn incident_facts_are_immutable_and_the_resolution_final() {
    let schema = schema_of(&CryptojackIncident::crd());
    let old = incident(None, json!([]), "Watch", T0);

    let resolved = incident(
        Some(json!({"state": "Confirmed", "by": "alice"})),
        json!([]),
        "Watch",
        T0,
    );
    assert_eq!(
        messages(&schema, &resolved, Some(&old)),
        Vec::<String>::new()
    );
    // no way back from a final state
    let flipped = incident(
        Some(json!({"state": "FalsePositive", "note": "changed my mind"})),
        json!([]),
        "Watch",
        T0,
    );
    let found = messages(&schema, &flipped, Some(&resolved));
    assert!(
        found.iter().any(|m| m.contains("resolution is final")),
        "{found:?}"
    );
    let found = messages(&schema, &old, Some(&resolved));
    assert!(
        found.iter().any(|m| m.contains("cannot be removed")),
        "{found:?}"
    );

    let new_source = incident(None, json!([]), "Manual", T0);
    let found = messages(&schema, &new_source, Some(&old));
    assert!(
        found.iter().any(|m| m.contains("source is immutable")),
        "{found:?}"
    );

    let new_time = incident(None, json!([]), "Watch", "2026-11-28T22:00:00.000000Z");
    let found = messages(&schema, &new_time, Some(&old));
    assert!(
        found.iter().any(|m| m.contains("detectedAt is immutable")),
        "{found:?}"
    );

    let mut new_workload = old.clone();
    new_workload["spec"]["workload"] = json!("Deployment/prod");
    let found = messages(&schema, &new_workload, Some(&old));
    assert!(
        found.iter().any(|m| m.contains("workload is immutable")),
        "{found:?}"
    );

    // pods and findings only grow
    let mut more = old.clone();
    more["spec"]["pods"]
        .as_array_mut()
        .expect("pods")
        .push(json!({"name": "miner-2", "uid": "u2"}));
    more["spec"]["podCount"] = json!(2);
    assert_eq!(messages(&schema, &more, Some(&old)), Vec::<String>::new());
    let found = messages(&schema, &old, Some(&more));
    assert!(
        found
            .iter()
            .any(|m| m.contains("pods are append-only") || m.contains("podCount only grows")),
        "{found:?}"
    );
    let mut fewer = old.clone();
    fewer["spec"]["findings"] = json!([{"rule": "builtin/pool/stratum-url", "category": "Pool",
        "severity": "Critical", "field": "spec.containers[0].args[1]", "evidence": "stratum+tcp://x"}]);
    let found = messages(&schema, &fewer, Some(&old));
    assert!(
        found.iter().any(|m| m.contains("findings are append-only")),
        "{found:?}"
    );
}

#[test]
fn undo_data_is_write_once() {
    let schema = schema_of(&CryptojackIncident::crd());
    let pending = incident(None, json!([scale("Pending", None, Some(3))]), "Watch", T0);
    let done = incident(None, json!([scale("Done", None, Some(3))]), "Watch", T0);
    assert_eq!(
        messages(&schema, &done, Some(&pending)),
        Vec::<String>::new()
    );
    // a retry after a lost response must not overwrite the original replica count with 0
    let overwritten = incident(None, json!([scale("Done", None, Some(0))]), "Watch", T0);
    let found = messages(&schema, &overwritten, Some(&pending));
    assert!(
        found.iter().any(|m| m.contains("undo data is write-once")),
        "{found:?}"
    );
    let dropped = incident(None, json!([scale("Done", None, None)]), "Watch", T0);
    let found = messages(&schema, &dropped, Some(&pending));
    assert!(
        found.iter().any(|m| m.contains("undo data is write-once")),
        "{found:?}"
    );
}
