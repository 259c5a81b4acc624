//! Request authentication and authorization wiring: bearer tokens go through `auth::Tokens`,
//! decisions through `rbac::authorize` when RBAC is on. Without RBAC every request is admin.

use std::sync::Arc;

use axum::http::{HeaderMap, header};

use crate::api::{Api, ApiError};
use crate::server::ResourceReq;

/// The admin identity of the kubeconfig kubesim writes.
pub const ADMIN_USER: &str = "kubesim-admin";

/// The authenticated user of a request.
pub type User = crate::auth::UserInfo;

/// The admin user (group system:masters).
pub fn admin_user() -> User {
    crate::auth::UserInfo::user(ADMIN_USER, &["system:masters"])
}

fn is_admin(u: &User) -> bool {
    u.groups.iter().any(|g| g == "system:masters")
}

/// Authentication/authorization configuration of a server.
pub struct Authn {
    pub rbac: bool,
    pub admin_token: String,
    pub tokens: Arc<crate::auth::Tokens>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, tok) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(tok.trim())
}

impl Authn {
    /// Who is asking. Without RBAC, anyone (even without a token) is admin.
    pub fn authenticate(&self, headers: &HeaderMap, api: &Api) -> Result<User, ApiError> {
        let tok = bearer(headers);
        if !self.rbac {
            return Ok(admin_user());
        }
        let Some(tok) = tok else {
            return Err(ApiError::unauthorized());
        };
        if tok == self.admin_token {
            return Ok(admin_user());
        }
        let snap = crate::driver::auth_snapshot(api);
        match self.tokens.authenticate(tok, &snap, api.clock.now()) {
            Some(mut u) => {
                if !u.groups.iter().any(|g| g == "system:authenticated") {
                    u.groups.push("system:authenticated".into());
                }
                Ok(u)
            }
            None => Err(ApiError::unauthorized()),
        }
    }

    /// May `user` do `verb` on the resource of `rr`?
    pub fn authorize(
        &self,
        user: &User,
        verb: &str,
        rr: &ResourceReq,
        api: &Api,
    ) -> Result<(), ApiError> {
        if !self.rbac || is_admin(user) {
            return Ok(());
        }
        let attrs = crate::rbac::Attributes {
            user: user.clone(),
            verb: verb.to_string(),
            api_group: rr.def.group.clone(),
            resource: rr.def.plural.clone(),
            subresource: rr.sub.clone(),
            namespace: rr.ns.clone(),
            name: rr.name.clone(),
        };
        let snap = crate::driver::rbac_snapshot(api);
        let decision = crate::rbac::authorize(&attrs, &snap);
        match &decision {
            Ok(()) => api.access.record_request(&attrs, true, ""),
            Err(msg) => api.access.record_request(&attrs, false, msg),
        }
        decision.map_err(|msg| {
            let body = crate::rbac::forbidden_status(&attrs, &msg);
            let mut e = ApiError::forbidden(msg);
            e.details = body.get("details").cloned().map(Box::new);
            e.body = Some(Box::new(body));
            e
        })
    }

    /// The admin endpoint is for admins only when RBAC is on.
    pub fn authorize_admin(&self, user: &User, _api: &Api) -> Result<(), ApiError> {
        if !self.rbac || is_admin(user) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "User \"{}\" cannot use the kubesim admin endpoint",
                user.username
            )))
        }
    }
}
