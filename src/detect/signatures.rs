//! The built-in signature set: `signatures.yaml` (compiled into the binary) turned into
//! automata once per process, plus the table of built-in rule ids.

use std::sync::{Arc, OnceLock};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::Deserialize;

use super::glob::{Case, Globs};
use super::ioc::Cidr;
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
struct Contextual {
    #[allow(dead_code)]
    source: String,
    names: Vec<String>,
    images: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct CollisionEntry {
    names: Vec<String>,
    programs: Vec<String>,
    images: Vec<String>,
    context: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Collisions {
    #[allow(dead_code)]
    source: String,
    entries: Vec<CollisionEntry>,
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
    exclude_tokens: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct IocEntry {
    kind: String,
    value: String,
    source: String,
    checked: String,
}
#[derive(Debug, Deserialize)]
struct Iocs {
    #[allow(dead_code)]
    source: String,
    entries: Vec<IocEntry>,
}
#[derive(Debug, Deserialize)]
struct Schemes {
    #[allow(dead_code)]
    source: String,
    protocols: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Domains {
    #[allow(dead_code)]
    source: String,
    domains: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct NodeDaemons {
    #[allow(dead_code)]
    source: String,
    programs: Vec<String>,
    images: Vec<String>,
    peer_options: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Sinkhole {
    #[allow(dead_code)]
    source: String,
    addresses: Vec<String>,
    line_keywords: Vec<String>,
    dnsmasq_prefixes: Vec<String>,
    programs: Vec<String>,
    drop_words: Vec<String>,
    name_tokens: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct Lookalike {
    #[allow(dead_code)]
    source: String,
    accounts: Vec<String>,
    registries: Vec<String>,
    allow: Vec<String>,
}
#[derive(Debug, Deserialize)]
struct EnvConfig {
    #[allow(dead_code)]
    source: String,
    pool_tokens: Vec<String>,
    pool_host_tokens: Vec<String>,
    host_tokens: Vec<String>,
    wallet_tokens: Vec<String>,
    algo_tokens: Vec<String>,
    coin_tokens: Vec<String>,
    worker_tokens: Vec<String>,
    donate_tokens: Vec<String>,
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
    contextual_miners: Contextual,
    collisions: Collisions,
    not_miners: NotMiners,
    installers: Names,
    image_keywords: Keywords,
    known_iocs: Iocs,
    stratum_schemes: Schemes,
    pool_domains: Domains,
    node_daemons: NodeDaemons,
    sinkhole: Sinkhole,
    lookalike_targets: Lookalike,
    env_config: EnvConfig,
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
    /// `://`: a URL, whose scheme may be a stratum scheme.
    Scheme,
    Pool,
    Miner(u32),
    Installer(u32),
    /// A known IOC domain: its rule.
    IocDomain(u32),
}

#[derive(Clone, Debug)]
pub(crate) struct Collision {
    /// Indexes of the miner names it collides with.
    pub miners: Vec<u32>,
    /// Program basenames of the other software.
    pub programs: HashSet<String>,
    /// Image references (globs, matched against the repository path and the whole reference).
    pub images: Option<Globs>,
    /// Words on its command lines (subcommands, options) that miners do not use.
    pub context: HashSet<String>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FlagInfo {
    pub strong: Option<u32>,
    pub algo: bool,
    pub coin: bool,
    pub pool: bool,
    pub user: bool,
}

/// What an env variable's name says it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnvRole {
    Pool,
    Wallet,
    Algo,
    Coin,
    Worker,
    Donate,
}

/// A built-in IOC (for documentation and tests): kind, value, source, how it was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownIoc {
    pub kind: String,
    pub value: String,
    pub source: String,
    pub checked: String,
}

/// Ids of rules outside the signature file.
pub const GPU_RULE: &str = "builtin/gpu/unapproved";
pub const NODE_INSTANCE_RULE: &str = "builtin/node/gpu-instance-type";
pub const NODE_REGION_RULE: &str = "builtin/node/region";
pub const NODE_SPOT_RULE: &str = "builtin/node/spot";
/// Prefix of the look-alike registry rules (`builtin/lookalike-registry/<account>`).
pub const LOOKALIKE_RULE_PREFIX: &str = "builtin/lookalike-registry/";
pub const UNINSPECTED_RULE: &str = "builtin/obfuscation/uninspected";
pub const EMBEDDED_BINARY_RULE: &str = "builtin/obfuscation/embedded-binary";

/// Compiled built-in signatures, shared by every policy.
#[derive(Debug)]
pub(crate) struct Builtin {
    pub rules: Vec<RuleInfo>,
    /// Number of signature rules (the rules after them are GPU and node rules).
    pub signature_rules: usize,
    pub word_ac: AhoCorasick,
    pub word_pats: Vec<WordPat>,
    pub image_ac: AhoCorasick,
    pub keyword_ac: AhoCorasick,
    pub keyword_exclude: HashSet<String>,
    pub miner_binary_rule: Vec<u32>,
    pub miner_image_rule: Vec<u32>,
    pub keyword_rule: Vec<u32>,
    pub installer_rule: Vec<u32>,
    /// Miner indexes that count only in context, and the image accounts that give it.
    pub contextual: HashSet<u32>,
    pub contextual_images: Vec<String>,
    pub collisions: Vec<Collision>,
    pub ioc_exact: HashMap<String, u32>,
    pub ioc_account: HashMap<String, u32>,
    pub ioc_ips: Vec<(Cidr, u32)>,
    pub known_iocs: Vec<KnownIoc>,
    pub stratum_protocols: Vec<String>,
    pub flags: HashMap<String, FlagInfo>,
    /// Program basenames (lowercase) that look like miners but are not.
    pub not_miners: HashSet<String>,
    /// Image repository paths that look like miner images but are not.
    pub not_miner_images: HashSet<String>,
    pub node_programs: HashSet<String>,
    pub node_images: HashSet<String>,
    pub peer_options: HashSet<String>,
    pub sink_addresses: HashSet<String>,
    pub sink_keywords: Vec<String>,
    pub sink_dnsmasq: Vec<String>,
    pub sink_programs: HashSet<String>,
    pub sink_drop_words: HashSet<String>,
    pub sink_name_tokens: HashSet<String>,
    pub lookalike_accounts: NearNames,
    pub lookalike_registries: NearNames,
    pub lookalike_allow: HashSet<String>,
    pub lookalike_rule: HashMap<String, u32>,
    pub env_roles: Vec<(EnvRole, HashSet<String>)>,
    /// Each role word of env variable names: bit `k` for `env_roles[k]`, bit 8 for a
    /// pool-host word (`mining`), bit 9 for a host word (`url`).
    pub env_token_mask: HashMap<String, u16>,
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
    pub wallet_rules: [u32; WalletKind::ALL.len()],
    pub port_rule: u32,
    pub uninspected_rule: u32,
    pub embedded_binary_rule: u32,
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

fn set(v: &[String]) -> HashSet<String> {
    v.iter().map(|s| s.trim().to_ascii_lowercase()).collect()
}

/// Lowercase names bucketed by length, for "one edit away from one of them" checks.
#[derive(Debug, Default)]
pub(crate) struct NearNames {
    /// `by_len[n]`: the names of `n` bytes (names longer than [`NearNames::MAX`] are dropped).
    by_len: Vec<Vec<String>>,
    /// Each name's visual skeleton (see [`skeleton`]) with the name.
    skeletons: Vec<(String, String)>,
}

/// The visual skeleton of a lowercase ASCII name: the letter sequences a reader takes for
/// another at a glance replaced by it (`rn` → `m`, `vv` → `w`, `cl` → `d`, `0` → `o`,
/// `1` → `l`, `5` → `s`), as Unicode TR39's confusables do for ASCII. `bitnarni` and
/// `kubemetes` have the skeletons of `bitnami` and `kubernetes`.
pub(crate) fn skeleton(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = b.get(i..i + 2);
        let (c, step) = match pair {
            Some(b"rn") => ('m', 2),
            Some(b"vv") => ('w', 2),
            Some(b"cl") => ('d', 2),
            _ => match b[i] {
                b'0' => ('o', 1),
                b'1' => ('l', 1),
                b'5' => ('s', 1),
                c => (char::from(c), 1),
            },
        };
        out.push(c);
        i += step;
    }
    out
}

impl NearNames {
    const MAX: usize = 64;

    fn new<'a>(names: impl Iterator<Item = &'a String>) -> NearNames {
        let mut by_len: Vec<Vec<String>> = vec![Vec::new(); Self::MAX + 2];
        let mut skeletons = Vec::new();
        for n in names {
            if n.len() <= Self::MAX {
                let lower = n.to_ascii_lowercase();
                skeletons.push((skeleton(&lower), lower.clone()));
                by_len[n.len()].push(lower);
            }
        }
        NearNames { by_len, skeletons }
    }

    /// Whether `s` is one of the names (ASCII case aside).
    pub(crate) fn contains(&self, s: &str) -> bool {
        self.by_len
            .get(s.len())
            .is_some_and(|b| b.iter().any(|n| n.eq_ignore_ascii_case(s)))
    }

    /// The name `s` is one edit away from (see [`one_edit_apart_lower`]), or looks like at a
    /// glance (the same [`skeleton`], or one edit from it once a look-alike sequence is read as
    /// what it imitates), unless `s` is a name; with how it is near. Allocates only for a name
    /// that has a look-alike sequence itself.
    pub(crate) fn near(&self, s: &str) -> Option<(&str, Near)> {
        if s.len() > Self::MAX || self.contains(s) {
            return None;
        }
        let mut buf = [0u8; Self::MAX];
        for (d, b) in buf.iter_mut().zip(s.bytes()) {
            *d = b.to_ascii_lowercase();
        }
        let lower = &buf[..s.len()];
        let lens = s.len().saturating_sub(1)..=s.len() + 1;
        if let Some(n) = self.by_len[lens]
            .iter()
            .flatten()
            .find(|n| one_edit_apart_lower(lower, n.as_bytes()))
        {
            return Some((n, Near::OneEdit));
        }
        fn reads_like((_, n): &(String, String)) -> (&str, Near) {
            (n.as_str(), Near::ReadsLike)
        }
        if !has_lookalike_sequence(lower) {
            // its skeleton is itself: near only a name whose skeleton it is (`kubemetes`)
            return self
                .skeletons
                .iter()
                .find(|(k, n)| k != n && k.as_bytes() == lower)
                .map(reads_like);
        }
        let skel = skeleton(std::str::from_utf8(lower).ok()?);
        self.skeletons
            .iter()
            .find(|(k, _)| *k == skel || one_edit_apart_lower(skel.as_bytes(), k.as_bytes()))
            .map(reads_like)
    }
}

/// How a name is near a well-known one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Near {
    OneEdit,
    ReadsLike,
}

/// Whether a lowercase name has a sequence [`skeleton`] reads as another letter.
fn has_lookalike_sequence(b: &[u8]) -> bool {
    b.iter().any(|c| matches!(c, b'0' | b'1' | b'5'))
        || b.windows(2).any(|w| matches!(w, b"rn" | b"vv" | b"cl"))
}

/// Whether `a` and `b` (lowercase) differ by exactly one edit: an insertion, a deletion, a
/// substitution, or two adjacent letters swapped.
pub(crate) fn one_edit_apart_lower(a: &[u8], b: &[u8]) -> bool {
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 || a == b {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if la == lb {
        if a[prefix + 1..] == b[prefix + 1..] {
            return true; // substitution
        }
        // transposition
        prefix + 1 < la
            && a[prefix] == b[prefix + 1]
            && a[prefix + 1] == b[prefix]
            && a[prefix + 2..] == b[prefix + 2..]
    } else {
        let (long, short) = if la > lb { (a, b) } else { (b, a) };
        long[prefix + 1..] == short[prefix..]
    }
}

/// Whether `set` (lowercase entries) holds `s` compared ASCII case-insensitively, without
/// allocating for short strings.
pub(crate) fn has_ci(set: &HashSet<String>, s: &str) -> bool {
    if !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return set.contains(s);
    }
    let mut buf = [0u8; 64];
    if s.len() > buf.len() {
        return set.contains(&s.to_ascii_lowercase());
    }
    for (d, b) in buf.iter_mut().zip(s.bytes()) {
        *d = b.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..s.len()]).is_ok_and(|l| set.contains(l))
}

/// [`has_ci`] for a map: the value of a key compared ASCII case-insensitively.
pub(crate) fn get_ci<'m, V>(map: &'m HashMap<String, V>, s: &str) -> Option<&'m V> {
    if !s.bytes().any(|b| b.is_ascii_uppercase()) {
        return map.get(s);
    }
    let mut buf = [0u8; 64];
    if s.len() > buf.len() {
        return map.get(&s.to_ascii_lowercase());
    }
    for (d, b) in buf.iter_mut().zip(s.bytes()) {
        *d = b.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..s.len()])
        .ok()
        .and_then(|l| map.get(l))
}

/// An image path component without `-`, `_` and `.`, lowercase.
pub(crate) fn normalized(component: &str) -> String {
    component
        .bytes()
        .filter(|b| !matches!(b, b'-' | b'_' | b'.'))
        .map(|b| b.to_ascii_lowercase() as char)
        .collect()
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
            index: HashMap::default(),
        };
        let lower = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        };

        let mut names = lower(&file.miner_binaries.names);
        let contextual_names = lower(&file.contextual_miners.names);
        let first_contextual = names.len() as u32;
        names.extend(contextual_names.iter().cloned());
        let contextual: HashSet<u32> = (first_contextual..names.len() as u32).collect();
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
        let installers = lower(&file.installers.names);
        let installer_rule: Vec<u32> = installers
            .iter()
            .map(|n| {
                t.add(
                    format!("builtin/miner-installer/{n}"),
                    Category::MinerBinary,
                    Severity::Critical,
                )
            })
            .collect();
        let keywords: Vec<String> = file
            .image_keywords
            .keywords
            .iter()
            .map(|k| normalized(k))
            .collect();
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
        let mut ioc_exact = HashMap::default();
        let mut ioc_account = HashMap::default();
        let mut ioc_ips = Vec::new();
        let mut ioc_domains: Vec<(String, u32)> = Vec::new();
        let mut known_iocs = Vec::new();
        for e in &file.known_iocs.entries {
            let value = e.value.trim().to_ascii_lowercase();
            if e.source.trim().len() < 10 || e.checked.trim().is_empty() {
                return Err(format!(
                    "known IOC {value}: source and checked are required"
                ));
            }
            let r = t.add(
                format!("builtin/known-ioc/{value}"),
                Category::KnownIoc,
                Severity::Critical,
            );
            match e.kind.as_str() {
                "image" => match value.strip_suffix("/*") {
                    Some(account) => {
                        ioc_account.insert(account.to_string(), r);
                    }
                    None => {
                        ioc_exact.insert(value.clone(), r);
                    }
                },
                "domain" => ioc_domains.push((value.clone(), r)),
                "ip" => ioc_ips.push((
                    Cidr::parse(&value).map_err(|m| format!("known IOC {value}: {m}"))?,
                    r,
                )),
                other => return Err(format!("known IOC {value}: unknown kind {other:?}")),
            }
            known_iocs.push(KnownIoc {
                kind: e.kind.clone(),
                value,
                source: e.source.trim().to_string(),
                checked: e.checked.trim().to_string(),
            });
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

        let mut flags: HashMap<String, FlagInfo> = HashMap::default();
        for f in &file.miner_flags.strong {
            let f = f.trim().to_string();
            let r = t.add(
                format!("builtin/miner-flags/{}", f.trim_start_matches('-')),
                Category::MinerFlags,
                Severity::High,
            );
            flags.entry(f).or_default().strong = Some(r);
        }
        for f in &file.miner_flags.algo_options {
            flags.entry(f.trim().to_string()).or_default().algo = true;
        }
        for f in &file.miner_flags.coin_options {
            flags.entry(f.trim().to_string()).or_default().coin = true;
        }
        for f in &file.miner_flags.pool_options {
            flags.entry(f.trim().to_string()).or_default().pool = true;
        }
        for f in &file.miner_flags.user_options {
            flags.entry(f.trim().to_string()).or_default().user = true;
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
        let uninspected_rule = t.add(
            UNINSPECTED_RULE.into(),
            Category::MinerBinary,
            Severity::Medium,
        );
        let embedded_binary_rule = t.add(
            EMBEDDED_BINARY_RULE.into(),
            Category::MinerBinary,
            Severity::Medium,
        );
        let lookalike_accounts = lower(&file.lookalike_targets.accounts);
        let lookalike_registries = lower(&file.lookalike_targets.registries);
        let mut lookalike_rule = HashMap::default();
        for target in lookalike_accounts.iter().chain(lookalike_registries.iter()) {
            let r = t.add(
                format!("{LOOKALIKE_RULE_PREFIX}{target}"),
                Category::KnownIoc,
                Severity::Medium,
            );
            lookalike_rule.insert(target.clone(), r);
        }
        let signature_rules = t.rules.len();
        let gpu_rule = t.add(GPU_RULE.into(), Category::GpuUnapproved, Severity::High);
        let node_instance_rule = t.add(NODE_INSTANCE_RULE.into(), Category::Node, Severity::Medium);
        let node_region_rule = t.add(NODE_REGION_RULE.into(), Category::Node, Severity::Medium);
        let node_spot_rule = t.add(NODE_SPOT_RULE.into(), Category::Node, Severity::Low);

        let mut word_patterns = vec!["://".to_string()];
        let mut word_pats = vec![WordPat::Scheme];
        for d in lower(&file.pool_domains.domains) {
            word_patterns.push(d);
            word_pats.push(WordPat::Pool);
        }
        for (i, n) in names.iter().enumerate() {
            word_patterns.push(n.clone());
            word_pats.push(WordPat::Miner(i as u32));
        }
        for (i, n) in installers.iter().enumerate() {
            word_patterns.push(n.clone());
            word_pats.push(WordPat::Installer(i as u32));
        }
        for (d, r) in &ioc_domains {
            word_patterns.push(d.clone());
            word_pats.push(WordPat::IocDomain(*r));
        }

        let mut collisions = Vec::new();
        for c in &file.collisions.entries {
            let miners: Vec<u32> = lower(&c.names)
                .iter()
                .filter_map(|n| names.iter().position(|m| m == n).map(|p| p as u32))
                .collect();
            let images = if c.images.is_empty() {
                None
            } else {
                Some(
                    Globs::new(&lower(&c.images), Case::Insensitive)
                        .map_err(|e| format!("{e:?}"))?,
                )
            };
            collisions.push(Collision {
                miners,
                programs: set(&c.programs),
                images,
                context: c.context.iter().map(|s| s.trim().to_string()).collect(),
            });
        }
        let e = &file.env_config;
        let env_roles = vec![
            (EnvRole::Pool, set(&e.pool_tokens)),
            (EnvRole::Wallet, set(&e.wallet_tokens)),
            (EnvRole::Algo, set(&e.algo_tokens)),
            (EnvRole::Coin, set(&e.coin_tokens)),
            (EnvRole::Worker, set(&e.worker_tokens)),
            (EnvRole::Donate, set(&e.donate_tokens)),
        ];

        let mut env_token_mask: HashMap<String, u16> = HashMap::default();
        for (k, (_, set)) in env_roles.iter().enumerate() {
            for t in set {
                *env_token_mask.entry(t.clone()).or_default() |= 1 << k;
            }
        }
        for t in set(&e.pool_host_tokens) {
            *env_token_mask.entry(t).or_default() |= 1 << 8;
        }
        for t in set(&e.host_tokens) {
            *env_token_mask.entry(t).or_default() |= 1 << 9;
        }

        Ok(Builtin {
            env_token_mask,
            signature_rules,
            rules: t.rules,
            word_ac: ac(&word_patterns)?,
            word_pats,
            image_ac: ac(&names)?,
            keyword_ac: ac(&keywords)?,
            keyword_exclude: set(&file.image_keywords.exclude_tokens),
            miner_binary_rule,
            miner_image_rule,
            keyword_rule,
            installer_rule,
            contextual,
            contextual_images: lower(&file.contextual_miners.images),
            collisions,
            ioc_exact,
            ioc_account,
            ioc_ips,
            known_iocs,
            stratum_protocols: lower(&file.stratum_schemes.protocols),
            flags,
            not_miners: set(&file.not_miners.names),
            not_miner_images: set(&file.not_miners.images),
            node_programs: set(&file.node_daemons.programs),
            node_images: set(&file.node_daemons.images),
            peer_options: file
                .node_daemons
                .peer_options
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            sink_addresses: set(&file.sinkhole.addresses),
            sink_keywords: lower(&file.sinkhole.line_keywords),
            sink_dnsmasq: lower(&file.sinkhole.dnsmasq_prefixes),
            sink_programs: set(&file.sinkhole.programs),
            sink_drop_words: set(&file.sinkhole.drop_words),
            sink_name_tokens: set(&file.sinkhole.name_tokens),
            // accounts shorter than 5 letters are one edit from too many real ones
            lookalike_accounts: NearNames::new(lookalike_accounts.iter().filter(|t| t.len() >= 5)),
            lookalike_registries: NearNames::new(lookalike_registries.iter()),
            lookalike_allow: set(&file.lookalike_targets.allow),
            lookalike_rule,
            env_roles,
            algos: set(&file.miner_flags.algorithms),
            shared_algos: set(&file.miner_flags.shared_algorithms),
            coins: set(&file.miner_flags.coins),
            ports: file.stratum_ports.ports.into_iter().collect(),
            stratum_rule,
            pool_domain_rule,
            pool_arg_rule,
            algo_rule,
            coin_rule,
            wallet_rules,
            port_rule,
            uninspected_rule,
            embedded_binary_rule,
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

/// The built-in known IOCs with their sources.
pub fn known_iocs() -> Vec<KnownIoc> {
    Builtin::shared().known_iocs.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_file_parses_and_covers_required_families() {
        let b = Builtin::from_yaml(SIGNATURES_YAML).unwrap();
        let ids: HashSet<&str> = b.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), b.rules.len(), "rule ids are unique");
        for id in [
            "builtin/known-ioc/metal3d/xmrig",
            "builtin/known-ioc/a-dog.top",
            "builtin/known-ioc/195.3.146.118/32",
            "builtin/pool/stratum-url",
            "builtin/miner-flags/donate-level",
            "builtin/miner-flags/cc-url",
            "builtin/miner-binary/bzminer",
            "builtin/miner-binary/excavator",
            "builtin/miner-installer/setup_moneroocean_miner.sh",
            "builtin/wallet/monero",
            "builtin/port/stratum-port",
            "builtin/lookalike-registry/nvidia",
            UNINSPECTED_RULE,
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
        assert!(b.collisions.iter().all(|c| !c.miners.is_empty()));
    }

    #[test]
    fn every_list_and_every_ioc_names_its_source() {
        let v: serde_json::Value = serde_saphyr::from_str(SIGNATURES_YAML).unwrap();
        let obj = v.as_object().unwrap();
        assert!(obj.len() >= 14);
        for (k, list) in obj {
            let src = list
                .get("source")
                .and_then(|s| s.as_str())
                .unwrap_or_default();
            assert!(src.len() > 20, "{k} has no source note");
        }
        let iocs = known_iocs();
        assert!(iocs.len() >= 25);
        for i in &iocs {
            assert!(i.source.len() > 10 && !i.checked.is_empty(), "{i:?}");
        }
        // the campaigns the issue names are all represented
        let all = iocs
            .iter()
            .map(|i| format!("{} {}", i.value, i.source))
            .collect::<Vec<_>>()
            .join("\n");
        for campaign in [
            "Kinsing",
            "TeamTNT",
            "WatchDog",
            "Kiss-a-dog",
            "Dero",
            "RBAC-Buster",
            "Sysdig",
            "Unit 42",
        ] {
            assert!(all.contains(campaign), "{campaign}");
        }
    }
}
