//! What the link, command, service and file-system attacks share: the preopened directory a
//! guest path names, planting a link in it, and a tally that tells a refusal from an attack that
//! worked. Not a guest itself: a library the guests link.
//!
//! A guest makes its hostile calls through a [`Tally`] and returns [`Tally::verdict`]: `Ok(())`
//! (the attack worked) as soon as one call was not refused, else `Err("contained: …")` listing
//! every refusal, as the suite's convention wants.

use davit_sdk::command::{CommandError, Output};
use davit_sdk::prelude::*;
use wasip2::filesystem::types::Descriptor;

/// The preopened directory the guest sees at `path` (like `/work`).
///
/// # Errors
///
/// When no directory is preopened there.
pub fn preopen(path: &str) -> Result<Descriptor, String> {
    wasip2::filesystem::preopens::get_directories()
        .into_iter()
        .find(|(_, p)| p == path)
        .map(|(d, _)| d)
        .ok_or_else(|| format!("no `{path}` preopen"))
}

/// Plants the link `name -> target` in the preopened directory `dir`.
///
/// # Errors
///
/// When the sandbox refuses to create it.
pub fn plant(dir: &str, target: &str, name: &str) -> Result<(), String> {
    preopen(dir)?
        .symlink_at(target, name)
        .map_err(|e| format!("planting `{name}` -> `{target}` in `{dir}`: {e:?}"))
}

/// A call that must succeed for the attack to mean anything (the grant works for what it
/// allows), with what it printed.
///
/// # Errors
///
/// A message that does not start with `contained:`, so the host test fails on it.
pub fn control(what: &str, result: Result<Output, CommandError>) -> Result<String, String> {
    match result {
        Ok(out) if out.success() => {
            let stdout = out.stdout_lossy().trim_end().to_string();
            info!("granted: {stdout}");
            Ok(stdout)
        }
        Ok(out) => Err(format!(
            "control `{what}` failed: {}",
            out.status_description()
        )),
        Err(e) => Err(format!("control `{what}` failed: {e:?}")),
    }
}

/// What a hostile call produced when it was not refused, shown in the log.
pub trait Ran {
    /// One line saying what happened.
    fn shown(&self) -> String;
}

impl Ran for Output {
    fn shown(&self) -> String {
        format!(
            "{} printed {:?}",
            self.status_description(),
            self.stdout_lossy()
        )
    }
}

impl Ran for u32 {
    fn shown(&self) -> String {
        format!("started as pid {self}")
    }
}

impl Ran for () {
    fn shown(&self) -> String {
        "done".to_string()
    }
}

impl Ran for String {
    fn shown(&self) -> String {
        format!("read {self:?}")
    }
}

impl Ran for Vec<u8> {
    fn shown(&self) -> String {
        format!("read {:?}", String::from_utf8_lossy(self))
    }
}

impl Ran for Descriptor {
    fn shown(&self) -> String {
        "opened".to_string()
    }
}

/// The hostile calls of one hook and how each ended.
#[derive(Default)]
pub struct Tally {
    refused: Vec<String>,
    escaped: Vec<String>,
}

impl Tally {
    /// A native command that the sandbox must deny before it runs anything: only
    /// [`CommandError::Denied`] counts as contained (`SpawnFailed` means the host tried).
    pub fn denied<T: Ran>(&mut self, what: &str, result: Result<T, CommandError>) {
        match result {
            Err(CommandError::Denied(why)) => self.refuse(what, format!("Denied({why})")),
            Err(other) => self.escape(what, format!("not denied: {other:?}")),
            Ok(ran) => self.escape(what, ran.shown()),
        }
    }

    /// A call of any kind (a WASI one, say) that must fail.
    pub fn refused<T: Ran, E: std::fmt::Debug>(&mut self, what: &str, result: Result<T, E>) {
        match result {
            Err(e) => self.refuse(what, format!("{e:?}")),
            Ok(ran) => self.escape(what, ran.shown()),
        }
    }

    fn refuse(&mut self, what: &str, why: String) {
        info!("refused: {what}: {why}");
        self.refused.push(format!("{what}: {why}"));
    }

    fn escape(&mut self, what: &str, how: String) {
        info!("escaped: {what}: {how}");
        self.escaped.push(format!("{what}: {how}"));
    }

    /// `Ok(())` when any call got through (the attack worked), else `Err("contained: …")`.
    ///
    /// # Errors
    ///
    /// `contained: N refused: …` when every call was refused.
    pub fn verdict(self) -> Result<(), String> {
        if self.escaped.is_empty() {
            Err(format!(
                "contained: {} refused: {}",
                self.refused.len(),
                self.refused.join("; ")
            ))
        } else {
            Ok(())
        }
    }
}
