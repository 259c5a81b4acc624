//! The CEL rules (`x-kubernetes-validations`) of the generated CRDs compile, stay
//! within the API server's cost budget, and accept or reject objects the way we
//! mean them to. Evaluated client-side with kube-cel (the kube-rs port of the
//! Kubernetes CEL libraries), with schema defaults applied first, as the API
//! server does.

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
                let warnings = analyze_rule(text, &compiled_node, ScopeContext::CrdValidation);
                assert!(warnings.is_empty(), "{path}: {text}: {warnings:?}");
                total += 1;
            }
        }
    }
    assert!(total >= 10, "expected at least 10 CEL rules, found {total}");
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
            json!({"response": {"networkIsolation": {"denyAllEgress": false, "blockPorts": []}}}),
            "blockPorts must list at least one port",
        ),
        (
            json!({"response": {"revokeServiceAccount": {"enabled": false, "quarantineBindings": true}}}),
            "quarantineBindings requires enabled",
        ),
        (
            json!({"detect": {"commands": [{"pattern": "   "}]}}),
            "pattern must not be blank",
        ),
        (
            json!({"mode": "Contain", "response": {
                "evict": {"enabled": false}, "suspendOwner": {"enabled": false},
                "networkIsolation": {"enabled": false}, "revokeServiceAccount": {"enabled": false},
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
    for spec in [
        json!({}),
        json!({"detect": {"gpu": {"enabled": false, "approvalLabel": "", "resources": []}}}),
        json!({"response": {"networkIsolation": {"denyAllEgress": false, "blockPorts": [3333]}}}),
        json!({"response": {"networkIsolation": {"enabled": false, "denyAllEgress": false, "blockPorts": []}}}),
        json!({"response": {"revokeServiceAccount": {"enabled": true, "quarantineBindings": true}}}),
        json!({"mode": "Audit", "response": {"evict": {"enabled": false}, "suspendOwner": {"enabled": false},
            "networkIsolation": {"enabled": false}, "revokeServiceAccount": {"enabled": false}, "gpuQuota": {"enabled": false}}}),
        json!({"mode": "Contain", "response": {"evict": {"enabled": false}, "suspendOwner": {"enabled": false},
            "networkIsolation": {"enabled": false}, "revokeServiceAccount": {"enabled": false}, "gpuQuota": {"enabled": true}}}),
        json!({"detect": {"images": [{"pattern": "xmrig"}], "commands": [{"pattern": " --donate-level ", "syntax": "substring"}]}}),
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

fn incident(resolution: Value, actions: Value, source: &str, detected_at: &str) -> Value {
    json!({
        "apiVersion": "cryptojack.dev/v1alpha1",
        "kind": "CryptojackIncident",
        "metadata": {"name": "cji-0123456789abcdef", "namespace": "default"},
        "spec": {
            "workload": "Pod/miner",
            "severity": "critical",
            "topIndicator": "builtin/miner-binary/xmrig: xmrig",
            "source": source,
            "detectedAt": detected_at,
            "resolution": resolution
        },
        "status": {"phase": "Containing", "actions": actions}
    })
}

const T0: &str = "2026-11-28T21:00:00.000000Z";

fn evict(state: &str, last_error: Option<&str>) -> Value {
    let mut action = json!({
        "kind": "Evict",
        "target": {"apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": "miner"},
        "state": state,
        "attempts": 1
    });
    if let Some(e) = last_error {
        action["lastError"] = json!(e);
    }
    action
}

#[test]
fn incident_rules_on_resolution_and_actions() {
    let schema = schema_of(&CryptojackIncident::crd());
    let ok = [
        incident(json!({}), json!([]), "Watch", T0),
        incident(
            json!({"state": "TruePositive", "by": "alice"}),
            json!([evict("Succeeded", None)]),
            "Watch",
            T0,
        ),
        incident(
            json!({"state": "FalsePositive", "by": "bob", "note": "nightly benchmark"}),
            json!([]),
            "Alert",
            T0,
        ),
        incident(
            json!({"state": "Authorized", "by": "carol", "note": "approved research"}),
            json!([]),
            "Manual",
            T0,
        ),
        incident(
            json!({}),
            json!([evict("Failed", Some("429: blocked by PodDisruptionBudget"))]),
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
                json!({"state": "FalsePositive", "by": "bob"}),
                json!([]),
                "Watch",
                T0,
            ),
            "a note is required",
        ),
        (
            incident(
                json!({"state": "Authorized", "by": "bob", "note": "  "}),
                json!([]),
                "Watch",
                T0,
            ),
            "a note is required",
        ),
        (
            incident(json!({"state": "TruePositive"}), json!([]), "Watch", T0),
            "resolution.by",
        ),
        (
            incident(json!({}), json!([evict("Failed", None)]), "Watch", T0),
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
fn incident_facts_are_immutable_but_the_resolution_is_not() {
    let schema = schema_of(&CryptojackIncident::crd());
    let old = incident(json!({}), json!([]), "Watch", T0);

    let resolved = incident(
        json!({"state": "TruePositive", "by": "alice"}),
        json!([]),
        "Watch",
        T0,
    );
    assert_eq!(
        messages(&schema, &resolved, Some(&old)),
        Vec::<String>::new()
    );

    let new_source = incident(json!({}), json!([]), "Manual", T0);
    let found = messages(&schema, &new_source, Some(&old));
    assert!(
        found.iter().any(|m| m.contains("source is immutable")),
        "{found:?}"
    );

    let new_time = incident(json!({}), json!([]), "Watch", "2026-11-28T22:00:00.000000Z");
    let found = messages(&schema, &new_time, Some(&old));
    assert!(
        found.iter().any(|m| m.contains("detectedAt is immutable")),
        "{found:?}"
    );
}
