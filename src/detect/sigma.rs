//! Sigma-style rules over `Image` and `CommandLine`.
//!
//! `detection` holds named selections and a `condition`. A selection is a map
//! `Field|modifier...: value or [values]` (values OR'ed, or AND'ed with `|all`; fields AND'ed),
//! a list of such maps (OR'ed), or a list of keywords (searched in the command line). The
//! condition supports `and`, `or`, `not`, parentheses, `1 of X*`, `all of X*`, `1 of them`,
//! `all of them`. Modifiers: `contains`, `startswith`, `endswith`, `re`, `all`. Plain values are
//! exact, case-insensitive matches in which `*` and `?` are wildcards.
//!
//! All literal values of all rules go into one Aho-Corasick automaton per field and all regexes
//! into one `RegexSet` per field; evaluating a container runs each once per value and then only
//! evaluates the boolean conditions.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde_json::Value;

use super::error::FieldError;
use super::glob::{self, Case, Glob, Globs};
use super::patterns::one_line;
use crate::api::{Severity, SigmaRule};

/// Which value set an atom tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SigmaField {
    /// The container image reference and the programs run (argv[0], programs of scripts).
    Image,
    /// The command line: command + args joined, scripts, simple commands of scripts, decoded payloads.
    CommandLine,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pos {
    Contains,
    Starts,
    Ends,
    Exact,
}

#[derive(Clone, Debug)]
struct Item {
    atoms: Vec<u32>,
    all: bool,
}

#[derive(Clone, Debug)]
enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    OneOf(Vec<usize>),
    AllOf(Vec<usize>),
}

#[derive(Clone, Debug)]
pub(crate) struct CompiledSigma {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// Selections: OR of alternatives, each an AND of items.
    selections: Vec<Vec<Vec<Item>>>,
    cond: Cond,
}

#[derive(Clone, Debug, Default)]
struct FieldMatcher {
    literals: Vec<String>,
    lit_atoms: Vec<(u32, Pos)>,
    regexes: Vec<String>,
    re_atoms: Vec<u32>,
    ac: Option<AhoCorasick>,
    /// Wildcard values (as globs) and `|re` regexes, matched together.
    set: Option<Globs>,
}

impl FieldMatcher {
    fn build(&mut self, field: &str, errors: &mut Vec<FieldError>) {
        if !self.literals.is_empty() {
            match AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&self.literals)
            {
                Ok(ac) => self.ac = Some(ac),
                Err(e) => errors.push(FieldError::new(field, format!("cannot build matcher: {e}"))),
            }
        }
        if !self.regexes.is_empty() {
            match Globs::from_regexes(&self.regexes) {
                Ok(s) => self.set = Some(s),
                Err(e) => errors.push(FieldError::new(field, e)),
            }
        }
    }

    fn run(&self, text: &str, mut hit: impl FnMut(u32)) {
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(text) {
                let (atom, pos) = self.lit_atoms[m.pattern().as_usize()];
                let ok = match pos {
                    Pos::Contains => true,
                    Pos::Starts => m.start() == 0,
                    Pos::Ends => m.end() == text.len(),
                    Pos::Exact => m.start() == 0 && m.end() == text.len(),
                };
                if ok {
                    hit(atom);
                }
            }
        }
        if let Some(set) = &self.set {
            for k in set.matches(text) {
                hit(self.re_atoms[k]);
            }
        }
    }
}

/// Every Sigma rule of a policy, compiled together.
#[derive(Clone, Debug, Default)]
pub(crate) struct SigmaSet {
    pub rules: Vec<CompiledSigma>,
    atoms: usize,
    image: FieldMatcher,
    cmdline: FieldMatcher,
}

/// One value offered to the Sigma rules, with a caller-defined tag (where it came from).
pub(crate) struct SigmaValue<'v, T> {
    pub field: SigmaField,
    pub text: &'v str,
    pub tag: T,
}

/// Scratch space for evaluation; reuse across containers.
#[derive(Default)]
pub(crate) struct SigmaScratch {
    /// First value index that hit each atom (`u32::MAX`: none).
    first_hit: Vec<u32>,
}

fn level_severity(level: Option<&str>) -> Result<Severity, String> {
    match level.map(|l| l.trim().to_ascii_lowercase()) {
        None => Ok(Severity::High),
        Some(l) => match l.as_str() {
            "informational" | "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown level {other:?} (expected informational, low, medium, high or critical)"
            )),
        },
    }
}

/// Sigma wildcard value (`*`, `?`; `\*`, `\?`, `\\` escapes; any other `\x` is a backslash
/// and `x`) → the same value as a glob; `None` when it has no wildcard.
fn wildcard_glob(v: &str) -> Option<String> {
    let mut has_wild = false;
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => {
                has_wild = true;
                out.push(c);
            }
            '\\' => match chars.next() {
                Some(n @ ('*' | '?' | '\\')) => out.push_str(&glob::escape(&n.to_string())),
                Some(n) => {
                    out.push_str(&glob::escape("\\"));
                    out.push_str(&glob::escape(&n.to_string()));
                }
                None => out.push_str(&glob::escape("\\")),
            },
            c => out.push_str(&glob::escape(&c.to_string())),
        }
    }
    has_wild.then_some(out)
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('*' | '?' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

struct Builder<'e> {
    set: SigmaSet,
    errors: &'e mut Vec<FieldError>,
}

impl Builder<'_> {
    fn new_atom(&mut self) -> u32 {
        self.set.atoms += 1;
        (self.set.atoms - 1) as u32
    }

    fn matcher(&mut self, f: SigmaField) -> &mut FieldMatcher {
        match f {
            SigmaField::Image => &mut self.set.image,
            SigmaField::CommandLine => &mut self.set.cmdline,
        }
    }

    /// One value of a field item; returns its atom.
    fn value(&mut self, field: SigmaField, pos: Pos, re: bool, v: &Value, at: &str) -> Option<u32> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => {
                self.errors
                    .push(FieldError::new(at, "null values are not supported"));
                return None;
            }
            _ => {
                self.errors.push(FieldError::new(
                    at,
                    "expected a string, a number or a list of them",
                ));
                return None;
            }
        };
        if re {
            if let Err(e) = regex::Regex::new(&s) {
                self.errors.push(FieldError::new(
                    at,
                    format!("invalid regex: {}", one_line(&e.to_string())),
                ));
                return None;
            }
            let atom = self.new_atom();
            let m = self.matcher(field);
            m.regexes.push(s);
            m.re_atoms.push(atom);
            return Some(atom);
        }
        if s.is_empty() && pos != Pos::Exact {
            self.errors.push(FieldError::new(at, "empty value"));
            return None;
        }
        let atom = self.new_atom();
        let wild = wildcard_glob(&s).or_else(|| s.is_empty().then(String::new));
        if let Some(body) = wild {
            let pattern = match pos {
                Pos::Contains => format!("*{body}*"),
                Pos::Starts => format!("{body}*"),
                Pos::Ends => format!("*{body}"),
                Pos::Exact => body,
            };
            let re = match glob::glob_regex(&pattern, Case::Insensitive) {
                Ok(re) => re,
                Err(e) => {
                    self.errors
                        .push(FieldError::new(at, format!("invalid wildcard value: {e}")));
                    return None;
                }
            };
            let m = self.matcher(field);
            m.regexes.push(re);
            m.re_atoms.push(atom);
        } else {
            let m = self.matcher(field);
            m.literals.push(unescape(&s));
            m.lit_atoms.push((atom, pos));
        }
        Some(atom)
    }

    /// `Field|mod|mod: values` → an item.
    fn item(&mut self, key: &str, v: &Value, at: &str) -> Option<Item> {
        let mut parts = key.split('|');
        let name = parts.next().unwrap_or_default();
        let field = match name.to_ascii_lowercase().as_str() {
            "image" => SigmaField::Image,
            "commandline" => SigmaField::CommandLine,
            _ => {
                self.errors.push(FieldError::new(
                    at,
                    format!("unknown field {name:?} (supported: Image, CommandLine)"),
                ));
                return None;
            }
        };
        let (mut pos, mut re, mut all) = (Pos::Exact, false, false);
        for m in parts {
            match m {
                "contains" => pos = Pos::Contains,
                "startswith" => pos = Pos::Starts,
                "endswith" => pos = Pos::Ends,
                "re" => re = true,
                "all" => all = true,
                other => {
                    self.errors.push(FieldError::new(
                        at,
                        format!("unknown modifier {other:?} (supported: contains, startswith, endswith, re, all)"),
                    ));
                    return None;
                }
            }
        }
        let mut atoms = Vec::new();
        let start = self.errors.len();
        match v {
            Value::Array(vs) => {
                if vs.is_empty() {
                    self.errors
                        .push(FieldError::new(at, "empty list of values"));
                }
                for (j, x) in vs.iter().enumerate() {
                    if let Some(a) = self.value(field, pos, re, x, &format!("{at}[{j}]")) {
                        atoms.push(a);
                    }
                }
            }
            x => {
                if let Some(a) = self.value(field, pos, re, x, at) {
                    atoms.push(a);
                }
            }
        }
        (self.errors.len() == start).then_some(Item { atoms, all })
    }

    fn map(&mut self, m: &serde_json::Map<String, Value>, at: &str) -> Vec<Item> {
        if m.is_empty() {
            self.errors.push(FieldError::new(at, "empty selection"));
        }
        m.iter()
            .filter_map(|(k, v)| self.item(k, v, &format!("{at}.{k}")))
            .collect()
    }

    fn selection(&mut self, v: &Value, at: &str) -> Vec<Vec<Item>> {
        match v {
            Value::Object(m) => vec![self.map(m, at)],
            Value::Array(list) if list.iter().all(|x| x.is_object()) && !list.is_empty() => list
                .iter()
                .enumerate()
                .filter_map(|(k, x)| x.as_object().map(|m| self.map(m, &format!("{at}[{k}]"))))
                .collect(),
            Value::Array(list) if !list.is_empty() => {
                // keywords: any of them in the command line
                let mut atoms = Vec::new();
                for (j, x) in list.iter().enumerate() {
                    if let Some(a) = self.value(
                        SigmaField::CommandLine,
                        Pos::Contains,
                        false,
                        x,
                        &format!("{at}[{j}]"),
                    ) {
                        atoms.push(a);
                    }
                }
                vec![vec![Item { atoms, all: false }]]
            }
            _ => {
                self.errors.push(FieldError::new(
                    at,
                    "a selection is a map, a list of maps or a list of keywords",
                ));
                Vec::new()
            }
        }
    }
}

// ---- condition parsing ----

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    One,
    All,
    Of,
    Them,
    Ident(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Tok>| {
        if word.is_empty() {
            return;
        }
        out.push(match word.to_ascii_lowercase().as_str() {
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "1" | "any" => Tok::One,
            "all" => Tok::All,
            "of" => Tok::Of,
            "them" => Tok::Them,
            _ => Tok::Ident(word.clone()),
        });
        word.clear();
    };
    for c in s.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(if c == '(' { Tok::LParen } else { Tok::RParen });
            }
            '|' => return Err("aggregations (`|`) are not supported".into()),
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') => word.push(c),
            c => return Err(format!("unexpected character {c:?}")),
        }
    }
    flush(&mut word, &mut out);
    Ok(out)
}

struct CondParser<'a> {
    toks: Vec<Tok>,
    i: usize,
    names: &'a [String],
    /// Current nesting of parentheses and `not`s.
    depth: usize,
}

/// Deepest nesting of a condition (parentheses and `not`s): user input, parsed by recursion.
const MAX_CONDITION_DEPTH: usize = 64;

/// `1 of sel*_x*`: a selection-name pattern in which only `*` is special.
fn name_pattern(pattern: &str) -> Result<Glob, String> {
    let glob: String = pattern
        .split('*')
        .map(glob::escape)
        .collect::<Vec<_>>()
        .join("*");
    Glob::new(&glob, Case::Sensitive)
}

impl CondParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn or(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::Or(v)
        })
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut v = vec![self.not()?];
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::And(v)
        })
    }
    fn not(&mut self) -> Result<Cond, String> {
        if self.depth >= MAX_CONDITION_DEPTH {
            return Err(format!(
                "condition nested more than {MAX_CONDITION_DEPTH} levels deep"
            ));
        }
        if self.peek() == Some(&Tok::Not) {
            self.i += 1;
            self.depth += 1;
            let c = self.not();
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(c?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Cond, String> {
        match self.next() {
            Some(Tok::LParen) => {
                self.depth += 1;
                let c = self.or();
                self.depth -= 1;
                let c = c?;
                match self.next() {
                    Some(Tok::RParen) => Ok(c),
                    _ => Err("missing ')'".into()),
                }
            }
            Some(q @ (Tok::One | Tok::All)) => {
                if self.next() != Some(Tok::Of) {
                    return Err("expected 'of' after '1'/'all'".into());
                }
                let set: Vec<usize> = match self.next() {
                    Some(Tok::Them) => (0..self.names.len())
                        .filter(|&k| !self.names[k].starts_with('_'))
                        .collect(),
                    Some(Tok::Ident(p)) => {
                        let g = name_pattern(&p)?;
                        let s: Vec<usize> = (0..self.names.len())
                            .filter(|&k| g.is_match(&self.names[k]))
                            .collect();
                        if s.is_empty() {
                            return Err(format!("no selection matches {p:?}"));
                        }
                        s
                    }
                    _ => return Err("expected a selection pattern or 'them' after 'of'".into()),
                };
                Ok(if q == Tok::One {
                    Cond::OneOf(set)
                } else {
                    Cond::AllOf(set)
                })
            }
            Some(Tok::Ident(name)) => {
                if name.contains('*') {
                    return Err(format!("wildcard {name:?} needs '1 of' or 'all of'"));
                }
                match self.names.iter().position(|n| *n == name) {
                    Some(k) => Ok(Cond::Sel(k)),
                    None => Err(format!("unknown selection {name:?}")),
                }
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end of condition".into()),
        }
    }
}

fn parse_condition(s: &str, names: &[String]) -> Result<Cond, String> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err("empty condition".into());
    }
    let mut p = CondParser {
        toks,
        i: 0,
        names,
        depth: 0,
    };
    let c = p.or()?;
    if p.i < p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.i]));
    }
    Ok(c)
}

impl SigmaSet {
    pub(crate) fn compile(
        rules: &[SigmaRule],
        policy: &str,
        errors: &mut Vec<FieldError>,
    ) -> SigmaSet {
        let mut b = Builder {
            set: SigmaSet::default(),
            errors,
        };
        for (i, r) in rules.iter().enumerate() {
            let at = format!("spec.detect.sigma[{i}]");
            let severity = match level_severity(r.level.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    b.errors.push(FieldError::new(format!("{at}.level"), e));
                    Severity::High
                }
            };
            let Some(det) = r.detection.as_object() else {
                b.errors.push(FieldError::new(
                    format!("{at}.detection"),
                    "must be a map of selections and a condition",
                ));
                continue;
            };
            let mut names = Vec::new();
            let mut selections = Vec::new();
            // BTreeMap: deterministic order whatever the map implementation
            let ordered: BTreeMap<&String, &Value> = det
                .iter()
                .filter(|(k, _)| k.as_str() != "condition")
                .collect();
            for (name, v) in ordered {
                names.push(name.clone());
                selections.push(b.selection(v, &format!("{at}.detection.{name}")));
            }
            let cond_at = format!("{at}.detection.condition");
            let cond = match det.get("condition") {
                None => Err("missing condition".to_string()),
                Some(Value::String(s)) => parse_condition(s, &names),
                Some(Value::Array(list)) if !list.is_empty() => list
                    .iter()
                    .map(|c| {
                        c.as_str()
                            .ok_or_else(|| "conditions must be strings".to_string())
                    })
                    .map(|c| c.and_then(|c| parse_condition(c, &names)))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Cond::Or),
                Some(_) => Err("must be a string or a list of strings".to_string()),
            };
            let cond = match cond {
                Ok(c) => c,
                Err(e) => {
                    b.errors.push(FieldError::new(cond_at, e));
                    continue;
                }
            };
            let id = match r.id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(id) => format!("sigma/{id}"),
                None => format!("policy/{policy}/sigma[{i}]"),
            };
            b.set.rules.push(CompiledSigma {
                id,
                title: r.title.clone(),
                severity,
                selections,
                cond,
            });
        }
        let Builder { mut set, errors } = b;
        set.image.build("spec.detect.sigma", errors);
        set.cmdline.build("spec.detect.sigma", errors);
        set
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluate every rule over `values`; calls `f(rule index, value index)` for each rule that
    /// matches, with the value that best explains the match (`None` when only negations hold).
    pub(crate) fn evaluate<T>(
        &self,
        values: &[SigmaValue<'_, T>],
        scratch: &mut SigmaScratch,
        mut f: impl FnMut(usize, Option<usize>),
    ) {
        if self.rules.is_empty() {
            return;
        }
        scratch.first_hit.clear();
        scratch.first_hit.resize(self.atoms, u32::MAX);
        for (vi, v) in values.iter().enumerate() {
            let m = match v.field {
                SigmaField::Image => &self.image,
                SigmaField::CommandLine => &self.cmdline,
            };
            let hits = &mut scratch.first_hit;
            m.run(v.text, |atom| {
                let slot = &mut hits[atom as usize];
                if *slot == u32::MAX {
                    *slot = vi as u32;
                }
            });
        }
        let hit = |a: u32| scratch.first_hit[a as usize] != u32::MAX;
        for (ri, r) in self.rules.iter().enumerate() {
            let sel = |k: usize| {
                r.selections[k].iter().any(|alt| {
                    !alt.is_empty()
                        && alt.iter().all(|item| {
                            if item.all {
                                item.atoms.iter().all(|&a| hit(a))
                            } else {
                                item.atoms.iter().any(|&a| hit(a))
                            }
                        })
                })
            };
            if eval(&r.cond, &sel) {
                let witness = positive_selections(&r.cond)
                    .into_iter()
                    .filter(|&k| sel(k))
                    .flat_map(|k| {
                        r.selections[k]
                            .iter()
                            .flatten()
                            .flat_map(|it| it.atoms.iter())
                    })
                    .map(|&a| scratch.first_hit[a as usize])
                    .filter(|&v| v != u32::MAX)
                    .min()
                    .map(|v| v as usize);
                f(ri, witness);
            }
        }
    }
}

fn eval(c: &Cond, sel: &impl Fn(usize) -> bool) -> bool {
    match c {
        Cond::Sel(k) => sel(*k),
        Cond::Not(x) => !eval(x, sel),
        Cond::And(v) => v.iter().all(|x| eval(x, sel)),
        Cond::Or(v) => v.iter().any(|x| eval(x, sel)),
        Cond::OneOf(v) => v.iter().any(|&k| sel(k)),
        Cond::AllOf(v) => v.iter().all(|&k| sel(k)),
    }
}

/// Selections referenced outside a `not`.
fn positive_selections(c: &Cond) -> Vec<usize> {
    fn walk(c: &Cond, neg: bool, out: &mut Vec<usize>) {
        match c {
            Cond::Sel(k) if !neg => out.push(*k),
            Cond::Sel(_) => {}
            Cond::Not(x) => walk(x, !neg, out),
            Cond::And(v) | Cond::Or(v) => v.iter().for_each(|x| walk(x, neg, out)),
            Cond::OneOf(v) | Cond::AllOf(v) if !neg => out.extend(v),
            Cond::OneOf(_) | Cond::AllOf(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(c, false, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> SigmaRule {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn compile(yamls: &[&str]) -> (SigmaSet, Vec<FieldError>) {
        let rules: Vec<SigmaRule> = yamls.iter().map(|y| rule(y)).collect();
        let mut errors = Vec::new();
        let set = SigmaSet::compile(&rules, "p", &mut errors);
        (set, errors)
    }

    fn fired(set: &SigmaSet, image: &[&str], cmdline: &[&str]) -> Vec<(String, Option<String>)> {
        let values: Vec<SigmaValue<'_, ()>> = image
            .iter()
            .map(|t| SigmaValue {
                field: SigmaField::Image,
                text: t,
                tag: (),
            })
            .chain(cmdline.iter().map(|t| SigmaValue {
                field: SigmaField::CommandLine,
                text: t,
                tag: (),
            }))
            .collect();
        let mut out = Vec::new();
        set.evaluate(&values, &mut SigmaScratch::default(), |r, v| {
            out.push((
                set.rules[r].id.clone(),
                v.map(|v| values[v].text.to_string()),
            ))
        });
        out
    }

    #[test]
    fn conditions_and_modifiers() {
        let (set, errors) = compile(&[r#"
title: miner not in build
id: r1
level: medium
detection:
  sel_img:
    Image|endswith: ['/xmrig', '/t-rex']
  sel_cmd:
    CommandLine|contains|all: ['--algo', 'rx/0']
  filter:
    - CommandLine|startswith: 'make '
    - Image|re: '^registry\.internal/'
  condition: (1 of sel_*) and not filter
"#]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(set.rules[0].severity, Severity::Medium);
        assert_eq!(
            fired(&set, &["alpine", "/opt/xmrig"], &[]),
            [("sigma/r1".to_string(), Some("/opt/xmrig".to_string()))]
        );
        assert_eq!(fired(&set, &["alpine"], &["x --algo rx/0"]).len(), 1);
        assert!(
            fired(&set, &["alpine"], &["x --algo ppo"]).is_empty(),
            "|all needs every value"
        );
        assert!(
            fired(&set, &["alpine", "/opt/xmrig"], &["make all"]).is_empty(),
            "filtered"
        );
        assert!(
            fired(&set, &["registry.internal/x", "/opt/xmrig"], &[]).is_empty(),
            "filtered by re"
        );
        assert!(
            fired(&set, &["/opt/xmrig-helper"], &[]).is_empty(),
            "endswith"
        );
    }

    #[test]
    fn exact_values_wildcards_keywords_and_all_of_them() {
        let (set, errors) = compile(&[
            "title: exact\ndetection:\n  s:\n    Image: 'XMRIG'\n  condition: s\n",
            "title: wild\nlevel: informational\ndetection:\n  s:\n    CommandLine: '*--donate-level*'\n  condition: s\n",
            "title: kw\ndetection:\n  keywords: ['stratum+tcp']\n  condition: keywords\n",
            "title: both\ndetection:\n  a:\n    Image|contains: miner\n  b:\n    CommandLine|contains: pool\n  condition: all of them\n",
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(set.rules[1].severity, Severity::Low);
        let ids =
            |v: Vec<(String, Option<String>)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(fired(&set, &["xmrig"], &[])), ["policy/p/sigma[0]"]);
        assert!(fired(&set, &["/usr/bin/xmrig"], &[]).is_empty());
        assert_eq!(
            ids(fired(&set, &[], &["a --donate-level=1 b"])),
            ["policy/p/sigma[1]"]
        );
        assert_eq!(
            ids(fired(&set, &[], &["-o STRATUM+TCP://x"])),
            ["policy/p/sigma[2]"]
        );
        assert_eq!(
            ids(fired(&set, &["cpuminer"], &["-o pool:1"])),
            ["policy/p/sigma[3]"]
        );
        assert!(fired(&set, &["cpuminer"], &[]).is_empty());
    }

    #[test]
    fn selection_patterns_with_several_stars() {
        let (set, errors) = compile(&[r#"
title: several stars
detection:
  sel_img_a:
    Image|endswith: '/xmrig'
  sel_cmd_b:
    CommandLine|contains: 'rx/0'
  selection_other:
    CommandLine|contains: 'never'
  condition: 1 of sel*_*_a or all of sel_*_b
"#]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(fired(&set, &["/opt/xmrig"], &[]).len(), 1);
        assert_eq!(fired(&set, &["alpine"], &["-a rx/0"]).len(), 1);
        assert!(fired(&set, &["alpine"], &["never"]).is_empty());
        let (_, errors) = compile(&[
            "title: t\ndetection:\n  sel:\n    Image: x\n  condition: 1 of nothing*here*\n",
        ]);
        assert!(
            errors[0].message.contains("no selection matches"),
            "{errors:?}"
        );
    }

    #[test]
    fn wildcard_values_are_globs_with_sigma_escapes() {
        let (set, errors) = compile(&[r#"title: w
detection:
  s:
    CommandLine|contains: 'a[b]*c\*d'
  condition: s
"#]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(fired(&set, &[], &["x a[b] zz c*d y"]).len(), 1);
        assert!(
            fired(&set, &[], &["x ab zz c*d y"]).is_empty(),
            "[ ] are literal"
        );
        assert!(
            fired(&set, &[], &["x a[b] zz cxd y"]).is_empty(),
            "\\* is literal"
        );
        assert_eq!(
            fired(&set, &[], &["line1 a[b]\nzz c*d"]).len(),
            1,
            "crosses lines"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let (_, errors) = compile(&[
            "title: t\ndetection:\n  selection:\n    Image|re: ['ok', '(']\n  condition: selection\n",
            "title: t\ndetection:\n  selection:\n    ParentImage: x\n  condition: selection\n",
            "title: t\ndetection:\n  selection:\n    Image|base64offset: x\n  condition: selection\n",
            "title: t\ndetection:\n  selection:\n    Image: x\n  condition: selection and (\n",
            "title: t\ndetection:\n  selection:\n    Image: x\n  condition: missing\n",
            "title: t\ndetection:\n  selection:\n    Image: x\n",
            "title: t\nlevel: urgent\ndetection:\n  selection:\n    - Image: x\n    - CommandLine|re: '['\n  condition: selection | count() > 3\n",
        ]);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.detect.sigma[0].detection.selection.Image|re[1]",
                "spec.detect.sigma[1].detection.selection.ParentImage",
                "spec.detect.sigma[2].detection.selection.Image|base64offset",
                "spec.detect.sigma[3].detection.condition",
                "spec.detect.sigma[4].detection.condition",
                "spec.detect.sigma[5].detection.condition",
                "spec.detect.sigma[6].level",
                "spec.detect.sigma[6].detection.selection[1].CommandLine|re",
                "spec.detect.sigma[6].detection.condition",
            ]
        );
        assert!(errors[0].message.starts_with("invalid regex"));
        assert!(errors[4].message.contains("unknown selection"));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    const NAMES: [&str; 5] = ["selection", "sel_img", "sel_cmd", "filter_a", "filter_b"];

    /// A random condition tree over the five selection names.
    fn cond() -> impl Strategy<Value = Cond> {
        let leaf = prop_oneof![
            (0usize..5).prop_map(Cond::Sel),
            Just(Cond::OneOf(vec![1, 2])),
            Just(Cond::AllOf(vec![3, 4])),
            Just(Cond::OneOf(vec![0, 1, 2, 3, 4])),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Cond::And),
                proptest::collection::vec(inner, 2..4).prop_map(Cond::Or),
            ]
        })
    }

    /// The condition as Sigma text (fully parenthesised).
    fn render(c: &Cond) -> String {
        match c {
            Cond::Sel(k) => NAMES[*k].to_string(),
            Cond::Not(x) => format!("not ({})", render(x)),
            Cond::And(v) => format!(
                "({})",
                v.iter().map(render).collect::<Vec<_>>().join(" and ")
            ),
            Cond::Or(v) => format!(
                "({})",
                v.iter().map(render).collect::<Vec<_>>().join(" or ")
            ),
            Cond::OneOf(v) if v.len() == 5 => "1 of them".to_string(),
            Cond::OneOf(_) => "1 of sel_*".to_string(),
            Cond::AllOf(_) => "all of filter_*".to_string(),
        }
    }

    proptest! {
        /// Rendering a condition and parsing it back gives a condition that decides every
        /// assignment of the selections the same way.
        #[test]
        fn prop_round_trips(c in cond(), truth in proptest::collection::vec(any::<bool>(), 5)) {
            let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
            let text = render(&c);
            let parsed = parse_condition(&text, &names).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            let sel = |k: usize| truth[k];
            prop_assert_eq!(eval(&parsed, &sel), eval(&c, &sel), "{}", text);
        }

        /// Any token soup is parsed or refused with a message, never a panic, quickly.
        #[test]
        fn prop_token_soup(parts in proptest::collection::vec(prop_oneof![
            Just("and"), Just("or"), Just("not"), Just("("), Just(")"), Just("1 of"), Just("all of"),
            Just("them"), Just("sel_*"), Just("selection"), Just("filter_a"), Just("x*y*z"),
            Just("|"), Just("count()"), Just(">"), Just("any of"), Just("*"),
        ], 0..40)) {
            let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
            let text = parts.join(" ");
            let start = std::time::Instant::now();
            let _ = parse_condition(&text, &names);
            prop_assert!(start.elapsed() < std::time::Duration::from_secs(1));
        }

        /// Deep nesting is refused, not a stack overflow.
        #[test]
        fn prop_deep_nesting_is_refused(n in 65usize..20_000) {
            let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
            let text = format!("{}selection{}", "(".repeat(n), ")".repeat(n));
            prop_assert!(parse_condition(&text, &names).is_err());
            let text = format!("{}selection", "not ".repeat(n));
            prop_assert!(parse_condition(&text, &names).is_err());
        }

        /// Arbitrary text as a condition: no panic.
        #[test]
        fn prop_arbitrary_text(s in "\\PC{0,80}") {
            let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
            let _ = parse_condition(&s, &names);
        }
    }
}
