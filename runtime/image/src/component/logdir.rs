//! The log directory of one run, as `awstoe run` writes it: `TOE_<date>_<runId>/` with
//! `document.yaml`, `application.log` (what the runner did), `console.log` (what the actions
//! printed), `detailedoutput.json` and `chaining.json`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// An open log directory.
pub struct LogDir {
    dir: PathBuf,
    application: Mutex<File>,
    console: Mutex<File>,
}

impl LogDir {
    /// Creates `TOE_<date>_<run_id>` in `parent` (made if missing) with `document.yaml`.
    ///
    /// # Errors
    ///
    /// When the directory or its files cannot be written.
    pub fn create(parent: &Path, run_id: &str, document: &str) -> std::io::Result<Self> {
        let t = time::OffsetDateTime::now_utc();
        let date = format!(
            "{:04}-{:02}-{:02}_{:02}-{:02}-{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let dir = parent.join(format!("TOE_{date}_{run_id}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("document.yaml"), document)?;
        Ok(Self {
            application: Mutex::new(File::create(dir.join("application.log"))?),
            console: Mutex::new(File::create(dir.join("console.log"))?),
            dir,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A line of `application.log`, timestamped.
    pub fn app(&self, line: &str) {
        if let Ok(mut f) = self.application.lock() {
            let _ = writeln!(f, "{} {line}", super::report::now());
        }
    }

    /// A line an action printed, in `console.log`, prefixed with its step.
    pub fn console(&self, step: &str, line: &str) {
        if let Ok(mut f) = self.console.lock() {
            let _ = writeln!(f, "[{step}] {line}");
        }
    }

    /// Writes `name` as pretty JSON, through a temporary file renamed into place.
    ///
    /// # Errors
    ///
    /// When it cannot be written.
    pub fn json<T: Serialize>(&self, name: &str, value: &T) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(tmp, self.dir.join(name))
    }
}
