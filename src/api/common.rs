//! Types shared by policies, incidents and the detection engine.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    #[default]
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (expected critical, high, medium or low)"
            )),
        }
    }
}

/// The family of indicator a finding belongs to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    MinerImage,
    MinerBinary,
    MinerFlags,
    Pool,
    Wallet,
    KnownIoc,
    GpuUnapproved,
    Port,
    Node,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::MinerImage,
        Category::MinerBinary,
        Category::MinerFlags,
        Category::Pool,
        Category::Wallet,
        Category::KnownIoc,
        Category::GpuUnapproved,
        Category::Port,
        Category::Node,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::MinerImage => "miner-image",
            Category::MinerBinary => "miner-binary",
            Category::MinerFlags => "miner-flags",
            Category::Pool => "pool",
            Category::Wallet => "wallet",
            Category::KnownIoc => "known-ioc",
            Category::GpuUnapproved => "gpu-unapproved",
            Category::Port => "port",
            Category::Node => "node",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One indicator found in a pod (or pod template).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Rule id, e.g. `builtin/miner-binary/xmrig` or `policy/<name>/images[0]`.
    pub rule: String,
    pub category: Category,
    pub severity: Severity,
    /// Container name. A GPU-approval finding names the container whose resources request
    /// the GPU (its `field` points there); absent only for node findings (node selector,
    /// affinity and tolerations belong to the pod, not to a container).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Field path in the manifest, e.g. `spec.initContainers[0].command[2]`.
    pub field: String,
    /// What matched, at most 120 characters; wallet addresses are shortened.
    pub evidence: String,
}
