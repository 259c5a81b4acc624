//! User patterns of a policy (`spec.detect.images` / `spec.detect.commands`): substrings go into
//! one Aho-Corasick automaton, globs (see [`super::glob`]) and regexes into one `RegexSet`,
//! per list.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;

use super::error::FieldError;
use super::glob::{Case, Globs, glob_regex};
use crate::api::{PatternRule, PatternSyntax, Severity};

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
    set: Option<Globs>,
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
                PatternSyntax::Glob => match glob_regex(&p.pattern, Case::Insensitive) {
                    Ok(re) => match Regex::new(&re) {
                        Ok(r) => {
                            sources.push(re);
                            out.regexes.push(r);
                            out.set_rule.push(rule);
                        }
                        Err(e) => errors.push(FieldError::new(
                            at,
                            format!("invalid glob: {}", one_line(&e.to_string())),
                        )),
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
            match Globs::from_regexes(&sources) {
                Ok(set) => out.set = Some(set),
                Err(e) => errors.push(FieldError::new(
                    field,
                    format!("cannot build regex set: {e}"),
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
            for k in set.matches(text) {
                let rule = self.set_rule[k];
                if !seen[rule as usize] {
                    seen[rule as usize] = true;
                    let (s, e) = self.regexes[k]
                        .find(text.as_bytes())
                        .map_or((0, text.len()), |m| (m.start(), m.end()));
                    f(rule, s, e);
                }
            }
        }
        seen.iter_mut().for_each(|s| *s = false);
    }
}

pub(crate) use super::glob::one_line;

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
