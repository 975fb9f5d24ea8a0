//! Attack: name a granted program relatively (`sleep`, found on the child's `PATH`; `bin/sleep`,
//! `./sleep`, `../bin/sleep` from the child's working directory) or with stray spaces, and start
//! it as a service.

use attack_kit::Tally;
use davit_sdk::prelude::*;

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        let marker = ctx.require_param("marker")?;
        let pid = command::spawn("/bin/sleep", &[marker], None)
            .map_err(|e| format!("control `/bin/sleep {marker}` failed: {e:?}"))?;
        info!("granted: pid {pid}");
        let mut tally = Tally::default();
        let programs = [
            "sleep",
            "bin/sleep",
            "./sleep",
            "usr/bin/sleep",
            "../bin/sleep",
            " /bin/sleep",
            "/bin/sleep ",
            "",
        ];
        for program in programs {
            tally.denied(
                &format!("spawn {program:?}"),
                command::spawn(program, &[marker], None),
            );
        }
        tally.verdict()
    }
}

davit_sdk::export_hook!(Attack);
