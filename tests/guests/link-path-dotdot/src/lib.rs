//! Attack: `{path:/work}` arguments that climb out with `..` (through a real subdirectory too,
//! which the kernel would resolve outside): refused by the pattern before anything resolves.

use attack_kit::{Tally, control, preopen};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(_ctx: HookContext) -> Result<(), String> {
        control(
            "cat /work/inside.txt",
            command::run("/bin/cat", &["/work/inside.txt"]),
        )?;
        preopen("/work")?
            .create_directory_at("sub")
            .map_err(|e| format!("mkdir sub: {e:?}"))?;
        let mut tally = Tally::default();
        for path in [
            "/work/../secret",
            "/work/sub/../../secret",
            "/work/./../secret",
            "/work//../secret",
            "/work/sub/../..//secret",
        ] {
            tally.denied(&format!("cat {path}"), command::run("/bin/cat", &[path]));
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
