//! Host bindings generated from `sdk/wit` (package `davit:plugin@0.2.0`).

pub(crate) mod hook {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "hook",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub(crate) mod check {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "health-check",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "davit:plugin/types": super::hook::davit::plugin::types,
            "davit:plugin/log": super::hook::davit::plugin::log,
            "davit:plugin/command": super::hook::davit::plugin::command,
        },
    });
}

pub(crate) mod action {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "action",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "davit:plugin/types": super::hook::davit::plugin::types,
            "davit:plugin/log": super::hook::davit::plugin::log,
            "davit:plugin/command": super::hook::davit::plugin::command,
        },
    });
}

pub(crate) mod package {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "%package",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "davit:plugin/types": super::hook::davit::plugin::types,
            "davit:plugin/log": super::hook::davit::plugin::log,
            "davit:plugin/command": super::hook::davit::plugin::command,
            "davit:plugin/files": super::action::davit::plugin::files,
        },
    });
}

pub(crate) use hook::davit::plugin::{command, log, types};
