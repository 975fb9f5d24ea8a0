//! No attack: a package's scripts as a platform team would write them, for the package tests.
//! The package's files hold `payload.txt`; `install` copies it to `/opt/demo/payload.txt` and
//! writes the version to `/opt/demo/version`, `validate` checks both (a payload that says
//! `broken` fails it), `update` rewrites them in place and `uninstall` removes them. Every
//! call appends `ACTION VERSION` to `/opt/demo/calls`, so a test reads the order on the host.
//!
//! Parameters (a package's `SSM_*` arguments): `SSM_FAIL=ACTION` fails that action;
//! `SSM_REBOOT=install` asks for a reboot once per version (a marker under `/opt/demo`).

use std::io::Write;

use davit_sdk::prelude::*;

const DIR: &str = "/opt/demo";

fn step(ctx: &Context) -> Result<&PackageStep, String> {
    ctx.package().ok_or_else(|| "not a package's step".to_owned())
}

fn record(ctx: &Context) -> Result<(), String> {
    let p = step(ctx)?;
    let mut calls = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{DIR}/calls"))
        .map_err(|e| format!("{DIR}/calls: {e}"))?;
    writeln!(calls, "{} {}", p.action.name(), p.version).map_err(|e| e.to_string())?;
    if ctx.param("SSM_FAIL") == Some(p.action.name()) {
        return Err(format!("{} failed as SSM_FAIL asked", p.action.name()));
    }
    Ok(())
}

fn put(ctx: &Context) -> Result<(), String> {
    let p = step(ctx)?;
    let payload = std::fs::read(format!("{}/payload.txt", ctx.bundle_dir))
        .map_err(|e| format!("payload.txt: {e}"))?;
    std::fs::write(format!("{DIR}/payload.txt"), payload).map_err(|e| e.to_string())?;
    std::fs::write(format!("{DIR}/version"), &p.version).map_err(|e| e.to_string())?;
    Ok(())
}

struct Demo;

impl Package for Demo {
    const ACTIONS: &'static [PackageAction] = &[
        PackageAction::Install,
        PackageAction::Uninstall,
        PackageAction::Update,
        PackageAction::Validate,
    ];

    fn install(ctx: Context) -> Result<(), String> {
        record(&ctx)?;
        put(&ctx)?;
        let version = &step(&ctx)?.version;
        let marker = format!("{DIR}/rebooted-{version}");
        if ctx.param("SSM_REBOOT") == Some("install") && std::fs::metadata(&marker).is_err() {
            std::fs::write(&marker, "").map_err(|e| e.to_string())?;
            davit_sdk::reboot::request();
        }
        Ok(())
    }

    fn uninstall(ctx: Context) -> Result<(), String> {
        record(&ctx)?;
        for file in ["payload.txt", "version"] {
            match std::fs::remove_file(format!("{DIR}/{file}")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.to_string()),
                _ => {}
            }
        }
        Ok(())
    }

    fn update(ctx: Context) -> Result<(), String> {
        record(&ctx)?;
        put(&ctx)?;
        let from = step(&ctx)?.previous_version.clone().unwrap_or_default();
        std::fs::write(format!("{DIR}/updated-from"), from).map_err(|e| e.to_string())
    }

    fn validate(ctx: Context) -> Result<(), String> {
        record(&ctx)?;
        let version = std::fs::read_to_string(format!("{DIR}/version"))
            .map_err(|e| format!("{DIR}/version: {e}"))?;
        if version != step(&ctx)?.version {
            return Err(format!("{DIR}/version says {version}"));
        }
        let payload = std::fs::read_to_string(format!("{DIR}/payload.txt"))
            .map_err(|e| format!("{DIR}/payload.txt: {e}"))?;
        if payload.contains("broken") {
            return Err("the payload says it is broken".to_owned());
        }
        Ok(())
    }
}

davit_sdk::export_package!(Demo);
