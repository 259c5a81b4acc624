//! TEMPORARY: minimal private fallbacks for modules other helpers are still writing
//! (schema.rs, table.rs). Each is replaced by a re-export of the real
//! module as soon as it lands; this file then disappears.

pub mod schema {
    use serde_json::{Value, json};
    pub struct FieldError {
        pub field: String,
        pub message: String,
    }
    pub fn validate(_schema: &Value, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }
    pub fn prune_and_default(_schema: &Value, _obj: &mut Value) {}
    pub fn invalid_status(kind: &str, _group: &str, name: &str, errors: &[FieldError]) -> Value {
        let msg: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422,
            "message": format!("{kind} \"{name}\" is invalid: {}", msg.join(", "))})
    }
}

pub mod table {
    use serde_json::{Value, json};
    pub struct Column;
    pub fn builtin_columns(_key: &str) -> Vec<Column> {
        Vec::new()
    }
    pub fn crd_columns(_v: &Value) -> Vec<Column> {
        Vec::new()
    }
    pub fn render_table(_key: &str, _c: &[Column], objects: &[Value], _now: jiff::Timestamp, _inc: &str) -> Value {
        let rows: Vec<Value> = objects
            .iter()
            .map(|o| json!({"cells":[o.pointer("/metadata/name").cloned().unwrap_or_default()],
                "object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":o.get("metadata").cloned().unwrap_or_default()}}))
            .collect();
        json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},
            "columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"","priority":0}],"rows":rows})
    }
}

