//! Errors met while scanning, and where they were met.

use serde::Serialize;

/// What went wrong with one input, document or policy.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
    /// A YAML document does not parse.
    #[error("invalid YAML: {message}")]
    Yaml { message: String },
    /// A JSON document does not parse.
    #[error("invalid JSON: {message}")]
    Json { message: String },
    /// A document parses but a field has the wrong shape for its kind.
    #[error("{kind} {name:?}: {field}: {message}")]
    Decode {
        kind: String,
        name: String,
        field: String,
        message: String,
    },
    /// A policy manifest compiled with errors.
    #[error("policy {policy:?}: {field}: {message}")]
    InvalidPolicy {
        policy: String,
        field: String,
        message: String,
    },
    /// A `--policy` file holds something that is not a CryptojackPolicy.
    #[error("expected kind CryptojackPolicy (apiVersion cryptojack.dev/v1alpha1), found {found}")]
    NotAPolicy { found: String },
    /// A `--policy` file holds no policy at all.
    #[error("no CryptojackPolicy in this file")]
    NoPolicy,
}

impl ScanError {
    /// Bounded label, for metrics and tests.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ScanError::Read { .. } => "read",
            ScanError::NotUtf8 { .. } => "not_utf8",
            ScanError::Yaml { .. } => "yaml",
            ScanError::Json { .. } => "json",
            ScanError::Decode { .. } => "decode",
            ScanError::InvalidPolicy { .. } => "invalid_policy",
            ScanError::NotAPolicy { .. } => "not_a_policy",
            ScanError::NoPolicy => "no_policy",
        }
    }
}

/// An error with its position: the file, the 0-based document index within the file,
/// the item index within a `List`, and the 1-based line and column when known.
#[derive(Debug)]
pub struct Diagnostic {
    pub file: String,
    pub document: Option<usize>,
    pub item: Option<usize>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub error: ScanError,
}

impl Diagnostic {
    /// An error about a whole file (no document, no position).
    pub fn file(file: &str, error: ScanError) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            document: None,
            item: None,
            line: None,
            column: None,
            error,
        }
    }

    /// The JSON form used in `--format json` (`errors[]`).
    pub fn to_json(&self) -> DiagnosticJson {
        DiagnosticJson {
            file: self.file.clone(),
            document: self.document,
            item: self.item,
            line: self.line,
            column: self.column,
            kind: self.error.metric_label(),
            message: self.error.to_string(),
        }
    }
}

impl std::fmt::Display for Diagnostic {
    /// `file:line:column: document N: message`, leaving out what is unknown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if matches!(
            self.error,
            ScanError::Read { .. } | ScanError::NotUtf8 { .. }
        ) {
            // These name the path themselves.
            return write!(f, "{}", self.error);
        }
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(doc) = self.document {
            write!(f, "document {doc}")?;
            if let Some(item) = self.item {
                write!(f, ", item {item}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{}", self.error)
    }
}

/// Serialized error record of the JSON output.
#[derive(Debug, Serialize)]
pub struct DiagnosticJson {
    pub file: String,
    pub document: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Bounded error class: `read`, `not_utf8`, `yaml`, `json`, `decode`, `invalid_policy`,
    /// `not_a_policy`, `no_policy`.
    pub kind: &'static str,
    pub message: String,
}
