//! Attack: a package install that, in a dry run, tries to make each of its effects real. It is
//! granted `/opt/demo` read-write, `/usr/bin/touch MARKER`, `/usr/bin/sleep 2`, one URL and
//! one tcp address (the `SSM_MARKER`, `SSM_HTTP` and `SSM_TCP` arguments), and it
//! - writes, changes, removes and chmods files in `/opt/demo`;
//! - plants a link to `/etc` there and writes through it, and writes `/opt/demo/../escaped`;
//! - runs the granted `touch`, starts the granted `sleep`, runs an ungranted `/bin/sh`;
//! - sends the granted HTTP request and opens the granted tcp connection.
//!
//! It logs what each call answered (`touch: …`, `spawn: …`, `http: …`, `tcp: …`) and fails
//! nothing, so a test compares a dry run's record and the host with a real install's. Its
//! validate passes only when the install's `/opt/demo/new.conf` is there: a dry run's later
//! steps see what its earlier ones wrote.

use attack_net::{connect, get};
use davit_sdk::prelude::*;

struct DryRun;

fn fs(what: &str, result: std::io::Result<()>) {
    info!("{what}: {result:?}");
}

impl Package for DryRun {
    const ACTIONS: &'static [PackageAction] = &[
        PackageAction::Install,
        PackageAction::Uninstall,
        PackageAction::Validate,
    ];

    fn install(ctx: Context) -> Result<(), String> {
        let marker = ctx.require_param("SSM_MARKER")?;
        fs("write new.conf", std::fs::write("/opt/demo/new.conf", "listen=8080"));
        fs("change existing", std::fs::write("/opt/demo/existing", "changed"));
        fs("remove old", std::fs::remove_file("/opt/demo/old"));
        info!(
            "chmod mode-me: {:?}",
            davit_sdk::files::set_mode("/opt/demo/mode-me", 0o600, false)
        );
        info!(
            "plant etc-link: {:?}",
            davit_sdk::files::symlink("/etc", "/opt/demo/etc-link")
        );
        fs(
            "write through etc-link",
            std::fs::write("/opt/demo/etc-link/davit-dry-run", "x"),
        );
        fs("write ../escaped", std::fs::write("/opt/demo/../escaped", "x"));
        info!(
            "touch: {:?}",
            command::run("/usr/bin/touch", &[marker]).map(|o| o.status)
        );
        info!("spawn: {:?}", command::spawn("/usr/bin/sleep", &["2"], None));
        info!(
            "sh: {:?}",
            command::run("/bin/sh", &["-c", &format!("touch {marker}.sh")]).map(|o| o.status)
        );
        info!("http: {:?}", get(ctx.require_param("SSM_HTTP")?, "/install"));
        info!("tcp: {:?}", connect(ctx.require_param("SSM_TCP")?));
        Ok(())
    }

    fn uninstall(_ctx: Context) -> Result<(), String> {
        match std::fs::remove_file("/opt/demo/new.conf") {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    fn validate(_ctx: Context) -> Result<(), String> {
        let conf = std::fs::read_to_string("/opt/demo/new.conf")
            .map_err(|e| format!("/opt/demo/new.conf: {e}"))?;
        if conf != "listen=8080" {
            return Err(format!("/opt/demo/new.conf says {conf}"));
        }
        Ok(())
    }
}

davit_sdk::export_package!(DryRun);
