//! Dry runs: what a guest asks the host to do, recorded instead of done.
//!
//! Every effect of a component goes through a grant, so a host that holds a [`Recorder`] can
//! check each request as it always does and then write it down instead of acting on it: a
//! granted command is not run (the guest sees it succeed with no output), a granted service is
//! not started, a granted HTTP request or tcp connection is not sent (the guest sees it fail).
//! Requests the grants refuse are refused as ever. Files are the caller's part: it mounts
//! copies of the directories the guest may write (see `davit_fsroot::tree`) and compares them
//! after.

use std::sync::Mutex;

/// One effect a guest asked for and was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `command.run`: program and arguments as the guest passed them.
    Command { program: String, args: Vec<String> },
    /// `command.spawn`: a service it would have started.
    Service { program: String, args: Vec<String> },
    /// An outgoing HTTP request.
    Http { method: String, url: String },
    /// A tcp connection to this address.
    Tcp { address: String },
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = |program: &str, args: &[String]| {
            std::iter::once(program.to_owned())
                .chain(args.iter().map(|a| format!("{a:?}")))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Effect::Command { program, args } => write!(f, "run {}", line(program, args)),
            Effect::Service { program, args } => write!(f, "start {}", line(program, args)),
            Effect::Http { method, url } => write!(f, "{method} {url}"),
            Effect::Tcp { address } => write!(f, "connect to {address}"),
        }
    }
}

/// The effects of the invocations it is given to, in the order they were asked for.
#[derive(Debug, Default)]
pub struct Recorder {
    effects: Mutex<Vec<Effect>>,
}

impl Recorder {
    pub(crate) fn push(&self, effect: Effect) {
        self.effects.lock().expect("recorder").push(effect);
    }

    /// The effects recorded since the last call.
    pub fn take(&self) -> Vec<Effect> {
        std::mem::take(&mut *self.effects.lock().expect("recorder"))
    }
}
