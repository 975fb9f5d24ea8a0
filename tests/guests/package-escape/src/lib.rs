//! Attack: a package's install script that tries every way out of its grant (read-write
//! `/opt/demo`): `..` out of it, a link it plants itself to `/etc` and writes through, its own
//! package files (mounted read-only), an absolute path no grant covers, and a shell it was not
//! granted. Its uninstall plants another link, where davit's removal of the version could
//! follow it.

use attack_kit::Tally;
use davit_sdk::prelude::*;

struct Escape;

impl Package for Escape {
    const ACTIONS: &'static [PackageAction] = &[PackageAction::Install, PackageAction::Uninstall];

    fn install(ctx: Context) -> Result<(), String> {
        let mut tally = Tally::default();
        tally.refused(
            "write /opt/demo/../escaped",
            std::fs::write("/opt/demo/../escaped", "x"),
        );
        // The link itself may be made (a package installs links); following it out may not.
        let planted = davit_sdk::files::symlink("/etc", "/opt/demo/etc-link");
        info!("planted /opt/demo/etc-link -> /etc: {planted:?}");
        tally.refused(
            "write through /opt/demo/etc-link",
            std::fs::write("/opt/demo/etc-link/davit-escaped", "x"),
        );
        tally.refused(
            "write into the package's own files",
            std::fs::write(format!("{}/planted", ctx.bundle_dir), "x"),
        );
        tally.refused(
            "write /etc/davit-escaped",
            std::fs::write("/etc/davit-escaped", "x"),
        );
        tally.denied(
            "run /bin/sh",
            command::run("/bin/sh", &["-c", "touch /tmp/davit-package-escaped"]),
        );
        tally.verdict()
    }

    fn uninstall(ctx: Context) -> Result<(), String> {
        let mut tally = Tally::default();
        tally.refused(
            "plant a link in the package's own files",
            attack_kit::plant(&ctx.bundle_dir, "/etc", "etc"),
        );
        tally.verdict()
    }
}

davit_sdk::export_package!(Escape);
