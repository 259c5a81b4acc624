//! OpenAPI v3 structural schema handling of custom resources, as in apiextensions-apiserver:
//! [`prune_and_default`] (pruning of unknown fields, removal of non-nullable nulls, `default`
//! values) and [`validate`] (the kube-openapi validators, converted to `field.Error`s the way
//! `apiservervalidation.ValidateCustomResource` does), plus [`invalid_status`], the 422 body.
//!
//! The apiserver order is: decode → prune → default → validate; callers should do the same.
//!
//! Supported: `type` (object, array, string, integer, number, boolean; integers must be whole
//! numbers, `number` accepts integers), `nullable`, `required`, `enum`, `minimum`/`maximum`
//! (+ `exclusiveMinimum`/`exclusiveMaximum` booleans), `multipleOf`, `minLength`/`maxLength`
//! (in characters), `pattern`, `format` (string formats `date-time`, `date`, `uuid`, `byte`,
//! `ipv4`, `ipv6`, `cidr`; other formats, and `int32`/`int64` on numbers, are accepted like
//! kube-openapi does), `minItems`/`maxItems`, `uniqueItems`, `minProperties`/`maxProperties`,
//! `items`, `properties`, `additionalProperties` (schema or bool), `allOf`/`anyOf`/`oneOf`/`not`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`,
//! `x-kubernetes-embedded-resource` (keeps `apiVersion`/`kind`/`metadata`, requires `apiVersion`
//! and `kind`; embedded `metadata` is pruned to name, generateName, namespace, labels,
//! annotations — an approximation).
//!
//! `x-kubernetes-validations` (CEL rules) are NOT evaluated by [`validate`]; the separate
//! [`validate_cel`] / [`CelRules`] evaluate them with the `kube-cel` crate (the rules it cannot
//! evaluate — unsupported macros or functions — are skipped, i.e. accepted, rather than rejecting
//! every object; transition rules see `oldSelf` when the old object is given).
//! `x-kubernetes-list-type`/
//! `x-kubernetes-list-map-keys` uniqueness is not checked. Root `metadata` is not validated
//! against the schema (the apiserver validates it as ObjectMeta).

use std::fmt;

use serde_json::{Map, Value, json};

/// The kind of a field error (`field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    NotSupported,
    Invalid,
    TypeInvalid,
    TooLong,
    TooMany,
    Duplicate,
    Forbidden,
}

impl FieldErrorKind {
    /// The `StatusCause.reason` (`FieldValueInvalid`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }

    /// The text of the type (`Invalid value`, `Required value`, ...).
    pub fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => "Invalid value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Forbidden => "Forbidden",
        }
    }
}

/// One validation error (`field.Error`): `message` is the detail, [`FieldError::body`] the text
/// the apiserver puts in a cause, and `Display` gives `field: body`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub kind: FieldErrorKind,
    pub message: String,
    pub bad_value: Option<Value>,
}

/// Go's `%v` of a number: integers as integers, whole floats without a fraction.
fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

fn go_f64(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

impl FieldError {
    fn new(field: &str, kind: FieldErrorKind, bad_value: Option<Value>, message: String) -> Self {
        FieldError {
            field: field.to_string(),
            kind,
            message,
            bad_value,
        }
    }

    /// `field.Error.ErrorBody()`.
    pub fn body(&self) -> String {
        let mut s = match self.kind {
            FieldErrorKind::Required | FieldErrorKind::Forbidden | FieldErrorKind::TooLong => {
                self.kind.label().to_string()
            }
            _ => {
                let v = match &self.bad_value {
                    None | Some(Value::Null) => "null".to_string(),
                    Some(Value::String(s)) => format!("{s:?}"),
                    Some(Value::Number(n)) => go_number(n),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(other) => other.to_string(),
                };
                format!("{}: {v}", self.kind.label())
            }
        };
        if !self.message.is_empty() {
            s.push_str(": ");
            s.push_str(&self.message);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

// ------------------------------------------------------------------ validation

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_whole(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// Validates `obj` against a CRD version's `openAPIV3Schema` (root `apiVersion`, `kind` and
/// `metadata` are skipped, as the apiserver validates them separately).
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_node(schema, obj, "", &mut errs, true);
    errs
}

fn validate_node(schema: &Value, v: &Value, path: &str, errs: &mut Vec<FieldError>, root: bool) {
    let Some(s) = schema.as_object() else { return };
    let display = if path.is_empty() { "<root>" } else { path };
    if v.is_null() {
        if flag(schema, "nullable") {
            return;
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            errs.push(FieldError::new(
                path,
                FieldErrorKind::TypeInvalid,
                Some(json!("null")),
                format!("{display} in body must be of type {t}: \"null\""),
            ));
        }
        return;
    }
    let actual = type_name(v);
    if flag(schema, "x-kubernetes-int-or-string") {
        if !(actual == "string" || is_whole(v)) {
            errs.push(FieldError::new(
                path,
                FieldErrorKind::TypeInvalid,
                Some(json!(actual)),
                format!("{display} in body must be of type integer,string: \"{actual}\""),
            ));
            return;
        }
    } else if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "integer" => is_whole(v),
            "number" => matches!(v, Value::Number(_)),
            other => other == actual,
        };
        if !ok {
            errs.push(FieldError::new(
                path,
                FieldErrorKind::TypeInvalid,
                Some(json!(actual)),
                format!("{display} in body must be of type {t}: \"{actual}\""),
            ));
            return;
        }
    }

    composition(s, v, path, display, errs);

    match v {
        Value::String(st) => validate_string(s, st, v, path, display, errs),
        Value::Number(n) => validate_number(s, n, v, path, display, errs),
        Value::Array(items) => validate_array(s, items, path, display, errs),
        Value::Object(m) => validate_object(s, m, path, display, errs, root),
        _ => {}
    }

    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(v)
    {
        let values: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(x) => format!("{x:?}"),
                other => format!("{:?}", other.to_string()),
            })
            .collect();
        errs.push(FieldError::new(
            path,
            FieldErrorKind::NotSupported,
            Some(v.clone()),
            format!("supported values: {}", values.join(", ")),
        ));
    }
}

fn composition(
    s: &Map<String, Value>,
    v: &Value,
    path: &str,
    display: &str,
    errs: &mut Vec<FieldError>,
) {
    let passes = |sub: &Value| {
        let mut e = Vec::new();
        validate_node(sub, v, path, &mut e, false);
        e
    };
    if let Some(Value::Array(all)) = s.get("allOf") {
        for sub in all {
            errs.extend(passes(sub));
        }
    }
    if let Some(Value::Array(any)) = s.get("anyOf")
        && !any.is_empty()
    {
        let results: Vec<Vec<FieldError>> = any.iter().map(passes).collect();
        if results.iter().all(|r| !r.is_empty()) {
            errs.push(FieldError::new(
                path,
                FieldErrorKind::Invalid,
                Some(json!("")),
                format!("{display} must validate at least one schema (anyOf)"),
            ));
            errs.extend(results.into_iter().flatten());
        }
    }
    if let Some(Value::Array(one)) = s.get("oneOf")
        && !one.is_empty()
    {
        let ok = one.iter().filter(|sub| passes(sub).is_empty()).count();
        if ok != 1 {
            errs.push(FieldError::new(
                path,
                FieldErrorKind::Invalid,
                Some(json!("")),
                format!("{display} must validate one and only one schema (oneOf)"),
            ));
        }
    }
    if let Some(not) = s.get("not")
        && not.is_object()
        && passes(not).is_empty()
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(json!("")),
            format!("{display} must not validate the schema (not)"),
        ));
    }
}

fn validate_string(
    s: &Map<String, Value>,
    st: &str,
    v: &Value,
    path: &str,
    display: &str,
    errs: &mut Vec<FieldError>,
) {
    let len = st.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        let detail = if max == 1 {
            "may not be more than 1 byte".to_string()
        } else {
            format!("may not be more than {max} bytes")
        };
        errs.push(FieldError::new(
            path,
            FieldErrorKind::TooLong,
            Some(v.clone()),
            detail,
        ));
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(v.clone()),
            format!("{display} in body should be at least {min} chars long"),
        ));
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str)
        && let Ok(re) = regex::Regex::new(p)
        && !re.is_match(st)
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(v.clone()),
            format!("{display} in body should match '{p}'"),
        ));
    }
    if let Some(f) = s.get("format").and_then(Value::as_str)
        && !format_ok(f, st)
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::TypeInvalid,
            Some(v.clone()),
            format!("{display} in body must be of type {f}: {st:?}"),
        ));
    }
}

fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.parse::<jiff::civil::Date>().is_ok() && s.len() == 10,
        "uuid" => {
            let parts: Vec<&str> = s.split('-').collect();
            parts.len() == 5
                && parts
                    .iter()
                    .zip([8, 4, 4, 4, 12])
                    .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
        }
        "byte" => {
            s.len().is_multiple_of(4)
                && s.trim_end_matches('=')
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        }
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => match s.split_once('/') {
            Some((ip, bits)) => match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
                (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
                (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
                _ => false,
            },
            None => false,
        },
        _ => true,
    }
}

fn validate_number(
    s: &Map<String, Value>,
    n: &serde_json::Number,
    v: &Value,
    path: &str,
    display: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(x) = n.as_f64() else { return };
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        let excl = s.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
        if (excl && x <= min) || (!excl && x < min) {
            let op = if excl {
                "greater than"
            } else {
                "greater than or equal to"
            };
            errs.push(FieldError::new(
                path,
                FieldErrorKind::Invalid,
                Some(v.clone()),
                format!("{display} in body should be {op} {}", go_f64(min)),
            ));
        }
    }
    if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
        let excl = s.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
        if (excl && x >= max) || (!excl && x > max) {
            let op = if excl {
                "less than"
            } else {
                "less than or equal to"
            };
            errs.push(FieldError::new(
                path,
                FieldErrorKind::Invalid,
                Some(v.clone()),
                format!("{display} in body should be {op} {}", go_f64(max)),
            ));
        }
    }
    if let Some(m) = s.get("multipleOf").and_then(Value::as_f64)
        && m > 0.0
        && ((x / m) - (x / m).round()).abs() > 1e-9
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(v.clone()),
            format!("{display} in body should be a multiple of {}", go_f64(m)),
        ));
    }
}

fn validate_array(
    s: &Map<String, Value>,
    items: &[Value],
    path: &str,
    display: &str,
    errs: &mut Vec<FieldError>,
) {
    let n = items.len() as u64;
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
        && n > max
    {
        let word = if max == 1 { "item" } else { "items" };
        errs.push(FieldError::new(
            path,
            FieldErrorKind::TooMany,
            Some(json!(n)),
            format!("must have at most {max} {word}"),
        ));
    }
    if let Some(min) = s.get("minItems").and_then(Value::as_u64)
        && n < min
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(json!(n)),
            format!("{display} in body should have at least {min} items"),
        ));
    }
    if flag(&Value::Object(s.clone()), "uniqueItems")
        && items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].contains(a))
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(json!("")),
            format!("{display} in body shouldn't contain duplicates"),
        ));
    }
    if let Some(item_schema) = s.get("items").filter(|i| i.is_object()) {
        for (i, item) in items.iter().enumerate() {
            validate_node(item_schema, item, &format!("{path}[{i}]"), errs, false);
        }
    }
}

const ROOT_SKIP: &[&str] = &["apiVersion", "kind", "metadata"];

fn validate_object(
    s: &Map<String, Value>,
    m: &Map<String, Value>,
    path: &str,
    display: &str,
    errs: &mut Vec<FieldError>,
    root: bool,
) {
    if let Some(Value::Array(req)) = s.get("required") {
        for r in req.iter().filter_map(Value::as_str) {
            if root && ROOT_SKIP.contains(&r) {
                continue;
            }
            if !m.contains_key(r) {
                errs.push(FieldError::new(
                    &child(path, r),
                    FieldErrorKind::Required,
                    None,
                    String::new(),
                ));
            }
        }
    }
    if s.get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        == Some(true)
    {
        for k in ["apiVersion", "kind"] {
            if m.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                errs.push(FieldError::new(
                    &child(path, k),
                    FieldErrorKind::Required,
                    None,
                    "must not be empty".to_string(),
                ));
            }
        }
    }
    let count = m.len() as u64;
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        let word = if max == 1 { "item" } else { "items" };
        errs.push(FieldError::new(
            path,
            FieldErrorKind::TooMany,
            Some(json!(count)),
            format!("must have at most {max} {word}"),
        ));
    }
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        errs.push(FieldError::new(
            path,
            FieldErrorKind::Invalid,
            Some(json!(count)),
            format!("{display} in body should have at least {min} properties"),
        ));
    }
    let props = s.get("properties").and_then(Value::as_object);
    for (k, val) in m {
        if root && ROOT_SKIP.contains(&k.as_str()) {
            continue;
        }
        if let Some(ps) = props.and_then(|p| p.get(k)) {
            validate_node(ps, val, &child(path, k), errs, false);
            continue;
        }
        match s.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => validate_node(ap, val, &child(path, k), errs, false),
            Some(Value::Bool(false)) => errs.push(FieldError::new(
                &child(path, k),
                FieldErrorKind::Invalid,
                Some(json!("")),
                format!("{display}.{k} in body is a forbidden property"),
            )),
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ pruning and defaulting

const EMBEDDED_META: &[&str] = &["name", "generateName", "namespace", "labels", "annotations"];

/// Prunes fields unknown to the schema (unless `x-kubernetes-preserve-unknown-fields`), then
/// removes `null`s of non-nullable object fields without a default and applies `default`s,
/// as the apiserver does on create and update. Root `apiVersion`, `kind`, `metadata` are kept.
pub fn prune_and_default(schema: &Value, obj: &mut Value) {
    prune(schema, obj, true);
    default(schema, obj, true);
}

fn prune(schema: &Value, v: &mut Value, root: bool) {
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    if flag(schema, "x-kubernetes-int-or-string") {
        return;
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if (root || embedded) && ROOT_SKIP.contains(&k.as_str()) {
                    if embedded
                        && k == "metadata"
                        && let Some(Value::Object(meta)) = m.get_mut("metadata")
                    {
                        meta.retain(|mk, _| EMBEDDED_META.contains(&mk.as_str()));
                    }
                    continue;
                }
                if let Some(ps) = props.and_then(|p| p.get(&k)) {
                    if let Some(cv) = m.get_mut(&k) {
                        prune(ps, cv, false);
                    }
                    continue;
                }
                match additional {
                    Some(ap @ Value::Object(_)) => {
                        if let Some(cv) = m.get_mut(&k) {
                            prune(ap, cv, false);
                        }
                    }
                    Some(Value::Bool(true)) => {}
                    _ if preserve => {}
                    _ => {
                        m.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items").filter(|i| i.is_object()) {
                for item in items {
                    prune(is, item, false);
                }
            }
        }
        _ => {}
    }
}

fn default(schema: &Value, v: &mut Value, root: bool) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, ps) in props {
                    if root && ROOT_SKIP.contains(&k.as_str()) {
                        continue;
                    }
                    let is_null = m.get(k).is_some_and(Value::is_null);
                    let missing = !m.contains_key(k);
                    let nullable = flag(ps, "nullable");
                    if (missing || (is_null && !nullable))
                        && let Some(d) = ps.get("default")
                    {
                        m.insert(k.clone(), d.clone());
                    } else if is_null && !nullable {
                        m.remove(k);
                    }
                    if let Some(cv) = m.get_mut(k) {
                        default(ps, cv, false);
                    }
                }
            }
            if let Some(ap @ Value::Object(_)) = schema.get("additionalProperties") {
                let nullable = flag(ap, "nullable");
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    let is_null = m.get(&k).is_some_and(Value::is_null);
                    if is_null && !nullable {
                        match ap.get("default") {
                            Some(d) => {
                                m.insert(k.clone(), d.clone());
                            }
                            None => {
                                m.remove(&k);
                            }
                        }
                    }
                    if let Some(cv) = m.get_mut(&k) {
                        default(ap, cv, false);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items").filter(|i| i.is_object()) {
                for item in items {
                    if item.is_null()
                        && !flag(is, "nullable")
                        && let Some(d) = is.get("default")
                    {
                        *item = d.clone();
                    }
                    default(is, item, false);
                }
            }
        }
        _ => {}
    }
}

// ------------------------------------------------------------------ CEL rules

/// Compiled `x-kubernetes-validations` rules of a schema (compile once per CRD version).
pub struct CelRules {
    compiled: Option<kube_cel::CompiledSchema>,
}

impl CelRules {
    /// Compiles every rule of `schema`; a schema without rules compiles to nothing.
    pub fn compile(schema: &Value) -> Self {
        let has_rules = schema.to_string().contains("x-kubernetes-validations");
        CelRules {
            compiled: has_rules.then(|| kube_cel::compile_schema(schema)),
        }
    }

    /// True when the schema has at least one rule.
    pub fn is_empty(&self) -> bool {
        self.compiled.is_none()
    }

    /// Evaluates the rules against `obj` (and `old` for transition rules). Failures are reported
    /// like the apiserver: `spec: Invalid value: "object": <message>` (the bad value is the type
    /// of the node carrying the rule), or `Forbidden`/`Required`/`Duplicate` per the rule's
    /// `reason`; a rule without `message` reports `failed rule: <rule>`.
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let Some(compiled) = &self.compiled else {
            return Vec::new();
        };
        let Err(failures) = kube_cel::validate_compiled(compiled, obj, old) else {
            return Vec::new();
        };
        failures
            .into_vec()
            .into_iter()
            .filter_map(|f| cel_field_error(&f, obj))
            .collect()
    }
}

fn cel_field_error(f: &kube_cel::ValidationError, obj: &Value) -> Option<FieldError> {
    use kube_cel::ErrorKind as K;
    match f.kind {
        K::ValidationFailure | K::InvalidResult | K::EvaluationError => {}
        // Rules kube-cel cannot compile or evaluate are skipped (see the module docs).
        _ => return None,
    }
    let node_type = value_at_path(obj, &f.field_path)
        .map(type_name)
        .unwrap_or("object");
    let bad = Some(json!(node_type));
    let path = f.field_path.as_str();
    let msg = f.message.clone();
    Some(match f.reason.as_deref() {
        Some("FieldValueForbidden") => FieldError::new(path, FieldErrorKind::Forbidden, None, msg),
        Some("FieldValueRequired") => FieldError::new(path, FieldErrorKind::Required, None, msg),
        Some("FieldValueDuplicate") => {
            FieldError::new(path, FieldErrorKind::Duplicate, bad, String::new())
        }
        _ => FieldError::new(path, FieldErrorKind::Invalid, bad, msg),
    })
}

/// Resolves `spec.a[2].b` in `obj` (the root for an empty path).
fn value_at_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let (name, rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            let key = idx.trim_end_matches(']');
            cur = match key.parse::<usize>() {
                Ok(i) => cur.get(i)?,
                Err(_) => cur.get(key.trim_matches('"'))?,
            };
        }
    }
    Some(cur)
}

/// Evaluates the `x-kubernetes-validations` CEL rules of `schema` against `obj` (compiles the
/// rules on each call; use [`CelRules`] to compile once).
pub fn validate_cel(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    CelRules::compile(schema).validate(obj, old)
}

// ------------------------------------------------------------------ 422 body

/// The `422 Invalid` Status the apiserver returns (`errors.NewInvalid`).
pub fn invalid_status(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Value {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut msgs: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        if !msgs.contains(&m) {
            msgs.push(m);
        }
    }
    let message = match msgs.as_slice() {
        [] => format!("{qualified} {name:?} is invalid"),
        [one] => format!("{qualified} {name:?} is invalid: {one}"),
        many => format!("{qualified} {name:?} is invalid: [{}]", many.join(", ")),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.kind.reason(), "message": e.body(), "field": e.field}))
        .collect();
    crate::status::failure(
        422,
        "Invalid",
        &message,
        Some(json!({"name": name, "group": group, "kind": kind, "causes": causes})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_schema() -> Value {
        json!({
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "required": ["mode"],
                    "properties": {
                        "mode": {"type": "string", "enum": ["Audit", "Contain"]},
                        "limits": {"type": "object", "properties": {
                            "maxActionsPerMinute": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 600, "default": 10},
                            "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true}
                        }},
                        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
                        "ports": {"type": "array", "maxItems": 3, "minItems": 1, "items": {"type": "integer", "maximum": 65535}},
                        "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
                        "since": {"type": "string", "format": "date-time"},
                        "target": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "opt": {"type": "string", "nullable": true},
                        "flag": {"type": "boolean", "default": false},
                        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
                    }
                },
                "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
            }
        })
    }

    fn obj(spec: Value) -> Value {
        json!({"apiVersion": "cryptojack.dev/v1alpha1", "kind": "CryptojackPolicy", "metadata": {"name": "x"}, "spec": spec})
    }

    fn errs(spec: Value) -> Vec<String> {
        validate(&policy_schema(), &obj(spec))
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn valid_object_has_no_errors() {
        let e = errs(
            json!({"mode": "Audit", "limits": {"maxActionsPerMinute": 5, "ratio": 0.5}, "name": "abc",
            "ports": [80, 443], "tags": ["a", "b"], "since": "2026-01-01T00:00:00Z", "target": "50%",
            "labels": {"a": "xyz"}, "free": {"anything": [1, {"x": null}]}, "opt": null, "flag": true,
            "template": {"apiVersion": "v1", "kind": "Pod", "spec": {}}}),
        );
        assert!(e.is_empty(), "{e:?}");
        assert!(
            errs(json!({"mode": "Contain", "target": 3, "limits": {"maxActionsPerMinute": 2.0}}))
                .is_empty()
        );
    }

    #[test]
    fn required_and_enum() {
        assert_eq!(errs(json!({})), vec!["spec.mode: Required value"]);
        let v = validate(
            &policy_schema(),
            &json!({"apiVersion": "a/v1", "kind": "K", "metadata": {}}),
        );
        assert_eq!(v[0].to_string(), "spec: Required value");
        assert_eq!(v[0].kind.reason(), "FieldValueRequired");
        assert_eq!(
            errs(json!({"mode": "Foo"})),
            vec![r#"spec.mode: Unsupported value: "Foo": supported values: "Audit", "Contain""#]
        );
        let numeric = json!({"type": "integer", "enum": [1, 2]});
        let e = validate(
            &json!({"type": "object", "properties": {"n": numeric}}),
            &json!({"n": 3}),
        );
        assert_eq!(
            e[0].to_string(),
            r#"n: Unsupported value: 3: supported values: "1", "2""#
        );
        assert_eq!(e[0].kind.reason(), "FieldValueNotSupported");
    }

    #[test]
    fn ranges() {
        assert_eq!(
            errs(json!({"mode": "Audit", "limits": {"maxActionsPerMinute": 0}})),
            vec![
                "spec.limits.maxActionsPerMinute: Invalid value: 0: spec.limits.maxActionsPerMinute in body should be greater than or equal to 1"
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "limits": {"maxActionsPerMinute": 601}})),
            vec![
                "spec.limits.maxActionsPerMinute: Invalid value: 601: spec.limits.maxActionsPerMinute in body should be less than or equal to 600"
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "limits": {"ratio": 0}})),
            vec![
                "spec.limits.ratio: Invalid value: 0: spec.limits.ratio in body should be greater than 0"
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "limits": {"ratio": 1.0}})),
            vec![
                "spec.limits.ratio: Invalid value: 1: spec.limits.ratio in body should be less than 1"
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "ports": [80, 70000]})),
            vec![
                "spec.ports[1]: Invalid value: 70000: spec.ports[1] in body should be less than or equal to 65535"
            ]
        );
        let e = validate(&json!({"type": "number", "multipleOf": 0.5}), &json!(0.75));
        assert_eq!(
            e[0].body(),
            "Invalid value: 0.75: <root> in body should be a multiple of 0.5"
        );
    }

    #[test]
    fn types() {
        assert_eq!(
            errs(json!({"mode": "Audit", "limits": {"maxActionsPerMinute": "ten"}})),
            vec![
                r#"spec.limits.maxActionsPerMinute: Invalid value: "string": spec.limits.maxActionsPerMinute in body must be of type integer: "string""#
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "limits": {"maxActionsPerMinute": 1.5}})),
            vec![
                r#"spec.limits.maxActionsPerMinute: Invalid value: "number": spec.limits.maxActionsPerMinute in body must be of type integer: "number""#
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "flag": "yes"})),
            vec![
                r#"spec.flag: Invalid value: "string": spec.flag in body must be of type boolean: "string""#
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "name": null})),
            vec![
                r#"spec.name: Invalid value: "null": spec.name in body must be of type string: "null""#
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "target": true})),
            vec![
                r#"spec.target: Invalid value: "boolean": spec.target in body must be of type integer,string: "boolean""#
            ]
        );
        let e = validate(&policy_schema(), &obj(json!("nope")));
        assert_eq!(e[0].kind, FieldErrorKind::TypeInvalid);
        assert_eq!(e[0].kind.reason(), "FieldValueTypeInvalid");
    }

    #[test]
    fn strings() {
        let e = validate(
            &policy_schema(),
            &obj(json!({"mode": "Audit", "name": "abcdefg"})),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].to_string(),
            "spec.name: Too long: may not be more than 5 bytes"
        );
        assert_eq!(e[0].kind.reason(), "FieldValueTooLong");
        assert_eq!(
            errs(json!({"mode": "Audit", "name": ""})),
            vec![
                r#"spec.name: Invalid value: "": spec.name in body should be at least 1 chars long"#,
                r#"spec.name: Invalid value: "": spec.name in body should match '^[a-z]+$'"#
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "name": "AB"})),
            vec![r#"spec.name: Invalid value: "AB": spec.name in body should match '^[a-z]+$'"#]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "since": "yesterday"})),
            vec![
                r#"spec.since: Invalid value: "yesterday": spec.since in body must be of type date-time: "yesterday""#
            ]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "labels": {"k": "long"}})),
            vec!["spec.labels.k: Too long: may not be more than 3 bytes"]
        );
        assert!(format_ok("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(!format_ok("uuid", "123"));
        assert!(format_ok("cidr", "10.0.0.0/8"));
        assert!(!format_ok("cidr", "10.0.0.0/33"));
        assert!(format_ok("date", "2026-01-31"));
        assert!(!format_ok("ipv4", "300.1.1.1"));
        assert!(format_ok("byte", "aGVsbG8="));
        assert!(format_ok("int32", "anything"));
    }

    #[test]
    fn arrays() {
        let e = validate(
            &policy_schema(),
            &obj(json!({"mode": "Audit", "ports": [1, 2, 3, 4]})),
        );
        assert_eq!(
            e[0].to_string(),
            "spec.ports: Too many: 4: must have at most 3 items"
        );
        assert_eq!(e[0].kind.reason(), "FieldValueTooMany");
        assert_eq!(
            errs(json!({"mode": "Audit", "ports": []})),
            vec!["spec.ports: Invalid value: 0: spec.ports in body should have at least 1 items"]
        );
        assert_eq!(
            errs(json!({"mode": "Audit", "tags": ["a", "a"]})),
            vec![r#"spec.tags: Invalid value: "": spec.tags in body shouldn't contain duplicates"#]
        );
        let one = validate(&json!({"type": "array", "maxItems": 1}), &json!([1, 2]));
        assert_eq!(one[0].body(), "Too many: 2: must have at most 1 item");
    }

    #[test]
    fn embedded_and_additional_properties_false() {
        assert_eq!(
            errs(json!({"mode": "Audit", "template": {"spec": {}}})),
            vec![
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty"
            ]
        );
        let s = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false});
        let e = validate(&s, &json!({"a": "x", "b": 1}));
        assert_eq!(e[0].field, "b");
    }

    #[test]
    fn composition_keywords() {
        let any = json!({"anyOf": [{"type": "integer"}, {"type": "string"}]});
        assert!(validate(&any, &json!(1)).is_empty());
        assert!(
            validate(&any, &json!(true))[0]
                .message
                .contains("must validate at least one schema (anyOf)")
        );
        let one = json!({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]});
        assert!(validate(&one, &json!({"a": 1})).is_empty());
        assert!(!validate(&one, &json!({"a": 1, "b": 2})).is_empty());
        let not = json!({"not": {"required": ["a"]}});
        assert!(!validate(&not, &json!({"a": 1})).is_empty());
        let all = json!({"allOf": [{"required": ["a"]}, {"required": ["b"]}]});
        assert_eq!(validate(&all, &json!({})).len(), 2);
    }

    #[test]
    fn pruning() {
        let mut o = obj(
            json!({"mode": "Audit", "unknown": 1, "limits": {"maxActionsPerMinute": 3, "extra": true},
            "free": {"kept": {"deep": 1}}, "labels": {"a": "b"},
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "zzz"}, "spec": {"x": 1}}}),
        );
        o["status"] = json!({"phase": "Ok", "junk": 1});
        o["topLevelJunk"] = json!(1);
        o["metadata"]["labels"] = json!({"keep": "me"});
        prune_and_default(&policy_schema(), &mut o);
        assert!(o.get("topLevelJunk").is_none());
        assert_eq!(
            o["metadata"],
            json!({"name": "x", "labels": {"keep": "me"}})
        );
        assert_eq!(o["apiVersion"], "cryptojack.dev/v1alpha1");
        assert!(o["spec"].get("unknown").is_none());
        assert!(o["spec"]["limits"].get("extra").is_none());
        assert_eq!(o["spec"]["free"], json!({"kept": {"deep": 1}}));
        assert_eq!(o["spec"]["labels"], json!({"a": "b"}));
        assert_eq!(o["spec"]["template"]["metadata"], json!({"name": "p"}));
        assert_eq!(o["spec"]["template"]["spec"], json!({"x": 1}));
        assert_eq!(o["status"], json!({"phase": "Ok"}));
    }

    #[test]
    fn defaulting() {
        let mut o = obj(json!({"mode": "Audit", "limits": {}, "opt": null, "name": null}));
        prune_and_default(&policy_schema(), &mut o);
        assert_eq!(o["spec"]["limits"]["maxActionsPerMinute"], 10);
        assert_eq!(o["spec"]["flag"], false);
        assert_eq!(o["spec"]["opt"], Value::Null, "nullable nulls are kept");
        assert!(
            o["spec"].get("name").is_none(),
            "non-nullable nulls without default are dropped"
        );
        // limits absent: no default for the parent, so nothing is created below it.
        let mut o = obj(json!({"mode": "Audit"}));
        prune_and_default(&policy_schema(), &mut o);
        assert!(o["spec"].get("limits").is_none());
        // Null with a default gets the default; defaults are themselves defaulted.
        let s = json!({"type": "object", "properties": {"a": {"type": "object", "default": {},
            "properties": {"b": {"type": "integer", "default": 7}}}}});
        let mut o = json!({"a": null});
        prune_and_default(&s, &mut o);
        assert_eq!(o, json!({"a": {"b": 7}}));
        assert!(validate(&s, &o).is_empty());
    }

    #[test]
    fn status_422_body() {
        let e = validate(
            &policy_schema(),
            &obj(json!({"mode": "Audit", "limits": {"maxActionsPerMinute": 0}})),
        );
        let st = invalid_status("CryptojackPolicy", "cryptojack.dev", "x", &e);
        assert_eq!(
            st,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "CryptojackPolicy.cryptojack.dev \"x\" is invalid: spec.limits.maxActionsPerMinute: Invalid value: 0: spec.limits.maxActionsPerMinute in body should be greater than or equal to 1",
                "reason": "Invalid",
                "details": {"name": "x", "group": "cryptojack.dev", "kind": "CryptojackPolicy", "causes": [
                    {"reason": "FieldValueInvalid",
                     "message": "Invalid value: 0: spec.limits.maxActionsPerMinute in body should be greater than or equal to 1",
                     "field": "spec.limits.maxActionsPerMinute"}]},
                "code": 422})
        );
        let e = validate(
            &policy_schema(),
            &obj(json!({"mode": "Foo", "name": "abcdefg"})),
        );
        let st = invalid_status("CryptojackPolicy", "cryptojack.dev", "x", &e);
        assert_eq!(
            st["message"],
            "CryptojackPolicy.cryptojack.dev \"x\" is invalid: [spec.mode: Unsupported value: \"Foo\": supported values: \"Audit\", \"Contain\", spec.name: Too long: may not be more than 5 bytes]"
        );
        assert_eq!(st["details"]["causes"].as_array().unwrap().len(), 2);
        assert_eq!(
            invalid_status("Pod", "", "p", &[])["message"],
            "Pod \"p\" is invalid"
        );
    }

    #[test]
    fn cel_rules() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.min <= self.max", "message": "min must not exceed max"},
            {"rule": "has(self.name)"},
            {"rule": "self.ports.all(p, p > 0)", "message": "ports must be positive", "reason": "FieldValueForbidden"},
            {"rule": "self.name != ''", "fieldPath": ".name", "message": "name must not be empty"}
        ],
        "properties": {
            "min": {"type": "integer"}, "max": {"type": "integer"},
            "name": {"type": "string"},
            "ports": {"type": "array", "items": {"type": "integer"}},
            "replicas": {"type": "integer", "x-kubernetes-validations": [{"rule": "self >= 0", "message": "replicas must be non-negative"}]},
            "mode": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "mode is immutable"}]}
        }}}});
        let rules = CelRules::compile(&schema);
        assert!(!rules.is_empty());
        let ok = json!({"spec": {"min": 1, "max": 2, "name": "x", "ports": [80], "replicas": 0}});
        assert!(rules.validate(&ok, None).is_empty());
        let bad = json!({"spec": {"min": 3, "max": 2, "ports": [0], "replicas": -1}});
        let msgs: Vec<String> = rules
            .validate(&bad, None)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            msgs.contains(&r#"spec: Invalid value: "object": min must not exceed max"#.to_string()),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(
                &r#"spec: Invalid value: "object": failed rule: has(self.name)"#.to_string()
            ),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"spec: Forbidden: ports must be positive".to_string()),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(
                &r#"spec.replicas: Invalid value: "integer": replicas must be non-negative"#
                    .to_string()
            ),
            "{msgs:?}"
        );
        let empty_name = json!({"spec": {"min": 1, "max": 2, "name": "", "ports": []}});
        let msgs: Vec<String> = rules
            .validate(&empty_name, None)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            msgs,
            vec![r#"spec.name: Invalid value: "string": name must not be empty"#]
        );
        // Transition rule: only with the old object.
        let old = json!({"spec": {"min": 1, "max": 2, "name": "x", "ports": [], "mode": "a"}});
        let new = json!({"spec": {"min": 1, "max": 2, "name": "x", "ports": [], "mode": "b"}});
        assert!(rules.validate(&new, None).is_empty());
        let msgs: Vec<String> = rules
            .validate(&new, Some(&old))
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            msgs,
            vec![r#"spec.mode: Invalid value: "string": mode is immutable"#]
        );
        assert!(CelRules::compile(&json!({"type": "object"})).is_empty());
        assert!(validate_cel(&json!({"type": "object"}), &json!({}), None).is_empty());
        let st = invalid_status("K", "g", "n", &rules.validate(&bad, None));
        assert_eq!(st["details"]["causes"][0]["reason"], "FieldValueInvalid");
    }
}
