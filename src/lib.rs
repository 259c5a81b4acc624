//! cryptojack: detect and contain cryptojacking in Kubernetes.
pub mod api;
pub mod detect;
pub mod scan;
