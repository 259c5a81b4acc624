//! Hand-written decoding helpers used by `auth_kinds` (the review kinds and DeleteOptions),
//! kept beside the table-driven decoder of `types` until those kinds are in its tables.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{Field, ProtoError, fields, string};

/// A `map<string, string>` (or bytes, base64-encoded) entry.
pub(super) fn map_entry(b: &[u8], bytes: bool) -> Result<(String, Value), ProtoError> {
    let mut k = String::new();
    let mut v = Value::String(String::new());
    for (n, f) in fields(b)? {
        if let Field::Bytes(x) = f {
            match n {
                1 => k = string(x)?,
                2 if bytes => {
                    v = json!(base64::engine::general_purpose::STANDARD.encode(x));
                }
                2 => v = json!(string(x)?),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

/// Sets a string field unless empty (Go's `omitempty` of proto3 zero values).
pub(super) fn insert_str(
    obj: &mut Map<String, Value>,
    key: &str,
    b: &[u8],
) -> Result<(), ProtoError> {
    let s = string(b)?;
    if !s.is_empty() {
        obj.insert(key.into(), json!(s));
    }
    Ok(())
}

pub(super) fn insert_map(obj: &mut Map<String, Value>, key: &str, entry: (String, Value)) {
    let m = obj.entry(key).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        m.insert(entry.0, entry.1);
    }
}

pub(super) fn push(obj: &mut Map<String, Value>, key: &str, v: Value) {
    let a = obj.entry(key).or_insert_with(|| json!([]));
    if let Some(a) = a.as_array_mut() {
        a.push(v);
    }
}

pub(super) fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                insert_str(&mut m, "name", x)?;
            }
            (2, Field::Bytes(x)) => {
                insert_str(&mut m, "generateName", x)?;
            }
            (3, Field::Bytes(x)) => {
                insert_str(&mut m, "namespace", x)?;
            }
            (6, Field::Bytes(x)) => {
                insert_str(&mut m, "resourceVersion", x)?;
            }
            (11, Field::Bytes(x)) => insert_map(&mut m, "labels", map_entry(x, false)?),
            (12, Field::Bytes(x)) => insert_map(&mut m, "annotations", map_entry(x, false)?),
            (13, Field::Bytes(x)) => push(&mut m, "ownerReferences", owner_reference(x)?),
            (14, Field::Bytes(x)) => push(&mut m, "finalizers", json!(string(x)?)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

pub(super) fn owner_reference(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                m.insert("kind".into(), json!(string(x)?));
            }
            (3, Field::Bytes(x)) => {
                insert_str(&mut m, "name", x)?;
            }
            (4, Field::Bytes(x)) => {
                m.insert("uid".into(), json!(string(x)?));
            }
            (5, Field::Bytes(x)) => {
                m.insert("apiVersion".into(), json!(string(x)?));
            }
            (6, Field::Varint(v)) => {
                m.insert("controller".into(), json!(v != 0));
            }
            (7, Field::Varint(v)) => {
                m.insert("blockOwnerDeletion".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}
