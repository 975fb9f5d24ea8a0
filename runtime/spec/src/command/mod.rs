//! [`CommandGrant`]: a native program a hook may run, with patterns for its arguments.

mod arg;

use std::fmt;
use std::path::Path;

use crate::error::ValueError;
use crate::path::AbsPath;

pub use arg::ArgPattern;

/// A native command a hook may run: this exact program, with arguments matching these patterns
/// position by position (see [`ArgPattern`] for the syntax). Nothing here ever goes through a
/// shell.
///
/// ```
/// use std::path::Path;
/// use davit_spec::{AbsPath, ArgPattern, CommandGrant};
///
/// let args = ["-m", "http.server", "*", "--directory", "{target-root}/opt/www"];
/// let grant = CommandGrant::new(
///     AbsPath::try_from("/usr/bin/python3").unwrap(),
///     args.iter().map(|a| ArgPattern::try_from(*a).unwrap()).collect(),
/// )
/// .unwrap()
/// .resolve(Path::new("/"));
/// let run = |args: &[&str]| {
///     let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
///     grant.allows("/usr/bin/python3", &args).is_some()
/// };
/// assert!(run(&["-m", "http.server", "8080", "--directory", "/opt/www"]));
/// assert!(!run(&["-m", "http.server", "-c", "--directory", "/opt/www"]));
/// assert!(!run(&["-m", "http.server", "8080"]));
/// assert!(!run(&["-c", "http.server", "8080", "--directory", "/opt/www"]));
///
/// // `{path:DIR}`: the sandbox is told which arguments to resolve beneath which directory.
/// let cat = CommandGrant::new(
///     AbsPath::try_from("/bin/cat").unwrap(),
///     vec![ArgPattern::try_from("{path:/var/lib/app}").unwrap()],
/// )
/// .unwrap();
/// let paths = cat.allows("/bin/cat", &["/var/lib/app/state".to_owned()]).unwrap();
/// assert_eq!((paths[0].index, paths[0].under.as_str()), (0, "/var/lib/app"));
/// assert!(cat.allows("/bin/cat", &["/etc/shadow".to_owned()]).is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommandGrant {
    /// The program, an absolute path compared exactly.
    pub program: AbsPath,
    /// One pattern per argument; only the last may be a lone `**`.
    pub args: Vec<ArgPattern>,
}

/// An argument of an allowed invocation that matched a `{path:DIR}` pattern: the sandbox must
/// resolve it beneath `under` (links followed, never out of it) before it runs the program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathArg {
    /// Its index in the arguments (0 for the first argument after the program).
    pub index: usize,
    /// The directory it must lie under, as the hook sees it.
    pub under: AbsPath,
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
    /// UTF-8, not a clean absolute path (`.`, `..` or empty components) or has a control
    /// character leaves the placeholder unresolved, so arguments using it match nothing.
    /// `{path:…}` directories are paths as the hook sees them and are not changed.
    pub fn resolve(&self, target_root: &Path) -> Self {
        let Some(root) = target_root.to_str() else {
            return self.clone();
        };
        let root = root.trim_end_matches('/');
        let clean = root.is_empty()
            || (!root.chars().any(char::is_control)
                && AbsPath::try_from(root).is_ok_and(|p| p.as_str() == root));
        if !clean {
            return self.clone();
        }
        Self {
            program: self.program.clone(),
            args: self.args.iter().map(|a| a.resolve(root)).collect(),
        }
    }

    /// Whether running `program` with `args` is allowed: the exact program, the right number of
    /// arguments, each matching its pattern (every one beyond a trailing lone `**` as `*`).
    ///
    /// `None` if refused. `Some` lists the arguments that matched a `{path:DIR}` pattern, in
    /// order: each is allowed only once the sandbox has resolved it beneath its directory.
    pub fn allows(&self, program: &str, args: &[String]) -> Option<Vec<PathArg>> {
        if program != self.program.as_str() {
            return None;
        }
        let (fixed, rest) = match self.args.split_last() {
            Some((last, fixed)) if last.is_rest() => (fixed, Some(last)),
            _ => (self.args.as_slice(), None),
        };
        let arity = match rest {
            Some(_) => args.len() >= fixed.len(),
            None => args.len() == fixed.len(),
        };
        if !arity {
            return None;
        }
        let mut paths = Vec::new();
        for (index, (pattern, arg)) in fixed.iter().zip(args).enumerate() {
            if !pattern.matches(arg) {
                return None;
            }
            if let Some(dir) = pattern.path_under() {
                paths.push(PathArg {
                    index,
                    under: dir.clone(),
                });
            }
        }
        if let Some(rest) = rest
            && !args[fixed.len()..].iter().all(|a| rest.matches(a))
        {
            return None;
        }
        Some(paths)
    }

    /// Whether every invocation `request` allows is also allowed by `self`. On refusal, the
    /// 1-based argument position that is not covered (0 for a different program).
    ///
    /// A policy `**` covers each remaining requested argument that `*` covers; a request that
    /// ends in a lone `**` is covered only by a policy `**` at or before it.
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
                Some(mine) if mine.is_rest() => {
                    return match request.args[i..].iter().position(|r| !mine.subsumes(r)) {
                        Some(j) => Err(i + j + 1),
                        None => Ok(()),
                    };
                }
                Some(mine) if mine.subsumes(requested) => {}
                _ => return Err(i + 1),
            }
        }
        match self.args.get(request.args.len()) {
            Some(mine) if !mine.is_rest() => Err(request.args.len() + 1),
            _ => Ok(()),
        }
    }

    /// The policy's pattern at 1-based `position`: a trailing `**` stands for every position
    /// from its own on.
    pub fn pattern_at(&self, position: usize) -> Option<&ArgPattern> {
        let i = position.checked_sub(1)?;
        self.args
            .get(i)
            .or_else(|| self.args.last().filter(|last| last.is_rest()))
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

    impl CommandGrant {
        fn ok(&self, program: &str, args: &[&str]) -> bool {
            self.allows(program, &strings(args)).is_some()
        }
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
        assert!(g.ok("/usr/bin/git", &["-C", "/srv/app", "pull"]));
        assert!(!g.ok("git", &["-C", "/srv/app", "pull"]));
        assert!(!g.ok("/usr/bin/git", &["-C", "/srv/app"]));
        assert!(!g.ok("/usr/bin/git", &["-C", "/srv/app", "pull", "x"]));
        assert!(!g.ok("/usr/bin/git", &["-C", "/srv/../etc", "pull"]));
        let rest = cmd("/bin/echo", &["hi", "**"]);
        assert!(rest.ok("/bin/echo", &["hi"]));
        assert!(rest.ok("/bin/echo", &["hi", "a", "b"]));
        assert!(!rest.ok("/bin/echo", &["ho"]));
    }

    /// Issue 8: `*` matched option-like arguments, so `/bin/kill -0 *` ran `kill -0 -1`.
    #[test]
    fn star_does_not_match_options_issue_8() {
        let kill = cmd("/bin/kill", &["-TERM", "*"]);
        assert!(kill.ok("/bin/kill", &["-TERM", "4242"]));
        for bad in [
            "-1", "--", "-9", "", "1
2",
        ] {
            assert!(!kill.ok("/bin/kill", &["-TERM", bad]), "{bad:?}");
        }
        let echo = cmd("/bin/echo", &["hi", "**"]);
        assert!(
            !echo.ok("/bin/echo", &["hi", "a", "-e"]),
            "`**` checks every argument"
        );
        assert!(!echo.ok("/bin/echo", &["hi", ""]));
        let any = cmd("/bin/kill", &["{any}"]);
        assert!(any.ok("/bin/kill", &["-1"]), "`{any}` says so explicitly");
    }

    #[test]
    fn allows_reports_path_arguments() {
        let g = cmd(
            "/bin/cp",
            &["-a", "{path:/srv/in}", "{path:/srv/out}", "**"],
        );
        let paths = g
            .allows("/bin/cp", &strings(&["-a", "/srv/in/x", "/srv/out/", "y"]))
            .unwrap();
        let shown: Vec<_> = paths.iter().map(|p| (p.index, p.under.as_str())).collect();
        assert_eq!(shown, [(1, "/srv/in"), (2, "/srv/out")]);
        assert!(!g.ok("/bin/cp", &["-a", "/srv/out/x", "/srv/out/"]));
        assert_eq!(
            cmd("/bin/true", &[]).allows("/bin/true", &[]),
            Some(Vec::new())
        );
    }

    #[test]
    fn resolve_fills_the_target_root() {
        let g = cmd("/bin/ls", &["{target-root}/opt"]);
        let run = |g: &CommandGrant, a: &str| g.ok("/bin/ls", &[a]);
        assert!(!run(&g, "/opt"), "unresolved");
        assert!(run(&g.resolve(Path::new("/")), "/opt"));
        assert!(run(&g.resolve(Path::new("/srv/root/")), "/srv/root/opt"));
        assert_eq!(
            g.resolve(Path::new("/srv/root")).to_string(),
            "/bin/ls /srv/root/opt"
        );
        for unclean in ["/srv/../etc", "/srv/./x", "srv", "/srv/a\nb"] {
            assert!(
                !run(
                    &g.resolve(Path::new(&unclean)),
                    &format!("{}/opt", unclean.trim_end_matches('/'))
                ),
                "{unclean:?}"
            );
        }
        let p = cmd("/bin/ls", &["{path:/opt}"]);
        assert_eq!(p.resolve(Path::new("/srv/root")), p, "a guest path");
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
        let rest = cmd("/bin/echo", &["hi", "**"]);
        assert_eq!(rest.covers(&cmd("/bin/echo", &["hi", "a", "-e"])), Err(3));
        assert_eq!(
            rest.covers(&cmd("/bin/echo", &["hi", "a", "{any}"])),
            Err(3)
        );
        assert_eq!(rest.covers(&cmd("/bin/echo", &["hi", "*", "**"])), Ok(()));
        assert_eq!(rest.pattern_at(3).map(ArgPattern::as_str), Some("**"));
        assert_eq!(cmd("/bin/echo", &["hi"]).pattern_at(2), None);
        let kill = cmd("/bin/kill", &["-TERM", "*"]);
        assert_eq!(kill.covers(&cmd("/bin/kill", &["-TERM", "-1"])), Err(2));
        assert_eq!(kill.covers(&cmd("/bin/kill", &["-TERM", "{any}"])), Err(2));
        assert_eq!(kill.covers(&cmd("/bin/kill", &["-TERM", "42"])), Ok(()));
        let any = cmd("/bin/kill", &["-TERM", "{any}"]);
        assert_eq!(any.covers(&kill), Ok(()));
    }

    #[test]
    fn display_quotes_awkward_args() {
        assert_eq!(
            cmd("/bin/sh", &["", "a b", "it's"]).to_string(),
            "/bin/sh '' 'a b' 'it'\\''s'"
        );
    }
}
