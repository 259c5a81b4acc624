//! Protobuf bodies of meta/v1 option kinds that typed clients send: DeleteOptions (client-go's
//! typed `Delete`, e.g. helm removing its release Secrets on `helm uninstall`). It is registered in
//! every group version, so any apiVersion is accepted. Field numbers from
//! `staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto`.

use serde_json::{Map, Value, json};

use super::legacy::{insert_str, push};
use super::{Field, ProtoError, fields, string};

/// Decodes `raw` of a DeleteOptions; `None` for other kinds.
pub(super) fn decode(
    api_version: &str,
    kind: &str,
    raw: &[u8],
) -> Option<Result<Value, ProtoError>> {
    (kind == "DeleteOptions").then(|| delete_options(api_version, raw))
}

/// DeleteOptions: gracePeriodSeconds 1, preconditions 2 (uid 1, resourceVersion 2),
/// orphanDependents 3, propagationPolicy 4, dryRun 5.
fn delete_options(api_version: &str, raw: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!(api_version));
    m.insert("kind".into(), json!("DeleteOptions"));
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Varint(v)) => {
                m.insert("gracePeriodSeconds".into(), json!(v as i64));
            }
            (2, Field::Bytes(x)) => {
                let mut p = Map::new();
                for (pn, pf) in fields(x)? {
                    match (pn, pf) {
                        (1, Field::Bytes(v)) => insert_str(&mut p, "uid", v)?,
                        (2, Field::Bytes(v)) => insert_str(&mut p, "resourceVersion", v)?,
                        _ => {}
                    }
                }
                m.insert("preconditions".into(), Value::Object(p));
            }
            (3, Field::Varint(v)) => {
                m.insert("orphanDependents".into(), json!(v != 0));
            }
            (4, Field::Bytes(x)) => insert_str(&mut m, "propagationPolicy", x)?,
            (5, Field::Bytes(x)) => push(&mut m, "dryRun", json!(string(x)?)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::super::{bytes_field, varint};
    use super::*;

    #[test]
    fn decodes_delete_options() {
        let mut pre = Vec::new();
        bytes_field(1, b"u-1", &mut pre);
        let mut raw = Vec::new();
        varint(1 << 3, &mut raw);
        varint(0, &mut raw);
        bytes_field(2, &pre, &mut raw);
        bytes_field(4, b"Foreground", &mut raw);
        let v = decode("v1", "DeleteOptions", &raw)
            .expect("handled")
            .expect("decoded");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                   "preconditions": {"uid": "u-1"}, "propagationPolicy": "Foreground"})
        );
        assert!(decode("v1", "Pod", &raw).is_none());
    }
}
