//! Subresources other than status: `scale` (autoscaling/v1 Scale), `pods/eviction`
//! (policy/v1 Eviction, PodDisruptionBudgets) and `serviceaccounts/token` (TokenRequest).

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::api::{ApiError, Deleted, Target, WriteOpts, name_of, uid_of};
use crate::server::{PatchType, ResourceReq, ServerState, apply_patch, patch_type};

fn path_segments(path: &str) -> Vec<&str> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect()
}

fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path_segments(path)
        .into_iter()
        .try_fold(obj, |cur, seg| cur.get(seg))
}

fn set_path(obj: &mut Value, path: &str, v: Value) {
    let segs = path_segments(path);
    let mut cur = obj;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(m) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == segs.len() {
            m.insert(seg.to_string(), v);
            return;
        }
        cur = m.entry(seg.to_string()).or_insert_with(|| json!({}));
    }
}

/// The autoscaling/v1 Scale view of an object.
fn scale_of(rr: &ResourceReq, obj: &Value) -> Value {
    let Some(paths) = &rr.def.scale else {
        return Value::Null;
    };
    let spec = get_path(obj, &paths.spec_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status = get_path(obj, &paths.status_replicas)
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(|p| get_path(obj, p))
        .map(|s| match s {
            Value::String(s) => s.clone(),
            // A ReplicationController's selector is a plain map of labels.
            Value::Object(m) if rr.def.key() == "/replicationcontrollers" => {
                crate::selector::label_selector_from_object(&json!({"matchLabels": m}))
                    .map(|l| l.to_string())
                    .unwrap_or_default()
            }
            other => crate::selector::label_selector_from_object(other)
                .map(|l| l.to_string())
                .unwrap_or_default(),
        });
    let md = obj.get("metadata").cloned().unwrap_or_default();
    let mut status_v = json!({"replicas": status});
    if let Some(s) = selector.filter(|s| !s.is_empty()) {
        status_v["selector"] = json!(s);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md.get("name"),
            "namespace": md.get("namespace"),
            "uid": md.get("uid"),
            "resourceVersion": md.get("resourceVersion"),
            "creationTimestamp": md.get("creationTimestamp"),
        },
        "spec": {"replicas": spec},
        "status": status_v,
    })
}

fn respond(code: u16, v: &Value) -> Response {
    let mut r = Response::new(axum::body::Body::from(
        serde_json::to_vec(v).unwrap_or_default(),
    ));
    *r.status_mut() = axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// GET/PUT/PATCH .../scale
pub fn scale(
    st: &ServerState,
    verb: &str,
    rr: &ResourceReq,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let def = &rr.def;
    let name = rr.name.clone().unwrap_or_default();
    let ns = rr.ns.clone().unwrap_or_default();
    let Some(paths) = def.scale.clone() else {
        return Err(ApiError::not_found_path());
    };
    let current = st
        .api
        .store
        .get(&def.key(), &ns, &name)
        .ok_or_else(|| ApiError::not_found(def, &name))?;
    // How the new Scale is computed from the object as it is when the write happens (a PATCH is
    // applied to the current Scale inside the update loop, as the apiserver's GuaranteedUpdate
    // does, so that a concurrent status write is no conflict).
    enum Change {
        Replace(Value),
        Patch(PatchType, Value),
    }
    let change = match verb {
        "get" => return Ok(respond(200, &scale_of(rr, &current))),
        "update" => Change::Replace(
            serde_json::from_slice::<Value>(body)
                .map_err(|e| ApiError::bad_request(format!("decoding Scale: {e}")))?,
        ),
        "patch" => {
            let pt = patch_type(headers, def)?;
            let pt = if pt == PatchType::Strategic {
                PatchType::Merge
            } else {
                pt
            };
            if pt == PatchType::Apply {
                return Err(ApiError::unsupported_media_type(
                    "application/apply-patch+yaml",
                ));
            }
            let doc: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("decoding patch: {e}")))?;
            Change::Patch(pt, doc)
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    // The parent's managedFields record the scaling manager (fieldManager, else the User-Agent),
    // as for any other write.
    let opts = WriteOpts {
        apply: false,
        force: false,
        ..crate::server::write_opts(q, headers)
    };
    let f = |existing: Option<&Value>| -> Result<Value, ApiError> {
        let Some(e) = existing else {
            return Err(ApiError::not_found(def, &name));
        };
        let new_scale = match &change {
            Change::Replace(v) => v.clone(),
            Change::Patch(pt, doc) => {
                let mut s = scale_of(rr, e);
                apply_patch(*pt, &mut s, doc)?;
                s
            }
        };
        let replicas = new_scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                def,
                &name,
                "spec.replicas",
                "FieldValueInvalid",
                &format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            ));
        }
        if let Some(rv) = new_scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            && e.pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(rv)
        {
            return Err(ApiError::modified(def, &name));
        }
        let mut o = e.clone();
        set_path(&mut o, &paths.spec_replicas, json!(replicas));
        Ok(o)
    };
    let updated = st.api.patch(
        def,
        &rr.version,
        rr.ns.as_deref(),
        &name,
        Target::Main,
        &opts,
        &f,
    )?;
    Ok(respond(200, &scale_of(rr, &updated)))
}

/// POST pods/NAME/eviction. `dryRun=All` (query or the Eviction's `deleteOptions.dryRun`, as
/// `propagateDryRun` combines them) checks the PodDisruptionBudgets and answers as a real eviction
/// would (201 or 429), but neither consumes a budget nor deletes the pod.
pub fn eviction(
    st: &ServerState,
    rr: &ResourceReq,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let def = &rr.def;
    let name = rr.name.clone().unwrap_or_default();
    let ns = rr.ns.clone().unwrap_or_default();
    let ev: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("decoding Eviction: {e}")))?;
    let ev_name = name_of(&ev);
    if !ev_name.is_empty() && ev_name != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let Some(pod) = st.api.store.get(&def.key(), &ns, &name) else {
        return Err(ApiError::not_found(def, &name));
    };
    let mut opts = ev
        .get("deleteOptions")
        .map(crate::api::DeleteOpts::from_json)
        .unwrap_or_default();
    // propagateDryRun: the query's dryRun applies unless the body has its own; both must agree.
    let query_dry: Vec<&str> = q
        .get("dryRun")
        .map(|v| v.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let body_dry: Vec<&str> = ev
        .pointer("/deleteOptions/dryRun")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !query_dry.is_empty() && !body_dry.is_empty() && query_dry != body_dry {
        return Err(ApiError::new(
            500,
            "",
            format!(
                "Non-matching dry-run options in request and content: [{}] and [{}]",
                query_dry.join(" "),
                body_dry.join(" ")
            ),
        ));
    }
    for (kind, values) in [("CreateOptions", &query_dry), ("DeleteOptions", &body_dry)] {
        if let Some(d) = values.iter().find(|d| **d != "All") {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "{kind}.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{{\"{d}\"}}: supported values: \"All\""
                ),
            ));
        }
    }
    opts.dry_run = !query_dry.is_empty() || !body_dry.is_empty();
    let terminating = pod.pointer("/metadata/deletionTimestamp").is_some();
    if !terminating {
        let snap =
            crate::driver::snapshot(&st.api, Some(&["/pods", "policy/poddisruptionbudgets"]));
        match crate::pdb::check_eviction(&pod, &snap, st.api.clock.now()) {
            // A dry run does not consume the budget.
            Ok(_) if opts.dry_run => {}
            Ok(pdbs) => {
                let pdb_def = st
                    .api
                    .registry
                    .get("policy/poddisruptionbudgets")
                    .ok_or_else(|| ApiError::internal("poddisruptionbudgets are not served"))?;
                for p in pdbs {
                    // The PDB's resourceVersion as read is the precondition: a concurrent
                    // eviction makes this one fail with 409, as in Kubernetes.
                    let pname = name_of(&p).to_string();
                    st.api.update(
                        &pdb_def,
                        "v1",
                        Some(&ns),
                        &pname,
                        p,
                        Target::Status,
                        &WriteOpts::default(),
                    )?;
                }
            }
            Err(blocked) => {
                let mut e = ApiError::new(blocked.code, "TooManyRequests", blocked.message.clone());
                e.details = blocked.status.get("details").cloned().map(Box::new);
                e.retry_after = e
                    .details
                    .as_ref()
                    .and_then(|d| d.get("retryAfterSeconds"))
                    .and_then(Value::as_u64);
                e.body = Some(Box::new(blocked.status));
                return Err(e);
            }
        }
    }
    match st.api.delete(def, Some(&ns), &name, &opts)? {
        Deleted::Gone(_) | Deleted::Pending(_) => {
            Ok(respond(201, &crate::status::success(Some(201), None)))
        }
    }
}

/// POST serviceaccounts/NAME/token
pub fn token(st: &ServerState, rr: &ResourceReq, body: &[u8]) -> Result<Response, ApiError> {
    let def = &rr.def;
    let name = rr.name.clone().unwrap_or_default();
    let ns = rr.ns.clone().unwrap_or_default();
    let mut req: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("decoding TokenRequest: {e}")))?;
    let Some(sa) = st.api.store.get(&def.key(), &ns, &name) else {
        return Err(ApiError::not_found(def, &name));
    };
    let exp = req
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if exp < 600 {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "TokenRequest.authentication.k8s.io \"{name}\" is invalid: spec.expirationSeconds: Invalid value: {exp}: may not specify a duration less than 10 minutes"
            ),
        ));
    }
    let bound = match req.pointer("/spec/boundObjectRef") {
        Some(b) if !b.is_null() => {
            let kind = b.get("kind").and_then(Value::as_str).unwrap_or("");
            let bname = b.get("name").and_then(Value::as_str).unwrap_or("");
            let key = match kind {
                "Pod" => "/pods",
                "Secret" => "/secrets",
                other => {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token to object of type {other}"
                    )));
                }
            };
            let obj = st.api.store.get(key, &ns, bname).ok_or_else(|| {
                let d = st.api.registry.get(key);
                match d {
                    Some(d) => ApiError::not_found(&d, bname),
                    None => ApiError::not_found_path(),
                }
            })?;
            let uid = uid_of(&obj).to_string();
            if let Some(want) = b.get("uid").and_then(Value::as_str)
                && !want.is_empty()
                && want != uid
            {
                return Err(ApiError::conflict(
                    def,
                    &name,
                    &format!(
                        "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                    ),
                ));
            }
            Some(crate::auth::BoundObject {
                kind: kind.into(),
                name: bname.into(),
                uid,
            })
        }
        _ => None,
    };
    let (tok, expires) =
        st.auth
            .tokens
            .issue(&ns, &name, uid_of(&sa), bound, exp, st.api.clock.now());
    req["apiVersion"] = json!("authentication.k8s.io/v1");
    req["kind"] = json!("TokenRequest");
    req["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": Value::Null});
    req["spec"]["expirationSeconds"] = json!(exp);
    if req.pointer("/spec/audiences").is_none_or(Value::is_null) {
        req["spec"]["audiences"] = json!(["https://kubernetes.default.svc.cluster.local"]);
    }
    req["status"] = json!({"token": tok, "expirationTimestamp": crate::api::rfc3339(expires)});
    Ok(respond(201, &req))
}
