//! Attack: run a granted program under another name for the same file: with `..`
//! (`/usr/bin/../bin/kill`), `.`, doubled or trailing slashes, or a link to it (`/usr/bin/kill`
//! for `/bin/kill`; the parameter `aliases`, `|`-separated), hoping that the grant is checked on
//! one name and another is run.

use attack_kit::{Tally, control};
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let program = ctx.param_or("program", "/bin/kill");
        let others = ctx.param_or("aliases", "");
        let allowed = ctx.require_param("control")?;
        control("-0 <control>", command::run(program, &["-0", allowed]))?;
        let (dir, name) = program.rsplit_once('/').ok_or("program has no `/`")?;
        let parent = dir.rsplit_once('/').map_or("", |(_, p)| p);
        let mut aliases = vec![
            format!("{dir}/../{parent}/{name}"),
            format!("{dir}/./{name}"),
            format!("{dir}//{name}"),
            format!("/{program}"),
            format!("{program}/"),
        ];
        aliases.extend(
            others
                .split('|')
                .filter(|a| !a.is_empty())
                .map(str::to_string),
        );
        let mut tally = Tally::default();
        for alias in &aliases {
            tally.denied(
                &format!("{alias} -0 <control>"),
                command::run(alias, &["-0", allowed]),
            );
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
