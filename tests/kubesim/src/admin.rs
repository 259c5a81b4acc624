//! The admin endpoint `/kubesim/...` on the API port: faults, latency, closing watches, restart,
//! time advance, health.
//!
//! - `GET /kubesim/healthz`
//! - `GET /kubesim/faults`, `POST /kubesim/faults` (a [`FaultRule`] or a list), `DELETE /kubesim/faults`
//! - `POST /kubesim/latency` `{"millis": N}`
//! - `POST /kubesim/close-watches` `{"gone": bool}` (with `gone`, an ERROR 410 event first)
//! - `POST /kubesim/restart`: drop every connection and compact the history (clients must relist)
//! - `POST /kubesim/advance-time` `{"seconds": N}`
//! - `POST /kubesim/pod-logs` `{"namespace", "pod", "container", "text", "previous": bool,
//!   "append": bool}`: sets (or appends to) a container's log (pods/log)
//! - `GET /kubesim/access-log` (`{"entries": [...], "denials": [...]}`: the permissions each
//!   non-privileged user's requests used and every 403, [`crate::access`]), `DELETE
//!   /kubesim/access-log`

use std::time::Duration;

use axum::body::Bytes;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::ApiError;
use crate::faults::FaultRule;
use crate::server::ServerState;

fn ok(v: Value) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&v).unwrap_or_default(),
    )
        .into_response()
}

fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("kubesim admin: bad JSON: {e}")))
}

pub async fn handle(
    st: &ServerState,
    method: &Method,
    rest: &[String],
    body: &Bytes,
) -> Result<Response, ApiError> {
    let path: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (method.as_str(), path.as_slice()) {
        ("GET", ["healthz"]) => Ok(ok(
            json!({"status": "ok", "resourceVersion": st.api.store.current_rv().to_string()}),
        )),
        ("GET", ["access-log"]) => Ok(ok(json!({
            "entries": st.api.access.entries(),
            "denials": st.api.access.denials(),
        }))),
        ("DELETE", ["access-log"]) => {
            st.api.access.clear();
            Ok(ok(json!({})))
        }
        ("GET", ["faults"]) => Ok(ok(
            serde_json::to_value(st.faults.rules()).unwrap_or_default()
        )),
        ("DELETE", ["faults"]) => {
            st.faults.clear();
            Ok(ok(json!({})))
        }
        ("POST", ["faults"]) => {
            let v = body_json(body)?;
            let rules: Vec<FaultRule> = if v.is_array() {
                serde_json::from_value(v)
            } else {
                serde_json::from_value(v).map(|r| vec![r])
            }
            .map_err(|e| ApiError::bad_request(format!("kubesim admin: bad fault rule: {e}")))?;
            for r in rules {
                st.faults.add(r);
            }
            Ok(ok(
                serde_json::to_value(st.faults.rules()).unwrap_or_default()
            ))
        }
        ("POST", ["latency"]) => {
            let v = body_json(body)?;
            let ms = v.get("millis").and_then(Value::as_u64).unwrap_or(0);
            st.faults.set_latency(Duration::from_millis(ms));
            Ok(ok(json!({"millis": ms})))
        }
        ("POST", ["close-watches"]) => {
            let v = body_json(body)?;
            st.api
                .store
                .close_watches(v.get("gone").and_then(Value::as_bool).unwrap_or(false));
            Ok(ok(json!({})))
        }
        ("POST", ["restart"]) => {
            st.api.store.compact();
            // Drop every connection once this response had a chance to leave.
            let conns = st.conns.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                conns.send_modify(|g| *g += 1);
            });
            Ok(ok(
                json!({"resourceVersion": st.api.store.current_rv().to_string()}),
            ))
        }
        ("POST" | "PUT", ["pod-logs"]) => {
            let v = body_json(body)?;
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
            let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
            st.api
                .logs
                .write(
                    &st.api,
                    s("namespace"),
                    s("pod"),
                    s("container"),
                    s("text"),
                    match (flag("previous"), flag("append")) {
                        (true, _) => crate::logs::LogWrite::SetPrevious,
                        (false, true) => crate::logs::LogWrite::Append,
                        (false, false) => crate::logs::LogWrite::Set,
                    },
                )
                .map_err(|e| ApiError::bad_request(format!("kubesim admin: {e}")))?;
            Ok(ok(json!({})))
        }
        ("POST", ["advance-time"]) => {
            let v = body_json(body)?;
            let secs = v.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
            if !(0.0..=1e9).contains(&secs) {
                return Err(ApiError::bad_request(
                    "kubesim admin: seconds must be between 0 and 1e9",
                ));
            }
            st.api.clock.advance(Duration::from_secs_f64(secs));
            st.kick.notify_one();
            Ok(ok(json!({"now": st.api.now()})))
        }
        _ => Err(ApiError::not_found_path()),
    }
}
