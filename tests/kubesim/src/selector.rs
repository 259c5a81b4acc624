//! Label and field selectors, as in `k8s.io/apimachinery/pkg/labels` and `.../pkg/fields`.
//!
//! * [`parse_label_selector`] parses the `labelSelector` query parameter with the grammar of
//!   `labels.Parse`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`,
//!   comma-joined, whitespace-insensitive, with keys and values validated like the apiserver does
//!   (qualified names, label values of at most 63 characters).
//! * [`parse_field_selector`] parses `fieldSelector` like `fields.ParseSelector`: terms joined by
//!   unescaped commas, operators `!=`, `==`, `=` (searched in that order), `\,` `\=` `\\` escapes,
//!   no whitespace trimming. [`FieldSelector::matches`] reads the dotted field path from the
//!   object JSON (missing → `""`, booleans → `"true"`/`"false"`), with the field-label conversions
//!   the apiserver applies (events.k8s.io events answer to the core `involvedObject.*`/`source`
//!   labels, some fields default to `false`/`0`). [`supported_field_labels`] lists, per resource,
//!   the field labels kube-apiserver accepts; anything else is `field label not supported: X`.
//! * [`selector_object_matches`] / [`label_selector_from_object`] convert a `metav1.LabelSelector`
//!   object (`matchLabels` + `matchExpressions`) like `metav1.LabelSelectorAsSelector`.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

/// Operator of one label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `in (..)`
    In,
    /// `notin (..)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>N`
    GreaterThan,
    /// `key<N`
    LessThan,
}

/// One requirement (`key op values`) of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted, deduplicated (like the Go `sets.String`).
    pub values: Vec<String>,
}

impl Requirement {
    /// Validates like `labels.NewRequirement`.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        validate_label_key(key).map_err(|m| format!("key: Invalid value: {key:?}: {m}"))?;
        let mut values = values;
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err(
                        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
                            .to_string(),
                    );
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    return Err(format!(
                        "values: Invalid value: {}: exact-match compatibility requires one single value",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(format!(
                        "values: Invalid value: {}: values set must be empty for exists and does not exist",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        go_string_slice(&values)
                    ));
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(format!(
                        "values[0]: Invalid value: {:?}: for 'Gt', 'Lt' operators, the value must be an integer",
                        values[0]
                    ));
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            if !matches!(operator, Operator::GreaterThan | Operator::LessThan) {
                validate_label_value(v)
                    .map_err(|m| format!("values[{i}][{key}]: Invalid value: {v:?}: {m}"))?;
            }
        }
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether the labels satisfy this requirement (`labels.Requirement.Matches`).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value: Option<Cow<'_, str>> = labels.and_then(|l| l.get(&self.key)).map(|v| match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(label_string(other)),
        });
        let contains = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| contains(&v))
            }
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !contains(&v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(v), Some(want)) = (value, self.values.first()) else {
                    return false;
                };
                let (Ok(have), Ok(want)) = (v.parse::<i64>(), want.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

fn label_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn go_string_slice(values: &[String]) -> String {
    let inner: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", inner.join(", "))
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = self.values.first().map(String::as_str).unwrap_or("");
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, one),
            Operator::DoubleEquals => write!(f, "{}=={}", self.key, one),
            Operator::NotEquals => write!(f, "{}!={}", self.key, one),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, one),
            Operator::LessThan => write!(f, "{}<{}", self.key, one),
        }
    }
}

/// A parsed label selector: the AND of its requirements. The empty selector matches everything;
/// [`LabelSelector::nothing`] matches nothing (a null `metav1.LabelSelector`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Selector matching every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Selector matching no object.
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Builds a selector from requirements (sorted by key as `labels.NewSelector().Add` does).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Labels pinned to a single value by `=`, `==` or one-valued `in` (useful for indexes).
    pub fn exact_values(&self) -> Vec<(&str, &str)> {
        self.requirements
            .iter()
            .filter(|r| {
                matches!(
                    r.operator,
                    Operator::Equals | Operator::DoubleEquals | Operator::In
                ) && r.values.len() == 1
            })
            .map(|r| (r.key.as_str(), r.values[0].as_str()))
            .collect()
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        write!(f, "{}", parts.join(","))
    }
}

// ---------------------------------------------------------------- label selector lexer/parser

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    fn literal(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Bang => "!".into(),
            Token::Eq => "=".into(),
            Token::DoubleEq => "==".into(),
            Token::NotEq => "!=".into(),
            Token::Gt => ">".into(),
            Token::Lt => "<".into(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Comma => ",".into(),
            Token::End => String::new(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '>' | '<')
}

fn lex(s: &str) -> Vec<Token> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_special(c) {
            let next = chars.get(i + 1).copied();
            let (tok, len) = match (c, next) {
                ('!', Some('=')) => (Token::NotEq, 2),
                ('!', _) => (Token::Bang, 1),
                ('=', Some('=')) => (Token::DoubleEq, 2),
                ('=', _) => (Token::Eq, 1),
                ('>', _) => (Token::Gt, 1),
                ('<', _) => (Token::Lt, 1),
                ('(', _) => (Token::Open, 1),
                (')', _) => (Token::Close, 1),
                _ => (Token::Comma, 1),
            };
            out.push(tok);
            i += len;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && !is_special(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        out.push(match word.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Ident(word),
        });
    }
    out.push(Token::End);
    out
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        self.toks.get(self.pos).unwrap_or(&Token::End)
    }
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut op = None;
        if *self.peek() == Token::Bang {
            self.next();
            op = Some(Operator::DoesNotExist);
        }
        let key = match self.next() {
            Token::Ident(k) => k,
            t => {
                return Err(format!("found '{}', expected: identifier", t.literal()));
            }
        };
        validate_label_key(&key).map_err(|m| format!("key: Invalid value: {key:?}: {m}"))?;
        if let Some(op) = op {
            return match self.peek() {
                Token::Comma | Token::End => Requirement::new(&key, op, Vec::new()),
                t => Err(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    t.literal()
                )),
            };
        }
        let op = match self.peek().clone() {
            Token::Comma | Token::End => {
                return Requirement::new(&key, Operator::Exists, Vec::new());
            }
            Token::Eq => Operator::Equals,
            Token::DoubleEq => Operator::DoubleEquals,
            Token::NotEq => Operator::NotEquals,
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Gt => Operator::GreaterThan,
            Token::Lt => Operator::LessThan,
            t => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.literal()
                ));
            }
        };
        self.next();
        let values = match op {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => match self.peek().clone() {
                Token::Comma | Token::End => vec![String::new()],
                Token::Ident(v) => {
                    self.next();
                    vec![v]
                }
                t => {
                    return Err(format!("found '{}', expected: identifier", t.literal()));
                }
            },
        };
        Requirement::new(&key, op, values)
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Token::Open => {}
            t => return Err(format!("found '{}', expected: '('", t.literal())),
        }
        let mut values = Vec::new();
        let mut expecting_value = true;
        loop {
            match self.next() {
                Token::Ident(v) if expecting_value => {
                    values.push(v);
                    expecting_value = false;
                }
                Token::Comma => {
                    if expecting_value {
                        values.push(String::new());
                    }
                    expecting_value = true;
                }
                Token::Close => {
                    if expecting_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                t => {
                    return Err(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        t.literal()
                    ));
                }
            }
        }
    }
}

/// Parses a `labelSelector` query parameter (`labels.Parse`). Errors carry the apiserver's
/// message prefix `unable to parse requirement: ` for invalid keys/values.
pub fn parse_label_selector(s: &str) -> Result<LabelSelector, String> {
    let mut p = Parser {
        toks: lex(s),
        pos: 0,
    };
    let mut reqs = Vec::new();
    if *p.peek() == Token::End {
        return Ok(LabelSelector::everything());
    }
    loop {
        match p.peek() {
            Token::Ident(_) | Token::Bang => {
                let r = p
                    .requirement()
                    .map_err(|e| format!("unable to parse requirement: {e}"))?;
                reqs.push(r);
                match p.next() {
                    Token::End => break,
                    Token::Comma => {
                        if *p.peek() == Token::End {
                            return Err("found '', expected: identifier after ','".to_string());
                        }
                    }
                    t => {
                        return Err(format!(
                            "found '{}', expected: ',' or 'end of string'",
                            t.literal()
                        ));
                    }
                }
            }
            t => {
                return Err(format!(
                    "found '{}', expected: !, identifier, or 'end of string'",
                    t.literal()
                ));
            }
        }
    }
    Ok(LabelSelector::from_requirements(reqs))
}

// ---------------------------------------------------------------- validation of keys and values

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            !b.is_empty()
                && b.first().is_some_and(alnum)
                && b.last().is_some_and(alnum)
                && b.iter().all(|c| alnum(c) || *c == b'-')
        })
}

/// `validation.IsQualifiedName` (label keys, annotation keys). Returns the first message.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                return Err("prefix part must be non-empty".to_string());
            }
            if prefix.len() > 253 {
                return Err("prefix part must be no more than 253 characters".to_string());
            }
            if !is_dns1123_subdomain(prefix) {
                return Err(format!(
                    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN_FMT}')"
                ));
            }
            *name
        }
        _ => {
            return Err(format!(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{QUALIFIED_NAME_FMT}') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
        }
    };
    if name.is_empty() {
        return Err("name part must be non-empty".to_string());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".to_string());
    }
    if !is_qualified_name_part(name) {
        return Err(format!(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{QUALIFIED_NAME_FMT}')"
        ));
    }
    Ok(())
}

/// `validation.IsValidLabelValue`.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        return Err("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string());
    }
    Ok(())
}

// ---------------------------------------------------------------- metav1.LabelSelector objects

/// `metav1.LabelSelectorAsSelector`: `null` → nothing, `{}` → everything.
pub fn label_selector_from_object(selector: &Value) -> Result<LabelSelector, String> {
    let obj = match selector {
        Value::Null => return Ok(LabelSelector::nothing()),
        Value::Object(o) => o,
        other => return Err(format!("label selector must be an object, got {other}")),
    };
    let mut reqs = Vec::new();
    match obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            for (k, v) in labels {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => return Err(format!("matchLabels.{k}: must be a string, got {other}")),
                };
                reqs.push(Requirement::new(k, Operator::Equals, vec![v])?);
            }
        }
        Some(other) => return Err(format!("matchLabels must be an object, got {other}")),
    }
    match obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for expr in exprs {
                let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
                let op_str = expr
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let op = match op_str {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                };
                let values: Vec<String> = match expr.get("values") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(vs)) => vs.iter().map(label_string).collect(),
                    Some(other) => {
                        return Err(format!(
                            "matchExpressions values must be a list, got {other}"
                        ));
                    }
                };
                reqs.push(Requirement::new(key, op, values)?);
            }
        }
        Some(other) => return Err(format!("matchExpressions must be a list, got {other}")),
    }
    Ok(LabelSelector::from_requirements(reqs))
}

/// metav1.LabelSelector object (matchLabels + matchExpressions) against metadata.labels. An empty
/// selector matches everything; a null selector matches nothing (callers that treat a missing
/// selector differently should check for it first).
pub fn selector_object_matches(
    selector: &Value,
    labels: Option<&Map<String, Value>>,
) -> Result<bool, String> {
    Ok(label_selector_from_object(selector)?.matches(labels))
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
pub fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", label_string(v)))
        .collect();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs.join(",")
}

// ---------------------------------------------------------------- field selectors

/// One field selector term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    /// true for `=`/`==`, false for `!=`.
    pub equals: bool,
    pub value: String,
}

/// A parsed field selector: the AND of its terms (empty → everything).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

fn split_term(term: &str) -> Option<(String, &'static str, String)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        for op in ["!=", "==", "="] {
            if term[i..].starts_with(op) {
                return Some((term[..i].to_string(), op, term[i + op.len()..].to_string()));
            }
        }
        i += 1;
    }
    None
}

fn unescape_field_value(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{e}"
                    ));
                }
                None => {
                    return Err(
                        "invalid field selector: invalid trailing escape sequence".to_string()
                    );
                }
            }
        } else if c == ',' || c == '=' {
            return Err(format!("invalid field selector: unescaped character: {c}"));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Parses a `fieldSelector` query parameter (`fields.ParseSelector`).
pub fn parse_field_selector(s: &str) -> Result<FieldSelector, String> {
    let mut parts = split_unescaped(s, ',');
    parts.sort();
    let mut terms = Vec::new();
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some((field, op, rhs)) = split_term(&part) else {
            return Err(format!(
                "invalid selector: '{s}'; can't understand '{part}'"
            ));
        };
        let value = unescape_field_value(&rhs)?;
        terms.push(FieldTerm {
            field,
            equals: op != "!=",
            value,
        });
    }
    Ok(FieldSelector { terms })
}

impl FieldSelector {
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The selector with every field label mapped by `f` (None: `field label not supported`).
    pub fn map_fields(&self, f: impl Fn(&str) -> Option<String>) -> Result<FieldSelector, String> {
        let mut terms = Vec::with_capacity(self.terms.len());
        for t in &self.terms {
            let field =
                f(&t.field).ok_or_else(|| format!("field label not supported: {}", t.field))?;
            terms.push(FieldTerm {
                field,
                equals: t.equals,
                value: t.value.clone(),
            });
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Rejects field labels outside `allowed` with the apiserver's message
    /// `field label not supported: X`.
    pub fn check_supported(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .terms
            .iter()
            .find(|t| !allowed.contains(&t.field.as_str()))
        {
            Some(t) => Err(format!("field label not supported: {}", t.field)),
            None => Ok(()),
        }
    }

    /// Whether `obj` satisfies every term; field values come from [`field_value`].
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms
            .iter()
            .all(|t| (field_value_ref(obj, &t.field) == t.value.as_str()) == t.equals)
    }

    /// The value a `metadata.name=X` term pins, if any (useful for a direct lookup).
    pub fn exact_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.equals && t.field == "metadata.name")
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let esc = t
                    .value
                    .replace('\\', "\\\\")
                    .replace(',', "\\,")
                    .replace('=', "\\=");
                format!("{}{}{}", t.field, if t.equals { "=" } else { "!=" }, esc)
            })
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// Field labels kube-apiserver accepts for a resource key ("GROUP/PLURAL"), from the
/// `*ToSelectableFields` / field-label conversion functions of each registry.
/// Custom resources accept `metadata.name` and `metadata.namespace` only.
pub fn supported_field_labels(resource_key: &str) -> Vec<&'static str> {
    let mut v = vec!["metadata.name", "metadata.namespace"];
    let extra: &[&'static str] = match resource_key {
        "/pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        "/events" | "events.k8s.io/events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "/nodes" => &["spec.unschedulable"],
        "/namespaces" => &["status.phase"],
        "/secrets" => &["type"],
        "/services" => &["spec.clusterIP", "spec.type"],
        "/replicationcontrollers" | "apps/replicasets" => &["status.replicas"],
        "batch/jobs" => &["status.successful"],
        "certificates.k8s.io/certificatesigningrequests" => &["spec.signerName"],
        _ => &[],
    };
    v.extend_from_slice(extra);
    v
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |cur, seg| cur.get(seg))
}

/// The value of a field label for an object, as the apiserver's field set computes it.
pub fn field_value(obj: &Value, field: &str) -> String {
    field_value_ref(obj, field).into_owned()
}

fn field_value_ref<'a>(obj: &'a Value, field: &str) -> Cow<'a, str> {
    let is_new_event = obj.get("apiVersion").and_then(Value::as_str) == Some("events.k8s.io/v1");
    let is_event = is_new_event || obj.get("kind").and_then(Value::as_str) == Some("Event");
    let found = match field {
        "source" if is_new_event => get_path(obj, "deprecatedSource.component"),
        "source" if is_event => get_path(obj, "source.component"),
        "reportingComponent" if is_new_event => obj.get("reportingController"),
        f if is_new_event && f.starts_with("involvedObject.") => obj
            .get("regarding")
            .and_then(|r| get_path(r, &f["involvedObject.".len()..])),
        // The field set holds the first podIPs entry's ip.
        "status.podIPs" => obj.pointer("/status/podIPs/0/ip"),
        f => get_path(obj, f),
    };
    match found {
        Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
        Some(v) if !v.is_null() => Cow::Owned(scalar_string(v)),
        _ => Cow::Borrowed(match field {
            "spec.hostNetwork" | "spec.unschedulable" => "false",
            "status.replicas" | "status.successful" => "0",
            _ => "",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn m(sel: &str, l: &Value) -> bool {
        parse_label_selector(sel).unwrap().matches(l.as_object())
    }

    #[test]
    fn equality_operators() {
        let l = json!({"app": "web", "tier": "fe"});
        assert!(m("app=web", &l));
        assert!(m("app==web", &l));
        assert!(!m("app=db", &l));
        assert!(m("app!=db", &l));
        assert!(!m("app!=web", &l));
        // != matches when the label is absent, like Kubernetes.
        assert!(m("missing!=x", &l));
        assert!(!m("missing=x", &l));
        assert!(m("app=web,tier=fe", &l));
        assert!(!m("app=web,tier=be", &l));
    }

    #[test]
    fn set_operators_and_existence() {
        let l = json!({"env": "prod", "team": "a"});
        assert!(m("env in (prod,staging)", &l));
        assert!(!m("env in (dev)", &l));
        assert!(m("env notin (dev,qa)", &l));
        assert!(!m("env notin (prod)", &l));
        assert!(m("missing notin (prod)", &l));
        assert!(!m("missing in (prod)", &l));
        assert!(m("team", &l));
        assert!(!m("nope", &l));
        assert!(m("!nope", &l));
        assert!(!m("!team", &l));
        assert!(m("env in (prod), team, !x", &l));
        assert!(m("  env   in(prod ,  staging )  ,team  ", &l));
    }

    #[test]
    fn empty_selector_and_no_labels() {
        assert!(parse_label_selector("").unwrap().is_empty());
        assert!(parse_label_selector("   ").unwrap().matches(None));
        assert!(parse_label_selector("!a").unwrap().matches(None));
        assert!(!parse_label_selector("a").unwrap().matches(None));
        assert!(parse_label_selector("a!=b").unwrap().matches(None));
    }

    #[test]
    fn empty_values() {
        let l = json!({"a": ""});
        assert!(m("a=", &l));
        assert!(m("a in ()", &l));
        assert!(!m("a=", &json!({"a": "x"})));
        let s = parse_label_selector("a in (x,)").unwrap();
        assert_eq!(
            s.requirements()[0].values,
            vec!["".to_string(), "x".to_string()]
        );
    }

    #[test]
    fn gt_lt() {
        let l = json!({"n": "5"});
        assert!(m("n>3", &l));
        assert!(!m("n>5", &l));
        assert!(m("n<6", &l));
        assert!(!m("x<6", &l));
        assert!(
            parse_label_selector("n>abc")
                .unwrap_err()
                .contains("must be an integer")
        );
    }

    #[test]
    fn prefixed_keys() {
        let l = json!({"app.kubernetes.io/name": "cj"});
        assert!(m("app.kubernetes.io/name=cj", &l));
        assert!(m("app.kubernetes.io/name in (cj, other)", &l));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "a=b,", "=b", "a in b", "a in (b", "a b", ",a", "!a=b", "a=(b)",
        ] {
            assert!(
                parse_label_selector(bad).is_err(),
                "{bad} should be rejected"
            );
        }
        assert_eq!(
            parse_label_selector("a=b,").unwrap_err(),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            parse_label_selector("a in b").unwrap_err(),
            "unable to parse requirement: found 'b', expected: '('"
        );
    }

    #[test]
    fn key_and_value_validation() {
        let e = parse_label_selector("-bad=x").unwrap_err();
        assert!(e.starts_with("unable to parse requirement: key: Invalid value: \"-bad\": name part must consist of"), "{e}");
        let e = parse_label_selector("a=-x").unwrap_err();
        assert!(e.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"-x\": a valid label must be"), "{e}");
        let long = "x".repeat(64);
        assert!(
            parse_label_selector(&format!("{long}=a"))
                .unwrap_err()
                .contains("no more than 63 characters")
        );
        assert!(
            parse_label_selector(&format!("a={long}"))
                .unwrap_err()
                .contains("no more than 63 characters")
        );
        assert!(
            parse_label_selector("Foo.com/a=b")
                .unwrap_err()
                .contains("prefix part")
        );
        assert!(parse_label_selector("a/b/c").is_err());
        assert!(validate_label_key("example.com/My_Name-1").is_ok());
        assert!(validate_label_value("").is_ok());
    }

    #[test]
    fn display_is_sorted_like_go() {
        let s = parse_label_selector("z=1,a in (y,x),!b,c").unwrap();
        assert_eq!(s.to_string(), "a in (x,y),!b,c,z=1");
    }

    #[test]
    fn selector_objects() {
        let l = labels(json!({"app": "web", "env": "prod"}));
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "qa"]},
            {"key": "gone", "operator": "DoesNotExist"},
            {"key": "app", "operator": "Exists"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]}
        ]});
        assert_eq!(selector_object_matches(&sel, Some(&l)), Ok(true));
        assert_eq!(
            selector_object_matches(&json!({"matchLabels": {"app": "db"}}), Some(&l)),
            Ok(false)
        );
        assert_eq!(selector_object_matches(&json!({}), Some(&l)), Ok(true));
        assert_eq!(selector_object_matches(&json!({}), None), Ok(true));
        assert_eq!(selector_object_matches(&Value::Null, Some(&l)), Ok(false));
        assert_eq!(
            selector_object_matches(
                &json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}),
                None
            ),
            Err("\"Foo\" is not a valid label selector operator".to_string())
        );
        assert_eq!(
            selector_object_matches(&json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}), None),
            Err("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty".to_string())
        );
        assert!(
            selector_object_matches(
                &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                None
            )
            .unwrap_err()
            .contains("values set must be empty for exists and does not exist")
        );
        assert_eq!(
            selector_object_matches(&json!({"matchLabels": {"a": "-x"}}), None).unwrap_err(),
            "values[0][a]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert!(
            selector_object_matches(&json!({"matchLabels": {"-k": "x"}}), None)
                .unwrap_err()
                .starts_with("key: Invalid value: \"-k\": name part must consist of")
        );
        let s = label_selector_from_object(&json!({"matchLabels": {"b": "1", "a": "2"}})).unwrap();
        assert_eq!(s.to_string(), "a=2,b=1");
    }

    #[test]
    fn format_labels_like_go() {
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(
            format_labels(Some(&labels(json!({"b": "2", "a": "1"})))),
            "a=1,b=2"
        );
    }

    #[test]
    fn field_selector_parsing() {
        let f = parse_field_selector("metadata.name=x,status.phase!=Running,spec.nodeName==n1")
            .unwrap();
        assert_eq!(f.terms().len(), 3);
        assert_eq!(f.exact_name(), Some("x"));
        assert!(parse_field_selector("").unwrap().is_empty());
        assert_eq!(
            parse_field_selector("metadata.name").unwrap_err(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        let f = parse_field_selector(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(f.terms()[0].value, "a,b=c");
        assert!(parse_field_selector(r"metadata.name=a\x").is_err());
        // No trimming, like Go.
        assert_eq!(
            parse_field_selector("a = b").unwrap().terms()[0].field,
            "a "
        );
        assert_eq!(
            parse_field_selector("metadata.name=x,spec.nodeName=")
                .unwrap()
                .to_string(),
            "metadata.name=x,spec.nodeName="
        );
    }

    #[test]
    fn field_selector_matching() {
        let pod = json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}});
        let sel = |s: &str| parse_field_selector(s).unwrap().matches(&pod);
        assert!(sel("metadata.name=p"));
        assert!(sel("metadata.namespace=ns,spec.nodeName=n1"));
        assert!(!sel("spec.nodeName=n2"));
        assert!(sel("spec.nodeName!=n2"));
        assert!(sel("status.phase=Running"));
        assert!(sel("spec.hostNetwork=false"));
        assert!(sel("status.podIPs=10.0.0.1"));
        let unscheduled = json!({"metadata": {"name": "q"}, "spec": {}});
        assert!(
            parse_field_selector("spec.nodeName=")
                .unwrap()
                .matches(&unscheduled)
        );
        assert!(
            !parse_field_selector("spec.nodeName!=")
                .unwrap()
                .matches(&unscheduled)
        );
    }

    #[test]
    fn event_fields_core_and_events_k8s_io() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u1"},
            "reason": "Killing", "type": "Warning", "source": {"component": "kubelet"}});
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u1"},
            "reason": "Killing", "type": "Warning", "reportingController": "cryptojack",
            "deprecatedSource": {"component": "kubelet"}});
        let sel = parse_field_selector(
            "involvedObject.kind=Pod,involvedObject.name=p,involvedObject.namespace=ns,involvedObject.uid=u1,reason=Killing,type=Warning,source=kubelet",
        )
        .unwrap();
        assert!(sel.matches(&core));
        assert!(sel.matches(&new));
        assert!(
            parse_field_selector("reportingComponent=cryptojack")
                .unwrap()
                .matches(&new)
        );
        assert!(
            sel.check_supported(&supported_field_labels("/events"))
                .is_ok()
        );
    }

    #[test]
    fn supported_labels() {
        let f = parse_field_selector("spec.foo=x").unwrap();
        assert_eq!(
            f.check_supported(&supported_field_labels("/pods")),
            Err("field label not supported: spec.foo".to_string())
        );
        let f = parse_field_selector("spec.nodeName=x,status.phase=Running").unwrap();
        assert!(f.check_supported(&supported_field_labels("/pods")).is_ok());
        assert!(
            f.check_supported(&supported_field_labels(
                "cryptojack.dev/cryptojackincidents"
            ))
            .is_err()
        );
        assert!(
            parse_field_selector("metadata.namespace=a")
                .unwrap()
                .check_supported(&supported_field_labels("cryptojack.dev/x"))
                .is_ok()
        );
    }
}
