//! Field paths as a small typed value (like Go's `field.Path`): built segment by segment,
//! rendered once (`spec.containers[0].resources.limits["nvidia.com/gpu"]`), and parsed back
//! in exactly one place ([`FieldPath::parse`]) by whoever needs to walk a document.

use std::borrow::Cow;
use std::fmt;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object field (`containers`).
    Field(Cow<'static, str>),
    /// A list index (`[0]`).
    Index(usize),
    /// A map key that is not a plain identifier (`["nvidia.com/gpu"]`).
    Key(String),
}

/// A path from an object's root to one of its fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<Segment>,
}

impl FieldPath {
    /// The empty path (the object itself).
    pub fn root() -> FieldPath {
        FieldPath::default()
    }

    /// A path of object fields, e.g. `FieldPath::fields(&["spec", "template", "spec"])`.
    pub fn fields(names: &[&'static str]) -> FieldPath {
        FieldPath {
            segments: names
                .iter()
                .map(|n| Segment::Field(Cow::Borrowed(n)))
                .collect(),
        }
    }

    /// This path followed by an object field.
    pub fn field(&self, name: impl Into<Cow<'static, str>>) -> FieldPath {
        self.with(Segment::Field(name.into()))
    }

    /// This path followed by a list index.
    pub fn index(&self, i: usize) -> FieldPath {
        self.with(Segment::Index(i))
    }

    /// This path followed by a map key (rendered `["key"]`).
    pub fn key(&self, k: impl Into<String>) -> FieldPath {
        self.with(Segment::Key(k.into()))
    }

    fn with(&self, s: Segment) -> FieldPath {
        let mut segments = Vec::with_capacity(self.segments.len() + 1);
        segments.extend_from_slice(&self.segments);
        segments.push(s);
        FieldPath { segments }
    }

    /// This path followed by all of `tail`'s segments.
    pub fn join(&self, tail: &FieldPath) -> FieldPath {
        let mut segments = self.segments.clone();
        segments.extend_from_slice(&tail.segments);
        FieldPath { segments }
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Parses the rendered form (`a.b[0].c["x.y/z"]`, also `['x']`). The inverse of
    /// `Display`: `FieldPath::parse(&p.to_string()) == Ok(p)`.
    pub fn parse(s: &str) -> Result<FieldPath, String> {
        let b = s.as_bytes();
        let mut segments = Vec::new();
        let mut i = 0;
        let mut expect_field = true;
        while i < b.len() {
            match b[i] {
                b'.' => {
                    if expect_field {
                        return Err(format!("empty field name at byte {i} of {s:?}"));
                    }
                    expect_field = true;
                    i += 1;
                }
                b'[' => {
                    if i + 1 < b.len() && (b[i + 1] == b'"' || b[i + 1] == b'\'') {
                        let q = b[i + 1];
                        let mut key = Vec::new();
                        let mut j = i + 2;
                        let mut closed = false;
                        while j < b.len() {
                            if b[j] == b'\\' && j + 1 < b.len() {
                                key.push(b[j + 1]);
                                j += 2;
                                continue;
                            }
                            if b[j] == q {
                                closed = true;
                                break;
                            }
                            key.push(b[j]);
                            j += 1;
                        }
                        if !closed || b.get(j + 1) != Some(&b']') {
                            return Err(format!("unterminated key at byte {i} of {s:?}"));
                        }
                        segments.push(Segment::Key(String::from_utf8_lossy(&key).into_owned()));
                        i = j + 2;
                    } else {
                        let close = s[i..]
                            .find(']')
                            .map(|c| c + i)
                            .ok_or_else(|| format!("unclosed '[' at byte {i} of {s:?}"))?;
                        let n = s[i + 1..close]
                            .parse::<usize>()
                            .map_err(|_| format!("bad index {:?} in {s:?}", &s[i + 1..close]))?;
                        segments.push(Segment::Index(n));
                        i = close + 1;
                    }
                    expect_field = false;
                }
                _ => {
                    let end = s[i..].find(['.', '[']).map_or(s.len(), |e| e + i);
                    segments.push(Segment::Field(Cow::Owned(s[i..end].to_string())));
                    i = end;
                    expect_field = false;
                }
            }
        }
        if expect_field && !segments.is_empty() {
            return Err(format!("path {s:?} ends with '.'"));
        }
        Ok(FieldPath { segments })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, s) in self.segments.iter().enumerate() {
            match s {
                Segment::Field(name) => {
                    if k > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
                Segment::Key(key) => {
                    f.write_str("[\"")?;
                    for c in key.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"]")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn renders_and_parses() {
        let p = FieldPath::fields(&["spec", "containers"])
            .index(0)
            .field("resources")
            .field("limits")
            .key("nvidia.com/gpu");
        assert_eq!(
            p.to_string(),
            "spec.containers[0].resources.limits[\"nvidia.com/gpu\"]"
        );
        assert_eq!(FieldPath::parse(&p.to_string()), Ok(p));
        assert_eq!(
            FieldPath::parse("items[3].spec['a\"b']").map(|p| p.segments().len()),
            Ok(4)
        );
        for bad in ["a..b", "a[x]", "a[1", "a[\"x]", "a."] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }

    fn segment() -> impl Strategy<Value = Segment> {
        prop_oneof![
            "[a-zA-Z][a-zA-Z0-9_]{0,8}".prop_map(|s| Segment::Field(Cow::Owned(s))),
            (0usize..1000).prop_map(Segment::Index),
            "\\PC{0,12}".prop_map(Segment::Key),
        ]
    }

    proptest! {
        /// Rendering and parsing are inverse.
        #[test]
        fn prop_round_trips(first in "[a-z]{1,6}", rest in proptest::collection::vec(segment(), 0..8)) {
            let mut segments = vec![Segment::Field(Cow::Owned(first))];
            segments.extend(rest);
            let p = FieldPath { segments };
            prop_assert_eq!(FieldPath::parse(&p.to_string()), Ok(p));
        }

        /// Anything parses or is refused, without panic.
        #[test]
        fn prop_parse_anything(s in "\\PC{0,40}") {
            let _ = FieldPath::parse(&s);
        }
    }
}
