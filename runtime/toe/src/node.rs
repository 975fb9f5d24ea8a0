//! A YAML value of any shape with the position of every part: what `inputs`, `loop` and `if`
//! are read into before they are typed, because their shape depends on the action or operator
//! and every error must still point at the offending value.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML node as written, with its position.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) loc: serde_saphyr::Location,
}

/// The shape of a [`Node`].
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Null,
    /// A scalar: strings as parsed, numbers and booleans as the parser rendered them (the
    /// source text is read back through [`crate::source::Source::scalar_text`] where it matters).
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Keys are nodes too: an unquoted `{{ x }}` arrives as a mapping key that is a mapping.
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug)]
pub(crate) enum Scalar {
    Str(String),
    Bool(bool),
    Int(i128),
    Float(f64),
}

impl Node {
    /// What the node is, for messages: `a string`, `a list`, `a mapping`, `nothing`.
    pub(crate) fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "nothing",
            Kind::Scalar(Scalar::Str(_)) => "a string",
            Kind::Scalar(Scalar::Bool(_)) => "a boolean",
            Kind::Scalar(Scalar::Int(_) | Scalar::Float(_)) => "a number",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The key of a mapping entry as a string, if it is a scalar.
    pub(crate) fn key_str(&self) -> Option<String> {
        match &self.kind {
            Kind::Scalar(s) => Some(s.render()),
            _ => None,
        }
    }
}

impl Scalar {
    /// The scalar as text, the way the parser read it.
    pub(crate) fn render(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        Ok(Node {
            kind: spanned.value,
            loc: spanned.referenced,
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Scalar(Scalar::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Scalar(Scalar::Int(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::Scalar(Scalar::Int(v.into())))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Kind, E> {
        Ok(Kind::Scalar(Scalar::Int(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Scalar(Scalar::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Scalar(Scalar::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Scalar(Scalar::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Kind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;

    #[test]
    fn every_part_keeps_its_position_and_plain_text() {
        let text = "a:\n  - path: x\n    permissions: 0700\n  - {{ y }}\n";
        let node: Node = serde_saphyr::from_str(text).unwrap();
        let src = Source::new("d.yml", text);
        let Kind::Map(top) = &node.kind else { panic!() };
        let Kind::Seq(items) = &top[0].1.kind else {
            panic!()
        };
        let Kind::Map(first) = &items[0].kind else {
            panic!()
        };
        assert_eq!(src.yaml(&first[1].1.loc).to_string(), "d.yml:3:18");
        assert_eq!(src.scalar_text(&first[1].1.loc), Some("0700"));
        assert_eq!(items[1].describe(), "a mapping");
        assert!(crate::source::is_unquoted_reference(
            src.rest_of_line(&items[1].loc)
        ));
    }
}
