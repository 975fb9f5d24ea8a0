//! The built-in plugins: guest components built from `plugins/` by `scripts/build-guests` and
//! embedded in every davit binary, so an appspec can name one as `location: builtin:http-check`
//! without shipping its `.wasm` in the bundle.
//!
//! This crate holds bytes and names only; running a plugin is the sandbox's work. The committed
//! `plugins/wasm/*.wasm` are checked against their sources in CI (`scripts/build-guests --check`).

/// What a `location` starts with when it names a built-in plugin.
pub const PREFIX: &str = "builtin:";

/// Which world a plugin's component implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum World {
    /// `davit:plugin/hook`: a lifecycle hook.
    Hook,
    /// `davit:plugin/health-check`: answers healthy or unhealthy.
    HealthCheck,
    /// `davit:plugin/action`: runs the action modules of a component document's steps.
    Action,
}

impl World {
    /// The world's name in the WIT package.
    pub fn name(self) -> &'static str {
        match self {
            World::Hook => "hook",
            World::HealthCheck => "health-check",
            World::Action => "action",
        }
    }
}

/// One built-in plugin.
#[derive(Debug)]
pub struct Builtin {
    /// The name after `builtin:`.
    pub name: &'static str,
    /// The world its component implements.
    pub world: World,
    /// One line on what it does.
    pub summary: &'static str,
    /// The component.
    pub wasm: &'static [u8],
}

macro_rules! builtin {
    ($name:literal, $world:expr, $summary:literal) => {
        Builtin {
            name: $name,
            world: $world,
            summary: $summary,
            wasm: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../plugins/wasm/",
                $name,
                ".wasm"
            )),
        }
    };
}

/// Every built-in plugin, by name.
pub static ALL: &[Builtin] = &[
    builtin!(
        "command",
        World::Hook,
        "runs one granted native command, or starts it as a service"
    ),
    builtin!(
        "http-check",
        World::HealthCheck,
        "GETs a URL until its status (and body) match"
    ),
    builtin!(
        "tcp-check",
        World::HealthCheck,
        "connects to a TCP address until it accepts"
    ),
    builtin!(
        "toe-actions",
        World::Action,
        "runs the Linux AWSTOE action modules (CreateFile, ExecuteBash, WebDownload, …)"
    ),
];

/// The built-in plugin called `name` (without the prefix).
pub fn find(name: &str) -> Option<&'static Builtin> {
    ALL.iter().find(|b| b.name == name)
}

/// The names of all built-in plugins, comma separated, for messages.
pub fn names() -> String {
    ALL.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
}

/// The names of the built-in plugins an appspec may name as hooks (hooks and health checks,
/// not image actions), comma separated.
pub fn hook_names() -> String {
    ALL.iter()
        .filter(|b| b.world != World::Action)
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_a_component_named_after_its_file() {
        for b in ALL {
            // A component's preamble: magic, then version 0x0d and layer 1.
            assert_eq!(&b.wasm[..8], b"\0asm\x0d\x00\x01\x00", "{}", b.name);
            assert!(std::ptr::eq(find(b.name).unwrap(), b));
        }
        assert!(find("nope").is_none());
    }

    #[test]
    fn every_plugin_source_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins");
        let mut sources: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("Cargo.toml").is_file())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        sources.sort();
        let embedded: Vec<&str> = ALL.iter().map(|b| b.name).collect();
        assert_eq!(sources, embedded);
    }
}
