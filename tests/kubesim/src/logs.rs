//! `pods/log`: container logs a test sets (kubesim runs no containers), served as the apiserver
//! and the kubelet serve them, so that `kubectl logs` works.
//!
//! `GET /api/v1/namespaces/{ns}/pods/{name}/log` with `container` (optional when the pod has one
//! container), `previous`, `tailLines`, `limitBytes`, `timestamps`, `sinceSeconds`, `sinceTime`
//! and `follow`:
//! - 404 `pods "x" not found`; 400 `a container name must be specified for pod x, choose one of:
//!   [a b]` without `container` for a pod of several containers (init containers listed first, as
//!   `validateContainer` in pkg/registry/core/pod/strategy.go lists them), 400 `container c is not
//!   valid for pod x` for an unknown one;
//! - invalid options: 422 `PodLogOptions "x" is invalid: ...` (ValidatePodLogOptions);
//! - `previous=true` without a previous log: the kubelet's 400 `previous terminated container "c"
//!   in pod "x" not found`;
//! - the text set for the container (empty when nothing was set; a pod not bound to a node has no
//!   log stream: empty), lines filtered by `sinceSeconds`/`sinceTime`, then the last `tailLines`,
//!   prefixed by their RFC 3339 timestamp with `timestamps=true`, then cut to `limitBytes`;
//! - `follow=true` streams the lines appended later until the pod is gone or the client leaves.
//!
//! Logs belong to a pod's uid: a pod re-created with the same name starts with an empty log.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api::{Api, ApiError, name_of, uid_of};

/// Errors of the log-setting API.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LogError {
    #[error("setting the log of pod {namespace}/{pod}: the pod does not exist")]
    PodNotFound { namespace: String, pod: String },
    #[error("setting the log of pod {namespace}/{pod}: it has no container {container:?}")]
    NoSuchContainer {
        namespace: String,
        pod: String,
        container: String,
    },
}

/// One log line and when it was written (the simulated clock).
#[derive(Debug, Clone)]
struct Line {
    at: Timestamp,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct LogKey {
    uid: String,
    container: String,
    previous: bool,
}

/// How [`PodLogs::write`] changes a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogWrite {
    /// Replace the current container's log.
    Set,
    /// Append to the current container's log.
    Append,
    /// Replace the previous (terminated) container's log.
    SetPrevious,
}

/// Every container log kubesim holds.
pub struct PodLogs {
    logs: Mutex<HashMap<LogKey, Vec<Line>>>,
    /// (uid, container) of every append, for `follow`.
    appended: broadcast::Sender<(String, String)>,
}

impl Default for PodLogs {
    fn default() -> Self {
        PodLogs {
            logs: Mutex::new(HashMap::new()),
            appended: broadcast::channel(1024).0,
        }
    }
}

/// The containers of a pod in the order `validateContainer` lists them.
fn container_names(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(cs) = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
        {
            out.extend(
                cs.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(str::to_string),
            );
        }
    }
    out
}

fn lines_of(text: &str, at: Timestamp) -> Vec<Line> {
    text.split_inclusive('\n')
        .map(|l| Line {
            at,
            text: l.to_string(),
        })
        .collect()
}

impl PodLogs {
    /// Replaces (or with `append`, extends) the log of a container of a live pod.
    pub fn write(
        &self,
        api: &Api,
        ns: &str,
        pod: &str,
        container: &str,
        text: &str,
        how: LogWrite,
    ) -> Result<(), LogError> {
        let previous = how == LogWrite::SetPrevious;
        let append = how == LogWrite::Append;
        let Some(p) = api.store.get("/pods", ns, pod) else {
            return Err(LogError::PodNotFound {
                namespace: ns.into(),
                pod: pod.into(),
            });
        };
        if !container_names(&p).iter().any(|c| c == container) {
            return Err(LogError::NoSuchContainer {
                namespace: ns.into(),
                pod: pod.into(),
                container: container.into(),
            });
        }
        let uid = uid_of(&p).to_string();
        let key = LogKey {
            uid: uid.clone(),
            container: container.to_string(),
            previous,
        };
        let new = lines_of(text, api.clock.now());
        {
            let mut g = self.logs.lock().unwrap_or_else(|e| e.into_inner());
            // Logs of pods that are gone go with them.
            if g.keys().any(|k| k.uid != uid) {
                let live: std::collections::HashSet<String> = api
                    .store
                    .snapshot_objects(Some(&["/pods"]))
                    .values()
                    .flatten()
                    .map(|p| uid_of(p).to_string())
                    .collect();
                g.retain(|k, _| live.contains(&k.uid));
            }
            let entry = g.entry(key).or_default();
            if !append {
                entry.clear();
            }
            entry.extend(new);
        }
        if !previous {
            let _ = self.appended.send((uid, container.to_string()));
        }
        Ok(())
    }

    fn read(&self, uid: &str, container: &str, previous: bool) -> Option<Vec<Line>> {
        let g = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        g.get(&LogKey {
            uid: uid.to_string(),
            container: container.to_string(),
            previous,
        })
        .cloned()
    }
}

/// Parsed PodLogOptions.
struct Opts {
    container: Option<String>,
    previous: bool,
    follow: bool,
    timestamps: bool,
    tail_lines: Option<i64>,
    limit_bytes: Option<i64>,
    since: Option<Timestamp>,
}

fn parse_opts(
    pod_name: &str,
    q: &HashMap<String, String>,
    now: Timestamp,
) -> Result<Opts, ApiError> {
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        q.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid value {v:?} for parameter {k}"))
                })
            })
            .transpose()
    };
    let tail_lines = int("tailLines")?;
    let limit_bytes = int("limitBytes")?;
    let since_seconds = int("sinceSeconds")?;
    let since_time = q
        .get("sinceTime")
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<Timestamp>().map_err(|_| {
                ApiError::bad_request(format!("invalid value {v:?} for parameter sinceTime"))
            })
        })
        .transpose()?;
    let mut errs = Vec::new();
    let invalid = |field: &str, v: i64, msg: &str| crate::schema::FieldError {
        field: field.into(),
        kind: crate::schema::FieldErrorKind::Invalid,
        message: msg.into(),
        bad_value: Some(json!(v)),
    };
    if let Some(t) = tail_lines
        && t < 0
    {
        errs.push(invalid(
            "tailLines",
            t,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(l) = limit_bytes
        && l < 1
    {
        errs.push(invalid("limitBytes", l, "must be greater than 0"));
    }
    if let Some(s) = since_seconds
        && s < 1
    {
        errs.push(invalid("sinceSeconds", s, "must be greater than 0"));
    }
    if since_seconds.is_some() && since_time.is_some() {
        errs.push(crate::schema::FieldError {
            field: String::new(),
            kind: crate::schema::FieldErrorKind::Forbidden,
            message: "at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
            bad_value: None,
        });
    }
    if !errs.is_empty() {
        let body = crate::schema::invalid_status("PodLogOptions", "", pod_name, &errs);
        return Err(ApiError {
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
        });
    }
    let since = since_time.or_else(|| {
        since_seconds.and_then(|s| now.checked_sub(jiff::SignedDuration::from_secs(s)).ok())
    });
    Ok(Opts {
        container: q.get("container").filter(|c| !c.is_empty()).cloned(),
        previous: flag("previous"),
        follow: flag("follow"),
        timestamps: flag("timestamps"),
        tail_lines,
        limit_bytes,
        since,
    })
}

fn render(lines: &[Line], timestamps: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        if timestamps {
            // RFC 3339 with the fraction the time has (Go's RFC3339Nano).
            out.extend_from_slice(format!("{} ", l.at).as_bytes());
        }
        out.extend_from_slice(l.text.as_bytes());
    }
    out
}

fn text_response(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain"),
    );
    r
}

/// GET pods/NAME/log
pub async fn serve(
    api: std::sync::Arc<Api>,
    def: &crate::resources::ResourceDef,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let pod = api
        .store
        .get("/pods", ns, name)
        .ok_or_else(|| ApiError::not_found(def, name))?;
    let opts = parse_opts(name, q, api.clock.now())?;
    let names = container_names(&pod);
    let plain = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let container = match &opts.container {
        Some(c) if names.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if plain == 1 => pod
            .pointer("/spec/containers/0/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        None if plain == 0 => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            )));
        }
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let scheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    if !scheduled {
        // LogLocation without a node: no stream, an empty answer.
        return Ok(text_response(Body::empty()));
    }
    let uid = uid_of(&pod).to_string();
    let lines = match api.logs.read(&uid, &container, opts.previous) {
        Some(l) => l,
        None if opts.previous => {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{}\" not found",
                name_of(&pod)
            )));
        }
        None => Vec::new(),
    };
    let mut lines: Vec<Line> = lines
        .into_iter()
        .filter(|l| opts.since.is_none_or(|s| l.at >= s))
        .collect();
    if let Some(t) = opts.tail_lines {
        let t = usize::try_from(t).unwrap_or(0);
        if lines.len() > t {
            lines.drain(..lines.len() - t);
        }
    }
    let mut body = render(&lines, opts.timestamps);
    let mut budget = opts
        .limit_bytes
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    if let Some(b) = budget {
        body.truncate(b);
        budget = Some(b - body.len());
    }
    if !opts.follow || opts.previous || budget == Some(0) {
        return Ok(text_response(Body::from(body)));
    }
    // follow: the lines appended from now on, until the pod goes or the client leaves.
    let mut rx = api.logs.appended.subscribe();
    let seen = api
        .logs
        .read(&uid, &container, false)
        .map(|l| l.len())
        .unwrap_or(0);
    let (tx, out) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    let ns = ns.to_string();
    let pod_name = name.to_string();
    let timestamps = opts.timestamps;
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from(body))).await.is_err() {
            return;
        }
        let mut seen = seen;
        let mut budget = budget;
        loop {
            let woke = tokio::select! {
                _ = tx.closed() => return,
                r = rx.recv() => !matches!(r, Err(broadcast::error::RecvError::Closed)),
                _ = tokio::time::sleep(Duration::from_millis(200)) => true,
            };
            if !woke {
                return;
            }
            let alive = api
                .store
                .get("/pods", &ns, &pod_name)
                .is_some_and(|p| uid_of(&p) == uid);
            let all = api.logs.read(&uid, &container, false).unwrap_or_default();
            if all.len() > seen {
                let mut chunk = render(&all[seen..], timestamps);
                seen = all.len();
                if let Some(b) = budget {
                    chunk.truncate(b);
                    budget = Some(b - chunk.len());
                }
                if tx.send(Ok(Bytes::from(chunk))).await.is_err() || budget == Some(0) {
                    return;
                }
            } else if all.len() < seen {
                seen = all.len();
            }
            if !alive {
                return;
            }
        }
    });
    Ok(text_response(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(out),
    )))
}
