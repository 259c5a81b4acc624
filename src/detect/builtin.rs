//! Context-aware matching of the built-in signatures against one container.
//!
//! A miner name counts as the program run, as an image repository path component, or as a
//! segment of a URL or file path — never as a bare substring. Pool domains need domain
//! boundaries. Options are matched as whole options, and option values (algorithm, coin,
//! pool, wallet) are judged by the option they follow.
//!
//! Context decides in both directions:
//! - a blockchain node's peer options, a DNS sinkhole or blocklist, a firewall drop rule
//!   name pool hosts without connecting to them;
//! - a program or image whose name collides with a miner's in unrelated software (the
//!   T-Rex tile server, Cisco TRex) is not a miner unless miner evidence sits beside it;
//! - other coins' addresses count only next to miner evidence, a lone Monero address in
//!   an env value is at most medium;
//! - miner configuration given only through env variables counts when two of pool,
//!   wallet, algorithm and coin (or one and a worker/donation setting) say so.

use std::sync::Arc;

use aho_corasick::Match;

use super::extract::{Cmd, Extracted, Field, LimitKind, basename};
use super::ioc::{find_ips, host_use};
use super::signatures::{Builtin, EnvRole, Near, WordPat, get_ci, has_ci, normalized};
use super::view::ContainerView;
use super::wallet::{
    MAX_EVIDENCE_CHARS, WalletKind, evidence, find_wallets, shorten_wallets, truncate_chars,
};
use crate::api::{Category, Severity};

/// A built-in rule that fired in a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub rule: u32,
    pub severity: Severity,
    pub field: Field,
    pub evidence: String,
}

pub(crate) struct Scanner<'b> {
    pub b: &'b Builtin,
    /// Indexed by rule index.
    pub disabled: &'b [bool],
    /// What images said before (the same policy, so the same rules).
    pub images: &'b ImageCache,
}

/// Image analyses by image reference: the pods of a cluster share few images (replicas,
/// DaemonSets, the same base images), and an image's findings depend only on the reference
/// and the policy. Bounded: emptied when full.
#[derive(Debug, Default)]
pub(crate) struct ImageCache {
    map: std::sync::Mutex<rustc_hash::FxHashMap<Box<str>, ImageResult>>,
}

/// What an image said: its info and its findings.
type ImageResult = Arc<(ImageInfo, Vec<Hit>)>;

impl ImageCache {
    const MAX_ENTRIES: usize = 4096;
    /// Longer references are analysed each time (they are rare and would crowd the cache).
    const MAX_KEY: usize = 512;

    fn get(&self, image: &str) -> Option<ImageResult> {
        // a poisoned lock (a panic elsewhere) only means no caching
        self.map.lock().ok()?.get(image).cloned()
    }

    fn put(&self, image: &str, value: ImageResult) {
        if image.len() > Self::MAX_KEY {
            return;
        }
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= Self::MAX_ENTRIES {
                m.clear();
            }
            m.insert(image.into(), value);
        }
    }
}

/// An image reference split into registry and repository path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    pub registry: Option<&'a str>,
    /// Repository path components (tag and digest removed).
    pub components: Vec<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub(crate) fn parse(image: &'a str) -> ImageRef<'a> {
        let s = image.trim();
        let s = s.split('@').next().unwrap_or(s);
        let mut parts: Vec<&str> = s.split('/').filter(|p| !p.is_empty()).collect();
        let registry = if parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
        {
            Some(parts.remove(0))
        } else {
            None
        };
        if let Some(last) = parts.last_mut()
            && let Some((name, _tag)) = last.rsplit_once(':')
        {
            *last = name;
        }
        ImageRef {
            registry,
            components: parts,
        }
    }

    pub(crate) fn is_docker_hub(&self) -> bool {
        matches!(
            self.registry,
            None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io")
        )
    }

    /// Lowercase repository path, `library/` dropped for Docker Hub.
    pub(crate) fn path(&self) -> String {
        let mut comps: &[&str] = &self.components;
        if self.is_docker_hub() && comps.len() > 1 && comps[0] == "library" {
            comps = &comps[1..];
        }
        comps.join("/").to_ascii_lowercase()
    }
}

pub(crate) fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// `host:port` (optionally `scheme://user@host:port/path`) with a dotted host and a valid port.
pub(crate) fn is_host_port(v: &str) -> bool {
    let v = v.split_once("://").map_or(v, |(_, r)| r);
    let v = v.rsplit_once('@').map_or(v, |(_, r)| r);
    let v = v.split('/').next().unwrap_or(v);
    let Some((host, port)) = v.rsplit_once(':') else {
        return false;
    };
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
    let host_ok = host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host.bytes().all(|b| is_host_char(b) || b == b'.')
        && host.bytes().any(|b| b.is_ascii_alphanumeric());
    port_ok && host_ok
}

/// Whether `a` and `b` differ by exactly one edit (ASCII case aside): an insertion, a
/// deletion, a substitution, or two adjacent letters swapped.
#[cfg(test)]
fn one_edit_apart(a: &str, b: &str) -> bool {
    if a.len() > 64 || b.len() > 64 {
        return false;
    }
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    super::signatures::one_edit_apart_lower(a.as_bytes(), b.as_bytes())
}

/// Keep only matches not contained in a longer match (e.g. `cpuminer` inside `cpuminer-multi`).
fn outermost(mut ms: Vec<(Match, u32)>) -> Vec<(Match, u32)> {
    ms.sort_by_key(|(m, _)| (m.start(), std::cmp::Reverse(m.end())));
    let mut out: Vec<(Match, u32)> = Vec::with_capacity(ms.len());
    for (m, p) in ms {
        if out
            .last()
            .is_some_and(|(l, _)| l.start() <= m.start() && m.end() <= l.end())
        {
            continue;
        }
        out.push((m, p));
    }
    out
}

/// Command line of one simple command, for evidence (built only when something matched).
struct Joined {
    text: String,
    offsets: Vec<usize>,
}

impl Joined {
    fn of(cmd: &Cmd<'_>) -> Joined {
        let mut text = String::new();
        let mut offsets = Vec::with_capacity(cmd.words.len());
        for (i, w) in cmd.words.iter().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            offsets.push(text.len());
            text.push_str(&w.text);
        }
        Joined { text, offsets }
    }
}

/// Why a word (or part of it) names hosts without connecting to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Naming {
    /// A node daemon's peer option value.
    Peer,
    /// A blocklist option's value, or any word of a blocking command.
    Block,
}

struct CmdScan<'c, 'a> {
    cmd: &'c Cmd<'a>,
    joined: Option<Joined>,
    /// Miner evidence in this command other than the program's own name.
    miner_like: bool,
    pending_pools: Vec<(usize, usize, usize)>,
    /// Values of algorithm options that are miner algorithms only in a miner-like command.
    pending_algos: Vec<(usize, usize, usize)>,
    /// Non-Monero wallets given to a user option: they count on a miner-like command line.
    pending_wallets: Vec<(WalletKind, usize, usize, usize)>,
    /// Words that already named a known pool or a stratum URL (ascending: pushed in word order).
    pool_words: Vec<usize>,
    /// Word ranges that name hosts without connecting (word, from byte, why).
    naming: Vec<(usize, usize, Naming)>,
    /// The container's image is a known non-miner whose name looks like a miner's: miner
    /// names in its paths and URLs (`/var/trex/v2.41`) are its own files.
    known_not_miner: bool,
    /// The command's env variable name, for env values.
    env_name: Option<&'c str>,
}

impl CmdScan<'_, '_> {
    fn evidence(&mut self, i: usize, start: usize, end: usize) -> String {
        let cmd = self.cmd;
        let j = self.joined.get_or_insert_with(|| Joined::of(cmd));
        let base = j.offsets[i];
        evidence(&j.text, base + start, base + end, cmd.words[i].decoded)
    }

    fn naming(&self, i: usize, at: usize) -> Option<Naming> {
        self.naming
            .iter()
            .rev()
            .find(|(w, from, _)| *w == i && *from <= at)
            .map(|(_, _, n)| *n)
    }
}

/// What the image says about the container.
#[derive(Clone, Debug, Default)]
pub(crate) struct ImageInfo {
    /// A known non-miner image whose name looks like a miner's.
    known_not_miner: bool,
    /// Miner names found in the image (decided once the commands are known).
    miner_names: Vec<u32>,
    /// Miner names in an image component that also names tooling about miners
    /// (`xmrig-exporter`, `xmrig-detector`): low alone, critical next to miner evidence.
    tooling_names: Vec<u32>,
    /// The image is a known miner (IOC) or carries a miner keyword.
    miner: bool,
    /// The image account gives contextual miner names their context (nicehash/excavator).
    contextual: bool,
    /// The image runs a blockchain node.
    node: bool,
}

/// An env variable's part in miner configuration given through the environment.
struct EnvSignal {
    role: EnvRole,
    field: Field,
    strong: bool,
    wallet: Option<WalletKind>,
    evidence: String,
}

/// Words that follow a program's name in release file names (`xmrig-6.21.0-linux-static-x64`).
const RELEASE_WORDS: &[&str] = &[
    "linux", "static", "x64", "x86", "amd64", "arm64", "aarch64", "armv7", "armv8", "cuda",
    "opencl", "gcc", "msvc", "win", "win64", "windows", "mac", "macos", "freebsd", "bionic",
    "focal", "jammy", "noble", "xenial", "bin", "release", "latest", "cpu", "gpu", "nvidia", "amd",
    "hiveos", "mmpos", "musl", "glibc",
];

/// Whether `rest` (what follows `name-`) starts a version or platform suffix.
fn release_suffix(rest: &str) -> bool {
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let b = word.as_bytes();
    b.first().is_some_and(u8::is_ascii_digit)
        || (b.len() > 1 && b[0] == b'v' && b[1].is_ascii_digit())
        || RELEASE_WORDS.contains(&word.as_str())
}

/// Name parts that make a variable a quantity, not a name (`WORKER_COUNT`, `POOL_SIZE`).
const COUNT_TOKENS: &[&str] = &[
    "count",
    "size",
    "num",
    "number",
    "max",
    "min",
    "threads",
    "concurrency",
    "replicas",
    "timeout",
    "limit",
];

fn tokens(name: &str) -> impl Iterator<Item = &str> + '_ {
    name.split(['_', '-', '.']).filter(|t| !t.is_empty())
}

impl Scanner<'_> {
    fn on(&self, rule: u32) -> bool {
        !self.disabled.get(rule as usize).copied().unwrap_or(false)
    }

    fn hit(
        &self,
        hits: &mut Vec<Hit>,
        rule: u32,
        severity: Severity,
        field: Field,
        evidence: impl FnOnce() -> String,
    ) {
        if self.on(rule) {
            hits.push(Hit {
                rule,
                severity,
                field,
                evidence: evidence(),
            });
        }
    }

    fn is_miner_evidence(&self, h: &Hit) -> bool {
        matches!(
            self.b.rules[h.rule as usize].category,
            Category::Pool
                | Category::MinerBinary
                | Category::MinerImage
                | Category::KnownIoc
                | Category::MinerFlags
                | Category::Wallet
        ) && h.rule != self.b.uninspected_rule
            && h.rule != self.b.embedded_binary_rule
            && !self.b.rules[h.rule as usize]
                .id
                .starts_with(super::signatures::LOOKALIKE_RULE_PREFIX)
            && h.severity >= Severity::High
    }

    /// All built-in findings of one container.
    pub(crate) fn container(&self, c: &ContainerView, x: &Extracted<'_>, hits: &mut Vec<Hit>) {
        let b = self.b;
        let first = hits.len();
        let img = match self.images.get(&c.image) {
            Some(cached) => {
                hits.extend(cached.1.iter().cloned());
                cached.0.clone()
            }
            None => {
                let mut own = Vec::new();
                let info = self.image(&c.image, &mut own);
                hits.extend(own.iter().cloned());
                self.images.put(&c.image, Arc::new((info.clone(), own)));
                info
            }
        };
        for p in &c.ports {
            if u16::try_from(p.container_port).is_ok_and(|port| b.ports.contains(&port)) {
                self.hit(
                    hits,
                    b.port_rule,
                    Severity::Low,
                    Field::Port(p.index),
                    || {
                        format!(
                            "containerPort {} (a common mining pool port)",
                            p.container_port
                        )
                    },
                );
            }
        }
        for l in &x.limits {
            let (rule, severity) = match l.kind {
                LimitKind::Uninspected => (b.uninspected_rule, Severity::Medium),
                LimitKind::EmbeddedBinary => (b.embedded_binary_rule, Severity::Medium),
                // hiding what a shell runs is itself the evasion
                LimitKind::UninspectedRun => (b.uninspected_rule, Severity::High),
            };
            self.hit(hits, rule, severity, l.field, || {
                truncate_chars(&l.evidence, MAX_EVIDENCE_CHARS)
            });
        }
        let mut contextual: Vec<(WalletKind, Field, String)> = Vec::new();
        let mut env_monero: Vec<(WalletKind, Field, String)> = Vec::new();
        let mut program_candidates: Vec<(u32, Field, String, bool, String)> = Vec::new();

        let mut miner_evidence = img.miner;
        for cmd in &x.cmds {
            let env_name = match cmd.words.first().map(|w| w.field) {
                Some(Field::Env(i)) if cmd.data => {
                    x.env.iter().find(|e| e.index == i).map(|e| e.name)
                }
                _ => None,
            };
            let r = self.command(cmd, &img, env_name, hits, &mut contextual, &mut env_monero);
            miner_evidence |= r.miner_like;
            if let Some(p) = r.program {
                program_candidates.push(p);
            }
        }
        // env-only configuration
        let env = self.env_signals(x);
        let strong: Vec<&EnvSignal> = env.iter().filter(|s| s.strong).collect();
        let mut kinds: Vec<EnvRole> = strong.iter().map(|s| s.role).collect();
        kinds.sort_by_key(|r| *r as u8);
        kinds.dedup();
        let weak = env.iter().any(|s| !s.strong);
        let configured = kinds.len() >= 2 || (!kinds.is_empty() && weak);
        miner_evidence |= configured;
        miner_evidence |= hits[first..].iter().any(|h| self.is_miner_evidence(h));
        if configured || (miner_evidence && !strong.is_empty()) {
            for s in &strong {
                let rule = match s.role {
                    EnvRole::Pool => b.pool_arg_rule,
                    EnvRole::Wallet => b.wallet_rule(s.wallet.unwrap_or(WalletKind::Monero)),
                    EnvRole::Algo => b.algo_rule,
                    EnvRole::Coin => b.coin_rule,
                    EnvRole::Worker | EnvRole::Donate => continue,
                };
                self.hit(hits, rule, Severity::High, s.field, || s.evidence.clone());
            }
        } else if let Some(s) = strong.iter().find(|s| s.role == EnvRole::Algo) {
            // a miner algorithm named in an ALGO variable: suspicious on its own
            self.hit(hits, b.algo_rule, Severity::Medium, s.field, || {
                s.evidence.clone()
            });
        }
        // the subcommands/options or program names of software whose name collides with a
        // miner's, looked for only when such a name is here
        let collision_miner = |n: &u32| b.collisions.iter().any(|col| col.miners.contains(n));
        let collision_words = (program_candidates.iter().any(|p| collision_miner(&p.0))
            || img.miner_names.iter().any(collision_miner))
            && x.cmds.iter().filter(|c| !c.data).any(|cmd| {
                let base = cmd.program.map(|p| basename(cmd.words[p].text.as_ref()));
                b.collisions.iter().any(|col| {
                    base.is_some_and(|b| has_ci(&col.programs, b))
                        || cmd.words.iter().any(|w| {
                            col.context
                                .contains(w.text.split('=').next().unwrap_or_default())
                        })
                })
            });
        // programs and image names that collide with other software are decided now
        for (n, field, ev, contextual_name, base) in program_candidates {
            if contextual_name && !(miner_evidence || img.contextual) {
                continue;
            }
            if self.collides(n, &base, &img, &c.image, collision_words) && !miner_evidence {
                continue;
            }
            // `xmrig-exporter`, `xmrig_detector`: tooling named after the miner it watches,
            // like such an image (low unless the container shows the miner at work)
            let severity = if self.names_tooling(&base) && !miner_evidence {
                Severity::Low
            } else {
                Severity::Critical
            };
            self.hit(
                hits,
                b.miner_binary_rule[n as usize],
                severity,
                field,
                || ev,
            );
        }
        let image_names = img
            .miner_names
            .iter()
            .map(|&n| (n, false))
            .chain(img.tooling_names.iter().map(|&n| (n, true)));
        for (n, tooling) in image_names {
            if b.contextual.contains(&n) && !(miner_evidence || img.contextual) {
                continue;
            }
            if self.collides(n, "", &img, &c.image, collision_words) && !miner_evidence {
                continue;
            }
            // a detector or exporter named after the miner it watches is tooling unless the
            // container also shows the miner at work
            let severity = if tooling && !miner_evidence {
                Severity::Low
            } else {
                Severity::Critical
            };
            self.hit(
                hits,
                b.miner_image_rule[n as usize],
                severity,
                Field::Image,
                || truncate_chars(&shorten_wallets(&c.image), MAX_EVIDENCE_CHARS),
            );
        }
        let evidence_here =
            miner_evidence || hits[first..].iter().any(|h| self.is_miner_evidence(h));
        if evidence_here {
            for (kind, field, ev) in contextual {
                self.hit(hits, b.wallet_rule(kind), Severity::High, field, || ev);
            }
        }
        // a lone Monero (or Dero) address in an env value (a donation address) is at most
        // medium
        let lone_wallet_rules = env_monero
            .iter()
            .map(|(k, _, _)| b.wallet_rule(*k))
            .collect::<Vec<_>>();
        let other_signal = evidence_here
            || hits[first..]
                .iter()
                .any(|h| h.severity >= Severity::Medium && !lone_wallet_rules.contains(&h.rule));
        for (kind, field, ev) in env_monero {
            let sev = if other_signal {
                Severity::High
            } else {
                Severity::Medium
            };
            self.hit(hits, b.wallet_rule(kind), sev, field, || ev);
        }
    }

    /// Whether miner name `n` (run as `base`, or in the image) is another program's name
    /// here: the image is that program's, or the commands use its subcommands/options.
    fn collides(
        &self,
        n: u32,
        base: &str,
        img: &ImageInfo,
        image: &str,
        context_words: bool,
    ) -> bool {
        if img.known_not_miner {
            return true;
        }
        let r = ImageRef::parse(image);
        let path = r.path();
        self.b.collisions.iter().any(|col| {
            col.miners.contains(&n)
                && (has_ci(&col.programs, base)
                    || col
                        .images
                        .as_ref()
                        .is_some_and(|g| g.is_match(&path) || g.is_match(image))
                    || context_words)
        })
    }

    /// Image findings (IOCs, keywords, look-alike accounts); miner names are returned for a
    /// decision once the commands are known.
    fn image(&self, image: &str, hits: &mut Vec<Hit>) -> ImageInfo {
        let b = self.b;
        let mut info = ImageInfo::default();
        if image.is_empty() {
            return info;
        }
        let r = ImageRef::parse(image);
        let ev = || truncate_chars(&shorten_wallets(image), MAX_EVIDENCE_CHARS);
        let path = r.path();
        if r.is_docker_hub() {
            let ioc = b.ioc_exact.get(&path).or_else(|| {
                path.split('/')
                    .next()
                    .filter(|_| path.contains('/'))
                    .and_then(|acct| b.ioc_account.get(acct))
            });
            if let Some(&rule) = ioc {
                self.hit(hits, rule, Severity::Critical, Field::Image, ev);
                info.miner = true;
            }
        }
        self.lookalike(&r, image, hits);
        info.contextual = r.components.len() > 1
            && b.contextual_images
                .iter()
                .any(|a| a.eq_ignore_ascii_case(r.components[0]));
        let collision_image = b.image_ac.is_match(&path)
            && b.collisions.iter().any(|c| {
                c.images
                    .as_ref()
                    .is_some_and(|g| g.is_match(&path) || g.is_match(image))
            });
        if b.not_miner_images.contains(&path) || collision_image {
            info.known_not_miner = true;
            return info;
        }
        for comp in &r.components {
            if !info.node && self.node_image_component(comp) {
                info.node = true;
            }
            let bytes = comp.as_bytes();
            let ms: Vec<(Match, u32)> = b
                .image_ac
                .find_overlapping_iter(*comp)
                .filter(|m| {
                    let left = m.start() == 0 || matches!(bytes[m.start() - 1], b'-' | b'_' | b'.');
                    let right = m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphabetic();
                    left && right
                })
                .map(|m| (m, m.pattern().as_u32()))
                .collect();
            let tooling = !ms.is_empty() && self.names_tooling(comp);
            for (_, n) in outermost(ms) {
                let names = if tooling {
                    &mut info.tooling_names
                } else {
                    &mut info.miner_names
                };
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            let mut buf = [0u8; 128];
            let norm: std::borrow::Cow<'_, [u8]> = if comp.len() <= buf.len() {
                let mut n = 0;
                for &c in comp.as_bytes() {
                    if !matches!(c, b'-' | b'_' | b'.') {
                        buf[n] = c.to_ascii_lowercase();
                        n += 1;
                    }
                }
                std::borrow::Cow::Borrowed(&buf[..n])
            } else {
                std::borrow::Cow::Owned(normalized(comp).into_bytes())
            };
            if let Some(m) = b.keyword_ac.find(&*norm) {
                let excluded = comp
                    .split(['-', '_', '.'])
                    .any(|t| has_ci(&b.keyword_exclude, t));
                if !excluded {
                    self.hit(
                        hits,
                        b.keyword_rule[m.pattern().as_usize()],
                        Severity::High,
                        Field::Image,
                        ev,
                    );
                    info.miner = true;
                }
            }
        }
        info
    }

    /// Whether a name (an image path component, a program's basename) also has a word of
    /// tooling about miners (`detector`, `exporter`, `scanner`...).
    fn names_tooling(&self, name: &str) -> bool {
        name.split(['-', '_', '.'])
            .any(|t| has_ci(&self.b.keyword_exclude, t))
    }

    /// An image path component naming a node daemon (`monerod`, `bitcoin-core`,
    /// `simple-monerod-docker`).
    fn node_image_component(&self, comp: &str) -> bool {
        let set = &self.b.node_images;
        has_ci(set, comp) || comp.split(['-', '_']).any(|t| has_ci(set, t))
    }

    /// A registry host or account one edit away from a well-known one, or that reads like one
    /// (`bitnarni` for `bitnami`).
    fn lookalike(&self, r: &ImageRef<'_>, image: &str, hits: &mut Vec<Hit>) {
        let b = self.b;
        let mut found: Option<(String, (&str, Near), &str)> = None;
        if let Some(reg) = r.registry {
            let host = reg.split(':').next().unwrap_or(reg);
            if let Some(t) = b.lookalike_registries.near(host) {
                found = Some((host.to_ascii_lowercase(), t, "registry"));
            }
        }
        if found.is_none() && r.components.len() > 1 {
            let account = r.components[0];
            if !has_ci(&b.lookalike_allow, account)
                && let Some(t) = b.lookalike_accounts.near(account)
            {
                found = Some((account.to_ascii_lowercase(), t, "account"));
            }
        }
        if let Some((name, (target, near), what)) = found
            && let Some(&rule) = b.lookalike_rule.get(target)
        {
            let how = match near {
                Near::OneEdit => "is one edit away from",
                Near::ReadsLike => "reads like",
            };
            self.hit(hits, rule, Severity::Medium, Field::Image, || {
                truncate_chars(
                    &format!(
                        "{what} {name:?} {how} {target:?}: {}",
                        shorten_wallets(image)
                    ),
                    MAX_EVIDENCE_CHARS,
                )
            });
        }
    }

    /// Miner name at the start of a program basename (`xmrig`, `xmrig-6.21`, `t-rex.exe`).
    fn program_miner(&self, base: &str) -> Option<u32> {
        if has_ci(&self.b.not_miners, base) {
            return None;
        }
        let bytes = base.as_bytes();
        self.b
            .word_ac
            .find_overlapping_iter(base)
            .filter(|m| {
                m.start() == 0 && (m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphabetic())
            })
            .filter_map(|m| match self.b.word_pats[m.pattern().as_usize()] {
                WordPat::Miner(n) => Some((m.end(), n)),
                _ => None,
            })
            .max_by_key(|(end, _)| *end)
            .map(|(_, n)| n)
    }

    /// Miner configuration in env variables: what each variable's name and value say.
    fn env_signals(&self, x: &Extracted<'_>) -> Vec<EnvSignal> {
        let b = self.b;
        let mut out = Vec::new();
        for e in &x.env {
            let v = e.value.trim();
            if v.is_empty() {
                continue;
            }
            // one pass over the name's parts: which role words it has
            let mut mask = 0u16;
            for t in tokens(e.name) {
                mask |= get_ci(&b.env_token_mask, t).copied().unwrap_or(0);
            }
            if mask & 0xff == 0 && mask != (1 << 8 | 1 << 9) {
                continue;
            }
            let field = Field::Env(e.index);
            let ev = || {
                truncate_chars(
                    &shorten_wallets(&format!("{}={}", e.name, v)),
                    MAX_EVIDENCE_CHARS,
                )
            };
            for (k, (role, _)) in b.env_roles.iter().enumerate() {
                let named = match role {
                    EnvRole::Pool => mask & 1 != 0 || mask & (1 << 8 | 1 << 9) == (1 << 8 | 1 << 9),
                    _ => mask & (1 << k) != 0,
                };
                if !named {
                    continue;
                }
                let lower = v.to_ascii_lowercase();
                let signal = match role {
                    EnvRole::Pool => {
                        (is_host_port(v) || lower.contains("stratum")).then_some((true, None))
                    }
                    EnvRole::Wallet => find_wallets(v).next().map(|(k, _, _)| (true, Some(k))),
                    EnvRole::Algo => {
                        if b.shared_algos.contains(&lower) {
                            Some((false, None))
                        } else {
                            b.algos.contains(&lower).then_some((true, None))
                        }
                    }
                    EnvRole::Coin => b.coins.contains(&lower).then_some((true, None)),
                    // a worker's name, not a worker count or pool size
                    EnvRole::Worker => (!v.bytes().all(|c| c.is_ascii_digit())
                        && !tokens(e.name)
                            .any(|t| COUNT_TOKENS.iter().any(|c| c.eq_ignore_ascii_case(t))))
                    .then_some((false, None)),
                    EnvRole::Donate => Some((false, None)),
                };
                if let Some((strong, wallet)) = signal {
                    out.push(EnvSignal {
                        role: *role,
                        field,
                        strong,
                        wallet,
                        evidence: ev(),
                    });
                    break;
                }
            }
        }
        out
    }

    fn command(
        &self,
        cmd: &Cmd<'_>,
        img: &ImageInfo,
        env_name: Option<&str>,
        hits: &mut Vec<Hit>,
        contextual: &mut Vec<(WalletKind, Field, String)>,
        env_monero: &mut Vec<(WalletKind, Field, String)>,
    ) -> CmdResult {
        let b = self.b;
        let words = &cmd.words;
        let prog = if cmd.data { None } else { cmd.program };
        let (node, blocking, env_block) = self.cmd_context(cmd, img.node, env_name);
        let naming = self.naming(cmd, node, blocking || env_block);
        let mut s = CmdScan {
            cmd,
            joined: None,
            miner_like: img.miner,
            known_not_miner: img.known_not_miner,
            pending_pools: Vec::new(),
            pending_algos: Vec::new(),
            pending_wallets: Vec::new(),
            pool_words: Vec::new(),
            naming,
            env_name,
        };
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            if w.skip {
                i += 1;
                continue;
            }
            let t = w.text.as_ref();
            if Some(i) != prog && t.len() > 1 && t.starts_with('-') {
                self.option(&mut s, i, hits);
            }
            self.word_content(&mut s, i, Some(i) == prog, hits);
            for (kind, ws, we) in find_wallets(t) {
                if kind.unambiguous() {
                    if cmd.data && s.env_name.is_some() {
                        let ev = s.evidence(i, ws, we);
                        if !env_monero.iter().any(|(_, f, _)| *f == w.field) {
                            env_monero.push((kind, w.field, ev));
                        }
                    } else {
                        self.hit(hits, b.wallet_rule(kind), Severity::High, w.field, || {
                            s.evidence(i, ws, we)
                        });
                        s.miner_like = true;
                    }
                } else if self.on(b.wallet_rule(kind))
                    && !s.pending_wallets.iter().any(|p| p.1 == i)
                {
                    contextual.push((kind, w.field, s.evidence(i, ws, we)));
                }
            }
            i += 1;
        }
        // a shared algorithm next to a pool argument is a miner's command line on its own
        s.miner_like |= !s.pending_algos.is_empty() && !s.pending_pools.is_empty();
        if s.miner_like {
            for (wi, vs, ve) in std::mem::take(&mut s.pending_algos) {
                self.hit(hits, b.algo_rule, Severity::High, words[wi].field, || {
                    s.evidence(wi, vs, ve)
                });
            }
            for (wi, vs, ve) in std::mem::take(&mut s.pending_pools) {
                if s.pool_words.binary_search(&wi).is_ok() {
                    continue;
                }
                self.hit(
                    hits,
                    b.pool_arg_rule,
                    Severity::High,
                    words[wi].field,
                    || s.evidence(wi, vs, ve),
                );
            }
            for (kind, wi, vs, ve) in std::mem::take(&mut s.pending_wallets) {
                self.hit(
                    hits,
                    b.wallet_rule(kind),
                    Severity::High,
                    words[wi].field,
                    || s.evidence(wi, vs, ve),
                );
            }
        } else {
            for (kind, wi, vs, ve) in std::mem::take(&mut s.pending_wallets) {
                let ev = s.evidence(wi, vs, ve);
                contextual.push((kind, words[wi].field, ev));
            }
        }
        // the program's own name, decided by the container once every command is known
        let mut program = None;
        if let Some(p) = prog.filter(|&p| !words[p].skip) {
            let text = words[p].text.as_ref();
            let base = basename(text);
            if let Some(n) = self.program_miner(base) {
                let start = text.len() - base.len();
                let ev = s.evidence(p, start, text.len());
                program = Some((
                    n,
                    words[p].field,
                    ev,
                    b.contextual.contains(&n),
                    base.to_string(),
                ));
            }
        }
        CmdResult {
            miner_like: s.miner_like,
            program,
        }
    }

    /// An option word at `i`: strong miner options, and the values of algorithm, coin, pool,
    /// wallet, peer and blocklist options.
    fn option(&self, s: &mut CmdScan<'_, '_>, i: usize, hits: &mut Vec<Hit>) {
        let b = self.b;
        let cmd = s.cmd;
        let words = &cmd.words;
        let t = words[i].text.as_ref();
        let (name, inline) = match t.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (t, None),
        };
        // (word index, start, end) of the option's value
        let value = match inline {
            Some(v) => Some((i, name.len() + 1, name.len() + 1 + v.len())),
            None => words
                .get(i + 1)
                .filter(|n| !(n.skip || n.text.starts_with('-') && n.text.len() > 1))
                .map(|n| (i + 1, 0, n.text.len())),
        };
        let Some(info) = b.flags.get(name) else {
            return;
        };
        if let Some(rule) = info.strong {
            self.hit(hits, rule, Severity::High, words[i].field, || {
                s.evidence(i, 0, name.len())
            });
            s.miner_like = true;
        }
        let Some((vi, vs, ve)) = value else { return };
        let v = &words[vi].text[vs..ve];
        let field = words[vi].field;
        if info.algo {
            if has_ci(&b.shared_algos, v) {
                s.pending_algos.push((vi, vs, ve));
            } else if has_ci(&b.algos, v) {
                self.hit(hits, b.algo_rule, Severity::High, field, || {
                    s.evidence(vi, vs, ve)
                });
                s.miner_like = true;
            }
        }
        if info.coin && has_ci(&b.coins, v) {
            self.hit(hits, b.coin_rule, Severity::High, field, || {
                s.evidence(vi, vs, ve)
            });
            s.miner_like = true;
        }
        if info.user {
            for (kind, ws, we) in find_wallets(v) {
                // `WALLET.worker` / `WALLET/worker`: a pool login, whatever the coin
                let worker = v
                    .as_bytes()
                    .get(we)
                    .is_some_and(|c| matches!(c, b'.' | b'/'))
                    && v.as_bytes()
                        .get(we + 1)
                        .is_some_and(u8::is_ascii_alphanumeric);
                if kind.unambiguous() || worker {
                    self.hit(hits, b.wallet_rule(kind), Severity::High, field, || {
                        s.evidence(vi, vs + ws, vs + we)
                    });
                    s.miner_like = true;
                } else {
                    s.pending_wallets.push((kind, vi, vs + ws, vs + we));
                }
            }
        }
        if info.pool && is_host_port(v) && s.naming(vi, vs).is_none() {
            s.pending_pools.push((vi, vs, ve));
        }
    }

    /// (node daemon, blocking command, blocklist variable) of a command.
    fn cmd_context(
        &self,
        cmd: &Cmd<'_>,
        node_image: bool,
        env_name: Option<&str>,
    ) -> (bool, bool, bool) {
        let b = self.b;
        let words = &cmd.words;
        let prog = if cmd.data { None } else { cmd.program };
        let prog_base = prog.map(|p| basename(words[p].text.as_ref()));
        let node = prog_base.is_some_and(|p| has_ci(&b.node_programs, p))
            || (prog.is_none() && !cmd.data && !cmd.nested && node_image);
        let blocking = prog_base.is_some_and(|p| has_ci(&b.sink_programs, p))
            && words.iter().any(|w| has_ci(&b.sink_drop_words, &w.text));
        let env_block = env_name.is_some_and(|n| tokens(n).any(|t| has_ci(&b.sink_name_tokens, t)));
        (node, blocking, env_block)
    }

    /// Word ranges of a command that name hosts without connecting to them: every word of a
    /// blocking command or blocklist variable, the values of a node daemon's peer options
    /// and of blocklist options.
    fn naming(&self, cmd: &Cmd<'_>, node: bool, block_all: bool) -> Vec<(usize, usize, Naming)> {
        let b = self.b;
        let words = &cmd.words;
        let mut out = Vec::new();
        if block_all {
            for i in 0..words.len() {
                out.push((i, 0, Naming::Block));
            }
            return out;
        }
        for (i, w) in words.iter().enumerate() {
            let t = w.text.as_ref();
            if !(t.len() > 1 && t.starts_with('-')) || w.skip {
                continue;
            }
            let (name, inline) = match t.split_once('=') {
                Some((n, _)) => (n, true),
                None => (t, false),
            };
            let peer = node && b.peer_options.contains(name);
            let block = !peer
                && tokens(name.trim_start_matches('-')).any(|t| has_ci(&b.sink_name_tokens, t));
            if !(peer || block) {
                continue;
            }
            let why = if peer { Naming::Peer } else { Naming::Block };
            if inline {
                out.push((i, name.len() + 1, why));
            } else if i + 1 < words.len() {
                out.push((i + 1, 0, why));
            }
        }
        out
    }

    /// Policy indicators (`spec.detect.iocs`) in a container: the image, and domains and IP
    /// addresses in every word, with the same context rules as the built-in pool domains.
    pub(crate) fn policy_iocs(
        &self,
        set: &super::ioc::IocSet,
        c: &ContainerView,
        x: &Extracted<'_>,
        out: &mut Vec<(u32, Severity, Field, String)>,
    ) {
        if !c.image.is_empty() {
            for e in set.image_matches(&c.image) {
                let entry = &set.entries[e as usize];
                out.push((
                    e,
                    entry.severity,
                    Field::Image,
                    truncate_chars(&shorten_wallets(&c.image), MAX_EVIDENCE_CHARS),
                ));
            }
        }
        if !set.has_words() {
            return;
        }
        let node_image = ImageRef::parse(&c.image)
            .components
            .iter()
            .any(|comp| self.node_image_component(comp));
        for cmd in &x.cmds {
            let env_name = match cmd.words.first().map(|w| w.field) {
                Some(Field::Env(i)) if cmd.data => {
                    x.env.iter().find(|e| e.index == i).map(|e| e.name)
                }
                _ => None,
            };
            let (node, blocking, env_block) = self.cmd_context(cmd, node_image, env_name);
            let naming = self.naming(cmd, node, blocking || env_block);
            let mut joined: Option<Joined> = None;
            for (i, w) in cmd.words.iter().enumerate() {
                if w.skip {
                    continue;
                }
                let t = w.text.as_ref();
                for (e, sev, u) in set.word_matches(t) {
                    let named = naming
                        .iter()
                        .any(|(wi, from, _)| *wi == i && *from <= u.start);
                    if named || self.sinkholed(cmd, i, t, u.start, u.target) {
                        continue;
                    }
                    let j = joined.get_or_insert_with(|| Joined::of(cmd));
                    let base = j.offsets[i];
                    out.push((
                        e,
                        sev,
                        w.field,
                        evidence(&j.text, base + u.start, base + u.end, w.decoded),
                    ));
                }
            }
        }
    }

    /// Whether a host at `start` of word `t` is named by a hosts file line, a dnsmasq or
    /// unbound rule, an RPZ zone: a sinkhole, not a connection.
    fn sinkholed(&self, cmd: &Cmd<'_>, i: usize, t: &str, start: usize, target: bool) -> bool {
        let b = self.b;
        let line_start = t[..start].rfind('\n').map_or(0, |p| p + 1);
        let line_end = t[start..].find('\n').map_or(t.len(), |p| start + p);
        let before = &t[line_start..start];
        let lower_before = before.to_ascii_lowercase();
        // dnsmasq: address=/a.example/b.example/0.0.0.0, server=/a.example/
        if b.sink_dnsmasq.iter().any(|p| {
            lower_before.rfind(p.as_str()).is_some_and(|k| {
                lower_before[k + p.len()..]
                    .bytes()
                    .all(|c| is_host_char(c) || c == b'.' || c == b'/' || c == b'*')
            })
        }) {
            return true;
        }
        if target {
            return false;
        }
        // hosts files: 0.0.0.0 a.example b.example
        let sink_word = |w: &str| b.sink_addresses.contains(w);
        if before
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .any(sink_word)
        {
            return true;
        }
        if cmd.words[..i].iter().any(|w| sink_word(w.text.trim())) {
            return true;
        }
        let line = t[line_start..line_end].to_ascii_lowercase();
        b.sink_keywords.iter().any(|k| line.contains(k.as_str()))
    }

    /// Stratum URLs, known pool and IOC domains and IPs, installers and miner names inside
    /// URLs or paths, in word `i`.
    fn word_content(
        &self,
        s: &mut CmdScan<'_, '_>,
        i: usize,
        is_program: bool,
        hits: &mut Vec<Hit>,
    ) {
        let b = self.b;
        let cmd = s.cmd;
        let w = &cmd.words[i];
        let t = w.text.as_ref();
        let bytes = t.as_bytes();
        let path_like = t.contains(['/', '.']);
        // every pattern but an installer repository name needs a '.' or a '/': URLs,
        // hosts, and miner names as path segments
        if !path_like && !t.contains('_') {
            return;
        }
        let mut miners: Vec<(Match, u32)> = Vec::new();
        for m in b.word_ac.find_overlapping_iter(t) {
            let (st, en) = (m.start(), m.end());
            match b.word_pats[m.pattern().as_usize()] {
                WordPat::Scheme => {
                    let scheme_start = t[..st]
                        .char_indices()
                        .rev()
                        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
                        .map_or(0, |(p, c)| p + c.len_utf8());
                    let scheme = t[scheme_start..st].to_ascii_lowercase();
                    let proto = scheme.split('+').next().unwrap_or_default();
                    if !b
                        .stratum_protocols
                        .iter()
                        .any(|p| proto.starts_with(p.as_str()))
                    {
                        continue;
                    }
                    let end = t[st..]
                        .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                        .map_or(t.len(), |e| st + e);
                    self.hit(hits, b.stratum_rule, Severity::Critical, w.field, || {
                        s.evidence(i, scheme_start, end)
                    });
                    s.miner_like = true;
                    s.pool_words.push(i);
                }
                WordPat::Pool | WordPat::IocDomain(_) => {
                    let Some(u) = host_use(t, st, en) else {
                        continue;
                    };
                    if s.naming(i, st).is_some() || self.sinkholed(cmd, i, t, u.start, u.target) {
                        continue;
                    }
                    let sev = if u.target {
                        Severity::Critical
                    } else {
                        Severity::High
                    };
                    let rule = match b.word_pats[m.pattern().as_usize()] {
                        WordPat::IocDomain(r) => r,
                        _ => b.pool_domain_rule,
                    };
                    self.hit(hits, rule, sev, w.field, || s.evidence(i, u.start, u.end));
                    s.miner_like = true;
                    if rule == b.pool_domain_rule {
                        s.pool_words.push(i);
                    }
                }
                WordPat::Installer(k) => {
                    let left = st == 0
                        || !(bytes[st - 1].is_ascii_alphanumeric()
                            || matches!(bytes[st - 1], b'_' | b'-' | b'.'));
                    let right = en == bytes.len()
                        || !(bytes[en].is_ascii_alphanumeric() || bytes[en] == b'_');
                    if left && right {
                        self.hit(
                            hits,
                            b.installer_rule[k as usize],
                            Severity::Critical,
                            w.field,
                            || s.evidence(i, st, en),
                        );
                        s.miner_like = true;
                    }
                }
                WordPat::Miner(n) => {
                    if is_program || !path_like || s.known_not_miner || b.contextual.contains(&n) {
                        continue;
                    }
                    let left = st == 0
                        || !(bytes[st - 1].is_ascii_alphanumeric() || bytes[st - 1] == b'-');
                    // a path/URL segment: `xmrig`, `xmrig-6.21`, `xmrig-linux-x64`,
                    // `xmrig.tar.gz`, `t-rex/`
                    let right = en == bytes.len()
                        || matches!(bytes[en], b'/' | b'.' | b'?' | b'#' | b'0'..=b'9')
                        || (bytes[en] == b'-' && release_suffix(&t[en + 1..]));
                    if left && right && !rules_or_document_file(t, st, en) {
                        miners.push((m, n));
                    }
                }
            }
        }
        if !b.ioc_ips.is_empty()
            && t.bytes().filter(|&c| c == b'.').count() >= 3
            && s.naming(i, 0).is_none()
        {
            for (ip, u) in find_ips(t) {
                for (cidr, rule) in &b.ioc_ips {
                    if cidr.contains(&ip) && !self.sinkholed(cmd, i, t, u.start, u.target) {
                        let sev = if u.target {
                            Severity::Critical
                        } else {
                            Severity::High
                        };
                        self.hit(hits, *rule, sev, w.field, || s.evidence(i, u.start, u.end));
                        s.miner_like = true;
                    }
                }
            }
        }
        if !miners.is_empty() {
            for (m, n) in outermost(miners) {
                self.hit(
                    hits,
                    b.miner_binary_rule[n as usize],
                    Severity::High,
                    w.field,
                    || s.evidence(i, m.start(), m.end()),
                );
                s.miner_like = true;
            }
        }
    }
}

/// Whether the path segment holding `t[st..en]` names a detection rule, signature database or
/// document file (`CoinMiner_Linux_XMRig.yar`, `xmrig.ndb`, `xmrig-notes.md`): a scanner's or a
/// reader's input, not the miner. Configs (`config.json`) and archives still count.
fn rules_or_document_file(t: &str, st: usize, en: usize) -> bool {
    const EXTENSIONS: &[&str] = &[
        "yar", "yara", "rule", "rules", "sig", "sigma", "ndb", "hdb", "ldb", "hsb", "cvd", "cld",
        "ioc", "md", "rst", "txt", "html", "pdf", "csv",
    ];
    // a download (`http://host/xmrig.txt`) is whatever the server sends: only local paths
    if t.contains("://") {
        return false;
    }
    let seg_end = t[en..].find(['/', '?', '#']).map_or(t.len(), |k| en + k);
    let segment = &t[t[..st].rfind('/').map_or(0, |k| k + 1)..seg_end];
    segment
        .rsplit_once('.')
        .is_some_and(|(_, ext)| EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

/// What one command contributed beyond its hits.
struct CmdResult {
    /// Miner evidence in the command (not the program's own name).
    miner_like: bool,
    /// A miner name as the program: (miner, field, evidence, contextual name, basename).
    program: Option<(u32, Field, String, bool, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs() {
        let r = ImageRef::parse("registry.example.com:5000/tools/xmrig:6.21.0@sha256:abc");
        assert_eq!(r.registry, Some("registry.example.com:5000"));
        assert_eq!(r.components, ["tools", "xmrig"]);
        assert!(!r.is_docker_hub());
        let r = ImageRef::parse("docker.io/library/ubuntu:22.04");
        assert!(r.is_docker_hub());
        assert_eq!(r.path(), "ubuntu");
        let r = ImageRef::parse("Metal3d/XMRig");
        assert_eq!(r.path(), "metal3d/xmrig");
        let r = ImageRef::parse("xmrig.example.com/app/web:xmrig");
        assert_eq!(r.components, ["app", "web"]);
    }

    #[test]
    fn host_port_shapes() {
        for v in [
            "pool.supportxmr.com:3333",
            "stratum+tcp://a.b:1",
            "tcp://user@10.0.0.1:4444/x",
            "eu1.ethermine.org:4444",
        ] {
            assert!(is_host_port(v), "{v}");
        }
        for v in [
            "pool.o",
            "pool.c",
            "/tmp/x",
            "host:port",
            "a.b:0",
            "a.b:99999",
            ":3333",
            "localhost",
            "x:80",
        ] {
            assert!(!is_host_port(v), "{v}");
        }
    }

    #[test]
    fn edits() {
        for (a, b) in [
            ("nvidla", "nvidia"),
            ("nvdiia", "nvidia"),
            ("bitnam", "bitnami"),
            ("bitnamii", "bitnami"),
            ("kuberntesio", "kubernetesio"),
            ("libary", "library"),
            ("grafnaa", "grafana"),
        ] {
            assert!(one_edit_apart(a, b), "{a} {b}");
        }
        for (a, b) in [
            ("nvidia", "nvidia"),
            ("nvdiai", "nvidia"),
            ("bitnamicharts", "bitnami"),
            ("graf", "grafana"),
            ("gpu", "nvidia"),
        ] {
            assert!(!one_edit_apart(a, b), "{a} {b}");
        }
    }
}
