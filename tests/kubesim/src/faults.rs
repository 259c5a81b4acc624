//! Fault injection: the next N requests matching a verb and a resource fail with a given status;
//! added latency. Driven from tests (`Sim::faults()`) or the admin endpoint (`POST /kubesim/faults`).

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One rule: the next `count` requests matching `verb` and `resource` fail with `status`.
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
    /// How many requests fail (then the rule is removed).
    #[serde(default = "one")]
    pub count: u32,
    /// HTTP status: 500, 503, 429, 409, ...
    pub status: u16,
    #[serde(default)]
    pub retry_after_seconds: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    pub fn new(verb: &str, resource: &str, status: u16, count: u32) -> Self {
        FaultRule {
            verb: Some(verb.into()),
            resource: Some(resource.into()),
            namespace: None,
            count,
            status,
            retry_after_seconds: None,
            message: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_seconds = Some(secs);
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
                r == with_sub || (req.subresource.is_none() && (r == req.plural || r == req.key))
            });
        let ns_ok = any(&self.namespace) || self.namespace.as_deref() == req.namespace;
        verb_ok && res_ok && ns_ok
    }
}

/// What a request looks like to the fault matcher.
pub struct FaultRequest<'a> {
    pub verb: &'a str,
    pub key: &'a str,
    pub plural: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
}

/// A fault to answer with.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub status: u16,
    pub retry_after_seconds: Option<u64>,
    pub message: Option<String>,
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

    /// Consumes one matching rule, if any.
    pub fn take(&self, req: &FaultRequest<'_>) -> Option<Fault> {
        let mut g = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let i = g.iter().position(|r| r.count > 0 && r.matches(req))?;
        let r = &mut g[i];
        r.count -= 1;
        let f = Fault {
            status: r.status,
            retry_after_seconds: r.retry_after_seconds,
            message: r.message.clone(),
        };
        if r.count == 0 {
            g.remove(i);
        }
        Some(f)
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
        };
        assert_eq!(f.take(&ev).map(|x| x.status), Some(429));
        let rule: FaultRule =
            serde_json::from_str(r#"{"verb":"get","resource":"configmaps","status":500}"#)
                .expect("parse");
        assert_eq!(rule.count, 1);
    }
}
