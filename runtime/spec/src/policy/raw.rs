//! The host policy exactly as written: serde structs over TOML with a span on every value that
//! is validated later. Unknown keys are refused: a typo in a policy must not widen or narrow it
//! silently.

use std::fmt;

use serde::Deserialize;
use serde::de::Visitor;

pub(crate) type S<T> = toml::Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub allow_native_scripts: Option<S<bool>>,
    pub native_script_users: Option<S<Vec<S<String>>>>,
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub directories: Vec<S<RawDir>>,
    #[serde(default)]
    pub tcp: Vec<S<RawTcp>>,
    #[serde(default)]
    pub urls: Vec<S<RawUrl>>,
    #[serde(default)]
    pub commands: Vec<S<RawCommand>>,
    #[serde(default)]
    pub env: Vec<S<RawEnv>>,
    pub signatures: Option<RawSignatures>,
    pub install: Option<RawInstall>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInstall {
    pub destinations: Option<S<Vec<S<String>>>>,
    pub allow_setuid: Option<S<bool>>,
    pub allow_world_writable: Option<S<bool>>,
    pub owners: Option<S<Vec<S<String>>>>,
    pub groups: Option<S<Vec<S<String>>>>,
    pub acls: Option<S<String>>,
    pub selinux_contexts: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSignatures {
    pub require: Option<S<bool>>,
    #[serde(default)]
    pub trusted_keys: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub max_timeout: Option<S<Text>>,
    pub max_memory: Option<S<Text>>,
    pub max_output: Option<S<Text>>,
    pub max_services: Option<S<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDir {
    pub path: S<String>,
    pub access: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcp {
    pub host: S<String>,
    pub ports: S<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUrl {
    pub prefix: S<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    pub program: S<String>,
    #[serde(default)]
    pub args: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnv {
    pub name: S<String>,
}

/// A string or an integer, kept as text (`ports = 8080` and `ports = "8000-9000"`).
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(TextVisitor)
    }
}
