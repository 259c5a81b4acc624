//! Errors of the operator's controllers, one variant per failed operation, each naming
//! the object it failed on, with a bounded metric label.

use std::time::Duration;

/// An error of a reconcile or of a watch-driven step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing {what}: {source}")]
    Write {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("recording incident {namespace}/{name}: {source}")]
    RecordIncident {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("incident {namespace}/{name}: gave up after {attempts} conflicting writes")]
    Conflict {
        namespace: String,
        name: String,
        attempts: u32,
    },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error("serializing {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("waiting {0:?} for the rate limit")]
    RateLimited(Duration),
    #[error("shutting down")]
    Cancelled,
}

impl Error {
    /// Label for metrics (bounded).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Read { .. } => "read",
            Error::Write { .. } => "write",
            Error::RecordIncident { .. } => "record_incident",
            Error::Conflict { .. } => "conflict",
            Error::Invalid { .. } => "invalid",
            Error::Serialize { .. } => "serialize",
            Error::RateLimited(_) => "rate_limited",
            Error::Cancelled => "cancelled",
        }
    }

    pub fn read(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Read { what, source }
    }

    pub fn write(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let what = what.into();
        move |source| Error::Write { what, source }
    }
}

/// The HTTP status code of an API error, if it was one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Whether `e` is a 404 Not Found.
pub fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
}

/// Whether `e` is a 409 (AlreadyExists or Conflict).
pub fn is_conflict(e: &kube::Error) -> bool {
    status_code(e) == Some(409)
}

/// Whether `e` is a 403 Forbidden.
pub fn is_forbidden(e: &kube::Error) -> bool {
    status_code(e) == Some(403)
}

/// A short, bounded description of an API error for an incident's `error` field.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
