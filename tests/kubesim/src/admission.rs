//! What the apiserver does to a write between decoding and storage, beyond kubesim's API layer:
//! the RBAC storage's escalation checks (`bind`/`escalate`, [`crate::escalation`]), validation of
//! the built-in kinds cryptojack writes ([`crate::validation`]), and the ResourceQuota admission
//! ([`crate::quota`]), in the apiserver's order (storage strategy checks, validation, validating
//! admission).
//!
//! The requesting user travels in a task-local [`RequestCtx`] set by the HTTP front end around
//! each request; writes without one (seeding, the simulated controllers, tests calling `Api`
//! directly) are privileged, as loopback and controller writes are for these checks.

use serde_json::Value;

use crate::api::{Api, ApiError};
use crate::auth::UserInfo;
use crate::resources::ResourceDef;

/// The request being served: who asks, and whether authorization is enforced.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub user: UserInfo,
    pub rbac: bool,
}

tokio::task_local! {
    static REQUEST: RequestCtx;
}

/// Runs `f` with `ctx` as the current request.
pub async fn scope<F: std::future::Future>(ctx: RequestCtx, f: F) -> F::Output {
    REQUEST.scope(ctx, f).await
}

/// The current request, if the caller serves one with RBAC enforced.
pub fn current() -> Option<RequestCtx> {
    REQUEST.try_with(Clone::clone).ok().filter(|c| c.rbac)
}

/// Defaults and checks a create of `obj` (named, before storage). `dry_run`: nothing is charged.
pub fn admit_create(
    api: &Api,
    def: &ResourceDef,
    obj: &mut Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    crate::validation::apply_defaults(def, obj);
    escalation(api, def, obj, None)?;
    crate::validation::validate(def, obj, None)?;
    crate::quota::admit_create(api, def, obj, dry_run)
}

fn escalation(
    api: &Api,
    def: &ResourceDef,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    if def.group != "rbac.authorization.k8s.io" {
        return Ok(());
    }
    let Some(ctx) = current() else {
        return Ok(());
    };
    let snap = crate::driver::rbac_snapshot(api);
    crate::escalation::check(&ctx.user, def, obj, old, &snap, Some(&api.access)).inspect_err(|e| {
        let ns = crate::api::namespace_of(obj);
        let name = crate::api::name_of(obj);
        let write = crate::rbac::Attributes {
            user: ctx.user.clone(),
            verb: if old.is_some() { "update" } else { "create" }.into(),
            api_group: def.group.clone(),
            resource: def.plural.clone(),
            subresource: None,
            namespace: (!ns.is_empty()).then(|| ns.to_string()),
            name: (!name.is_empty()).then(|| name.to_string()),
        };
        api.access.record_escalation_refused(&write, &e.message);
    })
}

/// Defaults and checks an update of `old` to `new` (the main resource; status writes are not
/// checked).
pub fn admit_update(
    api: &Api,
    def: &ResourceDef,
    old: &Value,
    new: &mut Value,
) -> Result<(), ApiError> {
    crate::validation::apply_defaults(def, new);
    escalation(api, def, new, Some(old))?;
    crate::validation::validate(def, new, Some(old))
}
