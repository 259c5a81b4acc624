//! Decoding of Kubernetes protobuf request bodies for a few simple kinds.
//!
//! kubectl's generator subcommands (`kubectl create namespace|configmap|secret|serviceaccount`)
//! use typed clients that send `application/vnd.kubernetes.protobuf` bodies, and client-go does not
//! fall back to JSON on 415 for protobuf. kubesim is JSON inside, so it decodes those bodies for
//! Namespace, ConfigMap, Secret and ServiceAccount (field numbers from the Kubernetes
//! `generated.proto` files); other kinds still get 415.

use base64::Engine as _;
use serde_json::{Map, Value, json};

mod auth_kinds;
mod meta_kinds;

const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtoError {
    #[error("the body does not start with the Kubernetes protobuf magic number")]
    Magic,
    #[error("truncated protobuf message")]
    Truncated,
    #[error("unsupported protobuf wire type {0}")]
    WireType(u64),
    #[error("protobuf decoding of kind {0:?} is not supported by kubesim (send JSON)")]
    Kind(String),
    #[error("invalid UTF-8 in a protobuf string field")]
    Utf8,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or(ProtoError::Truncated)?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::Truncated)
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtoError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let f = match key & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| ProtoError::Truncated)?;
                if self.buf.len() < n {
                    return Err(ProtoError::Truncated);
                }
                let (b, rest) = self.buf.split_at(n);
                self.buf = rest;
                Field::Bytes(b)
            }
            1 => {
                self.skip(8)?;
                Field::Fixed
            }
            5 => {
                self.skip(4)?;
                Field::Fixed
            }
            w => return Err(ProtoError::WireType(w)),
        };
        Ok(Some((field, f)))
    }

    fn skip(&mut self, n: usize) -> Result<(), ProtoError> {
        if self.buf.len() < n {
            return Err(ProtoError::Truncated);
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ProtoError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError::Utf8)
}

/// A `map<string, string>` (or bytes, base64-encoded) entry.
fn map_entry(b: &[u8], bytes: bool) -> Result<(String, Value), ProtoError> {
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
fn insert_str(obj: &mut Map<String, Value>, key: &str, b: &[u8]) -> Result<(), ProtoError> {
    let s = string(b)?;
    if !s.is_empty() {
        obj.insert(key.into(), json!(s));
    }
    Ok(())
}

fn insert_map(obj: &mut Map<String, Value>, key: &str, entry: (String, Value)) {
    let m = obj.entry(key).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        m.insert(entry.0, entry.1);
    }
}

fn push(obj: &mut Map<String, Value>, key: &str, v: Value) {
    let a = obj.entry(key).or_insert_with(|| json!([]));
    if let Some(a) = a.as_array_mut() {
        a.push(v);
    }
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
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

fn owner_reference(b: &[u8]) -> Result<Value, ProtoError> {
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

/// The `name` of an ObjectReference (field 3) or a LocalObjectReference (field 1).
fn ref_name(b: &[u8], field: u64) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        if let Field::Bytes(x) = f
            && n == field
        {
            m.insert("name".into(), json!(string(x)?));
        }
    }
    Ok(Value::Object(m))
}

fn decode_kind(api_version: &str, kind: &str, raw: &[u8]) -> Result<Value, ProtoError> {
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    for (n, f) in fields(raw)? {
        let Field::Bytes(x) = f else {
            if let (4, Field::Varint(v), "ConfigMap" | "ServiceAccount") = (n, &f, kind) {
                let key = if kind == "ConfigMap" {
                    "immutable"
                } else {
                    "automountServiceAccountToken"
                };
                obj.insert(key.into(), json!(*v != 0));
            }
            if let (5, Field::Varint(v), "Secret") = (n, &f, kind) {
                obj.insert("immutable".into(), json!(*v != 0));
            }
            continue;
        };
        if n == 1 {
            obj.insert("metadata".into(), object_meta(x)?);
            continue;
        }
        match (kind, n) {
            ("Namespace", 2) => {
                let mut spec = Map::new();
                for (sn, sf) in fields(x)? {
                    if let (1, Field::Bytes(s)) = (sn, sf) {
                        push(&mut spec, "finalizers", json!(string(s)?));
                    }
                }
                obj.insert("spec".into(), Value::Object(spec));
            }
            ("ConfigMap", 2) => insert_map(&mut obj, "data", map_entry(x, false)?),
            ("ConfigMap", 3) => insert_map(&mut obj, "binaryData", map_entry(x, true)?),
            ("Secret", 2) => insert_map(&mut obj, "data", map_entry(x, true)?),
            ("Secret", 3) => insert_str(&mut obj, "type", x)?,
            ("Secret", 4) => insert_map(&mut obj, "stringData", map_entry(x, false)?),
            ("ServiceAccount", 2) => push(&mut obj, "secrets", ref_name(x, 3)?),
            ("ServiceAccount", 3) => push(&mut obj, "imagePullSecrets", ref_name(x, 1)?),
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into the JSON object.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::Magic)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(rest)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (tn, tf) in fields(tm)? {
                    match (tn, tf) {
                        (1, Field::Bytes(x)) => api_version = string(x)?,
                        (2, Field::Bytes(x)) => kind = string(x)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount") => {
            decode_kind(&api_version, &kind, raw)
        }
        _ => auth_kinds::decode(&api_version, &kind, raw)
            .or_else(|| meta_kinds::decode(&api_version, &kind, raw))
            .unwrap_or_else(|| Err(ProtoError::Kind(format!("{api_version}/{kind}")))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(super) fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    pub(super) fn bytes_field(n: u64, b: &[u8], out: &mut Vec<u8>) {
        varint(n << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        bytes_field(1, k.as_bytes(), &mut e);
        bytes_field(2, v, &mut e);
        e
    }

    #[test]
    fn decodes_a_secret() {
        let mut meta = Vec::new();
        bytes_field(1, b"s1", &mut meta);
        bytes_field(3, b"ns", &mut meta);
        bytes_field(11, &entry("app", b"web"), &mut meta);
        let mut raw = Vec::new();
        bytes_field(1, &meta, &mut raw);
        bytes_field(2, &entry("k", b"\x00\x01"), &mut raw);
        bytes_field(3, b"Opaque", &mut raw);
        let mut tm = Vec::new();
        bytes_field(1, b"v1", &mut tm);
        bytes_field(2, b"Secret", &mut tm);
        let mut body = MAGIC.to_vec();
        bytes_field(1, &tm, &mut body);
        bytes_field(2, &raw, &mut body);
        let v = decode(&body).expect("decode");
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "s1");
        assert_eq!(v["metadata"]["labels"]["app"], "web");
        assert_eq!(v["data"]["k"], "AAE=");
        assert_eq!(v["type"], "Opaque");
        assert_eq!(decode(b"nope"), Err(ProtoError::Magic));
    }
}
