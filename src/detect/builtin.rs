//! Context-aware matching of the built-in signatures against one container.
//!
//! A miner name counts as the program run, as an image repository path component, or as a
//! segment of a URL or file path — never as a bare substring. Pool domains need domain
//! boundaries. Options are matched as whole options, and option values (algorithm, coin,
//! pool, wallet) are judged by the option they follow.

use aho_corasick::Match;

use super::extract::{Cmd, Extracted, Field, basename, program_index};
use super::signatures::{Builtin, ImagePat, WordPat};
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

fn is_host_char(b: u8) -> bool {
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

struct CmdScan<'c, 'a> {
    cmd: &'c Cmd<'a>,
    joined: Option<Joined>,
    miner_like: bool,
    pending_pools: Vec<(usize, usize, usize)>,
    /// Values of algorithm options that are miner algorithms only in a miner-like command.
    pending_algos: Vec<(usize, usize, usize)>,
    /// Words that already named a known pool or a stratum URL (ascending: pushed in word order).
    pool_words: Vec<usize>,
    /// The container runs a known non-miner image whose name looks like a miner's (Cisco
    /// TRex): miner names in its paths and URLs (`/var/trex/v2.41`) are its own files.
    known_not_miner: bool,
}

impl CmdScan<'_, '_> {
    fn evidence(&mut self, i: usize, start: usize, end: usize) -> String {
        let cmd = self.cmd;
        let j = self.joined.get_or_insert_with(|| Joined::of(cmd));
        let base = j.offsets[i];
        evidence(&j.text, base + start, base + end, cmd.words[i].decoded)
    }
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

    /// All built-in findings of one container.
    pub(crate) fn container(&self, c: &ContainerView, x: &Extracted<'_>, hits: &mut Vec<Hit>) {
        let first = hits.len();
        let known_not_miner = self.image(&c.image, hits);
        let image_is_miner = hits[first..].iter().any(|h| {
            matches!(
                self.b.rules[h.rule as usize].category,
                Category::MinerImage | Category::KnownIoc
            )
        });
        for p in &c.ports {
            if u16::try_from(p.container_port).is_ok_and(|port| self.b.ports.contains(&port)) {
                self.hit(
                    hits,
                    self.b.port_rule,
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
        let mut contextual: Vec<(WalletKind, Field, String)> = Vec::new();
        for cmd in &x.cmds {
            self.command(cmd, image_is_miner, known_not_miner, hits, &mut contextual);
        }
        if !contextual.is_empty() {
            let evidence_here = hits[first..].iter().any(|h| {
                matches!(
                    self.b.rules[h.rule as usize].category,
                    Category::Pool
                        | Category::MinerBinary
                        | Category::MinerImage
                        | Category::KnownIoc
                )
            });
            if evidence_here {
                for (kind, field, ev) in contextual {
                    self.hit(hits, self.b.wallet_rule(kind), Severity::High, field, || ev);
                }
            }
        }
    }

    /// Image findings; returns whether the image is a known non-miner (`not_miners.images`).
    fn image(&self, image: &str, hits: &mut Vec<Hit>) -> bool {
        if image.is_empty() {
            return false;
        }
        let r = ImageRef::parse(image);
        let ev = || truncate_chars(&shorten_wallets(image), MAX_EVIDENCE_CHARS);
        if r.is_docker_hub() {
            let path = r.path();
            let ioc = self.b.ioc_exact.get(&path).or_else(|| {
                path.split('/')
                    .next()
                    .filter(|_| path.contains('/'))
                    .and_then(|acct| self.b.ioc_account.get(acct))
            });
            if let Some(&rule) = ioc {
                self.hit(hits, rule, Severity::Critical, Field::Image, ev);
            }
        }
        if self.b.not_miner_images.contains(&r.path()) {
            return true;
        }
        for comp in &r.components {
            let bytes = comp.as_bytes();
            let ms: Vec<(Match, u32)> = self
                .b
                .image_ac
                .find_overlapping_iter(*comp)
                .filter(|m| {
                    let left = m.start() == 0 || matches!(bytes[m.start() - 1], b'-' | b'_' | b'.');
                    let right = m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphabetic();
                    left && right
                })
                .map(|m| (m, m.pattern().as_u32()))
                .collect();
            for (_, p) in outermost(ms) {
                match self.b.image_pats[p as usize] {
                    ImagePat::Miner(n) => self.hit(
                        hits,
                        self.b.miner_image_rule[n as usize],
                        Severity::Critical,
                        Field::Image,
                        ev,
                    ),
                    ImagePat::Keyword(k) => self.hit(
                        hits,
                        self.b.keyword_rule[k as usize],
                        Severity::High,
                        Field::Image,
                        ev,
                    ),
                }
            }
        }
        false
    }

    /// Miner name at the start of a program basename (`xmrig`, `xmrig-6.21`, `t-rex.exe`).
    fn program_miner(&self, base: &str) -> Option<u32> {
        if self
            .b
            .not_miners
            .contains(base.to_ascii_lowercase().as_str())
        {
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

    fn command(
        &self,
        cmd: &Cmd<'_>,
        image_is_miner: bool,
        known_not_miner: bool,
        hits: &mut Vec<Hit>,
        contextual: &mut Vec<(WalletKind, Field, String)>,
    ) {
        let b = self.b;
        let words = &cmd.words;
        let mut s = CmdScan {
            cmd,
            joined: None,
            miner_like: image_is_miner,
            known_not_miner,
            pending_pools: Vec::new(),
            pending_algos: Vec::new(),
            pool_words: Vec::new(),
        };
        let prog = if cmd.no_program {
            None
        } else {
            program_index(words)
        };
        if let Some(p) = prog.filter(|&p| !words[p].skip) {
            let text = words[p].text.as_ref();
            let base = basename(text);
            if let Some(n) = self.program_miner(base) {
                let start = text.len() - base.len();
                self.hit(
                    hits,
                    b.miner_binary_rule[n as usize],
                    Severity::Critical,
                    words[p].field,
                    || s.evidence(p, start, text.len()),
                );
                s.miner_like = true;
            }
        }
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
                    self.hit(hits, b.wallet_rule(kind), Severity::High, w.field, || {
                        s.evidence(i, ws, we)
                    });
                    s.miner_like = true;
                } else if self.on(b.wallet_rule(kind)) {
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
        }
    }

    /// An option word at `i`: strong miner options, and the values of algorithm, coin, pool and
    /// wallet options.
    fn option(&self, s: &mut CmdScan<'_, '_>, i: usize, hits: &mut Vec<Hit>) {
        let b = self.b;
        let cmd = s.cmd;
        let words = &cmd.words;
        let t = words[i].text.as_ref();
        let (name, inline) = match t.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (t, None),
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
        // (word index, start, end) of the option's value
        let value = match inline {
            Some(v) => Some((i, name.len() + 1, name.len() + 1 + v.len())),
            None => words
                .get(i + 1)
                .filter(|n| !(n.skip || n.text.starts_with('-') && n.text.len() > 1))
                .map(|n| (i + 1, 0, n.text.len())),
        };
        let Some((vi, vs, ve)) = value else { return };
        let v = &words[vi].text[vs..ve];
        let field = words[vi].field;
        if info.algo {
            let algo = v.to_ascii_lowercase();
            if b.shared_algos.contains(algo.as_str()) {
                s.pending_algos.push((vi, vs, ve));
            } else if b.algos.contains(algo.as_str()) {
                self.hit(hits, b.algo_rule, Severity::High, field, || {
                    s.evidence(vi, vs, ve)
                });
                s.miner_like = true;
            }
        }
        if info.coin && b.coins.contains(v.to_ascii_lowercase().as_str()) {
            self.hit(hits, b.coin_rule, Severity::High, field, || {
                s.evidence(vi, vs, ve)
            });
            s.miner_like = true;
        }
        if info.user {
            for (kind, ws, we) in find_wallets(v) {
                self.hit(hits, b.wallet_rule(kind), Severity::High, field, || {
                    s.evidence(vi, vs + ws, vs + we)
                });
                s.miner_like = true;
            }
        }
        if info.pool && is_host_port(v) {
            s.pending_pools.push((vi, vs, ve));
        }
    }

    /// Stratum URLs, known pool domains and miner names inside URLs or paths, in word `i`.
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
        let path_like = t.contains('/') || t.contains('.');
        let mut miners: Vec<(Match, u32)> = Vec::new();
        for m in b.word_ac.find_overlapping_iter(t) {
            let (st, en) = (m.start(), m.end());
            match b.word_pats[m.pattern().as_usize()] {
                WordPat::Stratum => {
                    if st == 0 || !bytes[st - 1].is_ascii_alphanumeric() {
                        let end = t[st..]
                            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                            .map_or(t.len(), |e| st + e);
                        self.hit(hits, b.stratum_rule, Severity::Critical, w.field, || {
                            s.evidence(i, st, end)
                        });
                        s.miner_like = true;
                        s.pool_words.push(i);
                    }
                }
                WordPat::Pool => {
                    let left = st == 0 || !is_host_char(bytes[st - 1]);
                    let right = en == bytes.len()
                        || !(is_host_char(bytes[en])
                            || (bytes[en] == b'.'
                                && bytes.get(en + 1).is_some_and(|c| c.is_ascii_alphanumeric())));
                    if left && right {
                        let with_port = bytes.get(en) == Some(&b':')
                            && bytes.get(en + 1).is_some_and(u8::is_ascii_digit);
                        let host_start = t[..st]
                            .char_indices()
                            .rev()
                            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
                            .map_or(0, |(p, c)| p + c.len_utf8());
                        let in_url =
                            t[..host_start].ends_with("://") || t[..host_start].ends_with('@');
                        let sev = if with_port || in_url {
                            Severity::Critical
                        } else {
                            Severity::High
                        };
                        let end = if with_port {
                            en + 1
                                + bytes[en + 1..]
                                    .iter()
                                    .take_while(|c| c.is_ascii_digit())
                                    .count()
                        } else {
                            en
                        };
                        self.hit(hits, b.pool_domain_rule, sev, w.field, || {
                            s.evidence(i, host_start, end)
                        });
                        s.miner_like = true;
                        s.pool_words.push(i);
                    }
                }
                WordPat::Miner(n) => {
                    if is_program || !path_like || s.known_not_miner {
                        continue;
                    }
                    let left = st == 0 || !bytes[st - 1].is_ascii_alphanumeric();
                    // a path/URL segment: `xmrig`, `xmrig-6.21`, `xmrig.tar.gz`, `t-rex/`
                    let right = en == bytes.len()
                        || matches!(bytes[en], b'/' | b'.' | b'-' | b'?' | b'#' | b'0'..=b'9');
                    if left && right {
                        miners.push((m, n));
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
}
