//! Attack: recurse until the wasm call stack runs out.

use davit_sdk::prelude::*;

struct Attack;

#[inline(never)]
#[allow(unconditional_recursion)]
fn dive(depth: u64) -> u64 {
    dive(std::hint::black_box(depth + 1)).wrapping_add(depth)
}

impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        let n = dive(0);
        Err(format!("unreachable: {n}"))
    }
}

davit_sdk::export_hook!(Attack);
