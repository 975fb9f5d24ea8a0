//! The command's arguments: `args` as one string, or `arg1`, `arg2`, … one by one.

use davit_sdk::HookContext;

/// The arguments, with `{target-root}` replaced by the target root (nothing on a live host), so
/// that `{target-root}/opt/app` names the install destination `/opt/app` on the host.
pub fn from_params(ctx: &HookContext) -> Result<Vec<String>, String> {
    let root = ctx.target_root.trim_end_matches('/');
    Ok(raw(ctx)?
        .into_iter()
        .map(|arg| arg.replace("{target-root}", root))
        .collect())
}

fn raw(ctx: &HookContext) -> Result<Vec<String>, String> {
    let numbered: Vec<String> = (1..)
        .map_while(|i| ctx.param(&format!("arg{i}")).map(str::to_string))
        .collect();
    let highest = ctx
        .parameters
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("arg")?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    if highest > numbered.len() {
        return Err(format!(
            "parameter `arg{highest}` is given but `arg{}` is not: number arguments from `arg1` without gaps",
            numbered.len() + 1
        ));
    }
    match ctx.param("args") {
        Some(_) if !numbered.is_empty() => {
            Err("give the arguments either as `args` or as `arg1`, `arg2`, …, not both".to_string())
        }
        Some(args) => split(args).map_err(|e| format!("parameter `args`: {e}")),
        None => Ok(numbered),
    }
}

/// Splits on white space; `"…"` keeps white space inside an argument, and `\"` or `\\` inside
/// quotes stand for `"` and `\`.
pub fn split(text: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut current: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let arg = current.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated `\"` in `{text}`")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => arg.push(e),
                            Some(other) => {
                                arg.push('\\');
                                arg.push(other);
                            }
                            None => return Err(format!("unterminated `\"` in `{text}`")),
                        },
                        Some(other) => arg.push(other),
                    }
                }
            }
            c if c.is_whitespace() => args.extend(current.take()),
            c => current.get_or_insert_with(String::new).push(c),
        }
    }
    args.extend(current);
    Ok(args)
}

/// The command line as a person would type it, for messages.
pub fn display(program: &str, args: &[String]) -> String {
    let mut line = program.to_string();
    for arg in args {
        line.push(' ');
        if arg.is_empty() || arg.contains(char::is_whitespace) || arg.contains('"') {
            line.push('"');
            line.push_str(&arg.replace('\\', "\\\\").replace('"', "\\\""));
            line.push('"');
        } else {
            line.push_str(arg);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_quotes() {
        assert_eq!(split("restart  app").unwrap(), ["restart", "app"]);
        assert_eq!(
            split(r#"-c "a b" x"y z"w "" "q\"\\""#).unwrap(),
            ["-c", "a b", "xy zw", "", "q\"\\"]
        );
        assert_eq!(split("  ").unwrap(), Vec::<String>::new());
        assert!(split(r#"a "b"#).is_err());
        assert_eq!(
            display("/bin/echo", &split(r#"a "b c" "" "d\"e""#).unwrap()),
            r#"/bin/echo a "b c" "" "d\"e""#
        );
    }
}
