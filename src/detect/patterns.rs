//! User patterns of a policy (`spec.detect.images` / `spec.detect.commands`): substrings go into
//! one Aho-Corasick automaton, globs and regexes into one `RegexSet`, per list.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};

use super::error::FieldError;
use crate::api::{PatternRule, PatternSyntax, Severity};

/// Translate a shell glob (`*`, `?`, `[...]`, `[!...]`, `\x`) into an anchored,
/// case-insensitive regex over the whole value.
pub fn glob_to_regex(glob: &str) -> Result<String, String> {
    let mut re = String::from("(?is)^");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(c) => re.push_str(&regex::escape(&c.to_string())),
                    None => return Err("trailing backslash".into()),
                }
            }
            '[' => {
                let close = chars[i + 1..]
                    .iter()
                    .enumerate()
                    .position(|(k, &c)| c == ']' && k > 0)
                    .map(|k| i + 1 + k)
                    .ok_or_else(|| format!("unclosed '[' at character {}", i + 1))?;
                let mut body: String = chars[i + 1..close].iter().collect();
                if body.is_empty() {
                    return Err(format!("empty '[]' at character {}", i + 1));
                }
                if let Some(rest) = body.strip_prefix('!') {
                    body = format!("^{rest}");
                }
                let body = body.replace('\\', "\\\\").replace('[', "\\[");
                re.push('[');
                re.push_str(&body);
                re.push(']');
                i = close;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Ok(re)
}

#[derive(Clone, Debug)]
pub(crate) struct UserRule {
    pub id: String,
    pub severity: Severity,
}

/// One compiled list of user patterns.
#[derive(Clone, Debug, Default)]
pub(crate) struct PatternSet {
    pub rules: Vec<UserRule>,
    ac: Option<AhoCorasick>,
    ac_rule: Vec<u32>,
    set: Option<RegexSet>,
    /// The same regexes one by one, only run to locate a match the set already found.
    regexes: Vec<Regex>,
    set_rule: Vec<u32>,
}

impl PatternSet {
    /// `field` is e.g. `spec.detect.images`, `default_id` e.g. `policy/<name>/images`.
    pub(crate) fn compile(
        patterns: &[PatternRule],
        field: &str,
        default_id: &str,
        errors: &mut Vec<FieldError>,
    ) -> PatternSet {
        let mut out = PatternSet::default();
        let mut literals = Vec::new();
        let mut sources = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let at = format!("{field}[{i}].pattern");
            let rule = out.rules.len() as u32;
            out.rules.push(UserRule {
                id: p
                    .id
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(|| format!("{default_id}[{i}]")),
                severity: p.severity,
            });
            if p.pattern.is_empty() {
                errors.push(FieldError::new(at, "empty pattern"));
                continue;
            }
            match p.syntax {
                PatternSyntax::Substring => {
                    literals.push(p.pattern.clone());
                    out.ac_rule.push(rule);
                }
                PatternSyntax::Glob => match glob_to_regex(&p.pattern) {
                    Ok(re) => match Regex::new(&re) {
                        Ok(r) => {
                            sources.push(re);
                            out.regexes.push(r);
                            out.set_rule.push(rule);
                        }
                        Err(e) => errors.push(FieldError::new(at, format!("invalid glob: {e}"))),
                    },
                    Err(e) => errors.push(FieldError::new(at, format!("invalid glob: {e}"))),
                },
                PatternSyntax::Regex => match Regex::new(&p.pattern) {
                    Ok(r) => {
                        sources.push(p.pattern.clone());
                        out.regexes.push(r);
                        out.set_rule.push(rule);
                    }
                    Err(e) => errors.push(FieldError::new(
                        at,
                        format!("invalid regex: {}", one_line(&e.to_string())),
                    )),
                },
            }
        }
        if !literals.is_empty() {
            match AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&literals)
            {
                Ok(ac) => out.ac = Some(ac),
                Err(e) => errors.push(FieldError::new(field, format!("cannot build matcher: {e}"))),
            }
        }
        if !sources.is_empty() {
            match RegexSetBuilder::new(&sources).build() {
                Ok(set) => out.set = Some(set),
                Err(e) => errors.push(FieldError::new(
                    field,
                    format!("cannot build regex set: {}", one_line(&e.to_string())),
                )),
            }
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Calls `f(rule, start, end)` once for each rule matching `text`. `seen` (one slot per
    /// rule, all false on entry) is scratch space; it is left all false.
    pub(crate) fn matches(
        &self,
        text: &str,
        seen: &mut [bool],
        mut f: impl FnMut(u32, usize, usize),
    ) {
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(text) {
                let rule = self.ac_rule[m.pattern().as_usize()];
                if !seen[rule as usize] {
                    seen[rule as usize] = true;
                    f(rule, m.start(), m.end());
                }
            }
        }
        if let Some(set) = &self.set {
            for k in set.matches(text).iter() {
                let rule = self.set_rule[k];
                if !seen[rule as usize] {
                    seen[rule as usize] = true;
                    let (s, e) = self.regexes[k]
                        .find(text)
                        .map_or((0, text.len()), |m| (m.start(), m.end()));
                    f(rule, s, e);
                }
            }
        }
        seen.iter_mut().for_each(|s| *s = false);
    }
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, syntax: PatternSyntax) -> PatternRule {
        PatternRule {
            id: None,
            pattern: pattern.into(),
            syntax,
            severity: Severity::High,
            description: None,
        }
    }

    fn matching(set: &PatternSet, text: &str) -> Vec<(String, String)> {
        let mut seen = vec![false; set.rules.len()];
        let mut out = Vec::new();
        set.matches(text, &mut seen, |r, s, e| {
            out.push((set.rules[r as usize].id.clone(), text[s..e].to_string()))
        });
        out.sort();
        out
    }

    #[test]
    fn globs() {
        let g = |p: &str, v: &str| Regex::new(&glob_to_regex(p).unwrap()).unwrap().is_match(v);
        assert!(g("*/xmrig:*", "docker.io/Metal3d/XMRIG:latest"));
        assert!(!g("xmrig", "metal3d/xmrig"), "globs cover the whole value");
        assert!(g("p3.?xlarge", "p3.8xlarge"));
        assert!(g("g[45]dn.*", "g4dn.xlarge"));
        assert!(!g("g[!45]dn.*", "g4dn.xlarge"));
        assert!(g("a\\*b", "a*b") && !g("a\\*b", "axb"));
        assert!(glob_to_regex("abc[").is_err());
        assert!(glob_to_regex("a\\").is_err());
    }

    #[test]
    fn substring_glob_and_regex_rules() {
        let mut errors = Vec::new();
        let set = PatternSet::compile(
            &[
                rule("EvilCorp/", PatternSyntax::Substring),
                rule("*/miner-*", PatternSyntax::Glob),
                rule(r"--threads=\d{2,}", PatternSyntax::Regex),
                PatternRule {
                    id: Some("custom/id".into()),
                    ..rule("xmr", PatternSyntax::Substring)
                },
            ],
            "spec.detect.commands",
            "policy/p/commands",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            matching(&set, "ghcr.io/evilcorp/tool"),
            [("policy/p/commands[0]".to_string(), "evilcorp/".to_string())]
        );
        assert_eq!(
            matching(&set, "quay.io/miner-x"),
            [(
                "policy/p/commands[1]".to_string(),
                "quay.io/miner-x".to_string()
            )]
        );
        assert_eq!(
            matching(&set, "run --threads=16 xmr"),
            [
                ("custom/id".to_string(), "xmr".to_string()),
                (
                    "policy/p/commands[2]".to_string(),
                    "--threads=16".to_string()
                ),
            ]
        );
        assert!(matching(&set, "nothing here").is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let mut errors = Vec::new();
        let _ = PatternSet::compile(
            &[
                rule("ok", PatternSyntax::Substring),
                rule("(", PatternSyntax::Regex),
                rule("a[", PatternSyntax::Glob),
                rule("", PatternSyntax::Substring),
            ],
            "spec.detect.images",
            "policy/p/images",
            &mut errors,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.detect.images[1].pattern",
                "spec.detect.images[2].pattern",
                "spec.detect.images[3].pattern"
            ]
        );
        assert!(
            errors[0].message.starts_with("invalid regex: "),
            "{}",
            errors[0].message
        );
        assert!(errors[1].message.starts_with("invalid glob: "));
    }
}
