//! BeforeInstall: logs what is being deployed, and makes sure the directories the other hooks write
//! to exist.
//!
//! Parameters: `config_dir` (`/etc/hello-web`), `state_dir` (`/var/lib/hello-web`).
//! Grants: read-write on both directories.

use std::fs;

use davit_sdk::prelude::*;

struct BeforeInstall;

impl Hook for BeforeInstall {
    fn run(ctx: HookContext) -> Result<(), String> {
        let d = ctx.deployment().ok_or("this hook runs in a deployment")?;
        info!(
            "{} of deployment {}: application {}, group {}, revision {}",
            ctx.step(),
            d.id,
            d.application,
            d.deployment_group,
            d.revision
        );
        match &d.last_good_revision {
            Some(last) => info!("replacing revision {last}"),
            None => info!("first deployment here"),
        }
        debug!(
            "bundle at {}, target root {}",
            ctx.bundle_dir, ctx.target_root
        );
        for (name, value) in &ctx.parameters {
            debug!("parameter {name} = {value}");
        }

        for (param, default) in [
            ("config_dir", "/etc/hello-web"),
            ("state_dir", "/var/lib/hello-web"),
        ] {
            ensure_dir(ctx.param_or(param, default))?;
        }
        Ok(())
    }
}

fn ensure_dir(dir: &str) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            info!("{dir} exists");
            Ok(())
        }
        Ok(_) => Err(format!("`{dir}` exists but is not a directory")),
        Err(_) => {
            fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "`{dir}` does not exist and cannot be created: {e} (is it granted read-write?)"
                )
            })?;
            info!("created {dir}");
            Ok(())
        }
    }
}

davit_sdk::export_hook!(BeforeInstall);
