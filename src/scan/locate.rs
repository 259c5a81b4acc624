//! Line and column of a field path (`spec.containers[0].command[2]`) in a document's text.
//!
//! Used only when a document has something to report (a finding or a decode error): the
//! document is parsed a second time into a tree that keeps each node's position, so the
//! fast path (no findings) pays nothing for it.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::detect::{FieldPath, Segment};

/// A YAML node with the positions of its children.
enum Node {
    Scalar,
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.0, value));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// A mapping key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key("null".to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Key(String::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Key(String::new()))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

/// A parsed document that answers "where is this field?".
pub struct Locator {
    root: Spanned<Node>,
}

impl Locator {
    /// Parses YAML or JSON `text`; `None` when it does not parse.
    pub fn new(text: &str) -> Option<Locator> {
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options).ok()?;
        Some(Locator { root })
    }

    /// Line and column (1-based, relative to the text) of the deepest node of `path` that
    /// exists; `None` when not even the first step exists.
    pub fn find(&self, path: &str) -> Option<(u64, u64)> {
        let path = FieldPath::parse(path).ok()?;
        let mut node = &self.root;
        let mut found = None;
        for step in path.segments() {
            let next = match (&node.value, step) {
                (Node::Map(entries), Segment::Field(k)) => {
                    entries.iter().find(|(key, _)| key == k).map(|(_, v)| v)
                }
                (Node::Map(entries), Segment::Key(k)) => {
                    entries.iter().find(|(key, _)| key == k).map(|(_, v)| v)
                }
                (Node::Seq(items), Segment::Index(n)) => items.get(*n),
                _ => None,
            };
            match next {
                Some(n) => {
                    node = n;
                    found = Some((n.referenced.line(), n.referenced.column()));
                }
                None => break,
            }
        }
        found
    }
}

/// One-shot [`Locator::find`].
pub fn locate(text: &str, path: &str) -> Option<(u64, u64)> {
    Locator::new(text)?.find(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_a_nested_field() {
        let text =
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    command:\n    - sh\n    - -c\n";
        assert_eq!(
            locate(text, "spec.containers[0].command[1]").map(|p| p.0),
            Some(7)
        );
        assert_eq!(
            locate(text, "spec.containers[0].name").map(|p| p.0),
            Some(4)
        );
        // A missing tail gives the deepest existing node.
        assert_eq!(
            locate(text, "spec.containers[0].args[3]").map(|p| p.0),
            Some(4)
        );
        assert_eq!(locate(text, "nothing.here"), None);
    }

    #[test]
    fn locates_in_json() {
        let text = "{\n  \"spec\": {\n    \"containers\": [\n      {\"name\": \"x\",\n       \"image\": \"xmrig\"}]}}";
        assert_eq!(
            locate(text, "spec.containers[0].image").map(|p| p.0),
            Some(5)
        );
    }
}
