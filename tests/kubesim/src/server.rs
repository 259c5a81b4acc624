//! The HTTP front end: routing of Kubernetes REST paths, request parsing, content negotiation
//! (JSON, Table, PartialObjectMetadata), list/watch, subresources, the admin endpoint, and errors
//! as metav1.Status.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast, mpsc};

use crate::api::{Api, ApiError, DeleteOpts, Deleted, Target, WriteOpts, name_of, namespace_of};
use crate::faults::Faults;
use crate::resources::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Broadcast, Event, EventType, StoreError};

/// Everything a request handler needs.
pub struct ServerState {
    pub api: Arc<Api>,
    pub faults: Arc<Faults>,
    pub auth: crate::authn::Authn,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// `host:port` advertised in /api.
    pub server_address: String,
    /// Wakes the controller driver (after a time advance).
    pub kick: Arc<Notify>,
    /// Bumped to drop every open connection (simulated restart).
    pub conns: Arc<tokio::sync::watch::Sender<u64>>,
}

/// The axum router serving everything.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn json_response(code: u16, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn bytes_response(code: u16, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_response(self.code, &self.status());
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

/// How the client wants objects rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Render {
    Object,
    Table,
    Metadata,
}

fn render_of(headers: &HeaderMap) -> Render {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first acceptable type wins: kubectl lists Table first and JSON as a fallback.
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        if p.contains("as=Table") {
            return Render::Table;
        }
        if p.contains("as=PartialObjectMetadata") {
            return Render::Metadata;
        }
        if p.starts_with("application/json") || p.starts_with("*/*") {
            return Render::Object;
        }
    }
    Render::Object
}

/// A parsed resource request.
#[derive(Clone)]
pub struct ResourceReq {
    pub def: Arc<ResourceDef>,
    pub version: String,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

enum Route {
    Version,
    Api,
    Apis,
    Group(String),
    Resources(String, String),
    Resource(ResourceReq),
    OpenApiIndex,
    OpenApi(String, String),
    OpenApiV2,
    Health,
    Admin(Vec<String>),
    NotFound,
}

fn route(st: &ServerState, path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", v] => Route::OpenApi(String::new(), v.to_string()),
        ["openapi", "v3", "apis", g, v] => Route::OpenApi(g.to_string(), v.to_string()),
        ["healthz"] | ["livez"] | ["readyz"] => Route::Health,
        ["kubesim", rest @ ..] => Route::Admin(rest.iter().map(|s| s.to_string()).collect()),
        ["api"] => Route::Api,
        ["api", "v1"] => Route::Resources(String::new(), "v1".into()),
        ["api", "v1", rest @ ..] => resource_route(st, "", "v1", rest),
        ["apis"] => Route::Apis,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::Resources(g.to_string(), v.to_string()),
        ["apis", g, v, rest @ ..] => resource_route(st, g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(st: &ServerState, group: &str, version: &str, rest: &[&str]) -> Route {
    let reg = &st.api.registry;
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if reg
                .lookup(group, version, plural)
                .is_some_and(|d| d.namespaced) =>
        {
            if tail.len() > 2 {
                return Route::NotFound;
            }
            (
                Some(ns.to_string()),
                plural.to_string(),
                tail.first().map(|s| s.to_string()),
                tail.get(1).map(|s| s.to_string()),
            )
        }
        [plural, tail @ ..] => {
            if tail.len() > 2 {
                return Route::NotFound;
            }
            (
                None,
                plural.to_string(),
                tail.first().map(|s| s.to_string()),
                tail.get(1).map(|s| s.to_string()),
            )
        }
        [] => return Route::NotFound,
    };
    let Some(def) = reg.lookup(group, version, &plural) else {
        return Route::NotFound;
    };
    if def.namespaced && ns.is_none() && name.is_some() {
        return Route::NotFound;
    }
    if let Some(s) = &sub {
        let ok = match s.as_str() {
            "status" => def.status,
            "scale" => def.scale.is_some(),
            "eviction" => def.eviction,
            "token" => def.token,
            "log" => def.key() == "/pods",
            _ => false,
        };
        if !ok {
            return Route::NotFound;
        }
    }
    Route::Resource(ResourceReq {
        def,
        version: version.to_string(),
        ns,
        name,
        sub,
    })
}

fn verb_of(method: &Method, rr: &ResourceReq, q: &HashMap<String, String>) -> Option<&'static str> {
    let watch = q.get("watch").is_some_and(|v| v == "1" || v == "true");
    Some(match (method.as_str(), rr.name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("DELETE", false) => "deletecollection",
        ("GET", true) if watch => "watch",
        ("GET", true) => "get",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("POST", true) if rr.sub.is_some() => "create",
        _ => return None,
    })
}

async fn handle(State(st): State<Arc<ServerState>>, req: Request) -> Response {
    match handle_inner(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle_inner(st: Arc<ServerState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let q: HashMap<String, String> = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let route = route(&st, &path);
    if let Route::Health = route {
        return Ok((StatusCode::OK, "ok").into_response());
    }
    let user = st.auth.authenticate(&parts.headers, &st.api)?;
    let user = crate::impersonation::apply(&st.auth, &st.api, &parts.headers, user)?;
    let body = axum::body::to_bytes(body, 256 * 1024 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    let render = render_of(&parts.headers);
    match route {
        Route::Health => Ok((StatusCode::OK, "ok").into_response()),
        Route::Admin(rest) => {
            st.auth.authorize_admin(&user, &st.api)?;
            crate::admin::handle(&st, &parts.method, &rest, &body).await
        }
        Route::Version => Ok(json_response(200, &crate::discovery::version())),
        Route::Api => Ok(json_response(
            200,
            &crate::discovery::api_versions(&st.server_address),
        )),
        Route::Apis => Ok(json_response(
            200,
            &crate::discovery::api_group_list(&st.api.registry),
        )),
        Route::Group(g) => crate::discovery::api_group(&st.api.registry, &g)
            .map(|v| json_response(200, &v))
            .ok_or_else(ApiError::not_found_path),
        Route::Resources(g, v) => crate::discovery::api_resource_list(&st.api.registry, &g, &v)
            .map(|v| json_response(200, &v))
            .ok_or_else(ApiError::not_found_path),
        Route::NotFound => Err(ApiError::not_found_path()),
        Route::OpenApiIndex => Ok(json_response(
            200,
            &crate::discovery::openapi_v3_index(&st.api.registry),
        )),
        Route::OpenApiV2 => {
            let mut r = bytes_response(200, crate::discovery::openapi_v2_protobuf());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::discovery::OPENAPI_V2_PROTOBUF),
            );
            Ok(r)
        }
        Route::OpenApi(g, v) => crate::discovery::openapi_v3_gv(&st.api.registry, &g, &v)
            .map(|v| json_response(200, &v))
            .ok_or_else(ApiError::not_found_path),
        Route::Resource(rr) => {
            let verb = verb_of(&parts.method, &rr, &q).ok_or_else(ApiError::method_not_allowed)?;
            if !rr.def.verbs.iter().any(|v| v == verb) && rr.sub.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            st.auth.authorize(&user, verb, &rr, &st.api)?;
            crate::limits::check_body(verb, body.len())?;
            let lat = st.faults.latency();
            if !lat.is_zero() {
                tokio::time::sleep(lat).await;
            }
            let body = if matches!(parts.method, Method::POST | Method::PUT | Method::DELETE) {
                json_body(&parts.headers, body)?
            } else {
                body
            };
            let freq = crate::faults::OwnedRequest {
                verb: verb.to_string(),
                key: rr.def.key(),
                plural: rr.def.plural.clone(),
                subresource: rr.sub.clone(),
                namespace: rr.ns.clone(),
                name: crate::faults::request_name(&st.faults, verb, rr.name.as_deref(), &body),
            };
            if let Some(f) = st.faults.take(&freq.as_request()) {
                return Err(crate::faults::answer(f, &parts.extensions).await);
            }
            if let Some(r) = crate::reviews::handle(&st, &user, verb, &rr, &body) {
                return r;
            }
            let ctx = crate::admission::RequestCtx {
                user,
                rbac: st.auth.rbac,
            };
            let check_after = verb != "watch" && st.faults.has_after_write();
            let resp = crate::admission::scope(
                ctx,
                dispatch(&st, verb, rr, &q, &parts.headers, body, render),
            )
            .await?;
            if check_after {
                return crate::faults::after_write(&st.faults, freq, resp, &parts.extensions).await;
            }
            Ok(resp)
        }
    }
}

/// Bodies are JSON; protobuf bodies of a few simple kinds are decoded (kubectl's typed
/// generator subcommands send them); anything else gets 415.
fn json_body(headers: &HeaderMap, body: Bytes) -> Result<Bytes, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let base = ct.split(';').next().unwrap_or("").trim();
    let unsupported = |why: String| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json; {why}"
            ),
        )
    };
    match base {
        "" | "application/json" | "*/*" => Ok(body),
        "application/vnd.kubernetes.protobuf" => {
            let v = crate::proto::decode(&body).map_err(|e| unsupported(e.to_string()))?;
            Ok(Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
        }
        other => Err(unsupported(format!("got {other}"))),
    }
}

fn parse_bool(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "1" || v == "true")
}

pub(crate) fn write_opts(q: &HashMap<String, String>, headers: &HeaderMap) -> WriteOpts {
    // Without fieldManager the apiserver uses the User-Agent up to its first '/'.
    let ua_manager = || {
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|m| !m.is_empty())
            .map(|m| m.chars().take(128).collect::<String>())
    };
    WriteOpts {
        field_manager: q
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .cloned()
            .or_else(ua_manager),
        force: parse_bool(q, "force"),
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        apply: false,
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized or malformed: {e}"
        ))
    })
}

/// The object as the client sees it at `version` (CRDs with several versions share storage).
fn at_version(def: &ResourceDef, version: &str, obj: &Arc<Value>) -> Arc<Value> {
    if def.version == version {
        return obj.clone();
    }
    let mut o = (**obj).clone();
    o["apiVersion"] = json!(def.api_version_for(version));
    Arc::new(o)
}

fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

pub(crate) fn render_one(
    st: &ServerState,
    rr: &ResourceReq,
    obj: &Arc<Value>,
    render: Render,
    q: &HashMap<String, String>,
) -> Value {
    let obj = at_version(&rr.def, &rr.version, obj);
    match render {
        Render::Object => (*obj).clone(),
        Render::Metadata => partial_metadata(&obj),
        Render::Table => table(st, rr, &[obj], q),
    }
}

fn table(
    st: &ServerState,
    rr: &ResourceReq,
    objs: &[Arc<Value>],
    q: &HashMap<String, String>,
) -> Value {
    let objects: Vec<Value> = objs.iter().map(|o| (**o).clone()).collect();
    let include = q
        .get("includeObject")
        .map(String::as_str)
        .unwrap_or("Metadata");
    let columns = match &rr.def.crd {
        Some(c) => c
            .versions
            .get(&rr.version)
            .map(crate::table::crd_columns)
            .unwrap_or_default(),
        None => crate::table::builtin_columns(&rr.def.key()),
    };
    crate::table::render_table(
        &rr.def.key(),
        &columns,
        &objects,
        st.api.clock.now(),
        include,
    )
}

struct Selectors {
    label: Option<LabelSelector>,
    field: Option<FieldSelector>,
}

impl Selectors {
    fn parse(rr: &ResourceReq, q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let label =
            match q.get("labelSelector").filter(|s| !s.is_empty()) {
                Some(s) => Some(crate::selector::parse_label_selector(s).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse requirement: {e}"))
                })?),
                None => None,
            };
        let field = match q.get("fieldSelector").filter(|s| !s.is_empty()) {
            Some(s) => {
                let f = crate::selector::parse_field_selector(s).map_err(ApiError::bad_request)?;
                let key = rr.def.key();
                let allowed = crate::selector::supported_field_labels(&key);
                f.check_supported(&allowed).map_err(ApiError::bad_request)?;
                Some(f)
            }
            None => None,
        };
        Ok(Selectors { label, field })
    }

    /// No selector at all (an empty selector string selects everything too).
    fn is_empty(&self) -> bool {
        self.label.as_ref().is_none_or(LabelSelector::is_empty)
            && self.field.as_ref().is_none_or(|f| f.terms().is_empty())
    }

    fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.label {
            let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
            if !l.matches(labels) {
                return false;
            }
        }
        if let Some(f) = &self.field
            && !f.matches(obj)
        {
            return false;
        }
        true
    }
}

async fn dispatch(
    st: &Arc<ServerState>,
    verb: &str,
    rr: ResourceReq,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
    render: Render,
) -> Result<Response, ApiError> {
    // events.k8s.io/v1 Events are core/v1 Events converted (events.rs).
    if rr.def.key() == crate::events::V1_KEY {
        return crate::events::dispatch(st, verb, rr, q, headers, body, render).await;
    }
    dispatch_core(st, verb, rr, q, headers, body, render).await
}

pub(crate) async fn dispatch_core(
    st: &Arc<ServerState>,
    verb: &str,
    rr: ResourceReq,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
    render: Render,
) -> Result<Response, ApiError> {
    let def = rr.def.clone();
    let ns = rr.ns.as_deref();
    let name = rr.name.clone().unwrap_or_default();
    match (verb, rr.sub.as_deref()) {
        ("list", None) => list(st, &rr, q, render),
        ("watch", _) => watch(st, rr, q, render),
        ("create", None) => {
            let obj = parse_json(&body)?;
            let created = st
                .api
                .create(&def, &rr.version, ns, obj, &write_opts(q, headers))?;
            Ok(json_response(
                201,
                &render_one(st, &rr, &created, render, q),
            ))
        }
        ("deletecollection", None) => delete_collection(st, &rr, q, &body),
        ("get", None) => {
            let o = st
                .api
                .store
                .get(&def.key(), ns.unwrap_or(""), &name)
                .ok_or_else(|| ApiError::not_found(&def, &name))?;
            Ok(json_response(200, &render_one(st, &rr, &o, render, q)))
        }
        ("get", Some("status")) => {
            let o = st
                .api
                .store
                .get(&def.key(), ns.unwrap_or(""), &name)
                .ok_or_else(|| ApiError::not_found(&def, &name))?;
            Ok(json_response(
                200,
                &render_one(st, &rr, &o, Render::Object, q),
            ))
        }
        ("update", None) | ("update", Some("status")) => {
            let target = if rr.sub.is_some() {
                Target::Status
            } else {
                Target::Main
            };
            let obj = parse_json(&body)?;
            let o = st.api.update(
                &def,
                &rr.version,
                ns,
                &name,
                obj,
                target,
                &write_opts(q, headers),
            )?;
            Ok(json_response(
                200,
                &render_one(st, &rr, &o, Render::Object, q),
            ))
        }
        ("patch", None) | ("patch", Some("status")) => {
            let target = if rr.sub.is_some() {
                Target::Status
            } else {
                Target::Main
            };
            let o = patch(st, &rr, target, q, headers, &body)?;
            Ok(json_response(
                200,
                &render_one(st, &rr, &o, Render::Object, q),
            ))
        }
        ("delete", None) => {
            let opts = delete_opts(q, &body)?;
            match st.api.delete(&def, ns, &name, &opts)? {
                Deleted::Pending(o) => Ok(json_response(
                    200,
                    &render_one(st, &rr, &o, Render::Object, q),
                )),
                Deleted::Gone(o) => {
                    if def.return_deleted_object {
                        Ok(json_response(
                            200,
                            &render_one(st, &rr, &o, Render::Object, q),
                        ))
                    } else {
                        let mut details = json!({"name": name_of(&o), "kind": def.plural, "uid": crate::api::uid_of(&o)});
                        if !def.group.is_empty() {
                            details["group"] = json!(def.group);
                        }
                        Ok(json_response(
                            200,
                            &crate::status::success(None, Some(details)),
                        ))
                    }
                }
            }
        }
        (_, Some("scale")) => crate::subresources::scale(st, verb, &rr, q, headers, &body),
        ("create", Some("eviction")) => crate::subresources::eviction(st, &rr, q, &body),
        ("create", Some("token")) => crate::subresources::token(st, &rr, &body),
        ("get", Some("log")) => {
            crate::logs::serve(st.api.clone(), &def, ns.unwrap_or(""), &name, q).await
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

pub(crate) fn delete_opts(
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<DeleteOpts, ApiError> {
    let mut opts = if body.iter().any(|b| !b.is_ascii_whitespace()) {
        DeleteOpts::from_json(&parse_json(body)?)
    } else {
        DeleteOpts::default()
    };
    if let Some(g) = q.get("gracePeriodSeconds") {
        opts.grace_period_seconds = Some(
            g.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?,
        );
    }
    if let Some(p) = q.get("propagationPolicy") {
        opts.propagation_policy = Some(p.clone());
    }
    if q.get("dryRun").is_some_and(|v| v == "All") {
        opts.dry_run = true;
    }
    Ok(opts)
}

/// The patch type of a Content-Type header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

pub(crate) fn patch_type(headers: &HeaderMap, def: &ResourceDef) -> Result<PatchType, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let base = ct.split(';').next().unwrap_or("").trim();
    match base {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" if def.crd.is_none() => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Applies a (non-apply) patch document to `target`.
pub(crate) fn apply_patch(
    pt: PatchType,
    target: &mut Value,
    patch: &Value,
) -> Result<(), ApiError> {
    match pt {
        PatchType::Merge => {
            crate::patch::merge_patch(target, patch);
            Ok(())
        }
        PatchType::Json => {
            crate::patch::json_patch(target, patch).map_err(|e| ApiError::new(422, "Invalid", e))
        }
        PatchType::Strategic => crate::patch::strategic_merge_patch(target, patch)
            .map_err(|e| ApiError::new(422, "Invalid", e)),
        PatchType::Apply => Err(ApiError::bad_request("apply patches are not applied here")),
    }
}

fn patch(
    st: &ServerState,
    rr: &ResourceReq,
    target: Target,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Arc<Value>, ApiError> {
    let def = &rr.def;
    let name = rr.name.clone().unwrap_or_default();
    let pt = patch_type(headers, def)?;
    let mut opts = write_opts(q, headers);
    if pt == PatchType::Apply {
        opts.apply = true;
        let text = std::str::from_utf8(body)
            .map_err(|e| ApiError::bad_request(format!("the apply body is not UTF-8: {e}")))?;
        let applied: Value = serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if !applied.is_object() {
            return Err(ApiError::bad_request("the apply body is not an object"));
        }
        let manager = q.get("fieldManager").filter(|m| !m.is_empty()).cloned().ok_or_else(|| {
            ApiError::bad_request(
                "PATCH /apply-patch requires fieldManager: fieldManager is required for apply requests",
            )
        })?;
        let force = opts.force;
        let now = st.api.now();
        let applied_name = name_of(&applied).to_string();
        if !applied_name.is_empty() && applied_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({applied_name}) does not match the name on the URL ({name})"
            )));
        }
        let f = move |existing: Option<&Value>| -> Result<Value, ApiError> {
            let mut a = applied.clone();
            if name_of(&a).is_empty() {
                a["metadata"]["name"] = json!(name);
            }
            if existing.is_none() && target == Target::Status {
                return Err(ApiError::not_found(def, &name));
            }
            let req = crate::ssa::ApplyRequest {
                manager: &manager,
                force,
                now: &now,
                schema: def.crd.as_ref().and_then(|c| c.schema(&rr.version)),
                subresource: (target == Target::Status).then_some("status"),
                status_subresource: def.status,
            };
            crate::ssa::apply(existing, &a, &req).map_err(crate::ssa::ApplyError::into_api_error)
        };
        return st.api.patch(
            def,
            &rr.version,
            rr.ns.as_deref(),
            &rr.name.clone().unwrap_or_default(),
            target,
            &opts,
            &f,
        );
    }
    let doc = parse_json(body)?;
    let f = |existing: Option<&Value>| -> Result<Value, ApiError> {
        let Some(e) = existing else {
            return Err(ApiError::not_found(def, rr.name.as_deref().unwrap_or("")));
        };
        let mut t = e.clone();
        apply_patch(pt, &mut t, &doc)?;
        Ok(t)
    };
    if st
        .api
        .store
        .get(
            &def.key(),
            rr.ns.as_deref().unwrap_or(""),
            rr.name.as_deref().unwrap_or(""),
        )
        .is_none()
    {
        return Err(ApiError::not_found(def, rr.name.as_deref().unwrap_or("")));
    }
    st.api.patch(
        def,
        &rr.version,
        rr.ns.as_deref(),
        rr.name.as_deref().unwrap_or(""),
        target,
        &opts,
        &f,
    )
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn encode_continue(t: &ContinueToken) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(t).unwrap_or_default())
}

fn decode_continue(s: &str) -> Result<ContinueToken, ApiError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| ApiError::bad_request(format!("continue key is not valid: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("continue key is not valid: {e}")))
}

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn list(
    st: &ServerState,
    rr: &ResourceReq,
    q: &HashMap<String, String>,
    render: Render,
) -> Result<Response, ApiError> {
    let sel = Selectors::parse(rr, q)?;
    let limit: usize = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?
            .max(0) as usize,
        None => 0,
    };
    let limit = if limit == 0 { usize::MAX } else { limit };
    let store = &st.api.store;
    let mut after = None;
    let mut list_rv = None;
    if let Some(c) = q.get("continue").filter(|s| !s.is_empty()) {
        let t = decode_continue(c)?;
        if store.check_not_compacted(t.rv).is_err() {
            return Err(ApiError::gone(CONTINUE_EXPIRED));
        }
        list_rv = Some(t.rv);
        after = Some((t.ns, t.name));
    } else if let Some(rv) = q
        .get("resourceVersion")
        .filter(|s| !s.is_empty() && *s != "0")
    {
        let n: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        if q.get("resourceVersionMatch").is_some_and(|m| m == "Exact")
            && let Err(StoreError::TooOld { requested, oldest }) = store.check_not_compacted(n)
        {
            return Err(ApiError::gone(format!(
                "too old resource version: {requested} ({oldest})"
            )));
        }
    }
    let matches = |o: &Value| sel.matches(o);
    let filter: Option<&dyn Fn(&Value) -> bool> =
        if sel.is_empty() { None } else { Some(&matches) };
    let page = store.page(
        &rr.def.key(),
        rr.ns.as_deref(),
        after.as_ref(),
        limit,
        filter,
    );
    let rv = list_rv.unwrap_or(page.rv);
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some((ns, name)) = &page.next {
        meta["continue"] = json!(encode_continue(&ContinueToken {
            rv,
            ns: ns.clone(),
            name: name.clone()
        }));
        if let Some(remaining) = page.remaining {
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    match render {
        Render::Table => {
            let items: Vec<Arc<Value>> = page
                .items
                .iter()
                .map(|o| at_version(&rr.def, &rr.version, o))
                .collect();
            let mut t = table(st, rr, &items, q);
            t["metadata"] = meta;
            Ok(json_response(200, &t))
        }
        Render::Metadata => {
            let items: Vec<Value> = page.items.iter().map(|o| partial_metadata(o)).collect();
            Ok(json_response(
                200,
                &json!({"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":meta,"items":items}),
            ))
        }
        Render::Object => {
            // Written by hand: a list of 50k pods should not be cloned into one Value.
            let mut out = Vec::with_capacity(256 + page.items.len() * 1024);
            out.extend_from_slice(b"{\"kind\":");
            serde_json::to_writer(&mut out, &rr.def.list_kind)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            out.extend_from_slice(b",\"apiVersion\":");
            serde_json::to_writer(&mut out, &rr.def.api_version_for(&rr.version))
                .map_err(|e| ApiError::internal(e.to_string()))?;
            out.extend_from_slice(b",\"metadata\":");
            serde_json::to_writer(&mut out, &meta)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            out.extend_from_slice(b",\"items\":[");
            for (i, o) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let o = at_version(&rr.def, &rr.version, o);
                serde_json::to_writer(&mut out, &*o)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
            out.extend_from_slice(b"]}");
            Ok(bytes_response(200, out))
        }
    }
}

fn delete_collection(
    st: &ServerState,
    rr: &ResourceReq,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let sel = Selectors::parse(rr, q)?;
    let opts = delete_opts(q, body)?;
    let objs = st
        .api
        .store
        .page(
            &rr.def.key(),
            rr.ns.as_deref(),
            None,
            usize::MAX,
            Some(&|o| sel.matches(o)),
        )
        .items;
    let mut items = Vec::new();
    for o in objs {
        let ns = namespace_of(&o).to_string();
        let ns = (!ns.is_empty()).then_some(ns);
        match st.api.delete(&rr.def, ns.as_deref(), name_of(&o), &opts) {
            Ok(Deleted::Gone(x)) | Ok(Deleted::Pending(x)) => items.push((*x).clone()),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json_response(
        200,
        &json!({"kind": rr.def.list_kind, "apiVersion": rr.def.api_version_for(&rr.version),
            "metadata": {"resourceVersion": st.api.store.current_rv().to_string()}, "items": items}),
    ))
}

fn event_line(etype: &str, obj: &Value) -> Bytes {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(etype.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    let _ = serde_json::to_writer(&mut out, obj);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn expired_status(message: String) -> Value {
    ApiError::gone(message).status()
}

fn watch(
    st: &Arc<ServerState>,
    rr: ResourceReq,
    q: &HashMap<String, String>,
    render: Render,
) -> Result<Response, ApiError> {
    let mut sel = Selectors::parse(&rr, q)?;
    if let Some(n) = &rr.name {
        // GET .../NAME?watch=1: a watch of that object.
        let f = crate::selector::parse_field_selector(&format!("metadata.name={n}"))
            .map_err(ApiError::bad_request)?;
        sel.field = Some(f);
    }
    let bookmarks = parse_bool(q, "allowWatchBookmarks");
    let send_initial = parse_bool(q, "sendInitialEvents");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let since = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let since = if send_initial { None } else { since };
    let key = rr.def.key();
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let start = match st.api.store.watch(&key, since) {
        Ok(s) => s,
        Err(StoreError::TooOld { requested, oldest }) => {
            // The apiserver answers 200 and sends one ERROR event with a 410 Status.
            let line = event_line(
                "ERROR",
                &expired_status(format!("too old resource version: {requested} ({oldest})")),
            );
            return Ok(stream_response(vec![line]));
        }
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    let st2 = st.clone();
    let q2 = q.clone();
    tokio::spawn(async move {
        run_watch(
            st2,
            rr,
            q2,
            sel,
            render,
            start,
            tx,
            bookmarks,
            send_initial,
            timeout,
        )
        .await;
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(r)
}

fn stream_response(lines: Vec<Bytes>) -> Response {
    let s = futures::stream::iter(lines.into_iter().map(Ok::<Bytes, Infallible>));
    let mut r = Response::new(Body::from_stream(s));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[allow(clippy::too_many_arguments)]
async fn run_watch(
    st: Arc<ServerState>,
    rr: ResourceReq,
    q: HashMap<String, String>,
    sel: Selectors,
    render: Render,
    start: crate::store::WatchStart,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    bookmarks: bool,
    send_initial: bool,
    timeout: Option<Duration>,
) {
    let key = rr.def.key();
    let ns = rr.ns.clone();
    let in_scope = |o: &Value| ns.as_deref().is_none_or(|n| namespace_of(o) == n);
    let matches = |o: &Value| in_scope(o) && sel.matches(o);
    let out = |etype: &str, obj: &Arc<Value>| -> Bytes {
        let v = match render {
            Render::Object => return event_line(etype, &at_version(&rr.def, &rr.version, obj)),
            _ => render_one(&st, &rr, obj, render, &q),
        };
        event_line(etype, &v)
    };
    let bookmark = |rv: u64| -> Bytes {
        event_line(
            "BOOKMARK",
            &json!({"kind": rr.def.kind, "apiVersion": rr.def.api_version_for(&rr.version),
                "metadata": {"resourceVersion": rv.to_string()}}),
        )
    };
    // What an event becomes for this watcher (selector transitions).
    let translate = |ev: &Event| -> Option<(&'static str, Arc<Value>)> {
        if ev.key != key {
            return None;
        }
        let now = matches(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| matches(p));
        match ev.etype {
            EventType::Added => now.then(|| ("ADDED", ev.object.clone())),
            EventType::Deleted => (before || now).then(|| ("DELETED", ev.object.clone())),
            EventType::Modified => match (before, now) {
                (true, true) => Some(("MODIFIED", ev.object.clone())),
                (false, true) => Some(("ADDED", ev.object.clone())),
                (true, false) => Some(("DELETED", ev.object.clone())),
                (false, false) => None,
            },
        }
    };
    let mut last_rv = start.rv;
    for ev in &start.initial {
        if let Some((t, o)) = translate(ev)
            && tx.send(Ok(out(t, &o))).await.is_err()
        {
            return;
        }
    }
    if send_initial {
        let mut b = json!({"kind": rr.def.kind, "apiVersion": rr.def.api_version_for(&rr.version),
            "metadata": {"resourceVersion": start.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
        if !bookmarks {
            b = Value::Null;
        }
        if !b.is_null() && tx.send(Ok(event_line("BOOKMARK", &b))).await.is_err() {
            return;
        }
    }
    let mut rx = start.rx;
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut tick = tokio::time::interval(st.bookmark_interval);
    tick.tick().await;
    loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => return,
            _ = tx.closed() => return,
            _ = tick.tick() => {
                if bookmarks && tx.send(Ok(bookmark(last_rv))).await.is_err() {
                    return;
                }
            }
            m = rx.recv() => match m {
                Ok(b) => match &*b {
                    Broadcast::Event(ev) => {
                        if ev.rv <= last_rv && ev.rv <= start.rv {
                            // Already covered by the initial replay.
                            continue;
                        }
                        last_rv = last_rv.max(ev.rv);
                        if let Some((t, o)) = translate(ev)
                            && tx.send(Ok(out(t, &o))).await.is_err()
                        {
                            return;
                        }
                    }
                    Broadcast::CloseAll { gone } => {
                        if *gone {
                            let s = expired_status(format!(
                                "too old resource version: {last_rv} ({})",
                                st.api.store.floor()
                            ));
                            let _ = tx.send(Ok(event_line("ERROR", &s))).await;
                        }
                        return;
                    }
                },
                // A watcher that fell behind is dropped, as the apiserver's watch cache does.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
