//! The response to an incident: `plan` (PURE: which actions, in which order, what is
//! skipped and why) and `execute` (the only code that changes the cluster; idempotent).

pub mod execute;
pub mod network;
pub mod plan;

pub use execute::{Executor, FIELD_MANAGER, Outcome, RunSettings};
pub use plan::{Facts, Hold, OwnerState, Planned, Response};
