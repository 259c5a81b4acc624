//! Fault injection: the next N requests matching a verb, a resource (and subresource), a
//! namespace and an object name fail with a given status, or lose their connection; either before
//! the request is handled (nothing is written) or after a successful write (the object changed,
//! watchers saw it, but the client gets a 500 or no answer at all: the "lost response" case);
//! added latency. Driven from tests (`Sim::faults()`), the admin endpoint (`POST /kubesim/faults`)
//! or the binary (`--fault JSON`).

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One rule: the next `count` requests matching `verb`, `resource`, `namespace` and `name` fail
/// with `status` (or a dropped connection), before or after the request is handled.
///
/// ```
/// use kubesim::FaultRule;
/// // The next successful scale of deployment "web" is applied, but its response is lost.
/// let r = FaultRule::new("update", "deployments/scale", 500, 1).name("web").after_write().drop_connection();
/// assert!(r.after_write && r.drop_connection);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`); `None` or `"*"` matches any.
    #[serde(default)]
    pub verb: Option<String>,
    /// Resource plural (`pods`), `plural/subresource` (`pods/eviction`) or `GROUP/PLURAL` key
    /// (`apps/deployments`); `None` or `"*"` matches any.
    #[serde(default)]
    pub resource: Option<String>,
    /// Only in this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only for this object name: the name in the URL, or for a create the `metadata.name` of the
    /// request body (an object created with `generateName` only matches after the write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many requests fail (then the rule is removed).
    #[serde(default = "one")]
    pub count: u32,
    /// HTTP status: 500, 503, 429, 409, ... (500 when omitted).
    #[serde(default = "internal_error")]
    pub status: u16,
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
    /// The fault hits after the request was handled, and only when it succeeded (2xx): the write
    /// is applied (watchers see it), the client gets the fault instead of the answer. A request
    /// that fails on its own (404, 409, ...) answers normally and does not consume the rule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_write: bool,
    /// Instead of an HTTP answer, the server closes the connection without sending anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_connection: bool,
}

fn one() -> u32 {
    1
}

fn internal_error() -> u16 {
    500
}

impl FaultRule {
    pub fn new(verb: &str, resource: &str, status: u16, count: u32) -> Self {
        FaultRule {
            verb: Some(verb.into()),
            resource: Some(resource.into()),
            namespace: None,
            name: None,
            count,
            status,
            retry_after_seconds: None,
            message: None,
            after_write: false,
            drop_connection: false,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_seconds = Some(secs);
        self
    }

    /// Only requests in namespace `ns`.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Only requests for the object `name` (see [`FaultRule::name`] field docs for creates).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The Status message of the fault (default `kubesim injected fault: <Reason>`).
    pub fn message(mut self, m: &str) -> Self {
        self.message = Some(m.into());
        self
    }

    /// The fault hits after a successful write: the change is applied, the answer is lost.
    pub fn after_write(mut self) -> Self {
        self.after_write = true;
        self
    }

    /// The connection is closed without an answer instead of answering `status`.
    pub fn drop_connection(mut self) -> Self {
        self.drop_connection = true;
        self
    }

    fn matches(&self, req: &FaultRequest<'_>) -> bool {
        let any = |o: &Option<String>| o.as_deref().is_none_or(|s| s == "*" || s.is_empty());
        let verb_ok = any(&self.verb) || self.verb.as_deref() == Some(req.verb);
        let res_ok = any(&self.resource)
            || self.resource.as_deref().is_some_and(|r| {
                let with_sub = match req.subresource {
                    Some(s) => format!("{}/{}", req.plural, s),
                    None => req.plural.to_string(),
                };
                let key_sub = match req.subresource {
                    Some(s) => format!("{}/{}", req.key, s),
                    None => req.key.to_string(),
                };
                r == with_sub
                    || r == key_sub
                    || (req.subresource.is_none() && (r == req.plural || r == req.key))
            });
        let ns_ok = any(&self.namespace) || self.namespace.as_deref() == req.namespace;
        let name_ok = any(&self.name) || self.name.as_deref() == req.name;
        verb_ok && res_ok && ns_ok && name_ok
    }
}

/// What a request looks like to the fault matcher.
pub struct FaultRequest<'a> {
    pub verb: &'a str,
    pub key: &'a str,
    pub plural: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    /// The object's name (from the URL, or the body of a create).
    pub name: Option<&'a str>,
}

/// A fault to answer with.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub status: u16,
    pub retry_after_seconds: Option<u64>,
    pub message: Option<String>,
    /// Close the connection without answering.
    pub drop_connection: bool,
}

/// The fault state shared by the server and the harness.
#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    latency: Mutex<Duration>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(rule);
    }

    /// Removes every rule and the latency.
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.latency.lock().unwrap_or_else(|e| e.into_inner()) = Duration::ZERO;
    }

    /// Latency added before every API request.
    pub fn set_latency(&self, d: Duration) {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner()) = d;
    }

    pub fn latency(&self) -> Duration {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rules still pending.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Consumes one matching rule that hits before the request is handled, if any.
    pub fn take(&self, req: &FaultRequest<'_>) -> Option<Fault> {
        self.take_where(req, false)
    }

    /// Consumes one matching rule that hits after a successful write, if any.
    pub fn take_after_write(&self, req: &FaultRequest<'_>) -> Option<Fault> {
        self.take_where(req, true)
    }

    /// Whether some pending rule hits after the write (so the server knows to check).
    pub fn has_after_write(&self) -> bool {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|r| r.after_write && r.count > 0)
    }

    /// Whether some pending rule needs the object's name (the body of a create is then parsed).
    pub fn needs_name(&self) -> bool {
        self.rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|r| r.count > 0 && r.name.as_deref().is_some_and(|n| !n.is_empty() && n != "*"))
    }

    fn take_where(&self, req: &FaultRequest<'_>, after_write: bool) -> Option<Fault> {
        let mut g = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let i = g
            .iter()
            .position(|r| r.count > 0 && r.after_write == after_write && r.matches(req))?;
        let r = &mut g[i];
        r.count -= 1;
        let f = Fault {
            status: r.status,
            retry_after_seconds: r.retry_after_seconds,
            message: r.message.clone(),
            drop_connection: r.drop_connection,
        };
        if r.count == 0 {
            g.remove(i);
        }
        Some(f)
    }
}

/// Closes the HTTP connection a request arrived on (inserted into every request's extensions by
/// the server's accept loop): the connection task drops the connection, and with it the request,
/// without sending anything.
#[derive(Clone, Debug)]
pub struct ConnectionKill(pub std::sync::Arc<tokio::sync::Notify>);

/// The answer for a fault: a Status with the fault's code (and Retry-After), or no answer at all.
pub(crate) async fn answer(f: Fault, extensions: &axum::http::Extensions) -> crate::api::ApiError {
    if f.drop_connection
        && let Some(kill) = extensions.get::<ConnectionKill>()
    {
        kill.0.notify_one();
        // The connection task drops this request with the connection.
        std::future::pending::<()>().await;
    }
    let reason = reason_for(f.status);
    let msg = f
        .message
        .unwrap_or_else(|| format!("kubesim injected fault: {reason}"));
    let mut e = crate::api::ApiError::new(f.status, reason, msg);
    e.retry_after = f.retry_after_seconds;
    e
}

/// The object name a fault rule is matched against: the URL's, else (for a create, when some rule
/// needs it) the body's `metadata.name`.
pub(crate) fn request_name(
    faults: &Faults,
    verb: &str,
    url_name: Option<&str>,
    body: &[u8],
) -> Option<String> {
    if let Some(n) = url_name {
        return Some(n.to_string());
    }
    if verb != "create" || !faults.needs_name() {
        return None;
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

/// The coordinates of a request, owned (the request itself moves into the handler).
pub(crate) struct OwnedRequest {
    pub verb: String,
    pub key: String,
    pub plural: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl OwnedRequest {
    pub fn as_request(&self) -> FaultRequest<'_> {
        FaultRequest {
            verb: &self.verb,
            key: &self.key,
            plural: &self.plural,
            subresource: self.subresource.as_deref(),
            namespace: self.namespace.as_deref(),
            name: self.name.as_deref(),
        }
    }
}

/// After a request was handled: a successful answer is replaced by a matching after-write fault.
/// A create whose name was not known from the request (generateName) is matched against the
/// name of the created object.
pub(crate) async fn after_write(
    faults: &Faults,
    mut req: OwnedRequest,
    resp: axum::response::Response,
    extensions: &axum::http::Extensions,
) -> Result<axum::response::Response, crate::api::ApiError> {
    if !resp.status().is_success() {
        return Ok(resp);
    }
    let resp = if req.name.is_none() && req.verb == "create" && faults.needs_name() {
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| crate::api::ApiError::internal(e.to_string()))?;
        req.name = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/metadata/name")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            });
        axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        resp
    };
    match faults.take_after_write(&req.as_request()) {
        Some(f) => Err(answer(f, extensions).await),
        None => Ok(resp),
    }
}

/// The reason Kubernetes puts in a Status for an HTTP code.
pub fn reason_for(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_and_count_down() {
        let f = Faults::default();
        f.add(FaultRule::new("list", "pods", 503, 2).retry_after(1));
        let req = FaultRequest {
            verb: "list",
            key: "/pods",
            plural: "pods",
            subresource: None,
            namespace: Some("a"),
            name: Some("x"),
        };
        let other = FaultRequest {
            verb: "get",
            ..FaultRequest { ..req }
        };
        assert!(f.take(&other).is_none());
        let req = FaultRequest {
            verb: "list",
            key: "/pods",
            plural: "pods",
            subresource: None,
            namespace: Some("a"),
            name: Some("x"),
        };
        assert_eq!(f.take(&req).map(|x| x.status), Some(503));
        assert!(f.take(&req).is_some());
        assert!(f.take(&req).is_none());
        f.add(FaultRule::new("create", "pods/eviction", 429, 1));
        let ev = FaultRequest {
            verb: "create",
            key: "/pods",
            plural: "pods",
            subresource: Some("eviction"),
            namespace: None,
            name: Some("p"),
        };
        assert_eq!(f.take(&ev).map(|x| x.status), Some(429));
        let rule: FaultRule =
            serde_json::from_str(r#"{"verb":"get","resource":"configmaps","status":500}"#)
                .expect("parse");
        assert_eq!(rule.count, 1);
    }

    #[test]
    fn names_namespaces_and_after_write_rules() {
        let f = Faults::default();
        f.add(
            FaultRule::new("update", "deployments/scale", 500, 1)
                .namespace("shop")
                .name("web")
                .after_write()
                .drop_connection(),
        );
        let req = |ns, name| FaultRequest {
            verb: "update",
            key: "apps/deployments",
            plural: "deployments",
            subresource: Some("scale"),
            namespace: Some(ns),
            name: Some(name),
        };
        assert!(f.has_after_write() && f.needs_name());
        // Not before the write, not for another name or namespace.
        assert!(f.take(&req("shop", "web")).is_none());
        assert!(f.take_after_write(&req("shop", "api")).is_none());
        assert!(f.take_after_write(&req("other", "web")).is_none());
        let hit = f
            .take_after_write(&req("shop", "web"))
            .expect("after-write fault");
        assert!(hit.drop_connection);
        assert!(f.rules().is_empty() && !f.has_after_write());
        // `GROUP/PLURAL/subresource` matches too; JSON spelling of the admin endpoint.
        let rule: FaultRule = serde_json::from_str(
            r#"{"verb":"update","resource":"apps/deployments/scale","name":"web","afterWrite":true,"dropConnection":true}"#,
        )
        .expect("parse");
        assert_eq!((rule.status, rule.count), (500, 1));
        f.add(rule);
        assert!(f.take_after_write(&req("any", "web")).is_some());
    }
}
