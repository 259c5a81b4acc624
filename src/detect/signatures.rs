//! The built-in signature set: `signatures.yaml` (compiled into the binary) turned into
//! automata once per process, plus the table of built-in rule ids.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::Deserialize;

use super::wallet::WalletKind;
use crate::api::{Category, Severity};

/// The signature data file, as shipped.
pub const SIGNATURES_YAML: &str = include_str!("signatures.yaml");

#[derive(Debug, Deserialize)]
struct Names {
    #[allow(dead_code)]
    source: String,
    names: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct NotMiners {
    #[allow(dead_code)]
    source: String,
    names: Vec<String>,
    images: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Keywords {
    #[allow(dead_code)]
    source: String,
    keywords: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Images {
    #[allow(dead_code)]
    source: String,
    images: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Schemes {
    #[allow(dead_code)]
    source: String,
    prefixes: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Domains {
    #[allow(dead_code)]
    source: String,
    domains: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Flags {
    #[allow(dead_code)]
    source: String,
    strong: Vec<String>,
    algo_options: Vec<String>,
    algorithms: Vec<String>,
    /// Algorithms that are also general-purpose (password hashing): they count only on an
    /// otherwise miner-like command line.
    #[serde(default)]
    shared_algorithms: Vec<String>,
    coin_options: Vec<String>,
    coins: Vec<String>,
    pool_options: Vec<String>,
    user_options: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Ports {
    #[allow(dead_code)]
    source: String,
    ports: Vec<u16>,
}

#[derive(Debug, Deserialize)]
struct SignatureFile {
    miner_binaries: Names,
    not_miners: NotMiners,
    image_keywords: Keywords,
    known_ioc_images: Images,
    stratum_schemes: Schemes,
    pool_domains: Domains,
    miner_flags: Flags,
    stratum_ports: Ports,
}

/// One built-in rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: String,
    pub category: Category,
    /// Usual severity (some rules report a lower one in weaker contexts).
    pub severity: Severity,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum WordPat {
    Stratum,
    Pool,
    Miner(u32),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum ImagePat {
    Miner(u32),
    Keyword(u32),
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FlagInfo {
    pub strong: Option<u32>,
    pub algo: bool,
    pub coin: bool,
    pub pool: bool,
    pub user: bool,
}

/// Ids of rules outside the signature file.
pub const GPU_RULE: &str = "builtin/gpu/unapproved";
pub const NODE_INSTANCE_RULE: &str = "builtin/node/gpu-instance-type";
pub const NODE_REGION_RULE: &str = "builtin/node/region";
pub const NODE_SPOT_RULE: &str = "builtin/node/spot";

/// Compiled built-in signatures, shared by every policy.
#[derive(Debug)]
pub(crate) struct Builtin {
    pub rules: Vec<RuleInfo>,
    /// Number of signature rules (the rules after them are GPU and node rules).
    pub signature_rules: usize,
    pub word_ac: AhoCorasick,
    pub word_pats: Vec<WordPat>,
    pub image_ac: AhoCorasick,
    pub image_pats: Vec<ImagePat>,
    pub miner_binary_rule: Vec<u32>,
    pub miner_image_rule: Vec<u32>,
    pub keyword_rule: Vec<u32>,
    pub ioc_exact: HashMap<String, u32>,
    pub ioc_account: HashMap<String, u32>,
    pub flags: HashMap<String, FlagInfo>,
    /// Program basenames (lowercase) that look like miners but are not.
    pub not_miners: HashSet<String>,
    /// Image repository paths that look like miner images but are not.
    pub not_miner_images: HashSet<String>,
    pub algos: HashSet<String>,
    /// Subset of `algos` that needs a miner-like command line.
    pub shared_algos: HashSet<String>,
    pub coins: HashSet<String>,
    pub ports: HashSet<u16>,
    pub stratum_rule: u32,
    pub pool_domain_rule: u32,
    pub pool_arg_rule: u32,
    pub algo_rule: u32,
    pub coin_rule: u32,
    pub wallet_rules: [u32; 5],
    pub port_rule: u32,
    pub gpu_rule: u32,
    pub node_instance_rule: u32,
    pub node_region_rule: u32,
    pub node_spot_rule: u32,
}

struct Table {
    rules: Vec<RuleInfo>,
    index: HashMap<String, u32>,
}

impl Table {
    fn add(&mut self, id: String, category: Category, severity: Severity) -> u32 {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.rules.len() as u32;
        self.index.insert(id.clone(), i);
        self.rules.push(RuleInfo {
            id,
            category,
            severity,
        });
        i
    }
}

fn ac(patterns: &[String]) -> Result<AhoCorasick, String> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(patterns)
        .map_err(|e| e.to_string())
}

fn flag_name(f: &str) -> String {
    f.trim().to_string()
}

impl Builtin {
    /// The process-wide compiled signature set.
    #[allow(
        clippy::expect_used,
        reason = "signatures.yaml is compiled into the binary and parsed by every test run"
    )]
    pub(crate) fn shared() -> Arc<Builtin> {
        static SHARED: OnceLock<Arc<Builtin>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                // The data file is part of the binary and checked by tests; failing here is a
                // build defect, not bad input.
                Arc::new(
                    Builtin::from_yaml(SIGNATURES_YAML).expect("embedded signatures.yaml is valid"),
                )
            })
            .clone()
    }

    pub(crate) fn from_yaml(yaml: &str) -> Result<Builtin, String> {
        let file: SignatureFile = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        let mut t = Table {
            rules: Vec::new(),
            index: HashMap::new(),
        };
        let lower = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        };

        let names = lower(&file.miner_binaries.names);
        let miner_binary_rule: Vec<u32> = names
            .iter()
            .map(|n| {
                t.add(
                    format!("builtin/miner-binary/{n}"),
                    Category::MinerBinary,
                    Severity::Critical,
                )
            })
            .collect();
        let miner_image_rule: Vec<u32> = names
            .iter()
            .map(|n| {
                t.add(
                    format!("builtin/miner-image/{n}"),
                    Category::MinerImage,
                    Severity::Critical,
                )
            })
            .collect();
        let keywords = lower(&file.image_keywords.keywords);
        let keyword_rule: Vec<u32> = keywords
            .iter()
            .map(|k| {
                t.add(
                    format!("builtin/miner-image/{k}"),
                    Category::MinerImage,
                    Severity::High,
                )
            })
            .collect();
        let mut ioc_exact = HashMap::new();
        let mut ioc_account = HashMap::new();
        for img in lower(&file.known_ioc_images.images) {
            let r = t.add(
                format!("builtin/known-ioc/{img}"),
                Category::KnownIoc,
                Severity::Critical,
            );
            match img.strip_suffix("/*") {
                Some(account) => ioc_account.insert(account.to_string(), r),
                None => ioc_exact.insert(img, r),
            };
        }
        let stratum_rule = t.add(
            "builtin/pool/stratum-url".into(),
            Category::Pool,
            Severity::Critical,
        );
        let pool_domain_rule = t.add(
            "builtin/pool/known-pool".into(),
            Category::Pool,
            Severity::Critical,
        );
        let pool_arg_rule = t.add(
            "builtin/pool/pool-argument".into(),
            Category::Pool,
            Severity::High,
        );

        let mut flags: HashMap<String, FlagInfo> = HashMap::new();
        for f in &file.miner_flags.strong {
            let f = flag_name(f);
            let r = t.add(
                format!("builtin/miner-flags/{}", f.trim_start_matches('-')),
                Category::MinerFlags,
                Severity::High,
            );
            flags.entry(f).or_default().strong = Some(r);
        }
        for f in &file.miner_flags.algo_options {
            flags.entry(flag_name(f)).or_default().algo = true;
        }
        for f in &file.miner_flags.coin_options {
            flags.entry(flag_name(f)).or_default().coin = true;
        }
        for f in &file.miner_flags.pool_options {
            flags.entry(flag_name(f)).or_default().pool = true;
        }
        for f in &file.miner_flags.user_options {
            flags.entry(flag_name(f)).or_default().user = true;
        }
        let algo_rule = t.add(
            "builtin/miner-flags/algorithm".into(),
            Category::MinerFlags,
            Severity::High,
        );
        let coin_rule = t.add(
            "builtin/miner-flags/coin".into(),
            Category::MinerFlags,
            Severity::High,
        );
        let wallet_rules = WalletKind::ALL.map(|k| {
            t.add(
                format!("builtin/wallet/{}", k.id()),
                Category::Wallet,
                Severity::High,
            )
        });
        let port_rule = t.add(
            "builtin/port/stratum-port".into(),
            Category::Port,
            Severity::Low,
        );
        let signature_rules = t.rules.len();
        let gpu_rule = t.add(GPU_RULE.into(), Category::GpuUnapproved, Severity::High);
        let node_instance_rule = t.add(NODE_INSTANCE_RULE.into(), Category::Node, Severity::Medium);
        let node_region_rule = t.add(NODE_REGION_RULE.into(), Category::Node, Severity::Medium);
        let node_spot_rule = t.add(NODE_SPOT_RULE.into(), Category::Node, Severity::Low);

        let mut word_patterns = Vec::new();
        let mut word_pats = Vec::new();
        for p in lower(&file.stratum_schemes.prefixes) {
            word_patterns.push(p);
            word_pats.push(WordPat::Stratum);
        }
        for d in lower(&file.pool_domains.domains) {
            word_patterns.push(d);
            word_pats.push(WordPat::Pool);
        }
        for (i, n) in names.iter().enumerate() {
            word_patterns.push(n.clone());
            word_pats.push(WordPat::Miner(i as u32));
        }
        let mut image_patterns = Vec::new();
        let mut image_pats = Vec::new();
        for (i, n) in names.iter().enumerate() {
            image_patterns.push(n.clone());
            image_pats.push(ImagePat::Miner(i as u32));
        }
        for (i, k) in keywords.iter().enumerate() {
            image_patterns.push(k.clone());
            image_pats.push(ImagePat::Keyword(i as u32));
        }

        Ok(Builtin {
            signature_rules,
            rules: t.rules,
            word_ac: ac(&word_patterns)?,
            word_pats,
            image_ac: ac(&image_patterns)?,
            image_pats,
            miner_binary_rule,
            miner_image_rule,
            keyword_rule,
            ioc_exact,
            ioc_account,
            flags,
            not_miners: lower(&file.not_miners.names).into_iter().collect(),
            not_miner_images: lower(&file.not_miners.images).into_iter().collect(),
            algos: lower(&file.miner_flags.algorithms).into_iter().collect(),
            shared_algos: lower(&file.miner_flags.shared_algorithms)
                .into_iter()
                .collect(),
            coins: lower(&file.miner_flags.coins).into_iter().collect(),
            ports: file.stratum_ports.ports.into_iter().collect(),
            stratum_rule,
            pool_domain_rule,
            pool_arg_rule,
            algo_rule,
            coin_rule,
            wallet_rules,
            port_rule,
            gpu_rule,
            node_instance_rule,
            node_region_rule,
            node_spot_rule,
        })
    }

    pub(crate) fn wallet_rule(&self, k: WalletKind) -> u32 {
        self.wallet_rules[WalletKind::ALL.iter().position(|x| *x == k).unwrap_or(0)]
    }
}

/// Every built-in rule (signature, GPU and node rules), for documentation and `disabledRules`.
pub fn builtin_rules() -> Vec<RuleInfo> {
    Builtin::shared().rules.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_parses_and_covers_required_families() {
        let b = Builtin::from_yaml(SIGNATURES_YAML).unwrap();
        // every required miner name: tests/detect_rules.rs (detected as the program)
        let ids: HashSet<&str> = b.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), b.rules.len(), "rule ids are unique");
        for id in [
            "builtin/known-ioc/metal3d/xmrig",
            "builtin/pool/stratum-url",
            "builtin/miner-flags/donate-level",
            "builtin/wallet/monero",
            "builtin/port/stratum-port",
            GPU_RULE,
            NODE_SPOT_RULE,
        ] {
            assert!(ids.contains(id), "{id}");
        }
        assert!(b.algos.contains("rx/0") && !b.algos.contains("ppo"));
        assert!(b.shared_algos.contains("scrypt"));
        assert!(b.shared_algos.iter().all(|a| b.algos.contains(a)));
        assert!(b.ports.contains(&3333));
        assert!(
            b.flags
                .get("-wal")
                .is_some_and(|f| f.strong.is_some() && f.user)
        );
    }

    #[test]
    fn every_list_names_its_source() {
        let v: serde_json::Value = serde_saphyr::from_str(SIGNATURES_YAML).unwrap();
        let obj = v.as_object().unwrap();
        assert!(obj.len() >= 7);
        for (k, list) in obj {
            let src = list
                .get("source")
                .and_then(|s| s.as_str())
                .unwrap_or_default();
            assert!(src.len() > 20, "{k} has no source note");
        }
    }
}
