//! Protobuf request bodies of the authentication.k8s.io/v1 and authorization.k8s.io/v1 kinds that
//! kubectl sends through its typed clients: TokenRequest (`kubectl create token`),
//! SelfSubjectAccessReview and SelfSubjectRulesReview (`kubectl auth can-i [--list]`),
//! SelfSubjectReview (`kubectl auth whoami`), and SubjectAccessReview, LocalSubjectAccessReview
//! and TokenReview for completeness. Field numbers from
//! `staging/src/k8s.io/api/{authentication,authorization}/v1/generated.proto`.

use serde_json::{Map, Value, json};

use super::legacy::{insert_str, object_meta, push};
use super::{Field, ProtoError, fields, string};

/// Decodes `raw` (the `Unknown.raw` bytes) of one of the kinds above; `None` for other kinds.
pub(super) fn decode(
    api_version: &str,
    kind: &str,
    raw: &[u8],
) -> Option<Result<Value, ProtoError>> {
    let spec: fn(&[u8]) -> Result<Value, ProtoError> = match (api_version, kind) {
        ("authentication.k8s.io/v1", "TokenRequest") => token_request_spec,
        ("authentication.k8s.io/v1", "TokenReview") => token_review_spec,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => empty_spec,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => access_review_spec,
        ("authorization.k8s.io/v1", "SubjectAccessReview" | "LocalSubjectAccessReview") => {
            access_review_spec
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => rules_review_spec,
        _ => return None,
    };
    Some(decode_with(api_version, kind, raw, spec))
}

fn decode_with(
    api_version: &str,
    kind: &str,
    raw: &[u8],
    spec: fn(&[u8]) -> Result<Value, ProtoError>,
) -> Result<Value, ProtoError> {
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            // SelfSubjectReview has no spec (field 2 is its status).
            (2, Field::Bytes(x)) if kind != "SelfSubjectReview" => {
                obj.insert("spec".into(), spec(x)?);
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

fn empty_spec(_: &[u8]) -> Result<Value, ProtoError> {
    Ok(json!({}))
}

/// TokenRequestSpec: audiences 1, boundObjectRef 3, expirationSeconds 4.
fn token_request_spec(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    m.insert("audiences".into(), json!([]));
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => push(&mut m, "audiences", json!(string(x)?)),
            (3, Field::Bytes(x)) => {
                let mut r = Map::new();
                for (rn, rf) in fields(x)? {
                    if let Field::Bytes(v) = rf {
                        match rn {
                            1 => insert_str(&mut r, "kind", v)?,
                            2 => insert_str(&mut r, "apiVersion", v)?,
                            3 => insert_str(&mut r, "name", v)?,
                            4 => insert_str(&mut r, "uid", v)?,
                            _ => {}
                        }
                    }
                }
                m.insert("boundObjectRef".into(), Value::Object(r));
            }
            (4, Field::Varint(v)) => {
                m.insert("expirationSeconds".into(), json!(v as i64));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// TokenReviewSpec: token 1, audiences 2.
fn token_review_spec(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => insert_str(&mut m, "token", x)?,
            (2, Field::Bytes(x)) => push(&mut m, "audiences", json!(string(x)?)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// (Self)SubjectAccessReviewSpec: resourceAttributes 1, nonResourceAttributes 2, and for
/// SubjectAccessReviewSpec user 3, groups 4, extra 5, uid 6.
fn access_review_spec(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(x) = f else { continue };
        match n {
            1 => {
                m.insert("resourceAttributes".into(), resource_attributes(x)?);
            }
            2 => {
                let mut r = Map::new();
                for (rn, rf) in fields(x)? {
                    if let Field::Bytes(v) = rf {
                        match rn {
                            1 => insert_str(&mut r, "path", v)?,
                            2 => insert_str(&mut r, "verb", v)?,
                            _ => {}
                        }
                    }
                }
                m.insert("nonResourceAttributes".into(), Value::Object(r));
            }
            3 => insert_str(&mut m, "user", x)?,
            4 => push(&mut m, "groups", json!(string(x)?)),
            5 => {
                // map<string, ExtraValue>: key 1, value 2 (ExtraValue: items 1).
                let mut key = String::new();
                let mut values = Vec::new();
                for (en, ef) in fields(x)? {
                    match (en, ef) {
                        (1, Field::Bytes(k)) => key = string(k)?,
                        (2, Field::Bytes(v)) => {
                            for (_, item) in fields(v)? {
                                if let Field::Bytes(s) = item {
                                    values.push(json!(string(s)?));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                let extra = m.entry("extra").or_insert_with(|| json!({}));
                if let Some(e) = extra.as_object_mut() {
                    e.insert(key, Value::Array(values));
                }
            }
            6 => insert_str(&mut m, "uid", x)?,
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// ResourceAttributes: namespace 1, verb 2, group 3, version 4, resource 5, subresource 6,
/// name 7 (field/label selectors 8/9 are not decoded: they can only narrow a check).
fn resource_attributes(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Map::new();
    for (n, f) in fields(b)? {
        let Field::Bytes(v) = f else { continue };
        let key = match n {
            1 => "namespace",
            2 => "verb",
            3 => "group",
            4 => "version",
            5 => "resource",
            6 => "subresource",
            7 => "name",
            _ => continue,
        };
        insert_str(&mut r, key, v)?;
    }
    Ok(Value::Object(r))
}

/// SelfSubjectRulesReviewSpec: namespace 1.
fn rules_review_spec(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        if let (1, Field::Bytes(x)) = (n, f) {
            insert_str(&mut m, "namespace", x)?;
        }
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::super::{bytes_field, varint};
    use super::*;

    #[test]
    fn decodes_token_request_and_access_review() {
        let mut bound = Vec::new();
        bytes_field(1, b"Pod", &mut bound);
        bytes_field(3, b"p", &mut bound);
        let mut spec = Vec::new();
        bytes_field(1, b"api", &mut spec);
        bytes_field(3, &bound, &mut spec);
        varint(4 << 3, &mut spec);
        varint(3600, &mut spec);
        let mut raw = Vec::new();
        bytes_field(2, &spec, &mut raw);
        let v = decode("authentication.k8s.io/v1", "TokenRequest", &raw)
            .expect("handled")
            .expect("decoded");
        assert_eq!(v["spec"]["audiences"], json!(["api"]));
        assert_eq!(v["spec"]["expirationSeconds"], 3600);
        assert_eq!(
            v["spec"]["boundObjectRef"],
            json!({"kind": "Pod", "name": "p"})
        );

        let mut ra = Vec::new();
        bytes_field(1, b"ns", &mut ra);
        bytes_field(2, b"list", &mut ra);
        bytes_field(5, b"pods", &mut ra);
        let mut spec = Vec::new();
        bytes_field(1, &ra, &mut spec);
        let mut raw = Vec::new();
        bytes_field(2, &spec, &mut raw);
        let v = decode("authorization.k8s.io/v1", "SelfSubjectAccessReview", &raw)
            .expect("handled")
            .expect("decoded");
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "ns", "verb": "list", "resource": "pods"})
        );
        assert!(decode("v1", "Pod", &raw).is_none());
    }
}
