//! Reading typed values out of a [`Node`]: the [`FromNode`] trait, the [`Fields`] reader of a
//! mapping with a fixed set of keys, the `inputs!` macro that declares an action's inputs, and
//! the [`Visit`] walk over every [`Template`] of a value (for reference checks and expansion).

use davit_spec::Location;

use crate::error::ToeError;
use crate::node::{Kind, Node, Scalar};
use crate::source::{Source, is_unquoted_reference};
use crate::template::Template;
use crate::value::{FromText, Value};

/// A value read from a node of the document `src`; `key` names it in messages.
pub(crate) trait FromNode: Sized {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError>;

    /// The value when the key is absent: an error unless the value is optional.
    fn missing(key: &'static str, at: &Location) -> Result<Self, ToeError> {
        Err(ToeError::MissingKey {
            at: at.clone(),
            key: key.to_owned(),
        })
    }
}

/// Calls `visitor` on every [`Template`] inside a value.
pub(crate) trait Visit {
    fn visit(&mut self, visitor: &mut dyn Visitor);
}

/// What a walk over templates does with each one, and with the errors it finds.
pub(crate) trait Visitor {
    fn template(&mut self, template: &mut Template);
    fn error(&mut self, error: ToeError);
}

/// The text of a scalar node (numbers and booleans as written), or why it is not one.
pub(crate) fn scalar_text(node: &Node, src: Source<'_>, key: &str) -> Result<String, ToeError> {
    match &node.kind {
        Kind::Scalar(Scalar::Str(s)) => Ok(s.clone()),
        Kind::Scalar(other) => Ok(src
            .scalar_text(&node.loc)
            .map_or_else(|| other.render(), str::to_owned)),
        Kind::Map(_) if is_unquoted_reference(src.rest_of_line(&node.loc)) => {
            Err(ToeError::UnquotedReference {
                at: src.yaml(&node.loc),
            })
        }
        _ => Err(ToeError::invalid(
            &src.yaml(&node.loc),
            key,
            format!("must be a string, not {}", node.describe()),
        )),
    }
}

impl FromNode for Template {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError> {
        let text = scalar_text(node, src, key)?;
        Template::parse(&text, src.yaml(&node.loc))
    }
}

impl Visit for Template {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        visitor.template(self);
    }
}

impl<T: FromText> FromNode for Value<T> {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError> {
        let template = Template::from_node(node, src, key)?;
        let mut value = Value::Deferred { template, key };
        value.settle()?;
        Ok(value)
    }
}

impl<T: FromText> Visit for Value<T> {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        if let Value::Deferred { template, .. } = self {
            visitor.template(template);
            if let Err(e) = self.settle() {
                visitor.error(e);
            }
        }
    }
}

impl<T: FromNode> FromNode for Option<T> {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError> {
        match node.kind {
            Kind::Null => Ok(None),
            _ => T::from_node(node, src, key).map(Some),
        }
    }
    fn missing(_: &'static str, _: &Location) -> Result<Self, ToeError> {
        Ok(None)
    }
}

impl<T: Visit> Visit for Option<T> {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        if let Some(v) = self {
            v.visit(visitor);
        }
    }
}

impl<T: FromNode> FromNode for Vec<T> {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError> {
        match &node.kind {
            Kind::Seq(items) => items.iter().map(|n| T::from_node(n, src, key)).collect(),
            _ => Err(ToeError::invalid(
                &src.yaml(&node.loc),
                key,
                format!("must be a list, not {}", node.describe()),
            )),
        }
    }
}

impl<T: Visit> Visit for Vec<T> {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        for v in self {
            v.visit(visitor);
        }
    }
}

/// The entries of a mapping whose keys are fixed: unknown and duplicate keys are refused
/// up front, then each key is taken once.
pub(crate) struct Fields<'n, 's> {
    entries: Vec<(String, &'n Node)>,
    pub(crate) at: Location,
    pub(crate) src: Source<'s>,
}

impl<'n, 's> Fields<'n, 's> {
    /// Reads `node` as a mapping with keys among `known`.
    pub(crate) fn new(
        node: &'n Node,
        src: Source<'s>,
        key: &str,
        known: &[&'static str],
    ) -> Result<Self, ToeError> {
        let at = src.yaml(&node.loc);
        let Kind::Map(map) = &node.kind else {
            if is_unquoted_reference(src.rest_of_line(&node.loc)) {
                return Err(ToeError::UnquotedReference { at });
            }
            return Err(ToeError::invalid(
                &at,
                key,
                format!("must be a mapping, not {}", node.describe()),
            ));
        };
        let mut entries: Vec<(String, &Node)> = Vec::new();
        for (k, v) in map {
            let key_at = src.yaml(&k.loc);
            let Some(name) = k.key_str() else {
                if is_unquoted_reference(src.rest_of_line(&node.loc)) {
                    return Err(ToeError::UnquotedReference { at });
                }
                return Err(ToeError::invalid(
                    &key_at,
                    key,
                    "has a key that is not a string",
                ));
            };
            if !known.contains(&name.as_str()) {
                return Err(ToeError::UnknownKey {
                    at: key_at,
                    key: name,
                    expected: known.iter().map(|s| (*s).to_owned()).collect(),
                });
            }
            if entries.iter().any(|(n, _)| *n == name) {
                return Err(ToeError::DuplicateKey {
                    at: key_at,
                    key: name,
                });
            }
            entries.push((name, v));
        }
        Ok(Self { entries, at, src })
    }

    /// The node under `key`, if present.
    pub(crate) fn node(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The value under `key`, typed.
    pub(crate) fn take<T: FromNode>(&self, key: &'static str) -> Result<T, ToeError> {
        match self.node(key) {
            Some(node) => T::from_node(node, self.src, key),
            None => T::missing(key, &self.at),
        }
    }

    /// The value under `key`, typed, or `default` (AWSTOE's) when absent or empty.
    pub(crate) fn take_or<T: FromText>(
        &self,
        key: &'static str,
        default: T,
    ) -> Result<Value<T>, ToeError> {
        Ok(self
            .take::<Option<Value<T>>>(key)?
            .unwrap_or(Value::Literal(default)))
    }
}

/// Declares the struct of one input mapping: its fields, their YAML keys, [`FromNode`] (with
/// unknown keys refused) and [`Visit`]. A field written `key: Value<T> = "yamlKey" or default`
/// takes AWSTOE's documented default when the key is absent; the struct's `KEYS` lists its keys.
macro_rules! inputs {
    ($(#[$m:meta])* pub struct $name:ident {
        $($(#[$fm:meta])* $field:ident: $ty:ty = $key:literal $(or $default:expr)?,)*
    }) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl $name {
            /// The input keys AWSTOE documents for this mapping, as written in documents.
            pub const KEYS: &'static [&'static str] = &[$($key),*];
        }

        impl $crate::fields::FromNode for $name {
            fn from_node(
                node: &$crate::node::Node,
                src: $crate::source::Source<'_>,
                key: &'static str,
            ) -> Result<Self, $crate::error::ToeError> {
                let fields = $crate::fields::Fields::new(node, src, key, Self::KEYS)?;
                Ok(Self { $($field: $crate::fields::inputs!(@take fields, $key $(, $default)?),)* })
            }
        }

        impl $crate::fields::Visit for $name {
            #[allow(unused_variables)]
            fn visit(&mut self, visitor: &mut dyn $crate::fields::Visitor) {
                $($crate::fields::Visit::visit(&mut self.$field, visitor);)*
            }
        }
    };
    (@take $fields:ident, $key:literal) => { $fields.take($key)? };
    (@take $fields:ident, $key:literal, $default:expr) => { $fields.take_or($key, $default)? };
}
pub(crate) use inputs;
