//! cryptojack: detect and contain cryptojacking in Kubernetes.
pub mod api;
pub mod controller;
pub mod detect;
pub mod http;
pub mod metrics;
pub mod quantity;
pub mod report;
pub mod respond;
pub mod scan;
pub mod telemetry;
