//! The one wildcard matcher of detection: shell-style globs over whole values.
//!
//! Syntax (as in a shell's pattern matching, not its brace expansion): `*` any run of
//! characters (including `/` and newlines), `?` any one character, `[abc]`, `[a-z]`,
//! `[!abc]` / `[^abc]` character classes (their bodies are sets of characters, nothing
//! else: `[a&&b]` is the set `a`, `&`, `b`), `\x` the character `x` literally. `{`, `}` and
//! `,` are ordinary characters.
//!
//! globset parses the pattern (so every glob in cryptojack follows one grammar: policy image
//! and command patterns, GPU resource names, node instance types, exemption names, IOC
//! images, Sigma wildcards and Sigma's `1 of sel*` selection names); the regex it produces
//! is matched with `regex::bytes` so that many globs run as one [`regex::bytes::RegexSet`].

use regex::bytes::{Regex, RegexSet, RegexSetBuilder};

/// Case handling of a glob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    Sensitive,
    /// ASCII and Unicode simple case folding.
    Insensitive,
}

/// Rewrites a shell glob into globset's syntax: braces and commas escaped (no alternation),
/// runs of `*` collapsed (no `**` path semantics). Backslash escapes and classes are kept.
fn to_globset_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '*' => {
                out.push('*');
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
            }
            '[' => {
                // Copy the class verbatim: `]` right after `[`, `[!` or `[^` is a member.
                out.push('[');
                let mut body = String::new();
                let mut closed = false;
                if let Some(&n) = chars.peek()
                    && matches!(n, '!' | '^')
                {
                    body.push(n);
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    body.push(']');
                    chars.next();
                }
                for n in chars.by_ref() {
                    if n == ']' {
                        closed = true;
                        break;
                    }
                    body.push(n);
                }
                out.push_str(&body);
                if closed {
                    out.push(']');
                }
            }
            '{' | '}' | ',' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The regex (for `regex::bytes`) of one glob over the whole value, or why the glob is invalid.
pub fn glob_regex(pattern: &str, case: Case) -> Result<String, String> {
    let g = globset::GlobBuilder::new(&to_globset_syntax(pattern))
        .literal_separator(false)
        .backslash_escape(true)
        .case_insensitive(case == Case::Insensitive)
        .build()
        .map_err(|e| e.kind().to_string())?;
    // globset's regex starts with `(?-u)`; `s` lets `*` and `?` match newlines (scripts).
    Ok(format!("(?s){}", g.regex()))
}

/// Escapes every glob metacharacter of `literal`.
pub fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(
            c,
            '*' | '?' | '[' | ']' | '\\' | '{' | '}' | ',' | '!' | '^'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One compiled glob.
#[derive(Clone, Debug)]
pub struct Glob {
    re: Regex,
}

impl Glob {
    pub fn new(pattern: &str, case: Case) -> Result<Glob, String> {
        let re = glob_regex(pattern, case)?;
        Regex::new(&re)
            .map(|re| Glob { re })
            .map_err(|e| one_line(&e.to_string()))
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text.as_bytes())
    }
}

/// Many globs matched together.
#[derive(Clone, Debug)]
pub struct Globs {
    set: RegexSet,
    /// When every glob starts with literal text: those prefixes (lowercase when the set is
    /// case-insensitive), checked before the set runs.
    prefixes: Option<(Vec<String>, Case)>,
}

/// The literal text a glob starts with (up to its first metacharacter).
fn literal_prefix(pattern: &str) -> &str {
    let end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
    &pattern[..end]
}

/// A glob of a list that does not compile: its index and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobError {
    pub index: usize,
    pub message: String,
}

impl Globs {
    /// Compiles every pattern; all invalid ones are reported.
    pub fn new<S: AsRef<str>>(patterns: &[S], case: Case) -> Result<Globs, Vec<GlobError>> {
        let mut regexes = Vec::with_capacity(patterns.len());
        let mut errors = Vec::new();
        for (index, p) in patterns.iter().enumerate() {
            match glob_regex(p.as_ref(), case) {
                Ok(r) => regexes.push(r),
                Err(message) => errors.push(GlobError { index, message }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut g = Globs::from_regexes(&regexes)
            .map_err(|message| vec![GlobError { index: 0, message }])?;
        let prefixes: Vec<String> = patterns
            .iter()
            .map(|p| match case {
                Case::Sensitive => literal_prefix(p.as_ref()).to_string(),
                Case::Insensitive => literal_prefix(p.as_ref()).to_lowercase(),
            })
            .collect();
        if !prefixes.is_empty() && prefixes.iter().all(|p| !p.is_empty() && p.is_ascii()) {
            g.prefixes = Some((prefixes, case));
        }
        Ok(g)
    }

    /// A set from regexes for `regex::bytes` (globs translated by [`glob_regex`], or user
    /// regexes).
    pub(crate) fn from_regexes<S: AsRef<str>>(regexes: &[S]) -> Result<Globs, String> {
        RegexSetBuilder::new(regexes.iter().map(|r| r.as_ref()))
            .size_limit(64 << 20)
            .build()
            .map(|set| Globs {
                set,
                prefixes: None,
            })
            .map_err(|e| one_line(&e.to_string()))
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether some glob's literal prefix starts `text` (true when there is no prefilter).
    fn may_match(&self, text: &str) -> bool {
        match &self.prefixes {
            None => true,
            Some((ps, Case::Sensitive)) => ps.iter().any(|p| text.starts_with(p.as_str())),
            Some((ps, Case::Insensitive)) => ps.iter().any(|p| {
                text.len() >= p.len()
                    && text.is_char_boundary(p.len())
                    && text[..p.len()].eq_ignore_ascii_case(p)
            }),
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.may_match(text) && self.set.is_match(text.as_bytes())
    }

    /// Indexes of the patterns that match `text`, ascending.
    pub fn matches(&self, text: &str) -> impl Iterator<Item = usize> + use<> {
        let m: Vec<usize> = if self.may_match(text) {
            self.set.matches(text.as_bytes()).into_iter().collect()
        } else {
            Vec::new()
        };
        m.into_iter()
    }
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, v: &str) -> bool {
        Glob::new(p, Case::Insensitive).unwrap().is_match(v)
    }

    #[test]
    fn shell_semantics() {
        assert!(m("*/xmrig:*", "docker.io/Metal3d/XMRIG:latest"));
        assert!(!m("xmrig", "metal3d/xmrig"), "globs cover the whole value");
        assert!(m("p3.?xlarge", "p3.8xlarge"));
        assert!(m("g[45]dn.*", "g4dn.xlarge"));
        assert!(!m("g[!45]dn.*", "g4dn.xlarge"));
        assert!(!m("g[^45]dn.*", "g5dn.xlarge"));
        assert!(m("a\\*b", "a*b") && !m("a\\*b", "axb"));
        // class bodies are plain sets: no regex set operators leak
        for v in ["gadn", "g&dn", "gbdn"] {
            assert!(m("g[a&&b]dn", v), "{v}");
        }
        assert!(!m("g[a&&b]dn", "gcdn"));
        // braces and commas are literal, `**` is `*`
        assert!(m("{a,b}", "{a,b}") && !m("{a,b}", "a"));
        assert!(m("a**b", "a/x/b") && m("**/x", "a-x/x"));
        // `*` crosses lines
        assert!(m("*pool*", "line one\npool.example:3333\n"));
        assert!(Glob::new("abc[", Case::Sensitive).is_err());
        assert!(!Glob::new("ABC", Case::Sensitive).unwrap().is_match("abc"));
    }

    #[test]
    fn lists_report_every_bad_pattern() {
        let e = Globs::new(&["ok*", "a[", "b", "[z-a]"], Case::Sensitive).unwrap_err();
        assert_eq!(e.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 3]);
        let g = Globs::new(&["nvidia.com/mig-*", "amd.com/gpu"], Case::Sensitive).unwrap();
        assert!(g.prefixes.is_some());
        assert!(!g.is_match("cpu") && g.is_match("amd.com/gpu"));
        let ci = Globs::new(&["P3.*", "g4dn.*"], Case::Insensitive).unwrap();
        assert!(
            ci.is_match("p3.2xlarge") && ci.is_match("G4DN.xlarge") && !ci.is_match("m5.large")
        );
        assert!(
            Globs::new(&["*.gpu", "a"], Case::Sensitive)
                .unwrap()
                .prefixes
                .is_none()
        );
        assert_eq!(g.matches("nvidia.com/mig-1g.5gb").collect::<Vec<_>>(), [0]);
        assert!(!g.is_match("nvidia.com/gpu"));
    }

    /// Reference matcher: backtracking over the same grammar (`*`, `?`, classes, escapes).
    fn reference(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).any(|k| reference(&p[1..], &s[k..])),
            Some('?') => !s.is_empty() && reference(&p[1..], &s[1..]),
            Some('\\') if p.len() > 1 => {
                !s.is_empty() && s[0] == p[1] && reference(&p[2..], &s[1..])
            }
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|&c| c == ']').map(|k| k + 2) else {
                    return false;
                };
                let (neg, body) = match p[1] {
                    '!' | '^' => (true, &p[2..close]),
                    _ => (false, &p[1..close]),
                };
                if body.is_empty() || s.is_empty() {
                    return false;
                }
                let mut hit = false;
                let mut i = 0;
                while i < body.len() {
                    if i + 2 < body.len() && body[i + 1] == '-' {
                        hit |= body[i] <= s[0] && s[0] <= body[i + 2];
                        i += 3;
                    } else {
                        hit |= body[i] == s[0];
                        i += 1;
                    }
                }
                hit != neg && reference(&p[close + 1..], &s[1..])
            }
            Some(&c) => !s.is_empty() && s[0] == c && reference(&p[1..], &s[1..]),
        }
    }

    fn pattern() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a".to_string()),
                Just("b".to_string()),
                Just("/".to_string()),
                Just(".".to_string()),
                Just("*".to_string()),
                Just("?".to_string()),
                Just("[ab]".to_string()),
                Just("[!a]".to_string()),
                Just("[a-c]".to_string()),
                Just("[&&]".to_string()),
                Just("\\*".to_string()),
                Just("\\[".to_string()),
            ],
            0..8,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        /// The globset-based matcher agrees with a plain backtracking matcher.
        #[test]
        fn prop_agrees_with_reference(p in pattern(), s in "[ab/.*&\\[c]{0,8}") {
            let pc: Vec<char> = p.chars().collect();
            let sc: Vec<char> = s.chars().collect();
            let g = Glob::new(&p, Case::Sensitive).unwrap();
            prop_assert_eq!(g.is_match(&s), reference(&pc, &sc), "pattern {:?} text {:?}", p, s);
        }

        /// A set of one glob (with its literal-prefix prefilter) agrees with the glob.
        #[test]
        fn prop_sets_agree_with_single_globs(p in pattern(), s in "[ab/.*&\\[c]{0,8}") {
            let single = Glob::new(&p, Case::Insensitive).unwrap();
            let set = Globs::new(&[p.as_str()], Case::Insensitive).unwrap();
            prop_assert_eq!(set.is_match(&s), single.is_match(&s));
            prop_assert_eq!(set.matches(&s).count(), usize::from(single.is_match(&s)));
        }

        /// An escaped literal matches itself and nothing else of another length.
        #[test]
        fn prop_escaped_literal_matches_itself(s in "\\PC{0,24}", t in "\\PC{0,24}") {
            let g = Glob::new(&escape(&s), Case::Sensitive).unwrap();
            prop_assert!(g.is_match(&s));
            if t != s {
                prop_assert!(!g.is_match(&t));
            }
        }

        /// `*x*` finds `x` anywhere.
        #[test]
        fn prop_star_contains(pre in "\\PC{0,12}", x in "\\PC{1,8}", post in "\\PC{0,12}") {
            let g = Glob::new(&format!("*{}*", escape(&x)), Case::Sensitive).unwrap();
            let text = format!("{pre}{x}{post}");
            prop_assert!(g.is_match(&text));
        }

        /// Arbitrary patterns never panic; they compile or report an error.
        #[test]
        fn prop_arbitrary_patterns_do_not_panic(p in "\\PC{0,40}", s in "\\PC{0,40}") {
            if let Ok(g) = Glob::new(&p, Case::Insensitive) {
                let _ = g.is_match(&s);
            }
        }
    }
}
