//! User impersonation (staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go):
//! `Impersonate-User`, `Impersonate-Group` (repeatable), `Impersonate-Uid` and
//! `Impersonate-Extra-<key>` headers, each checked with the `impersonate` verb on `users`,
//! `serviceaccounts` (for `system:serviceaccount:<ns>:<name>`), `groups`, `uids` and
//! `userextras/<key>` (authentication.k8s.io) before the request proceeds as that user. This is
//! what `kubectl --as`/`--as-group` send.
//!
//! As the apiserver: groups or extras without a user are a 500 ("requested ... without
//! impersonating a user"); a service account without explicit groups gets its
//! `system:serviceaccounts[:<ns>]` groups; a non-anonymous user gets `system:authenticated`
//! unless the impersonated groups name it or `system:unauthenticated`.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use crate::api::{Api, ApiError};
use crate::auth::UserInfo;
use crate::rbac::Attributes;

const EXTRA_PREFIX: &str = "impersonate-extra-";

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// `%`-decoding of an extra key (`Impersonate-Extra-acme.com%2Fproject`).
fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Applies the impersonation headers of a request by `requester`: the user the request proceeds
/// as (the requester itself when there are none), or the 403 of the first denied check.
pub fn apply(
    auth: &crate::authn::Authn,
    api: &Api,
    headers: &HeaderMap,
    requester: UserInfo,
) -> Result<UserInfo, ApiError> {
    let user = header_values(headers, "impersonate-user")
        .first()
        .map(|s| s.to_string())
        .filter(|s| !s.is_empty());
    let groups: Vec<String> = header_values(headers, "impersonate-group")
        .into_iter()
        .map(str::to_string)
        .collect();
    let uid = header_values(headers, "impersonate-uid")
        .first()
        .map(|s| s.to_string());
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(k) = name.as_str().strip_prefix(EXTRA_PREFIX)
            && let Ok(v) = value.to_str()
        {
            extra.entry(unescape(k)).or_default().push(v.to_string());
        }
    }
    let Some(username) = user else {
        if !groups.is_empty() || !extra.is_empty() || uid.is_some() {
            return Err(ApiError::internal(
                "requested impersonation of groups, extra or uid without impersonating a user",
            ));
        }
        return Ok(requester);
    };
    // One `impersonate` check per impersonated attribute.
    let check = |group: &str, resource: &str, sub: Option<String>, name: &str, ns: Option<&str>| {
        Attributes {
            user: requester.clone(),
            verb: "impersonate".into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub,
            namespace: ns.map(str::to_string),
            name: Some(name.to_string()),
        }
    };
    let mut checks: Vec<Attributes> = Vec::new();
    let sa = username
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
        .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains(':'));
    let mut result_groups = Vec::new();
    match sa {
        Some((ns, name)) => {
            checks.push(check("", "serviceaccounts", None, name, Some(ns)));
            if groups.is_empty() {
                result_groups = vec![
                    "system:serviceaccounts".to_string(),
                    format!("system:serviceaccounts:{ns}"),
                ];
            }
        }
        None => checks.push(check("", "users", None, &username, None)),
    }
    for g in &groups {
        checks.push(check("", "groups", None, g, None));
        result_groups.push(g.clone());
    }
    if let Some(u) = &uid {
        checks.push(check("authentication.k8s.io", "uids", None, u, None));
    }
    for (k, vs) in &extra {
        for v in vs {
            checks.push(check(
                "authentication.k8s.io",
                "userextras",
                Some(k.clone()),
                v,
                None,
            ));
        }
    }
    if auth.rbac {
        let snap = crate::driver::rbac_snapshot(api);
        for attrs in checks {
            if let Err(msg) = crate::rbac::authorize(&attrs, &snap) {
                let body = crate::rbac::forbidden_status(&attrs, &msg);
                let mut e = ApiError::forbidden(msg);
                e.details = body.get("details").cloned().map(Box::new);
                e.body = Some(Box::new(body));
                return Err(e);
            }
        }
    }
    if username != "system:anonymous"
        && !result_groups
            .iter()
            .any(|g| g == "system:authenticated" || g == "system:unauthenticated")
    {
        result_groups.push("system:authenticated".into());
    }
    Ok(UserInfo {
        username,
        uid,
        groups: result_groups,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_unescaped() {
        assert_eq!(unescape("acme.com%2fproject"), "acme.com/project");
        assert_eq!(unescape("scopes"), "scopes");
        assert_eq!(unescape("bad%zz"), "bad%zz");
    }
}
