//! [`CommandGrant`]: a native program a hook may run, with patterns for its arguments.

mod arg;

use std::fmt;
use std::path::Path;

use crate::error::ValueError;
use crate::path::AbsPath;

pub use arg::ArgPattern;

/// A native command a hook may run: this exact program, with arguments matching these patterns
/// position by position. Nothing here ever goes through a shell.
///
/// ```
/// use std::path::Path;
/// use davit_spec::{AbsPath, ArgPattern, CommandGrant};
///
/// let args = ["-m", "http.server", "*", "--directory", "{target-root}/opt/www"];
/// let grant = CommandGrant::new(
///     AbsPath::try_from("/usr/bin/python3").unwrap(),
///     args.iter().map(|a| ArgPattern::try_from(*a)).collect::<Result<_, _>>().unwrap(),
/// )
/// .unwrap()
/// .resolve(Path::new("/"));
/// let run = |args: &[&str]| {
///     grant.allows("/usr/bin/python3", &args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
/// };
/// assert!(run(&["-m", "http.server", "8080", "--directory", "/opt/www"]));
/// assert!(!run(&["-m", "http.server", "8080"]));
/// assert!(!run(&["-c", "http.server", "8080", "--directory", "/opt/www"]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommandGrant {
    /// The program, an absolute path compared exactly.
    pub program: AbsPath,
    /// One pattern per argument; only the last may be a lone `**`.
    pub args: Vec<ArgPattern>,
}

impl CommandGrant {
    /// A grant for `program` with `args`.
    ///
    /// # Errors
    ///
    /// [`ValueError::DoubleStarNotLast`] if a lone `**` is not the last pattern.
    pub fn new(program: AbsPath, args: Vec<ArgPattern>) -> Result<Self, ValueError> {
        if let Some(i) = args.iter().position(ArgPattern::is_rest)
            && i + 1 != args.len()
        {
            return Err(ValueError::DoubleStarNotLast { position: i + 1 });
        }
        Ok(Self { program, args })
    }

    /// The grant with `{target-root}` replaced by `target_root` (`/` becomes the empty string,
    /// so `{target-root}/opt` is `/opt`; trailing slashes are dropped). A root that is not
    /// UTF-8 leaves the placeholder unresolved, so arguments using it match nothing.
    pub fn resolve(&self, target_root: &Path) -> Self {
        let Some(root) = target_root.to_str() else {
            return self.clone();
        };
        let root = root.trim_end_matches('/');
        Self {
            program: self.program.clone(),
            args: self.args.iter().map(|a| a.resolve(root)).collect(),
        }
    }

    /// Whether running `program` with `args` is allowed: the exact program, the right number of
    /// arguments, each matching its pattern.
    pub fn allows(&self, program: &str, args: &[String]) -> bool {
        if program != self.program.as_str() {
            return false;
        }
        let (fixed, rest) = match self.args.split_last() {
            Some((last, fixed)) if last.is_rest() => (fixed, true),
            _ => (self.args.as_slice(), false),
        };
        let arity = if rest {
            args.len() >= fixed.len()
        } else {
            args.len() == fixed.len()
        };
        arity && fixed.iter().zip(args).all(|(p, a)| p.matches(a))
    }

    /// Whether every invocation `request` allows is also allowed by `self`. On refusal, the
    /// 1-based argument position that is not covered (0 for a different program).
    ///
    /// A request that ends in a lone `**` is covered only by a policy `**` at or before it.
    ///
    /// # Errors
    ///
    /// The first position at which `request` is not covered.
    pub fn covers(&self, request: &CommandGrant) -> Result<(), usize> {
        if self.program != request.program {
            return Err(0);
        }
        for (i, requested) in request.args.iter().enumerate() {
            match self.args.get(i) {
                Some(mine) if mine.is_rest() => return Ok(()),
                Some(mine) if mine.subsumes(requested) => {}
                _ => return Err(i + 1),
            }
        }
        match self.args.get(request.args.len()) {
            Some(mine) if !mine.is_rest() => Err(request.args.len() + 1),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for CommandGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(program: &str, args: &[&str]) -> CommandGrant {
        let args = args
            .iter()
            .map(|a| ArgPattern::try_from(*a).unwrap())
            .collect();
        CommandGrant::new(AbsPath::try_from(program).unwrap(), args).unwrap()
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn double_star_only_last() {
        let args = ["a", "**", "b"]
            .map(|a| ArgPattern::try_from(a).unwrap())
            .to_vec();
        let err = CommandGrant::new(AbsPath::try_from("/bin/x").unwrap(), args).unwrap_err();
        assert_eq!(err, ValueError::DoubleStarNotLast { position: 2 });
    }

    #[test]
    fn allows_exact_program_arity_and_patterns() {
        let g = cmd("/usr/bin/git", &["-C", "/srv/*", "pull"]);
        assert!(g.allows("/usr/bin/git", &strings(&["-C", "/srv/app", "pull"])));
        assert!(!g.allows("git", &strings(&["-C", "/srv/app", "pull"])));
        assert!(!g.allows("/usr/bin/git", &strings(&["-C", "/srv/app"])));
        assert!(!g.allows("/usr/bin/git", &strings(&["-C", "/srv/app", "pull", "x"])));
        assert!(!g.allows("/usr/bin/git", &strings(&["-C", "/srv/../etc", "pull"])));
        let rest = cmd("/bin/echo", &["hi", "**"]);
        assert!(rest.allows("/bin/echo", &strings(&["hi"])));
        assert!(rest.allows("/bin/echo", &strings(&["hi", "a", "b"])));
        assert!(!rest.allows("/bin/echo", &strings(&["ho"])));
    }

    #[test]
    fn resolve_fills_the_target_root() {
        let g = cmd("/bin/ls", &["{target-root}/opt"]);
        let run = |g: &CommandGrant, a: &str| g.allows("/bin/ls", &strings(&[a]));
        assert!(!run(&g, "/opt"), "unresolved");
        assert!(run(&g.resolve(Path::new("/")), "/opt"));
        assert!(run(&g.resolve(Path::new("/srv/root/")), "/srv/root/opt"));
        assert_eq!(
            g.resolve(Path::new("/srv/root")).to_string(),
            "/bin/ls /srv/root/opt"
        );
    }

    #[test]
    fn covers() {
        let policy = cmd(
            "/usr/bin/python3",
            &[
                "-m",
                "http.server",
                "*",
                "--directory",
                "{target-root}/opt/hello-web/**",
            ],
        );
        let ok = cmd(
            "/usr/bin/python3",
            &[
                "-m",
                "http.server",
                "*",
                "--directory",
                "{target-root}/opt/hello-web/www",
            ],
        );
        assert_eq!(policy.covers(&ok), Ok(()));
        let literal_port = cmd(
            "/usr/bin/python3",
            &[
                "-m",
                "http.server",
                "8080",
                "--directory",
                "{target-root}/opt/hello-web",
            ],
        );
        assert_eq!(
            policy.covers(&literal_port),
            Err(5),
            "`/opt/hello-web` is not beneath it"
        );
        let escape = cmd(
            "/usr/bin/python3",
            &[
                "-m",
                "http.server",
                "8080",
                "--directory",
                "{target-root}/opt/hello-web/../x",
            ],
        );
        assert_eq!(policy.covers(&escape), Err(5));
        let short = cmd("/usr/bin/python3", &["-m", "http.server"]);
        assert_eq!(policy.covers(&short), Err(3));
        let other = cmd("/usr/bin/python", &["-m"]);
        assert_eq!(policy.covers(&other), Err(0));
        let anything = cmd("/bin/echo", &["**"]);
        assert_eq!(anything.covers(&cmd("/bin/echo", &["a", "**"])), Ok(()));
        assert_eq!(anything.covers(&cmd("/bin/echo", &[])), Ok(()));
        assert_eq!(
            cmd("/bin/echo", &["a"]).covers(&cmd("/bin/echo", &["**"])),
            Err(1)
        );
        assert_eq!(
            cmd("/bin/echo", &["*"]).covers(&cmd("/bin/echo", &["a", "b"])),
            Err(2)
        );
    }

    #[test]
    fn display_quotes_awkward_args() {
        assert_eq!(
            cmd("/bin/sh", &["", "a b", "it's"]).to_string(),
            "/bin/sh '' 'a b' 'it'\\''s'"
        );
    }
}
