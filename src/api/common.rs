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
pub enum Severity {
    Low,
    Medium,
    #[default]
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    /// The API spelling (CRDs, printer columns, Events): `Critical`, `High`, ...
    pub fn api_str(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// The next level up, at most `cap`.
    pub fn raised(self, cap: Severity) -> Severity {
        let up = match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        };
        if self >= cap { self } else { up.min(cap) }
    }

    /// The scan output spelling (a contract): `critical`, `high`, `medium`, `low`.
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

    /// The API spelling (CRDs, printer columns, metrics): `MinerImage`, ...
    pub fn api_str(self) -> &'static str {
        match self {
            Category::MinerImage => "MinerImage",
            Category::MinerBinary => "MinerBinary",
            Category::MinerFlags => "MinerFlags",
            Category::Pool => "Pool",
            Category::Wallet => "Wallet",
            Category::KnownIoc => "KnownIoc",
            Category::GpuUnapproved => "GpuUnapproved",
            Category::Port => "Port",
            Category::Node => "Node",
        }
    }

    /// The scan output spelling (a contract): `miner-image`, ...
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

/// Longest evidence text (characters).
pub const MAX_EVIDENCE_CHARS: usize = 120;

/// One indicator found in a pod (or pod template).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Rule id, e.g. `builtin/miner-binary/xmrig` or `policy/<name>/images[0]`.
    #[schemars(length(max = 253))]
    pub rule: String,
    #[schemars(extend("maxLength" = 32))]
    pub category: Category,
    #[schemars(extend("maxLength" = 16))]
    pub severity: Severity,
    /// Container name. A GPU-approval finding names the container whose resources request
    /// the GPU (its `field` points there); absent only for node findings (node selector,
    /// affinity and tolerations belong to the pod, not to a container).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub container: Option<String>,
    /// Field path in the manifest, e.g. `spec.initContainers[0].command[2]`.
    #[schemars(length(max = 512))]
    pub field: String,
    /// What matched, at most 120 characters; wallet addresses are shortened.
    #[schemars(length(max = MAX_EVIDENCE_CHARS))]
    pub evidence: String,
    /// The policies that produced this finding (empty outside a policy set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 253)))]
    pub policies: Vec<String>,
}

impl Finding {
    /// A stable fingerprint of what was found: rule, field and a digest of the evidence
    /// (FNV-1a 64, hex). A FalsePositive resolution exempts these, not the pod template.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{:016x}",
            self.rule,
            self.field,
            fnv1a64(self.evidence.as_bytes())
        )
    }
}

/// FNV-1a 64 of `bytes` (deterministic across runs, versions and replicas).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}
