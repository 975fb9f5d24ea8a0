//! Attack: empty the granted directory and replace its subdirectory `etc` with a link out
//! (`etc -> ../outside`), so that a later hook granted `/…/etc` gets the directory it points at;
//! then, in that later invocation (`phase=2`), read through the link.

use attack_kit::{Tally, plant, preopen};
use davit_sdk::prelude::*;
use wasip2::filesystem::types::{Descriptor, DescriptorType};

/// Removes everything under `path` in `dir` (not `path` itself when it is `.`).
fn empty(dir: &Descriptor, path: &str) -> Result<(), String> {
    let sub = if path == "." {
        None
    } else {
        Some(
            dir.open_at(
                wasip2::filesystem::types::PathFlags::empty(),
                path,
                wasip2::filesystem::types::OpenFlags::DIRECTORY,
                wasip2::filesystem::types::DescriptorFlags::READ
                    | wasip2::filesystem::types::DescriptorFlags::MUTATE_DIRECTORY,
            )
            .map_err(|e| format!("open {path}: {e:?}"))?,
        )
    };
    let here = sub.as_ref().unwrap_or(dir);
    let entries = here
        .read_directory()
        .map_err(|e| format!("list {path}: {e:?}"))?;
    let mut names = Vec::new();
    while let Some(entry) = entries
        .read_directory_entry()
        .map_err(|e| format!("{e:?}"))?
    {
        names.push((entry.name, entry.type_));
    }
    for (name, kind) in names {
        if kind == DescriptorType::Directory {
            empty(here, &name)?;
            here.remove_directory_at(&name)
                .map_err(|e| format!("rmdir {name}: {e:?}"))?;
        } else {
            here.unlink_file_at(&name)
                .map_err(|e| format!("rm {name}: {e:?}"))?;
        }
    }
    Ok(())
}

struct Attack;
impl Hook for Attack {
    fn run(ctx: HookContext) -> Result<(), String> {
        if ctx.param("phase") == Some("2") {
            let mut tally = Tally::default();
            tally.refused(
                "read /app/etc/secret",
                std::fs::read_to_string("/app/etc/secret"),
            );
            tally.refused("list /app/etc/", std::fs::read_dir("/app/etc/").map(|_| ()));
            tally.refused(
                "write /app/etc/planted",
                std::fs::write("/app/etc/planted", "x"),
            );
            return tally.verdict();
        }
        let app = preopen("/app")?;
        empty(&app, ".")?;
        plant("/app", "../outside", "etc")?;
        info!("planted `etc -> ../outside`");
        Err("contained: nothing escapes until a later hook is granted `etc`".into())
    }
}

davit_sdk::export_hook!(Attack);
