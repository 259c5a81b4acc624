//! Events: one store behind core/v1 `events` and events.k8s.io/v1 `events`, as the apiserver
//! has it (one registry, pkg/registry/core/event, objects converted per request version by
//! pkg/apis/events/v1/conversion.go), and the apiserver's Event validation
//! (pkg/apis/core/validation/events.go).
//!
//! Objects are stored in the core/v1 form under the `/events` key. A request to events.k8s.io/v1
//! is converted (regarding ↔ involvedObject, note ↔ message, reportingController ↔
//! reportingComponent, deprecatedSource ↔ source, deprecatedFirstTimestamp/
//! deprecatedLastTimestamp/deprecatedCount ↔ firstTimestamp/lastTimestamp/count; eventTime,
//! series, action, reason, type, related, reportingInstance as they are), served by the core
//! code paths, and the answer converted back; its field selectors use the events.k8s.io labels
//! (`regarding.*`, `reportingController`, ...). Watchers of either group see every event.
//!
//! Validation: every write passes the legacy rules (namespace agreement with involvedObject, and
//! for events with an eventTime: reportingController (a qualified name), reportingInstance
//! (≤ 128), action (≤ 128), reason (≤ 128) required, message ≤ 1024 bytes); creates through
//! events.k8s.io/v1 also the strict ones (eventTime required, type Normal|Warning, series count ≥ 2
//! with lastObservedTime, the deprecated fields unset), and updates through it keep the
//! immutable fields. Errors are 422 `Event "name" is invalid: ...` with the core field paths, as
//! the apiserver reports them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::api::{ApiError, Target, name_of, namespace_of};
use crate::schema::{FieldError, FieldErrorKind};
use crate::server::{Render, ResourceReq, ServerState};

/// The storage key of both groups' Events.
pub const CORE_KEY: &str = "/events";
/// The events.k8s.io resource key.
pub const V1_KEY: &str = "events.k8s.io/events";
const V1_API_VERSION: &str = "events.k8s.io/v1";

/// (events.k8s.io/v1 field, core/v1 field) pairs that are renamed.
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Fields with the same name in both versions.
const SHARED: &[&str] = &[
    "metadata",
    "eventTime",
    "series",
    "action",
    "reason",
    "type",
    "related",
    "reportingInstance",
];

fn is_set(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

/// An events.k8s.io/v1 Event in the core/v1 form (unknown fields are dropped, as decoding into
/// the typed object does).
pub fn to_core(v1: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    for k in SHARED {
        if let Some(v) = v1.get(*k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    for (new, old) in RENAMES {
        if let Some(v) = v1.get(*new) {
            out.insert(old.to_string(), v.clone());
        }
    }
    let mut v = Value::Object(out);
    normalize_core(&mut v);
    v
}

/// A stored core/v1 Event in the events.k8s.io/v1 form, serialised as the Go type would be
/// (`regarding` and `deprecatedSource` always present, unset timestamps as null).
pub fn to_v1(core: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(V1_API_VERSION));
    out.insert("kind".into(), json!("Event"));
    for k in SHARED {
        if let Some(v) = core
            .get(*k)
            .filter(|v| is_set(Some(v)) || *k == "eventTime")
        {
            out.insert(k.to_string(), v.clone());
        }
    }
    for (new, old) in RENAMES {
        if let Some(v) = core.get(*old).filter(|v| is_set(Some(v))) {
            out.insert(new.to_string(), v.clone());
        }
    }
    out.entry("eventTime").or_insert(Value::Null);
    out.entry("regarding").or_insert_with(|| json!({}));
    out.entry("deprecatedSource").or_insert_with(|| json!({}));
    out.entry("deprecatedFirstTimestamp").or_insert(Value::Null);
    out.entry("deprecatedLastTimestamp").or_insert(Value::Null);
    Value::Object(out)
}

/// The core/v1 serialisation of the Go type: `involvedObject` and `source` always present,
/// unset timestamps as null, the reporting strings as "".
pub fn normalize_core(ev: &mut Value) {
    let Some(m) = ev.as_object_mut() else {
        return;
    };
    m.entry("involvedObject").or_insert_with(|| json!({}));
    m.entry("source").or_insert_with(|| json!({}));
    for k in ["firstTimestamp", "lastTimestamp", "eventTime"] {
        m.entry(k).or_insert(Value::Null);
    }
    for k in ["reportingComponent", "reportingInstance"] {
        m.entry(k).or_insert_with(|| json!(""));
    }
    if m.get("count").is_some_and(|c| c.as_i64() == Some(0)) {
        m.remove("count");
    }
}

fn s<'a>(ev: &'a Value, k: &str) -> &'a str {
    ev.get(k).and_then(Value::as_str).unwrap_or("")
}

fn err(field: &str, kind: FieldErrorKind, bad: Option<Value>, msg: &str) -> FieldError {
    FieldError {
        field: field.to_string(),
        kind,
        message: msg.to_string(),
        bad_value: bad,
    }
}

/// `validation.IsQualifiedName`'s messages for `v`.
fn qualified_name_errors(v: &str) -> Vec<String> {
    let name_ok = |n: &str| {
        let b = n.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    };
    const NAME_FMT: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    let mut out = Vec::new();
    let (prefix, name) = match v.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, v),
    };
    if v.matches('/').count() > 1 {
        return vec![format!(
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )];
    }
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else if !dns_subdomain(p) {
            out.push(format!("prefix part {}", DNS1123_SUBDOMAIN_FMT));
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        out.push("name part must be no more than 63 bytes".to_string());
    } else if !name_ok(name) {
        out.push(NAME_FMT.to_string());
    }
    out
}

const DNS1123_SUBDOMAIN_FMT: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn dns_subdomain(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 253
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
}

/// `legacyValidateEvent` over a core/v1 Event.
fn legacy(ev: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = namespace_of(ev);
    let involved_ns = ev
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mismatch = |errs: &mut Vec<FieldError>| {
        errs.push(err(
            "involvedObject.namespace",
            FieldErrorKind::Invalid,
            Some(json!(involved_ns)),
            "does not match event.namespace",
        ))
    };
    if !is_set(ev.get("eventTime")) {
        if involved_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                mismatch(&mut errs);
            }
        } else if ns != involved_ns {
            mismatch(&mut errs);
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            mismatch(&mut errs);
        }
        let rc = s(ev, "reportingComponent");
        if rc.is_empty() {
            errs.push(err(
                "reportingController",
                FieldErrorKind::Required,
                None,
                "",
            ));
        }
        for m in qualified_name_errors(rc) {
            errs.push(err(
                "reportingController",
                FieldErrorKind::Invalid,
                Some(json!(rc)),
                &m,
            ));
        }
        let limited = |errs: &mut Vec<FieldError>, field: &str, v: &str, limit: usize| {
            if v.is_empty() {
                errs.push(err(field, FieldErrorKind::Required, None, ""));
            }
            if v.len() > limit {
                errs.push(err(
                    field,
                    FieldErrorKind::Invalid,
                    Some(json!("")),
                    &format!("can have at most {limit} characters"),
                ));
            }
        };
        limited(
            &mut errs,
            "reportingInstance",
            s(ev, "reportingInstance"),
            128,
        );
        limited(&mut errs, "action", s(ev, "action"), 128);
        limited(&mut errs, "reason", s(ev, "reason"), 128);
        if s(ev, "message").len() > 1024 {
            errs.push(err(
                "message",
                FieldErrorKind::Invalid,
                Some(json!("")),
                "can have at most 1024 characters",
            ));
        }
    }
    if !dns_subdomain(ns) {
        errs.push(err(
            "namespace",
            FieldErrorKind::Invalid,
            Some(json!(ns)),
            DNS1123_SUBDOMAIN_FMT,
        ));
    }
    errs
}

fn series_errors(ev: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(series) = ev.get("series").filter(|s| !s.is_null()) {
        if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
            errs.push(err(
                "series.count",
                FieldErrorKind::Invalid,
                Some(json!("")),
                "should be at least 2",
            ));
        }
        if !is_set(series.get("lastObservedTime")) {
            errs.push(err(
                "series.lastObservedTime",
                FieldErrorKind::Required,
                None,
                "",
            ));
        }
    }
    errs
}

/// `ValidateEventCreate` over a core/v1 Event; `strict` for a create through events.k8s.io/v1.
pub fn validate_create(ev: &Value, strict: bool) -> Vec<FieldError> {
    let mut errs = legacy(ev);
    if !strict {
        return errs;
    }
    errs.extend(series_errors(ev));
    if !is_set(ev.get("eventTime")) {
        errs.push(err("eventTime", FieldErrorKind::Required, None, ""));
    }
    let t = s(ev, "type");
    if t != "Normal" && t != "Warning" {
        errs.push(err(
            "type",
            FieldErrorKind::Invalid,
            Some(json!("")),
            &format!("has invalid value: {t}"),
        ));
    }
    for k in ["firstTimestamp", "lastTimestamp", "count"] {
        if is_set(ev.get(k)) {
            errs.push(err(
                k,
                FieldErrorKind::Invalid,
                Some(json!("")),
                "needs to be unset",
            ));
        }
    }
    if !s(ev.get("source").unwrap_or(&Value::Null), "component").is_empty()
        || !s(ev.get("source").unwrap_or(&Value::Null), "host").is_empty()
    {
        errs.push(err(
            "source",
            FieldErrorKind::Invalid,
            Some(json!("")),
            "needs to be unset",
        ));
    }
    errs
}

/// `ValidateEventUpdate` over core/v1 Events; `strict` for an update through events.k8s.io/v1.
pub fn validate_update(new: &Value, old: &Value, strict: bool) -> Vec<FieldError> {
    let mut errs = legacy(new);
    if !strict {
        return errs;
    }
    let norm = |v: Option<&Value>| v.filter(|x| is_set(Some(x))).cloned();
    if norm(new.get("series")) != norm(old.get("series")) {
        errs.extend(series_errors(new));
    }
    for (field, json_key) in [
        ("involvedObject", "involvedObject"),
        ("reason", "reason"),
        ("message", "message"),
        ("source", "source"),
        ("firstTimestamp", "firstTimestamp"),
        ("lastTimestamp", "lastTimestamp"),
        ("count", "count"),
        ("reason", "reason"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
    ] {
        let (n, o) = (norm(new.get(json_key)), norm(old.get(json_key)));
        if n != o {
            errs.push(err(
                field,
                FieldErrorKind::Invalid,
                Some(n.unwrap_or(Value::Null)),
                "field is immutable",
            ));
        }
    }
    errs
}

/// The 422 for `errs` (none: Ok).
pub fn invalid(name: &str, errs: &[FieldError]) -> Result<(), ApiError> {
    if errs.is_empty() {
        return Ok(());
    }
    let body = crate::schema::invalid_status("Event", "", name, errs);
    Err(ApiError {
        code: 422,
        reason: "Invalid".into(),
        message: body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("invalid")
            .to_string(),
        details: body.get("details").cloned().map(Box::new),
        retry_after: None,
        body: Some(Box::new(body)),
    })
}

/// The hook of every core/v1 write (api.rs): normalisation and the legacy validation.
pub fn check_core_write(ev: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    normalize_core(ev);
    let errs = match old {
        None => validate_create(ev, false),
        Some(o) => validate_update(ev, o, false),
    };
    invalid(name_of(ev), &errs)
}

/// events.k8s.io field selector labels → core labels (the apiserver's
/// `AddFieldLabelConversionsForEvent`).
fn core_field_label(label: &str) -> Option<&'static str> {
    Some(match label {
        "reason" => "reason",
        "regarding.kind" => "involvedObject.kind",
        "regarding.namespace" => "involvedObject.namespace",
        "regarding.name" => "involvedObject.name",
        "regarding.uid" => "involvedObject.uid",
        "regarding.apiVersion" => "involvedObject.apiVersion",
        "regarding.resourceVersion" => "involvedObject.resourceVersion",
        "regarding.fieldPath" => "involvedObject.fieldPath",
        "reportingController" => "reportingComponent",
        "source" => "source",
        "type" => "type",
        "metadata.namespace" => "metadata.namespace",
        "metadata.name" => "metadata.name",
        _ => return None,
    })
}

/// The query of an events.k8s.io list/watch with its field selector in core labels.
fn core_query(q: &HashMap<String, String>) -> Result<HashMap<String, String>, ApiError> {
    let mut q = q.clone();
    if let Some(fs) = q.get("fieldSelector").filter(|s| !s.is_empty()) {
        let parsed = crate::selector::parse_field_selector(fs).map_err(ApiError::bad_request)?;
        let mapped = parsed
            .map_fields(|f| core_field_label(f).map(str::to_string))
            .map_err(ApiError::bad_request)?;
        q.insert("fieldSelector".into(), mapped.to_string());
    }
    Ok(q)
}

fn respond(code: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

fn parse(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized or malformed: {e}"
        ))
    })
}

/// An events.k8s.io/v1 request body → the core/v1 object to store (apiVersion/kind checked).
fn v1_body(v: &Value) -> Result<Value, ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request is not a JSON object",
        ));
    }
    if let Some(av) = v.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
        && av != V1_API_VERSION
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({V1_API_VERSION})"
        )));
    }
    if let Some(k) = v.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != "Event"
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind (Event)"
        )));
    }
    Ok(to_core(v))
}

/// Converts the objects of a core/v1 answer (an object, a list, or a watch stream) to
/// events.k8s.io/v1.
async fn convert_answer(resp: Response, watch: bool) -> Result<Response, ApiError> {
    let (parts, body) = resp.into_parts();
    if !parts.status.is_success() {
        return Ok(Response::from_parts(parts, body));
    }
    if watch {
        let mut buf = Vec::new();
        let stream = body.into_data_stream().map(move |chunk| {
            let chunk = match chunk {
                Ok(c) => c,
                Err(_) => return Ok::<Bytes, Infallible>(Bytes::new()),
            };
            buf.extend_from_slice(&chunk);
            let mut out = Vec::new();
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                out.extend_from_slice(&convert_watch_line(&line));
            }
            Ok(Bytes::from(out))
        });
        return Ok(Response::from_parts(parts, Body::from_stream(stream)));
    }
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut v: Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
    convert_value(&mut v);
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&v).unwrap_or_default()),
    ))
}

/// Converts an Event, an EventList's items, or leaves anything else (Table, metadata) alone.
fn convert_value(v: &mut Value) {
    match v.get("kind").and_then(Value::as_str) {
        Some("Event") if v.get("apiVersion").and_then(Value::as_str) == Some("v1") => {
            *v = to_v1(v);
        }
        Some("EventList") => {
            v["apiVersion"] = json!(V1_API_VERSION);
            if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
                for i in items.iter_mut() {
                    *i = to_v1(i);
                }
            }
        }
        _ => {}
    }
}

fn convert_watch_line(line: &[u8]) -> Vec<u8> {
    let Ok(mut ev) = serde_json::from_slice::<Value>(line) else {
        return line.to_vec();
    };
    if let Some(o) = ev.get_mut("object") {
        if o.get("kind").and_then(Value::as_str) == Some("Event")
            && o.get("type").is_none()
            && o.get("reason").is_none()
            && o.get("involvedObject").is_none()
        {
            // A BOOKMARK carries only the kind, apiVersion and resourceVersion.
            o["apiVersion"] = json!(V1_API_VERSION);
        } else {
            convert_value(o);
        }
    }
    let mut out = serde_json::to_vec(&ev).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Serves an events.k8s.io/v1 request from the core/v1 store.
pub(crate) async fn dispatch(
    st: &Arc<ServerState>,
    verb: &str,
    rr: ResourceReq,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
    render: Render,
) -> Result<Response, ApiError> {
    let core = st
        .api
        .registry
        .get(CORE_KEY)
        .ok_or_else(|| ApiError::internal("events are not served"))?;
    let core_rr = ResourceReq {
        def: core.clone(),
        version: "v1".into(),
        ns: rr.ns.clone(),
        name: rr.name.clone(),
        sub: None,
    };
    let ns = rr.ns.as_deref();
    let name = rr.name.clone().unwrap_or_default();
    let opts = crate::server::write_opts(q, headers);
    match verb {
        "get" => {
            let o = st
                .api
                .store
                .get(CORE_KEY, ns.unwrap_or(""), &name)
                .ok_or_else(|| ApiError::not_found(&rr.def, &name))?;
            let v1 = Arc::new(to_v1(&o));
            Ok(respond(
                200,
                &crate::server::render_one(st, &rr, &v1, render, q),
            ))
        }
        "list" | "watch" | "deletecollection" => {
            let cq = core_query(q)?;
            let resp =
                crate::server::dispatch_core(st, verb, core_rr, &cq, headers, body, render).await?;
            convert_answer(resp, verb == "watch").await
        }
        "create" => {
            let mut ev = v1_body(&parse(&body)?)?;
            if let Some(n) = ns
                && namespace_of(&ev).is_empty()
            {
                ev["metadata"]["namespace"] = json!(n);
            }
            // generateName is resolved by the create; validate with the name it will have.
            let errs = validate_create(&ev, true);
            invalid(name_of(&ev), &errs)?;
            let created = st.api.create(&core, "v1", ns, ev, &opts)?;
            Ok(respond(201, &to_v1(&created)))
        }
        "update" => {
            let ev = v1_body(&parse(&body)?)?;
            let old = st
                .api
                .store
                .get(CORE_KEY, ns.unwrap_or(""), &name)
                .ok_or_else(|| ApiError::not_found(&rr.def, &name))?;
            let mut check = ev.clone();
            normalize_core(&mut check);
            if check.pointer("/metadata/namespace").is_none() {
                check["metadata"]["namespace"] = json!(namespace_of(&old));
            }
            invalid(&name, &validate_update(&check, &old, true))?;
            let o = st
                .api
                .update(&core, "v1", ns, &name, ev, Target::Main, &opts)?;
            Ok(respond(200, &to_v1(&o)))
        }
        "patch" => {
            let pt = crate::server::patch_type(headers, &rr.def)?;
            if pt == crate::server::PatchType::Apply {
                return Err(ApiError::unsupported_media_type(
                    "application/apply-patch+yaml",
                ));
            }
            let doc = parse(&body)?;
            let def = rr.def.clone();
            let f = |existing: Option<&Value>| -> Result<Value, ApiError> {
                let Some(e) = existing else {
                    return Err(ApiError::not_found(&def, &name));
                };
                let mut v1 = to_v1(e);
                crate::server::apply_patch(pt, &mut v1, &doc)?;
                let new = v1_body(&v1)?;
                invalid(&name, &validate_update(&new, e, true))?;
                Ok(new)
            };
            if st
                .api
                .store
                .get(CORE_KEY, ns.unwrap_or(""), &name)
                .is_none()
            {
                return Err(ApiError::not_found(&rr.def, &name));
            }
            let o = st
                .api
                .patch(&core, "v1", ns, &name, Target::Main, &opts, &f)?;
            Ok(respond(200, &to_v1(&o)))
        }
        "delete" => {
            if st
                .api
                .store
                .get(CORE_KEY, ns.unwrap_or(""), &name)
                .is_none()
            {
                return Err(ApiError::not_found(&rr.def, &name));
            }
            let resp =
                crate::server::dispatch_core(st, verb, core_rr, q, headers, body, render).await?;
            // A Success Status naming the events.k8s.io group.
            let (parts, b) = resp.into_parts();
            let bytes = axum::body::to_bytes(b, usize::MAX)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let mut v: Value =
                serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
            if v.get("kind").and_then(Value::as_str) == Some("Status")
                && let Some(d) = v.get_mut("details").and_then(Value::as_object_mut)
            {
                d.insert("group".into(), json!("events.k8s.io"));
            }
            let mut parts = parts;
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Ok(Response::from_parts(
                parts,
                Body::from(serde_json::to_vec(&v).unwrap_or_default()),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder_event() -> Value {
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.17", "namespace": "shop"},
            "eventTime": "2026-01-01T00:00:00.000001Z", "action": "Scale", "reason": "Scaled",
            "note": "Scaled Deployment shop/web from 3 to 0", "type": "Normal",
            "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop", "uid": "u"},
            "reportingController": "cryptojack.dev/operator", "reportingInstance": "cryptojack-0"})
    }

    #[test]
    fn conversion_round_trips() {
        let v1 = recorder_event();
        let core = to_core(&v1);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "Scaled Deployment shop/web from 3 to 0");
        assert_eq!(core["reportingComponent"], "cryptojack.dev/operator");
        assert_eq!(core["source"], json!({}));
        assert_eq!(core["firstTimestamp"], Value::Null);
        let back = to_v1(&core);
        for k in [
            "eventTime",
            "action",
            "reason",
            "note",
            "type",
            "regarding",
            "reportingController",
            "reportingInstance",
            "metadata",
        ] {
            assert_eq!(back[k], v1[k], "{k}");
        }
        assert_eq!(back["deprecatedSource"], json!({}));
        let old = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "x", "namespace": "n"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "n"}, "message": "m", "count": 3,
            "source": {"component": "kubelet"}, "firstTimestamp": "2026-01-01T00:00:00Z"});
        let v = to_v1(&old);
        assert_eq!(v["deprecatedCount"], 3);
        assert_eq!(v["deprecatedSource"]["component"], "kubelet");
        assert_eq!(v["deprecatedFirstTimestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(v["note"], "m");
    }

    #[test]
    fn strict_validation_of_events_k8s_io_creates() {
        let ok = to_core(&recorder_event());
        assert!(validate_create(&ok, true).is_empty());
        let mut bad = recorder_event();
        for k in ["eventTime", "reportingController", "action"] {
            bad.as_object_mut().map(|m| m.remove(k));
        }
        bad["type"] = json!("Info");
        bad["note"] = json!("x".repeat(1025));
        let errs: Vec<String> = validate_create(&to_core(&bad), true)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            vec![
                "eventTime: Required value",
                "type: Invalid value: \"\": has invalid value: Info",
            ],
            "without an eventTime the legacy rules do not look at the reporting fields"
        );
        let mut bad = recorder_event();
        bad.as_object_mut().map(|m| m.remove("reportingController"));
        bad["action"] = json!("");
        bad["note"] = json!("x".repeat(1025));
        bad["series"] = json!({"count": 1});
        let errs: Vec<String> = validate_create(&to_core(&bad), true)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            vec![
                "reportingController: Required value",
                "reportingController: Invalid value: \"\": name part must be non-empty",
                "action: Required value",
                "message: Invalid value: \"\": can have at most 1024 characters",
                "series.count: Invalid value: \"\": should be at least 2",
                "series.lastObservedTime: Required value",
            ]
        );
        // The same object through core/v1: only the legacy rules.
        assert_eq!(validate_create(&to_core(&bad), false).len(), 4);
    }

    #[test]
    fn strict_updates_keep_immutable_fields() {
        let old = to_core(&recorder_event());
        let mut new = old.clone();
        new["series"] = json!({"count": 2, "lastObservedTime": "2026-01-01T00:00:05.000000Z"});
        assert!(validate_update(&new, &old, true).is_empty());
        new["message"] = json!("changed");
        let errs: Vec<String> = validate_update(&new, &old, true)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errs,
            vec!["message: Invalid value: \"changed\": field is immutable"]
        );
        assert!(validate_update(&new, &old, false).is_empty());
    }
}
