//! The appspec exactly as written: serde structs with a span on every value that is validated
//! later (`raw` → validated, like ripgrep's `LowArgs` → `HiArgs`).
//!
//! Keys are denied unless listed, except the ones CodeDeploy or real appspecs use that davit
//! does not act on, which are read and dropped:
//! - `files[].overwrite`: a legacy per-file flag found in old appspecs;
//! - `hooks.*[].sudo`: read by the CodeDeploy agent's parser, never documented;
//! - `permissions[].context.name` (what the agent reads for the SELinux user) next to the
//!   documented `user`, and `role`, which the agent accepts and ignores;
//! - `permissions[].acls` as `{entries: [...]}` and `context.range` as `{low, high}`, the forms
//!   of the codedeploy-agent-go bundles, next to CodeDeploy's list and string forms.
//!
//! `permissions[].except` may also be one string, read as a one-element list.
//!
//! Unknown top-level keys are refused although the CodeDeploy agent skips them: a lifecycle
//! event that slipped out of `hooks` by mis-indentation must not be silently dropped.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

pub(crate) type S<T> = serde_saphyr::Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAppSpec {
    pub version: S<Scalar>,
    pub os: S<String>,
    pub files: Option<Vec<S<RawFile>>>,
    pub permissions: Option<S<Vec<S<RawPermission>>>>,
    pub hooks: Option<RawHooks>,
    pub file_exists_behavior: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub source: S<String>,
    pub destination: S<String>,
    #[serde(rename = "overwrite")]
    pub _overwrite: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPermission {
    pub object: S<String>,
    pub pattern: Option<S<String>>,
    /// A list, or one pattern written as a plain string (as CodeDeploy users often do).
    pub except: Option<S<StrOrList<Vec<S<String>>>>>,
    pub owner: Option<S<String>>,
    pub group: Option<S<String>>,
    pub mode: Option<S<String>>,
    pub acls: Option<ListOrMap<Vec<S<String>>, RawAclMap>>,
    pub context: Option<RawContext>,
    #[serde(rename = "type")]
    pub types: Option<Vec<S<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAclMap {
    pub entries: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContext {
    pub user: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    #[serde(rename = "type")]
    pub kind: S<String>,
    pub range: Option<S<StrOrMap<RawRange>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRange {
    pub low: String,
    pub high: Option<String>,
}

/// `hooks`: event names in the order written, each with its (possibly empty) list.
pub(crate) struct RawHooks(pub Vec<(S<String>, Option<RawHookList>)>);

pub(crate) type RawHookList = Vec<S<RawHook>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHook {
    pub location: S<String>,
    pub timeout: Option<S<String>>,
    pub runas: Option<String>,
    #[serde(rename = "sudo")]
    pub _sudo: Option<IgnoredAny>,
    pub parameters: Option<Pairs>,
    pub grants: Option<S<RawGrants>>,
}

/// A mapping of scalars, in the order written.
pub(crate) struct Pairs(pub Vec<(S<String>, S<String>)>);

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrants {
    pub directories: Option<Vec<S<RawDir>>>,
    pub tcp: Option<Vec<S<String>>>,
    pub urls: Option<Vec<S<String>>>,
    pub commands: Option<Vec<S<RawCommand>>>,
    pub env: Option<Vec<S<StrOrMap<RawEnv>>>>,
    pub limits: Option<RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDir {
    pub path: S<String>,
    pub access: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    pub program: S<String>,
    pub args: Option<Vec<S<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnv {
    pub name: S<String>,
    pub value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub memory: Option<S<String>>,
    pub output: Option<S<String>>,
}

/// A mapping deserialized pair by pair, so keys keep their spans and their order.
fn pairs<'de, K, V, D, F, T>(d: D, expecting: &'static str, make: F) -> Result<T, D::Error>
where
    K: Deserialize<'de>,
    V: Deserialize<'de>,
    D: serde::Deserializer<'de>,
    F: FnOnce(Vec<(K, V)>) -> T,
{
    struct PairsVisitor<K, V>(&'static str, PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<K, V> {
        type Value = Vec<(K, V)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key()? {
                out.push((key, map.next_value()?));
            }
            Ok(out)
        }
    }
    d.deserialize_map(PairsVisitor(expecting, PhantomData))
        .map(make)
}

impl<'de> Deserialize<'de> for RawHooks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        pairs(
            d,
            "a mapping of lifecycle events to lists of hooks",
            RawHooks,
        )
    }
}

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        pairs(d, "a mapping of names to values", Pairs)
    }
}

/// A scalar, knowing whether YAML reads it as a number or a string (`0.0` or `"0.0"`): the
/// CodeDeploy agent compares `version` as a number.
pub(crate) enum Scalar {
    /// An unquoted number, as its text.
    Number(String),
    /// Anything else, as its text.
    Str(String),
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
        // `1.0`, not `1`: close to how it was written.
        Ok(Scalar::Number(format!("{v:?}")))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A scalar (kept as its text) or a mapping.
pub(crate) enum StrOrMap<M> {
    Str(String),
    Map(M),
}

/// A scalar (kept as its text) or a sequence.
pub(crate) enum StrOrList<L> {
    Str(String),
    List(L),
}

/// A sequence or a mapping.
pub(crate) enum ListOrMap<L, M> {
    List(L),
    Map(M),
}

struct ShapeVisitor<T>(&'static str, PhantomData<T>);

macro_rules! scalar_to_string {
    ($shape:ident, $($method:ident: $ty:ty),*) => {$(
        fn $method<E: serde::de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            Ok($shape::Str(v.to_string()))
        }
    )*};
}

impl<'de, M: Deserialize<'de>> Visitor<'de> for ShapeVisitor<StrOrMap<M>> {
    type Value = StrOrMap<M>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    scalar_to_string!(StrOrMap, visit_str: &str, visit_u64: u64, visit_i64: i64, visit_f64: f64, visit_bool: bool);
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        M::deserialize(MapAccessDeserializer::new(map)).map(StrOrMap::Map)
    }
}

impl<'de, L: Deserialize<'de>> Visitor<'de> for ShapeVisitor<StrOrList<L>> {
    type Value = StrOrList<L>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    scalar_to_string!(StrOrList, visit_str: &str, visit_u64: u64, visit_i64: i64, visit_f64: f64, visit_bool: bool);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        L::deserialize(SeqAccessDeserializer::new(seq)).map(StrOrList::List)
    }
}

impl<'de, L: Deserialize<'de>, M: Deserialize<'de>> Visitor<'de> for ShapeVisitor<ListOrMap<L, M>> {
    type Value = ListOrMap<L, M>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        L::deserialize(SeqAccessDeserializer::new(seq)).map(ListOrMap::List)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        M::deserialize(MapAccessDeserializer::new(map)).map(ListOrMap::Map)
    }
}

impl<'de, M: Deserialize<'de>> Deserialize<'de> for StrOrMap<M> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor::<Self>("a string or a mapping", PhantomData))
    }
}

impl<'de, L: Deserialize<'de>> Deserialize<'de> for StrOrList<L> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor::<Self>("a string or a list", PhantomData))
    }
}

impl<'de, L: Deserialize<'de>, M: Deserialize<'de>> Deserialize<'de> for ListOrMap<L, M> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor::<Self>("a list or a mapping", PhantomData))
    }
}
