//! Inputs davit keeps as written: those of the Windows-only modules it never runs
//! (`InstallMSI`, `UninstallMSI`, `SetRegistry`), still checked for their references.

use crate::error::ToeError;
use crate::fields::{FromNode, Visit, Visitor, scalar_text};
use crate::node::{Kind, Node};
use crate::source::Source;
use crate::template::Template;

/// A value of any shape whose strings are [`Template`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opaque {
    /// Nothing.
    Null,
    /// A scalar.
    Text(Template),
    /// A list.
    List(Vec<Opaque>),
    /// A mapping, in document order.
    Map(Vec<(String, Opaque)>),
}

impl FromNode for Opaque {
    fn from_node(node: &Node, src: Source<'_>, key: &'static str) -> Result<Self, ToeError> {
        Ok(match &node.kind {
            Kind::Null => Self::Null,
            Kind::Scalar(_) => Self::Text(Template::from_node(node, src, key)?),
            Kind::Seq(items) => Self::List(
                items
                    .iter()
                    .map(|n| Self::from_node(n, src, key))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Map(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    let name = scalar_text(k, src, key)?;
                    out.push((name, Self::from_node(v, src, key)?));
                }
                Self::Map(out)
            }
        })
    }
}

impl Visit for Opaque {
    fn visit(&mut self, visitor: &mut dyn Visitor) {
        match self {
            Self::Null => {}
            Self::Text(t) => t.visit(visitor),
            Self::List(items) => items.visit(visitor),
            Self::Map(entries) => {
                for (_, v) in entries {
                    v.visit(visitor);
                }
            }
        }
    }
}
