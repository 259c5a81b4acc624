//! The generated CRDs are valid structural schemas, their defaults agree with the
//! serde defaults of the Rust types, and the API server's OpenAPI validation
//! (types, enums, ranges, lengths, patterns) accepts the examples and rejects
//! nonsense. CEL rules (`x-kubernetes-validations`) are checked for shape here;
//! their evaluation needs an API server (or kube-cel) and is not done here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::path::Path;

use cryptojack::api::{
    CryptojackIncident, CryptojackIncidentSpec, CryptojackPolicy, CryptojackPolicySpec, Severity,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::{Value, json};

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("derived CRDs carry an openAPIV3Schema");
    serde_json::to_value(schema).expect("schema serializes")
}

fn both_schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("CryptojackPolicy", schema_of(&CryptojackPolicy::crd())),
        ("CryptojackIncident", schema_of(&CryptojackIncident::crd())),
    ]
}

// ---------------------------------------------------------------------------
// Structural schema rules
// (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema)
// ---------------------------------------------------------------------------

const ALLOWED_KEYS: &[&str] = &[
    "type",
    "format",
    "description",
    "title",
    "default",
    "nullable",
    "enum",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "maxProperties",
    "minProperties",
    "required",
    "items",
    "properties",
    "additionalProperties",
    "multipleOf",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];

fn structural_violations(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        out.push(format!("{path}: schema is not an object"));
        return;
    };
    for key in obj.keys() {
        if !ALLOWED_KEYS.contains(&key.as_str()) {
            out.push(format!("{path}: keyword `{key}` is not allowed (no $ref, anyOf, oneOf, allOf, not, definitions)"));
        }
    }
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let ty = obj.get("type").and_then(Value::as_str);
    if ty.is_none() && !preserve && !int_or_string {
        out.push(format!(
            "{path}: no `type` (and not preserve-unknown-fields or int-or-string)"
        ));
    }
    if let Some(t) = ty
        && !["object", "array", "string", "integer", "number", "boolean"].contains(&t)
    {
        out.push(format!("{path}: unknown type `{t}`"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        out.push(format!(
            "{path}: `properties` and `additionalProperties` together"
        ));
    }
    if ty == Some("object")
        && !obj.contains_key("properties")
        && !obj.contains_key("additionalProperties")
        && !preserve
    {
        out.push(format!(
            "{path}: object without properties would prune every field"
        ));
    }
    if ty == Some("array") && !obj.contains_key("items") {
        out.push(format!("{path}: array without `items`"));
    }
    if obj.get("additionalProperties") == Some(&Value::Bool(true)) {
        out.push(format!(
            "{path}: `additionalProperties: true` (use x-kubernetes-preserve-unknown-fields)"
        ));
    }
    if let Some(list_type) = obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
        let item_type = obj
            .get("items")
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str);
        match list_type {
            "set" if !matches!(item_type, Some("string" | "integer" | "number" | "boolean")) => {
                out.push(format!("{path}: list-type set over non-scalar items"))
            }
            "map" if !obj.contains_key("x-kubernetes-list-map-keys") => {
                out.push(format!("{path}: list-type map without list-map-keys"))
            }
            "set" | "map" | "atomic" => {}
            other => out.push(format!("{path}: unknown list-type `{other}`")),
        }
    }
    if let Some(rules) = obj.get("x-kubernetes-validations") {
        match rules.as_array() {
            None => out.push(format!("{path}: x-kubernetes-validations is not a list")),
            Some(rules) => {
                for (i, rule) in rules.iter().enumerate() {
                    let text = rule.get("rule").and_then(Value::as_str).unwrap_or_default();
                    if text.trim().is_empty() {
                        out.push(format!("{path}: x-kubernetes-validations[{i}] has no rule"));
                    }
                    if let Some(msg) = rule.get("message").and_then(Value::as_str)
                        && msg.contains('\n')
                    {
                        out.push(format!(
                            "{path}: x-kubernetes-validations[{i}].message has a line break"
                        ));
                    }
                    if text.contains("oldSelf") && preserve {
                        out.push(format!(
                            "{path}: transition rule on a preserve-unknown-fields node"
                        ));
                    }
                }
            }
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            structural_violations(sub, &format!("{path}.{name}"), out);
        }
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for r in required {
                let r = r.as_str().unwrap_or_default();
                // A preserve-unknown-fields object may require a declared property only.
                if !props.contains_key(r) {
                    out.push(format!("{path}: required `{r}` is not a declared property"));
                }
            }
        }
    } else if obj.contains_key("required") && !preserve {
        out.push(format!("{path}: `required` without properties"));
    }
    if let Some(add) = obj.get("additionalProperties")
        && add.is_object()
    {
        structural_violations(add, &format!("{path}.*"), out);
    }
    if let Some(items) = obj.get("items") {
        structural_violations(items, &format!("{path}[]"), out);
    }
}

#[test]
fn generated_schemas_are_structural() {
    for (kind, schema) in both_schemas() {
        let mut violations = Vec::new();
        structural_violations(&schema, kind, &mut violations);
        assert!(
            violations.is_empty(),
            "{kind} schema is not structural:\n{}",
            violations.join("\n")
        );
    }
}

#[test]
fn structural_checker_catches_what_kubernetes_rejects() {
    let bad = json!({
        "type": "object",
        "properties": {
            "a": {"$ref": "#/definitions/A"},
            "b": {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": {"type": "string"}},
            "c": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "d": {"type": "array"},
            "e": {"type": "object"},
            "f": {"type": "array", "items": {"type": "object", "properties": {}}, "x-kubernetes-list-type": "set"}
        }
    });
    let mut violations = Vec::new();
    structural_violations(&bad, "bad", &mut violations);
    for needle in [
        "bad.a: keyword `$ref`",
        "bad.b: `properties` and `additionalProperties`",
        "bad.c: keyword `anyOf`",
        "bad.d: array without",
        "bad.e: object without properties",
        "bad.f: list-type set",
    ] {
        assert!(
            violations.iter().any(|v| v.starts_with(needle)),
            "missing {needle:?} in {violations:#?}"
        );
    }
}

#[test]
fn cel_rules_are_present_where_fields_must_agree() {
    let mut rules = Vec::new();
    for (_, schema) in both_schemas() {
        collect_rules(&schema, &mut rules);
    }
    for expected in [
        "!self.enabled || self.approvalLabel.size() > 0",
        "self.trim().size() > 0",
        "self.state == oldSelf.state",
        "oldSelf.all(p, self.exists(q, q.uid == p.uid))",
        "self == oldSelf",
    ] {
        assert!(
            rules.iter().any(|r| r == expected),
            "no CEL rule {expected:?} in {rules:#?}"
        );
    }
}

fn collect_rules(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(obj) => {
            if let Some(Value::Array(rules)) = obj.get("x-kubernetes-validations") {
                out.extend(
                    rules
                        .iter()
                        .filter_map(|r| r.get("rule")?.as_str().map(String::from)),
                );
            }
            obj.values().for_each(|v| collect_rules(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_rules(v, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// CRD metadata, printer columns and selectable fields
// ---------------------------------------------------------------------------

/// Resolves a simple printer-column JSONPath (`.a.b`, `.a[?(@.type=="X")].b`) in the schema.
fn resolve<'a>(schema: &'a Value, json_path: &str) -> Option<&'a Value> {
    let mut node = schema;
    let mut rest = json_path.strip_prefix('.')?;
    while !rest.is_empty() {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (field, tail) = rest.split_at(end);
        node = node.get("properties")?.get(field)?;
        rest = tail;
        if let Some(filter) = rest.strip_prefix("[?(") {
            let close = filter.find(")]")?;
            node = node.get("items")?;
            rest = &filter[close + 2..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    Some(node)
}

#[test]
fn crd_names_scope_and_subresources() {
    let policy = CryptojackPolicy::crd();
    assert_eq!(
        policy.metadata.name.as_deref(),
        Some("cryptojackpolicies.cryptojack.dev")
    );
    assert_eq!(policy.spec.scope, "Cluster");
    assert_eq!(policy.spec.names.short_names, Some(vec!["cjp".to_string()]));
    assert_eq!(
        policy.spec.names.categories,
        Some(vec!["cryptojack".to_string()])
    );

    let incident = CryptojackIncident::crd();
    assert_eq!(
        incident.metadata.name.as_deref(),
        Some("cryptojackincidents.cryptojack.dev")
    );
    assert_eq!(incident.spec.scope, "Namespaced");
    assert_eq!(
        incident.spec.names.short_names,
        Some(vec!["cji".to_string()])
    );
    assert_eq!(
        incident.spec.names.categories,
        Some(vec!["cryptojack".to_string()])
    );

    for crd in [&policy, &incident] {
        assert_eq!(crd.spec.group, "cryptojack.dev");
        assert_eq!(crd.spec.versions.len(), 1);
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.served && v.storage);
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} has no status subresource",
            crd.spec.names.kind
        );
    }
}

#[test]
fn printer_columns_are_the_responders_view_and_resolve_in_the_schema() {
    let expect: [(&CustomResourceDefinition, &[&str]); 2] = [
        (
            &CryptojackIncident::crd(),
            &[
                "Workload",
                "Severity",
                "Indicator",
                "Phase",
                "Contained-In",
                "Cost",
                "Tier",
                "Age",
            ],
        ),
        (&CryptojackPolicy::crd(), &["Mode", "Ready", "Rules", "Age"]),
    ];
    for (crd, default_columns) in expect {
        let schema = schema_of(crd);
        let columns = crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap_or_default();
        let shown: Vec<&str> = columns
            .iter()
            .filter(|c| c.priority.unwrap_or(0) == 0)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(shown, default_columns, "{}", crd.spec.names.kind);
        for column in &columns {
            if column.json_path == ".metadata.creationTimestamp" {
                assert_eq!(column.type_, "date");
                continue;
            }
            let node = resolve(&schema, &column.json_path).unwrap_or_else(|| {
                panic!(
                    "column {} path {} not in schema",
                    column.name, column.json_path
                )
            });
            let ty = node.get("type").and_then(Value::as_str).unwrap_or_default();
            let compatible = match column.type_.as_str() {
                "string" => ty == "string",
                "integer" => ty == "integer",
                "number" => ty == "number" || ty == "integer",
                "boolean" => ty == "boolean",
                "date" => ty == "string",
                _ => false,
            };
            assert!(
                compatible,
                "column {} has type {} but the field is {ty}",
                column.name, column.type_
            );
        }
    }
}

#[test]
fn selectable_fields_are_required_scalars() {
    let crd = CryptojackIncident::crd();
    let schema = schema_of(&crd);
    let fields = crd.spec.versions[0]
        .selectable_fields
        .clone()
        .unwrap_or_default();
    assert!(!fields.is_empty());
    for field in fields {
        let node = resolve(&schema, &field.json_path)
            .unwrap_or_else(|| panic!("{} not in schema", field.json_path));
        assert_eq!(
            node.get("type").and_then(Value::as_str),
            Some("string"),
            "{}",
            field.json_path
        );
        assert!(
            node.get("nullable").is_none(),
            "{} is nullable",
            field.json_path
        );
    }
}

// ---------------------------------------------------------------------------
// A small OpenAPI v3 validator and defaulter with the API server's semantics for
// the keywords our schemas use. Good enough to check examples and defaults.
// ---------------------------------------------------------------------------

fn validate(value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    if value.is_null() {
        if s.get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{path}: null is not allowed"));
        }
        return;
    }
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            errors.push(format!("{path}: must be an integer or a string"));
        }
        return;
    }
    let ty = s.get("type").and_then(Value::as_str);
    let type_ok = match ty {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(_) => false,
    };
    if !type_ok {
        errors.push(format!(
            "{path}: expected {}, got {value}",
            ty.unwrap_or("?")
        ));
        return;
    }
    if let Some(choices) = s.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {choices:?}"));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            errors.push(format!("{path}: {n} is less than the minimum {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            errors.push(format!("{path}: {n} is greater than the maximum {max}"));
        }
    }
    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            errors.push(format!("{path}: shorter than {min}"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            errors.push(format!("{path}: longer than {max}"));
        }
        if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
            let re = regex::Regex::new(pattern)
                .unwrap_or_else(|e| panic!("{path}: bad pattern {pattern}: {e}"));
            if !re.is_match(text) {
                errors.push(format!("{path}: {text:?} does not match {pattern}"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
            && items.len() as u64 > max
        {
            errors.push(format!("{path}: more than {max} items"));
        }
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            errors.push(format!("{path}: fewer than {min} items"));
        }
        if s.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
            let mut seen = BTreeSet::new();
            for item in items {
                if !seen.insert(item.to_string()) {
                    errors.push(format!("{path}: duplicate set item {item}"));
                }
            }
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item, item_schema, &format!("{path}[{i}]"), errors);
            }
        }
    }
    if let Some(map) = value.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    errors.push(format!("{path}.{r}: required"));
                }
            }
        }
        for (k, v) in map {
            if let Some(sub) = props.and_then(|p| p.get(k)) {
                validate(v, sub, &format!("{path}.{k}"), errors);
            } else if let Some(add) = s.get("additionalProperties") {
                validate(v, add, &format!("{path}.{k}"), errors);
            }
            // Anything else is pruned by the API server (or kept by preserve-unknown-fields).
        }
    }
}

/// Fills `default`s the way the API server does: for every absent property of a
/// present object, recursively.
fn apply_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    if !map.contains_key(k)
                        && let Some(d) = sub.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                    if let Some(v) = map.get_mut(k) {
                        apply_defaults(v, sub);
                    }
                }
            } else if let Some(add) = schema.get("additionalProperties") {
                for v in map.values_mut() {
                    apply_defaults(v, add);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                items
                    .iter_mut()
                    .for_each(|i| apply_defaults(i, item_schema));
            }
        }
        _ => {}
    }
}

fn errors_for(object: &Value, schema: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(object, schema, "", &mut errors);
    errors
}

/// Every `default` in the schema validates against the schema it sits in
/// (the API server refuses the CRD otherwise).
fn check_defaults(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = node.as_object() else { return };
    if let Some(d) = obj.get("default") {
        let mut d = d.clone();
        apply_defaults(&mut d, node);
        let mut errors = Vec::new();
        validate(&d, node, &format!("{path}(default)"), &mut errors);
        out.extend(errors);
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            check_defaults(sub, &format!("{path}.{k}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = obj.get(key) {
            check_defaults(sub, &format!("{path}.{key}"), out);
        }
    }
}

#[test]
fn every_default_is_valid() {
    for (kind, schema) in both_schemas() {
        let mut errors = Vec::new();
        check_defaults(&schema, kind, &mut errors);
        assert!(errors.is_empty(), "{kind}: {errors:#?}");
    }
}

#[test]
fn api_server_defaulting_equals_serde_defaulting() {
    let schema = schema_of(&CryptojackPolicy::crd());
    let mut object = json!({
        "apiVersion": "cryptojack.dev/v1alpha1",
        "kind": "CryptojackPolicy",
        "metadata": {"name": "empty"},
        "spec": {}
    });
    apply_defaults(&mut object, &schema);
    let serde_default = serde_json::to_value(CryptojackPolicySpec::default()).expect("serializes");
    assert_eq!(
        object["spec"], serde_default,
        "CRD defaults and serde defaults disagree"
    );
    // And what the API server stores deserializes into exactly the Rust default.
    let spec: CryptojackPolicySpec =
        serde_json::from_value(object["spec"].clone()).expect("deserializes");
    assert_eq!(spec, CryptojackPolicySpec::default());

    // Nested: a partially written section gets the rest of its defaults.
    let mut partial = json!({"spec": {"response": {"networkIsolation": {"denyAllEgress": false}}}});
    apply_defaults(&mut partial, &schema);
    let from_server: CryptojackPolicySpec =
        serde_json::from_value(partial["spec"].clone()).expect("deserializes");
    let from_serde: CryptojackPolicySpec =
        serde_json::from_value(json!({"response": {"networkIsolation": {"denyAllEgress": false}}}))
            .expect("deserializes");
    assert_eq!(from_server, from_serde);
}

fn policy_with_spec(spec: Value) -> Value {
    json!({
        "apiVersion": "cryptojack.dev/v1alpha1",
        "kind": "CryptojackPolicy",
        "metadata": {"name": "p"},
        "spec": spec
    })
}

#[test]
fn example_policies_validate_against_the_schema() {
    let schema = schema_of(&CryptojackPolicy::crd());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policies");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/policies exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (i, mut doc) in docs.into_iter().enumerate() {
            if doc.get("kind").and_then(Value::as_str) != Some("CryptojackPolicy") {
                continue;
            }
            apply_defaults(&mut doc, &schema);
            let errors = errors_for(&doc, &schema);
            assert!(
                errors.is_empty(),
                "{} document {i}: {errors:#?}",
                path.display()
            );
            let typed: Result<CryptojackPolicy, _> = serde_json::from_value(doc);
            assert!(
                typed.is_ok(),
                "{} document {i}: {:?}",
                path.display(),
                typed.err()
            );
            seen += 1;
        }
    }
    assert!(seen >= 3, "expected the three example policies, saw {seen}");
}

#[test]
fn openapi_validation_rejects_nonsense() {
    let schema = schema_of(&CryptojackPolicy::crd());
    let cases = [
        (
            json!({"mode": "Block"}),
            ".spec.mode: \"Block\" is not one of",
        ),
        (
            json!({"mode": "contain"}),
            ".spec.mode: \"contain\" is not one of",
        ),
        (
            json!({"response": {"stratumPortBlock": {"ports": [0]}}}),
            "ports[0]: 0 is less than the minimum 1",
        ),
        (
            json!({"response": {"stratumPortBlock": {"ports": [70000]}}}),
            "ports[0]: 70000 is greater than the maximum 65535",
        ),
        (
            json!({"response": {"stratumPortBlock": {"ports": [3333, 3333]}}}),
            "duplicate set item 3333",
        ),
        (
            json!({"response": {"stratumPortBlock": {"inClusterCidrs": ["ten/8"]}}}),
            "inClusterCidrs[0]: \"ten/8\" does not match",
        ),
        (
            json!({"response": {"networkIsolation": {"flavor": "Weave"}}}),
            "flavor: \"Weave\" is not one of",
        ),
        (
            json!({"response": {"revokeCredentials": {"serviceAccount": "Sometimes"}}}),
            "serviceAccount: \"Sometimes\" is not one of",
        ),
        (
            json!({"response": {"revokeCredentials": {"recentWindow": "yesterday"}}}),
            "recentWindow: \"yesterday\" does not match",
        ),
        (
            json!({"response": {"suspendOwner": {"kinds": ["Pod"]}}}),
            "kinds[0]: \"Pod\" is not one of",
        ),
        (
            json!({"response": {"protect": [{"kind": "DaemonSet"}]}}),
            "protect[0].namespace: required",
        ),
        (
            json!({"match": {"exempt": [{"namespace": "Bad_NS"}]}}),
            "exempt[0].namespace: \"Bad_NS\" does not match",
        ),
        (
            json!({"limits": {"maxIncidentsPerMinute": 0}}),
            "maxIncidentsPerMinute: 0 is less than the minimum 1",
        ),
        (
            json!({"limits": {"maxIncidentsPerMinute": 10001}}),
            "maxIncidentsPerMinute: 10001 is greater than the maximum 10000",
        ),
        (
            json!({"cost": {"cpuHour": "-1"}}),
            "cpuHour: \"-1\" does not match",
        ),
        (json!({"cost": {"cpuHour": 0.5}}), "cpuHour"),
        (
            json!({"cost": {"gpuHour": {"nvidia.com/gpu": "lots"}}}),
            "gpuHour.nvidia.com/gpu: \"lots\" does not match",
        ),
        (
            json!({"cost": {"currency": "usd"}}),
            "currency: \"usd\" does not match",
        ),
        (
            json!({"response": {"evict": {"gracePeriodSeconds": -5}}}),
            "gracePeriodSeconds: -5 is less than the minimum 0",
        ),
        (
            json!({"response": {"evict": {"forceAfterSeconds": -1}}}),
            "forceAfterSeconds: -1 is less than the minimum 0",
        ),
        (
            json!({"response": {"minSeverity": "high"}}),
            "minSeverity: \"high\" is not one of",
        ),
        (
            json!({"detect": {"images": [{"pattern": ""}]}}),
            "images[0].pattern: shorter than 1",
        ),
        (
            json!({"detect": {"images": [{"pattern": "x", "syntax": "pcre"}]}}),
            "syntax: \"pcre\" is not one of",
        ),
        (
            json!({"detect": {"iocs": {"images": [{"value": "x", "severity": "critical"}]}}}),
            "severity: \"critical\" is not one of",
        ),
        (
            json!({"detect": {"gpu": {"approvalFrom": "Node"}}}),
            "approvalFrom: \"Node\" is not one of",
        ),
        (
            json!({"detect": {"sigma": [{"title": "t", "detection": {"selection": {}}}]}}),
            "detection.condition: required",
        ),
        (
            json!({"detect": {"sigma": [{"title": "t", "level": "severe", "detection": {"condition": "s"}}]}}),
            "level: \"severe\" is not one of",
        ),
        (
            json!({"detect": {"gpu": {"approvalLabel": "not a label!"}}}),
            "approvalLabel: \"not a label!\" does not match",
        ),
        (
            json!({"match": {"excludeNamespaces": ["Kube_System"]}}),
            "excludeNamespaces[0]: \"Kube_System\" does not match",
        ),
    ];
    for (spec, needle) in cases {
        let mut object = policy_with_spec(spec.clone());
        apply_defaults(&mut object, &schema);
        let errors = errors_for(&object, &schema);
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "spec {spec} should be rejected with {needle:?}, got {errors:#?}"
        );
    }
    // The boundaries themselves are accepted.
    let mut ok = policy_with_spec(json!({
        "response": {"stratumPortBlock": {"ports": [1, 65535]}, "evict": {"gracePeriodSeconds": 0}},
        "limits": {"maxIncidentsPerMinute": 10000},
        "cost": {"cpuHour": "0", "currency": "EUR", "gpuHour": {"nvidia.com/mig-*": "0.5"}},
        "detect": {"gpu": {"approvalLabel": "example.com/gpu-ok", "resources": ["nvidia.com/mig-*", "*.com/gpu"]}}
    }));
    apply_defaults(&mut ok, &schema);
    assert_eq!(errors_for(&ok, &schema), Vec::<String>::new());
}

#[test]
fn a_full_incident_validates_against_the_schema() {
    let schema = schema_of(&CryptojackIncident::crd());
    let incident = sample_incident_json();
    let errors = errors_for(&incident, &schema);
    assert!(errors.is_empty(), "{errors:#?}");
    let typed: CryptojackIncident = serde_json::from_value(incident.clone()).expect("deserializes");
    assert_eq!(typed.spec.severity, Severity::Critical);
    // And what the Rust types write validates too.
    let written = serde_json::to_value(&typed).expect("serializes");
    assert!(errors_for(&written, &schema).is_empty());

    let mut bad = incident;
    bad["spec"]["source"] = json!("Rumour");
    bad["status"]["actions"][0]["state"] = json!("Succeeded");
    bad["status"]["costTier"] = json!("Huge");
    bad["spec"]["findings"][0]["evidence"] = json!("x".repeat(121));
    bad["status"]["actions"][1]["message"] = json!("m".repeat(513));
    let errors = errors_for(&bad, &schema);
    for needle in [
        ".spec.source",
        ".status.actions[0].state",
        ".status.costTier",
        ".spec.findings[0].evidence",
        ".status.actions[1].message",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(needle)),
            "{needle} not rejected: {errors:#?}"
        );
    }
}

/// Every list of an incident is bounded (etcd's object limit is 1.5 MiB): no array
/// without maxItems, no free string without maxLength, no open map without
/// maxProperties, nothing that preserves unknown fields.
#[test]
fn every_incident_list_and_string_is_bounded() {
    fn walk(node: &Value, path: &str, out: &mut Vec<String>) {
        let Some(obj) = node.as_object() else { return };
        if obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
            out.push(format!("{path} (preserve-unknown-fields)"));
        }
        match obj.get("type").and_then(Value::as_str) {
            Some("array") if !obj.contains_key("maxItems") => out.push(path.to_string()),
            Some("string")
                if !obj.contains_key("maxLength")
                    && !obj.contains_key("enum")
                    && obj.get("format").and_then(Value::as_str) != Some("date-time") =>
            {
                out.push(path.to_string())
            }
            Some("object")
                if obj.contains_key("additionalProperties")
                    && !obj.contains_key("maxProperties") =>
            {
                out.push(path.to_string())
            }
            _ => {}
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                walk(v, &format!("{path}.{k}"), out);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = obj.get(key) {
                walk(sub, &format!("{path}[]"), out);
            }
        }
    }
    let schema = schema_of(&CryptojackIncident::crd());
    let mut unbounded = Vec::new();
    walk(&schema["properties"]["spec"], ".spec", &mut unbounded);
    walk(&schema["properties"]["status"], ".status", &mut unbounded);
    // Conditions are k8s-openapi's Condition type: the API server bounds its strings in
    // its own condition validation; the list itself has maxItems.
    unbounded.retain(|p| !p.starts_with(".status.conditions[]."));
    assert!(unbounded.is_empty(), "unbounded fields: {unbounded:#?}");
}

fn sample_incident_json() -> Value {
    json!({
        "apiVersion": "cryptojack.dev/v1alpha1",
        "kind": "CryptojackIncident",
        "metadata": {"name": "cji-0123456789abcdef", "namespace": "team-a"},
        "spec": {
            "workload": "Deployment/web-cache",
            "topOwner": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "team-a", "name": "web-cache", "uid": "u-2"},
            "pods": [{"name": "web-cache-7d9f8-abcde", "uid": "0f8d6a52-3c1e-4b7a-9d2f-6e5c4b3a2910", "node": "gpu-node-1", "createdAt": "2026-11-28T20:00:05Z"}],
            "podCount": 3,
            "ownerChain": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-cache-7d9f8", "uid": "u-1"},
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-cache", "uid": "u-2", "fieldManager": "kubectl-client-side-apply", "createdAt": "2026-11-28T20:00:00Z"}
            ],
            "serviceAccount": "default",
            "nodeName": "gpu-node-1",
            "images": ["docker.io/xmrig/xmrig:6.21.0"],
            "findings": [{
                "rule": "builtin/miner-binary/xmrig",
                "category": "MinerBinary",
                "severity": "Critical",
                "container": "cache",
                "field": "spec.containers[0].command[0]",
                "evidence": "xmrig",
                "policies": ["strict-contain"]
            }],
            "severity": "Critical",
            "topIndicator": "builtin/miner-binary/xmrig: xmrig",
            "policies": ["strict-contain"],
            "source": "Watch",
            "detectedAt": "2026-11-28T21:00:00.123456Z",
            "podCreatedAt": "2026-11-28T20:00:05Z",
            "fieldManager": "kube-controller-manager",
            "requested": {"cpuMillicores": 2500, "gpus": {"nvidia.com/gpu": 4}}
        },
        "status": {
            "phase": "PartiallyContained",
            "mode": "Contain",
            "actions": [
                {
                    "id": "evict/apps/Deployment/team-a/web-cache",
                    "verb": "Evict",
                    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "team-a", "name": "web-cache"},
                    "state": "Done",
                    "attempts": 1,
                    "startedAt": "2026-11-28T21:00:00.200000Z",
                    "finishedAt": "2026-11-28T21:00:00.350000Z",
                    "pods": {"total": 3, "evicted": 2, "deleted": 1, "sample": ["web-cache-7d9f8-abcde: evicted"]}
                },
                {
                    "id": "scale/apps/Deployment/team-a/web-cache",
                    "verb": "Scale",
                    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "team-a", "name": "web-cache"},
                    "state": "Done",
                    "attempts": 1,
                    "undo": {"replicas": 3}
                },
                {
                    "id": "quarantine-binding/rbac.authorization.k8s.io/RoleBinding/team-a/edit",
                    "verb": "QuarantineBinding",
                    "target": {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "namespace": "team-a", "name": "edit"},
                    "state": "Failed",
                    "attempts": 5,
                    "error": "forbidden: cannot update rolebindings",
                    "undo": {"binding": {"kind": "RoleBinding", "namespace": "team-a", "name": "edit",
                             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                             "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "team-a"}]}}
                },
                {
                    "id": "cap-gpu-quota/core/ResourceQuota/team-a/cryptojack-gpu-cap",
                    "verb": "CapGpuQuota",
                    "target": {"apiVersion": "v1", "kind": "ResourceQuota", "namespace": "team-a", "name": "cryptojack-gpu-cap"},
                    "state": "Done",
                    "attempts": 1,
                    "undo": {"created": [{"apiVersion": "v1", "kind": "ResourceQuota", "namespace": "team-a", "name": "cryptojack-gpu-cap"}]}
                }
            ],
            "detectionLatencyMs": 8,
            "containedAt": "2026-11-28T21:00:00.900000Z",
            "timeToContainMs": 777,
            "timeToContain": "777ms",
            "estimatedCost": {"amount": "12.34", "currency": "USD", "hoursRunning": "1.00", "gpuHours": "4.00", "cpuHours": "2.50", "display": "12.34 USD"},
            "costTier": "Medium",
            "conditions": [{"type": "Contained", "status": "False", "reason": "ActionFailed", "message": "QuarantineBinding failed", "lastTransitionTime": "2026-11-28T21:00:01Z"}],
            "observedGeneration": 1
        }
    })
}

#[test]
fn incident_spec_requires_the_facts() {
    let schema = schema_of(&CryptojackIncident::crd());
    let object = json!({"apiVersion": "cryptojack.dev/v1alpha1", "kind": "CryptojackIncident", "metadata": {"name": "x"}, "spec": {}});
    let errors = errors_for(&object, &schema);
    for field in ["workload", "topOwner", "severity", "source", "detectedAt"] {
        assert!(
            errors
                .iter()
                .any(|e| e == &format!(".spec.{field}: required")),
            "{field}: {errors:#?}"
        );
    }
    // serde agrees: a spec without the facts does not deserialize.
    assert!(serde_json::from_value::<CryptojackIncidentSpec>(json!({})).is_err());
}
