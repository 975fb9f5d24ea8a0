//! The component document exactly as written: serde structs with a span on every value that is
//! validated later (raw → validated, like ripgrep's `LowArgs` → `HiArgs`).
//!
//! Every mapping denies unknown keys: the document, its parameters, constants, phases, steps,
//! each action's inputs, `loop`, `for`, `forEach` and `if`. `inputs`, `loop` and `if` are kept
//! as [`Node`]s here: their shape depends on the action or operator, and they are typed in
//! [`crate::actions`], [`crate::loops`] and [`crate::condition`].
//!
//! What AWSTOE and the published Image Builder documents use, and davit therefore tolerates:
//! - `schemaVersion` written `1.0` or `'1.0'`;
//! - numbers and booleans where a string belongs (`value: 1`, `permissions: 0700`), read as the
//!   text written, so `0700` stays `0700`;
//! - `force` on `DeleteFile` entries (documented for `DeleteFolder`, used in the samples);
//! - `if` as a one-element list, the form AWSTOE's syntax summary shows, next to the mapping
//!   its examples use;
//! - `{{ … }}` inside a plain (unquoted) scalar that does not start with it
//!   (`- ping -c 4 {{ loop.value }}`): only a value that starts with `{{` must be quoted.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use crate::node::Node;

pub(crate) type S<T> = serde_saphyr::Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawDocument {
    pub name: Option<S<String>>,
    pub description: Option<S<String>>,
    pub schema_version: Node,
    pub parameters: Option<Vec<S<One<RawParameter>>>>,
    pub constants: Option<Vec<S<One<RawConstant>>>>,
    pub phases: S<Vec<S<RawPhase>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawParameter {
    #[serde(rename = "type")]
    pub kind: S<String>,
    pub default: Option<Node>,
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConstant {
    #[serde(rename = "type")]
    pub kind: S<String>,
    pub value: Node,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPhase {
    pub name: S<String>,
    pub steps: Vec<S<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawStep {
    pub name: S<String>,
    pub action: S<String>,
    pub inputs: Option<Node>,
    pub timeout_seconds: Option<Node>,
    pub on_failure: Option<S<String>>,
    pub max_attempts: Option<Node>,
    #[serde(rename = "loop")]
    pub looping: Option<Node>,
    #[serde(rename = "if")]
    pub condition: Option<Node>,
}

/// A mapping of exactly one key: `- Name: {type: string, …}`.
pub(crate) struct One<T> {
    pub name: S<String>,
    pub value: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for One<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = One<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of one name to its definition")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<One<T>, A::Error> {
                let Some((name, value)) = map.next_entry::<S<String>, T>()? else {
                    return Err(serde::de::Error::custom(
                        "expected one name, found an empty mapping",
                    ));
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(serde::de::Error::custom(format!(
                        "expected one name per list entry, found `{extra}` after `{}`: start it with `- `",
                        name.value
                    )));
                }
                Ok(One { name, value })
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}
