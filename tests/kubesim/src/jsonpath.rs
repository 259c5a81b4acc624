//! The JSONPath subset that CRD `additionalPrinterColumns` (and kubectl's custom columns) use,
//! evaluated like `k8s.io/client-go/util/jsonpath` with `AllowMissingKeys(true)`:
//! `.a.b`, `.a[0]`, `.a[-1]`, `.a[1:3]`, `.a[*].b`, `.a.*`, `..name`,
//! `.a[?(@.type=="Ready")].status` (`==`, `!=`, `<`, `>`, `<=`, `>=`, and `[?(@.x)]` for
//! existence), `.metadata.labels['x.y/z']`, `.metadata.labels.x\.y`. An optional `{...}`
//! wrapper and leading `$` are accepted. Missing keys or out-of-range indexes give no result.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Wildcard,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Recursive(Option<String>),
    Filter {
        path: Vec<Step>,
        cmp: Option<(String, Literal)>,
    },
}

/// Parse error of a JSONPath expression (`unrecognized column definition` on the server side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath {path:?}: {reason}")]
pub struct JsonPathError {
    pub path: String,
    pub reason: String,
}

/// A parsed JSONPath expression.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(path: &str) -> Result<Self, JsonPathError> {
        let err = |reason: &str| JsonPathError {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let mut s = path.trim();
        if let Some(inner) = s.strip_prefix('{') {
            s = inner
                .strip_suffix('}')
                .ok_or_else(|| err("unclosed '{'"))?
                .trim();
        }
        let s = s.strip_prefix('$').unwrap_or(s);
        let steps = parse_steps(s).map_err(|r| err(&r))?;
        Ok(JsonPath { steps })
    }

    /// All results, in document order (objects iterate in key order).
    pub fn eval(&self, obj: &Value) -> Vec<Value> {
        eval_steps(&self.steps, vec![obj])
            .into_iter()
            .cloned()
            .collect()
    }
}

/// Evaluates `path` against `obj`; an invalid path or missing fields give an empty result.
pub fn eval_jsonpath(obj: &Value, path: &str) -> Vec<Value> {
    match JsonPath::parse(path) {
        Ok(p) => p.eval(obj),
        Err(_) => Vec::new(),
    }
}

/// Text form of a value as jsonpath prints it: strings bare, numbers and booleans as JSON,
/// objects and arrays as compact JSON.
/// Whole floats print without a fraction, as Go's `%v` does for small values.
pub fn value_to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e6 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn is_name_char(c: char) -> bool {
    !matches!(c, '.' | '[' | ']' | '(' | ')' | '\\' | ' ' | '{' | '}')
}

fn parse_steps(s: &str) -> Result<Vec<Step>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut steps = Vec::new();
    // A leading '@' (inside filters) is the current node.
    if chars.first() == Some(&'@') {
        i = 1;
    }
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'.') {
                    i += 1;
                    let (name, next) = read_name(&chars, i);
                    i = next;
                    steps.push(Step::Recursive(if name.is_empty() || name == "*" {
                        None
                    } else {
                        Some(name)
                    }));
                    continue;
                }
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    steps.push(Step::Wildcard);
                    continue;
                }
                let (name, next) = read_name(&chars, i);
                i = next;
                if name.is_empty() {
                    // A lone '.' (e.g. `{.}`) is the current node.
                    continue;
                }
                steps.push(Step::Field(name));
            }
            '[' => {
                let end = find_bracket_end(&chars, i).ok_or("unterminated '['")?;
                let inner: String = chars[i + 1..end].iter().collect();
                steps.push(parse_bracket(inner.trim())?);
                i = end + 1;
            }
            c if c.is_whitespace() => i += 1,
            c => {
                // Bare names at the start (`metadata.name`) are accepted like kubectl does.
                if steps.is_empty() && is_name_char(c) {
                    let (name, next) = read_name(&chars, i);
                    i = next;
                    steps.push(Step::Field(name));
                } else {
                    return Err(format!("unexpected character {c:?}"));
                }
            }
        }
    }
    Ok(steps)
}

fn read_name(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            name.push(chars[i + 1]);
            i += 2;
        } else if is_name_char(c) {
            name.push(c);
            i += 1;
        } else {
            break;
        }
    }
    (name, i)
}

fn find_bracket_end(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let q = s.chars().next()?;
    if (q == '\'' || q == '"') && s.len() >= 2 && s.ends_with(q) {
        let inner = &s[1..s.len() - 1];
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        Some(out)
    } else {
        None
    }
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(name) = unquote(inner) {
        return Ok(Step::Field(name));
    }
    if let Some(filter) = inner.strip_prefix('?') {
        let f = filter.trim();
        let f = f
            .strip_prefix('(')
            .and_then(|f| f.strip_suffix(')'))
            .ok_or("filter must be ?(...)")?
            .trim();
        return parse_filter(f);
    }
    if let Some((a, b)) = inner.split_once(':') {
        let num = |x: &str| -> Result<Option<i64>, String> {
            let x = x.split(':').next().unwrap_or("").trim();
            if x.is_empty() {
                Ok(None)
            } else {
                x.parse()
                    .map(Some)
                    .map_err(|_| format!("invalid slice bound {x:?}"))
            }
        };
        return Ok(Step::Slice(num(a)?, num(b)?));
    }
    inner
        .parse::<i64>()
        .map(Step::Index)
        .map_err(|_| format!("invalid array index {inner:?}"))
}

fn parse_filter(f: &str) -> Result<Step, String> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some(pos) = find_unquoted(f, op) {
            let lhs = f[..pos].trim();
            let rhs = f[pos + op.len()..].trim();
            let path = parse_filter_path(lhs)?;
            let lit = if let Some(s) = unquote(rhs) {
                Literal::Str(s)
            } else if rhs == "true" || rhs == "false" {
                Literal::Bool(rhs == "true")
            } else {
                Literal::Num(
                    rhs.parse()
                        .map_err(|_| format!("invalid filter literal {rhs:?}"))?,
                )
            };
            return Ok(Step::Filter {
                path,
                cmp: Some((op.to_string(), lit)),
            });
        }
    }
    Ok(Step::Filter {
        path: parse_filter_path(f)?,
        cmp: None,
    })
}

fn parse_filter_path(s: &str) -> Result<Vec<Step>, String> {
    if !s.starts_with('@') {
        return Err(format!("filter operand must start with '@': {s:?}"));
    }
    parse_steps(s)
}

fn find_unquoted(s: &str, needle: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            continue;
        }
        if s[i..].starts_with(needle) {
            return Some(i);
        }
    }
    None
}

fn eval_steps<'a>(steps: &[Step], mut cur: Vec<&'a Value>) -> Vec<&'a Value> {
    for step in steps {
        let mut next = Vec::new();
        for v in cur {
            apply_step(step, v, &mut next);
        }
        cur = next;
    }
    cur
}

fn apply_step<'a>(step: &Step, v: &'a Value, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => {
            if let Some(x) = v.get(name.as_str()) {
                out.push(x);
            }
        }
        Step::Wildcard => match v {
            Value::Object(m) => out.extend(m.values()),
            Value::Array(a) => out.extend(a.iter()),
            _ => {}
        },
        Step::Index(i) => {
            if let Value::Array(a) = v {
                let len = a.len() as i64;
                let idx = if *i < 0 { len + i } else { *i };
                if (0..len).contains(&idx)
                    && let Some(x) = a.get(idx as usize)
                {
                    out.push(x);
                }
            }
        }
        Step::Slice(start, end) => {
            if let Value::Array(a) = v {
                let len = a.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let s = start.map(norm).unwrap_or(0);
                let e = end.map(norm).unwrap_or(len);
                if s < e {
                    out.extend(a[s as usize..e as usize].iter());
                }
            }
        }
        Step::Recursive(name) => collect_recursive(v, name.as_deref(), out),
        Step::Filter { path, cmp } => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                Value::Object(m) => m.values().collect(),
                _ => Vec::new(),
            };
            for item in items {
                let found = eval_steps(path, vec![item]);
                let keep = match cmp {
                    None => !found.is_empty(),
                    Some((op, lit)) => found.iter().any(|x| compare(x, op, lit)),
                };
                if keep {
                    out.push(item);
                }
            }
        }
    }
}

fn collect_recursive<'a>(v: &'a Value, name: Option<&str>, out: &mut Vec<&'a Value>) {
    match name {
        Some(n) => {
            if let Some(x) = v.get(n) {
                out.push(x);
            }
        }
        None => out.push(v),
    }
    match v {
        Value::Object(m) => m.values().for_each(|c| collect_recursive(c, name, out)),
        Value::Array(a) => a.iter().for_each(|c| collect_recursive(c, name, out)),
        _ => {}
    }
}

fn compare(v: &Value, op: &str, lit: &Literal) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, lit) {
        (Value::String(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::Number(a), Literal::Num(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ord) {
        ("==", Some(o)) => o == Ordering::Equal,
        ("!=", Some(o)) => o != Ordering::Equal,
        ("!=", None) => true,
        ("<", Some(o)) => o == Ordering::Less,
        (">", Some(o)) => o == Ordering::Greater,
        ("<=", Some(o)) => o != Ordering::Greater,
        (">=", Some(o)) => o != Ordering::Less,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({
            "metadata": {"name": "x", "labels": {"x.y/z": "dotted", "app": "web"}},
            "spec": {"replicas": 3, "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]},
            "status": {"conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Ready", "status": "False", "reason": "Crash"}
            ], "score": 0.5, "enabled": true}
        })
    }

    #[test]
    fn simple_paths() {
        let o = obj();
        assert_eq!(eval_jsonpath(&o, ".metadata.name"), vec![json!("x")]);
        assert_eq!(eval_jsonpath(&o, ".spec.replicas"), vec![json!(3)]);
        assert_eq!(eval_jsonpath(&o, "{.spec.replicas}"), vec![json!(3)]);
        assert_eq!(eval_jsonpath(&o, "$.spec.replicas"), vec![json!(3)]);
        assert_eq!(eval_jsonpath(&o, ".status.enabled"), vec![json!(true)]);
    }

    #[test]
    fn missing_is_empty() {
        let o = obj();
        assert!(eval_jsonpath(&o, ".spec.nope").is_empty());
        assert!(eval_jsonpath(&o, ".spec.ports[5].port").is_empty());
        assert!(eval_jsonpath(&o, ".metadata.name.deeper").is_empty());
        assert!(eval_jsonpath(&o, ".status.conditions[?(@.type==\"Nope\")].status").is_empty());
        assert!(eval_jsonpath(&o, ".spec[").is_empty());
    }

    #[test]
    fn indexes_and_wildcards() {
        let o = obj();
        assert_eq!(eval_jsonpath(&o, ".spec.ports[0].port"), vec![json!(80)]);
        assert_eq!(
            eval_jsonpath(&o, ".spec.ports[-1].name"),
            vec![json!("https")]
        );
        assert_eq!(
            eval_jsonpath(&o, ".spec.ports[*].port"),
            vec![json!(80), json!(443)]
        );
        assert_eq!(eval_jsonpath(&o, ".spec.ports[0:1].port"), vec![json!(80)]);
        assert_eq!(eval_jsonpath(&o, ".metadata.labels.*").len(), 2);
        assert_eq!(eval_jsonpath(&o, "..port"), vec![json!(80), json!(443)]);
    }

    #[test]
    fn filters() {
        let o = obj();
        assert_eq!(
            eval_jsonpath(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![json!("False")]
        );
        assert_eq!(
            eval_jsonpath(&o, ".status.conditions[?(@.type=='Ready')].reason"),
            vec![json!("Crash")]
        );
        assert_eq!(
            eval_jsonpath(&o, ".status.conditions[?(@.type!=\"Ready\")].type"),
            vec![json!("Available")]
        );
        assert_eq!(
            eval_jsonpath(&o, ".spec.ports[?(@.port > 100)].name"),
            vec![json!("https")]
        );
        assert_eq!(
            eval_jsonpath(&o, ".spec.ports[?(@.port<=80)].name"),
            vec![json!("http")]
        );
        assert_eq!(
            eval_jsonpath(&o, ".status.conditions[?(@.reason)].type"),
            vec![json!("Ready")]
        );
    }

    #[test]
    fn dotted_keys() {
        let o = obj();
        assert_eq!(
            eval_jsonpath(&o, ".metadata.labels['x.y/z']"),
            vec![json!("dotted")]
        );
        assert_eq!(
            eval_jsonpath(&o, ".metadata.labels[\"x.y/z\"]"),
            vec![json!("dotted")]
        );
        assert_eq!(
            eval_jsonpath(&o, r".metadata.labels.x\.y/z"),
            vec![json!("dotted")]
        );
    }

    #[test]
    fn parse_errors() {
        assert!(JsonPath::parse(".a[abc]").is_err());
        assert!(JsonPath::parse("{.a").is_err());
        assert!(JsonPath::parse(".a[?(x==1)]").is_err());
        assert!(JsonPath::parse(".a[?(@.x==1)].b").is_ok());
    }

    #[test]
    fn text_form() {
        assert_eq!(value_to_text(&json!("s")), "s");
        assert_eq!(value_to_text(&json!(0.5)), "0.5");
        assert_eq!(value_to_text(&json!(7.0)), "7");
        assert_eq!(value_to_text(&json!(true)), "true");
        assert_eq!(value_to_text(&json!({"a": [1]})), "{\"a\":[1]}");
    }
}
