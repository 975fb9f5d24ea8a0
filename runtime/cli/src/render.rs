//! The one error renderer: `error: …`, then `Caused by: …` lines, then `hint: …`.

use std::io::IsTerminal;

/// An error with a hint that says how to fix it.
#[derive(Debug)]
pub struct Hinted {
    pub error: anyhow::Error,
    pub hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Attaches a hint to an error.
pub fn hint(error: impl Into<anyhow::Error>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        error: error.into(),
        hint: hint.into(),
    })
}

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn paint(text: &str, code: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Writes `error` to stderr in davit's format.
pub fn error(error: &anyhow::Error) {
    eprint!("{}", format_error(error));
}

/// Formats an error chain; a message that already contains its cause's text is not repeated.
pub fn format_error(error: &anyhow::Error) -> String {
    let mut hints = Vec::new();
    let mut messages: Vec<String> = Vec::new();
    for cause in error.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            hints.push(h.hint.clone());
        }
        let text = cause.to_string();
        if messages.last().is_some_and(|prev| prev.contains(&text)) {
            continue;
        }
        messages.push(text);
    }
    let mut out = String::new();
    let mut lines = messages.iter();
    if let Some(first) = lines.next() {
        out.push_str(&format!("{} {first}\n", paint("error:", "1;31")));
    }
    for cause in lines {
        out.push_str(&format!("  {} {cause}\n", paint("Caused by:", "1")));
    }
    for h in hints {
        out.push_str(&format!("{} {h}\n", paint("hint:", "1;36")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn chain_then_hint() {
        let err = Err::<(), _>(std::io::Error::other("disk full"))
            .context("writing `journal.json`")
            .map_err(|e| hint(e, "free some space"))
            .unwrap_err();
        assert_eq!(
            format_error(&err),
            "error: writing `journal.json`\n  Caused by: disk full\nhint: free some space\n"
        );
    }
}
