//! kubesim's integration tests against the Kubernetes API contract (see ../README.md).
//!
//! One test binary (each file below is a module): one link and one copy of kube, tokio and
//! hyper on disk instead of one per file (see ../Cargo.toml `autotests`).

mod common;

mod api_access_log;
mod api_apply;
mod api_auth;
mod api_authz;
mod api_crd;
mod api_crud;
mod api_delete;
mod api_discovery;
mod api_events;
mod api_faults;
mod api_limits;
mod api_list;
mod api_logs;
mod api_patch;
mod api_quota;
mod api_resources;
mod api_subresources;
mod api_tls;
mod api_validation;
mod api_watch;
mod ctrl_cronjob;
mod ctrl_eviction;
mod ctrl_grace;
mod ctrl_quiet;
mod ctrl_replicationcontroller;
mod ctrl_serviceaccounts;
mod ctrl_workloads;
mod helm_install;
mod kubectl_basic;
mod kubectl_binary;
mod kubectl_generators;
mod rbac_tokens;
mod thirdparty_crds;
