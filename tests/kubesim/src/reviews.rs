//! The review APIs (create-only, nothing stored): authorization.k8s.io/v1 SubjectAccessReview,
//! SelfSubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview and
//! authentication.k8s.io/v1 TokenReview and SelfSubjectReview — what `kubectl auth can-i
//! [--list] [--as]` and `kubectl auth whoami` call, and what operators use to check their own
//! permissions.
//!
//! Decisions come from the same authorizer as requests ([`crate::rbac::decide`]); with RBAC off
//! every user may do everything (the AlwaysAllow authorizer). Rules reviews list the RBAC rules of
//! the user in the namespace (`system:masters` gets `*`), as the apiserver's rule resolvers do.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::api::ApiError;
use crate::auth::UserInfo;
use crate::resources::{ResourceDef, def_for_review};
use crate::server::{ResourceReq, ServerState};

const AUTHZ: &str = "authorization.k8s.io";
const AUTHN: &str = "authentication.k8s.io";

/// The review resources, for the registry.
pub fn defs() -> Vec<ResourceDef> {
    vec![
        def_for_review(AUTHZ, "SubjectAccessReview", "subjectaccessreviews", false),
        def_for_review(
            AUTHZ,
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        ),
        def_for_review(
            AUTHZ,
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            true,
        ),
        def_for_review(
            AUTHZ,
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            false,
        ),
        def_for_review(AUTHN, "TokenReview", "tokenreviews", false),
        def_for_review(AUTHN, "SelfSubjectReview", "selfsubjectreviews", false),
    ]
}

fn is_review(def: &ResourceDef) -> bool {
    (def.group == AUTHZ || def.group == AUTHN) && def.plural.ends_with("reviews")
}

fn respond(code: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::CREATED);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn invalid(kind: &str, group: &str, causes: &[(&str, &str, String)]) -> ApiError {
    let msgs: Vec<String> = causes.iter().map(|(f, _, m)| format!("{f}: {m}")).collect();
    let msg = if msgs.len() == 1 {
        msgs[0].clone()
    } else {
        format!("[{}]", msgs.join(", "))
    };
    let body = crate::status::failure(
        422,
        "Invalid",
        &format!("{kind}.{group} \"\" is invalid: {msg}"),
        Some(
            json!({"group": group, "kind": kind, "causes": causes.iter().map(|(f, r, m)| {
            let detail = m.split_once(": ").map(|(_, d)| d).unwrap_or(m);
            json!({"reason": r, "message": detail, "field": f})
        }).collect::<Vec<_>>()}),
        ),
    );
    let mut e = ApiError::new(422, "Invalid", body["message"].as_str().unwrap_or(""));
    e.body = Some(Box::new(body));
    e
}

/// Serves a create of a review resource; None for every other request.
pub fn handle(
    st: &ServerState,
    user: &UserInfo,
    verb: &str,
    rr: &ResourceReq,
    body: &[u8],
) -> Option<Result<Response, ApiError>> {
    if !is_review(&rr.def) || rr.sub.is_some() {
        return None;
    }
    if verb != "create" {
        return Some(Err(ApiError::method_not_allowed()));
    }
    Some(serve(st, user, rr, body))
}

fn serve(
    st: &ServerState,
    user: &UserInfo,
    rr: &ResourceReq,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut obj: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the object provided is unrecognized or malformed: {e}"
        ))
    })?;
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request is not a JSON object",
        ));
    }
    let def = &rr.def;
    obj["apiVersion"] = json!(def.api_version_for(&rr.version));
    obj["kind"] = json!(def.kind);
    let md = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut md = if md.is_object() { md } else { json!({}) };
    md["creationTimestamp"] = Value::Null;
    obj["metadata"] = md;
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match def.plural.as_str() {
        "selfsubjectaccessreviews" => access_review(st, user, &spec, None)?,
        "subjectaccessreviews" => {
            let subject = subject_of(&def.kind, &spec)?;
            access_review(st, &subject, &spec, None)?
        }
        "localsubjectaccessreviews" => {
            let ns = rr.ns.clone().unwrap_or_default();
            if spec
                .get("nonResourceAttributes")
                .is_some_and(|v| !v.is_null())
            {
                return Err(invalid(
                    &def.kind,
                    &def.group,
                    &[(
                        "spec.nonResourceAttributes",
                        "FieldValueInvalid",
                        "Invalid value: \"\": disallowed on this kind of request".into(),
                    )],
                ));
            }
            let spec_ns = spec
                .pointer("/resourceAttributes/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !spec_ns.is_empty() && spec_ns != ns {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {ns}"
                )));
            }
            obj["spec"]["resourceAttributes"]["namespace"] = json!(ns);
            obj["metadata"]["namespace"] = json!(ns);
            let subject = subject_of(&def.kind, &spec)?;
            access_review(st, &subject, &spec, Some(&ns))?
        }
        "selfsubjectrulesreviews" => rules_review(st, user, &spec)?,
        "tokenreviews" => token_review(st, &spec)?,
        "selfsubjectreviews" => json!({"userInfo": user_info(user)}),
        _ => return Err(ApiError::not_found_path()),
    };
    obj["status"] = status;
    Ok(respond(201, &obj))
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The user a SubjectAccessReview asks about (`spec.user/groups/extra/uid`).
fn subject_of(kind: &str, spec: &Value) -> Result<UserInfo, ApiError> {
    let username = spec
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let groups = str_list(spec.get("groups"));
    if username.is_empty() && groups.is_empty() {
        return Err(invalid(
            kind,
            AUTHZ,
            &[(
                "spec.user",
                "FieldValueInvalid",
                "Invalid value: \"\": at least one of user or group must be specified".into(),
            )],
        ));
    }
    let mut extra = std::collections::BTreeMap::new();
    if let Some(m) = spec.get("extra").and_then(Value::as_object) {
        for (k, v) in m {
            extra.insert(k.clone(), str_list(Some(v)));
        }
    }
    Ok(UserInfo {
        username,
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        groups,
        extra,
    })
}

/// `status` of a (Self|Local)SubjectAccessReview for `user`.
fn access_review(
    st: &ServerState,
    user: &UserInfo,
    spec: &Value,
    local_ns: Option<&str>,
) -> Result<Value, ApiError> {
    let kind = "SubjectAccessReview";
    let ra = spec.get("resourceAttributes").filter(|v| v.is_object());
    let nra = spec.get("nonResourceAttributes").filter(|v| v.is_object());
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let attrs = match (ra, nra) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                kind,
                AUTHZ,
                &[(
                    "spec.nonResourceAttributes",
                    "FieldValueInvalid",
                    "Invalid value: \"\": cannot be specified in combination with resourceAttributes"
                        .into(),
                )],
            ));
        }
        (None, None) => {
            return Err(invalid(
                kind,
                AUTHZ,
                &[(
                    "spec.resourceAttributes",
                    "FieldValueRequired",
                    "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
                )],
            ));
        }
        (Some(r), None) => {
            let ns = local_ns
                .map(str::to_string)
                .unwrap_or_else(|| s(r, "namespace"));
            let sub = s(r, "subresource");
            let name = s(r, "name");
            crate::rbac::Attributes {
                user: user.clone(),
                verb: s(r, "verb"),
                api_group: s(r, "group"),
                resource: s(r, "resource"),
                subresource: (!sub.is_empty()).then_some(sub),
                namespace: (!ns.is_empty()).then_some(ns),
                name: (!name.is_empty()).then_some(name),
            }
        }
        (None, Some(n)) => crate::rbac::Attributes {
            user: user.clone(),
            verb: s(n, "verb"),
            api_group: String::new(),
            resource: s(n, "path"),
            subresource: None,
            namespace: None,
            name: None,
        },
    };
    if !st.auth.rbac {
        return Ok(json!({"allowed": true}));
    }
    let snap = crate::driver::rbac_snapshot(&st.api);
    let d = crate::rbac::decide(&attrs, &snap);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    Ok(status)
}

/// `status` of a SelfSubjectRulesReview: the user's RBAC rules in `spec.namespace`.
fn rules_review(st: &ServerState, user: &UserInfo, spec: &Value) -> Result<Value, ApiError> {
    let ns = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
    if ns.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let all = || {
        (
            vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
            vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
        )
    };
    let masters = user.groups.iter().any(|g| g == "system:masters");
    let (mut resource_rules, mut non_resource_rules) = if masters || !st.auth.rbac {
        all()
    } else {
        (Vec::new(), Vec::new())
    };
    let mut error = None;
    if st.auth.rbac {
        let snap = crate::driver::rbac_snapshot(&st.api);
        let (rules, err) = crate::rbac::rules_for(user, ns, &snap);
        error = err;
        for r in rules {
            let pick = |k: &str| r.get(k).filter(|v| !v.is_null()).cloned();
            let verbs = pick("verbs").unwrap_or_else(|| json!([]));
            if r.get("resources")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                let mut rr = json!({"verbs": verbs});
                for k in ["apiGroups", "resources", "resourceNames"] {
                    if let Some(v) = pick(k) {
                        rr[k] = v;
                    }
                }
                resource_rules.push(rr);
            }
            if r.get("nonResourceURLs")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                non_resource_rules
                    .push(json!({"verbs": verbs, "nonResourceURLs": r["nonResourceURLs"]}));
            }
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    });
    if let Some(e) = error {
        status["evaluationError"] = json!(e);
    }
    Ok(status)
}

fn user_info(u: &UserInfo) -> Value {
    let mut v = json!({"username": u.username, "groups": u.groups});
    if let Some(uid) = &u.uid {
        v["uid"] = json!(uid);
    }
    if !u.extra.is_empty() {
        v["extra"] = json!(u.extra);
    }
    v
}

/// `status` of a TokenReview: who `spec.token` authenticates as. Every kubesim token has the
/// apiserver's audience ([`crate::auth::ISSUER`]); a review for other audiences is not
/// authenticated.
fn token_review(st: &ServerState, spec: &Value) -> Result<Value, ApiError> {
    let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
    if token.is_empty() {
        return Err(invalid(
            "TokenReview",
            AUTHN,
            &[(
                "spec.token",
                "FieldValueRequired",
                "Required value: token must be specified".into(),
            )],
        ));
    }
    let wanted = str_list(spec.get("audiences"));
    let api_audiences = vec![crate::auth::ISSUER.to_string()];
    let audiences: Vec<String> = if wanted.is_empty() {
        api_audiences.clone()
    } else {
        wanted
            .iter()
            .filter(|a| api_audiences.contains(a))
            .cloned()
            .collect()
    };
    if audiences.is_empty() {
        return Ok(json!({"user": {}}));
    }
    let user = if token == st.auth.admin_token {
        Some(crate::authn::admin_user())
    } else {
        let snap = crate::driver::auth_snapshot(&st.api);
        st.auth
            .tokens
            .authenticate(token, &snap, st.api.clock.now())
            .map(|mut u| {
                if !u.groups.iter().any(|g| g == "system:authenticated") {
                    u.groups.push("system:authenticated".into());
                }
                u
            })
    };
    Ok(match user {
        Some(u) => json!({"authenticated": true, "user": user_info(&u), "audiences": audiences}),
        None => json!({"user": {}}),
    })
}
