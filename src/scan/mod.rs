//! Offline scanning of manifests: `cryptojack scan`.
//!
//! Inputs → documents ([`load`]) → pod views ([`objects`]) → detection (the compiled
//! policies, [`report::Scanner`]) → table, JSON or SARIF.
//!
//! # Reading at parse speed
//!
//! Only what detection reads is decoded ([`lean`]): kind, metadata, the pod spec's
//! containers (image, command, args, env, ports, resources, claims), node selection, and
//! DRA objects; everything else is skipped without building a value tree or typed objects.
//! A single JSON value is decoded straight from the text and a `kind: List` streams its
//! `items` one by one from borrowed slices (memory per item, not per List). Block-style YAML
//! is transcoded to JSON text with a line map ([`fast`]) and read the same way; YAML the
//! transcoder does not take (anchors, tags, flow collections spanning lines, YAML 1.1
//! booleans...) goes through the full YAML parser. When the lean reading fails, the typed
//! decoder runs to produce the same error message as before (field path and expected type).
//! Findings are placed on lines by walking the JSON text (or the YAML for the fallback).
//!
//! Pods and templates that use DRA `resourceClaims` are judged at the end of the input, once
//! every `ResourceClaim` and `ResourceClaimTemplate` (`resource.k8s.io`, any version) in the
//! same input is known: a claim asking for a GPU device class needs the GPU approval like a
//! `nvidia.com/gpu` request. A claim whose object is not in the input cannot be judged offline
//! (scan it together with the claims; the operator resolves them from the API).
//!
//! # JSON output contract (`--format json`)
//!
//! ```json
//! {
//!   "findings": [{
//!     "file": "examples/workloads/xmrig.yaml", // path as given ("-" for stdin), "/"-separated
//!     "document": 0,        // 0-based index of the document in the file (blank/comment-only
//!                           // documents are not counted)
//!     "item": 3,            // only for List documents: 0-based index in `items`
//!     "line": 12,           // 1-based line of the field (else of the document start)
//!     "kind": "Deployment", // Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
//!                           // CronJob, ReplicationController, PodTemplate
//!     "namespace": "default",         // null when the manifest has none
//!     "name": "web",
//!     "container": "miner",           // null only for node findings; a GPU finding names
//!                                     // the container requesting the GPU
//!     "rule": "builtin/miner-binary/xmrig",
//!     "category": "miner-binary",     // miner-image, miner-binary, miner-flags, pool, wallet,
//!                                     // known-ioc, gpu-unapproved, port, node
//!     "severity": "critical",         // critical, high, medium, low
//!     "field": "spec.template.spec.containers[0].command[0]", // within the object (List item)
//!     "evidence": "xmrig"             // at most 120 characters, wallets shortened
//!   }],
//!   "summary": {
//!     "bySeverity": {"critical": 1, "high": 0, "medium": 0, "low": 0}, // always all four
//!     "byCategory": {"gpu-unapproved": 0, "known-ioc": 0, ...},      // always all nine
//!     "documents": 10,  // documents read (a List is one document)
//!     "objects": 12,    // Pods/workloads evaluated (List items one by one)
//!     "skipped": 3,     // documents or List items of other kinds
//!     "errors": 0,
//!     "policies": ["builtin-default"]
//!   },
//!   "errors": [{
//!     "file": "bad.yaml", "document": 1, "item": null?, "line": 7, "column": 3,
//!     "kind": "yaml",   // read, not_utf8, yaml, json, decode, invalid_policy, not_a_policy, no_policy
//!     "message": "Pod \"p\": spec.containers[0].command: invalid type: integer `5`, expected a sequence"
//!   }]
//! }
//! ```
//!
//! `document`, `line` and `column` of an error are `null` when unknown (an unreadable file);
//! `item` is present only for errors inside a List. Findings are listed in input order (file,
//! document, item, then the engine's order); the table sorts by severity.
//!
//! Exit codes: 2 when there is any error, else 1 when a finding is at or above `--fail-on`
//! (default `high`), else 0.

pub mod cli;
pub mod error;
pub mod fast;
pub mod lean;
pub mod load;
pub mod locate;
pub mod objects;
pub mod policy;
pub mod report;
pub mod sarif;
pub mod table;

pub use cli::{FailOn, Format, ScanArgs, exit_code, scan};
pub use error::{Diagnostic, ScanError};
pub use report::{Located, ScanReport, Scanner, Summary};
