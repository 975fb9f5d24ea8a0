//! A step's inputs as the action component receives them: the JSON AWSTOE's documents write
//! (the keys of `runtime/toe/ACTIONS.md`), every default filled in and every chaining reference
//! resolved, so the component never has to know a default.

use davit_toe::{Action, Chain, Condition, Encoding, FromText, Mode, Template, ToeError, Value};
use serde_json::{Map, Value as Json, json};

/// Resolves one template.
fn t(chain: &dyn Chain, template: &Template) -> Result<Json, ToeError> {
    template.resolve(chain).map(Json::String)
}

fn opt(chain: &dyn Chain, template: &Option<Template>) -> Result<Json, ToeError> {
    template.as_ref().map_or(Ok(Json::Null), |t_| t(chain, t_))
}

fn list(chain: &dyn Chain, items: &[Template]) -> Result<Json, ToeError> {
    items
        .iter()
        .map(|i| t(chain, i))
        .collect::<Result<Vec<_>, _>>()
        .map(Json::Array)
}

fn flag(chain: &dyn Chain, v: &Value<bool>) -> Result<Json, ToeError> {
    v.resolve(chain).map(Json::Bool)
}

fn text<T: FromText + Clone + std::fmt::Display>(
    chain: &dyn Chain,
    v: &Value<T>,
) -> Result<Json, ToeError> {
    v.resolve(chain).map(|v| Json::String(v.to_string()))
}

fn mode(chain: &dyn Chain, v: &Option<Value<Mode>>) -> Result<Json, ToeError> {
    v.as_ref().map_or(Ok(Json::Null), |v| text(chain, v))
}

fn enc(chain: &dyn Chain, v: &Value<Encoding>) -> Result<Json, ToeError> {
    text(chain, v)
}

/// Drops `null` entries, so absent optional keys stay absent.
fn obj(pairs: Vec<(&str, Json)>) -> Json {
    let map: Map<String, Json> = pairs
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    Json::Object(map)
}

fn each<T>(items: &[T], f: impl Fn(&T) -> Result<Json, ToeError>) -> Result<Json, ToeError> {
    items
        .iter()
        .map(f)
        .collect::<Result<Vec<_>, _>>()
        .map(Json::Array)
}

/// The inputs of `action` as JSON, resolved through `chain`.
///
/// # Errors
///
/// A chaining reference without a value, or a value that does not type once resolved.
pub fn to_json(action: &Action, chain: &dyn Chain) -> Result<Json, ToeError> {
    let c = chain;
    Ok(match action {
        Action::Assert(cond) => condition(cond, c)?,
        Action::ExecuteBash(b) => obj(vec![("commands", list(c, &b.commands)?)]),
        Action::ExecuteBinary(b) => obj(vec![
            ("path", t(c, &b.path)?),
            (
                "arguments",
                list(c, b.arguments.as_deref().unwrap_or_default())?,
            ),
        ]),
        Action::ExecuteDocument(d) => obj(vec![
            ("document", t(c, &d.document)?),
            (
                "document-s3-bucket-owner",
                opt(c, &d.document_s3_bucket_owner)?,
            ),
            ("phases", opt(c, &d.phases)?),
            (
                "parameters",
                match &d.parameters {
                    Some(ps) => each(ps, |p| {
                        Ok(obj(vec![
                            ("name", t(c, &p.name)?),
                            ("value", t(c, &p.value)?),
                        ]))
                    })?,
                    None => Json::Null,
                },
            ),
        ]),
        Action::S3Download(v) => each(v, |i| {
            Ok(obj(vec![
                ("source", t(c, &i.source)?),
                ("destination", t(c, &i.destination)?),
                ("expectedBucketOwner", opt(c, &i.expected_bucket_owner)?),
                ("overwrite", flag(c, &i.overwrite)?),
            ]))
        })?,
        Action::S3Upload(v) => each(v, |i| {
            Ok(obj(vec![
                ("source", t(c, &i.source)?),
                ("destination", t(c, &i.destination)?),
                ("expectedBucketOwner", opt(c, &i.expected_bucket_owner)?),
                ("recurse", flag(c, &i.recurse)?),
            ]))
        })?,
        Action::WebDownload(v) => each(v, |i| {
            Ok(obj(vec![
                ("source", t(c, &i.source)?),
                ("destination", t(c, &i.destination)?),
                ("overwrite", flag(c, &i.overwrite)?),
                ("checksum", opt(c, &i.checksum)?),
                (
                    "algorithm",
                    match &i.algorithm {
                        Some(a) => text(c, a)?,
                        None => Json::Null,
                    },
                ),
                (
                    "ignoreCertificateErrors",
                    flag(c, &i.ignore_certificate_errors)?,
                ),
            ]))
        })?,
        Action::AppendFile(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("content", content(c, &i.content)?),
                ("encoding", enc(c, &i.encoding)?),
            ]))
        })?,
        Action::CopyFile(v)
        | Action::CopyFolder(v)
        | Action::MoveFile(v)
        | Action::MoveFolder(v) => each(v, |i| {
            Ok(obj(vec![
                ("source", t(c, &i.source)?),
                ("destination", t(c, &i.destination)?),
                ("overwrite", flag(c, &i.overwrite)?),
            ]))
        })?,
        Action::CreateFile(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("content", content(c, &i.content)?),
                ("encoding", enc(c, &i.encoding)?),
                ("owner", opt(c, &i.owner)?),
                ("group", opt(c, &i.group)?),
                ("permissions", mode(c, &i.permissions)?),
                ("overwrite", flag(c, &i.overwrite)?),
            ]))
        })?,
        Action::CreateFolder(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("owner", opt(c, &i.owner)?),
                ("group", opt(c, &i.group)?),
                ("permissions", mode(c, &i.permissions)?),
                ("overwrite", flag(c, &i.overwrite)?),
            ]))
        })?,
        Action::CreateSymlink(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("target", t(c, &i.target)?),
                ("force", flag(c, &i.force)?),
            ]))
        })?,
        Action::DeleteFile(v) | Action::DeleteFolder(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("force", flag(c, &i.force)?),
            ]))
        })?,
        Action::ListFiles(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("fileNamePattern", opt(c, &i.file_name_pattern)?),
                ("recursive", flag(c, &i.recursive)?),
            ]))
        })?,
        Action::ReadFile(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("encoding", enc(c, &i.encoding)?),
                ("printFileContent", flag(c, &i.print_file_content)?),
            ]))
        })?,
        Action::SetFileEncoding(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("encoding", enc(c, &i.encoding)?),
            ]))
        })?,
        Action::SetFileOwner(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("owner", t(c, &i.owner)?),
                ("group", opt(c, &i.group)?),
            ]))
        })?,
        Action::SetFolderOwner(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("owner", t(c, &i.owner)?),
                ("group", opt(c, &i.group)?),
                ("recursive", flag(c, &i.recursive)?),
            ]))
        })?,
        Action::SetFilePermissions(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("permissions", text(c, &i.permissions)?),
            ]))
        })?,
        Action::SetFolderPermissions(v) => each(v, |i| {
            Ok(obj(vec![
                ("path", t(c, &i.path)?),
                ("permissions", text(c, &i.permissions)?),
                ("recursive", flag(c, &i.recursive)?),
            ]))
        })?,
        Action::Reboot(r) => obj(vec![(
            "delaySeconds",
            Json::from(r.delay_seconds.resolve(c)?),
        )]),
        Action::UpdateOs(u) => obj(vec![
            (
                "include",
                list(c, u.include.as_deref().unwrap_or_default())?,
            ),
            (
                "exclude",
                list(c, u.exclude.as_deref().unwrap_or_default())?,
            ),
        ]),
        // Windows-only modules never reach a Linux runner; they are refused before anything runs.
        Action::ExecutePowerShell(_)
        | Action::InstallMsi(_)
        | Action::UninstallMsi(_)
        | Action::SetRegistry(_) => json!({}),
    })
}

fn content(c: &dyn Chain, v: &Option<Template>) -> Result<Json, ToeError> {
    Ok(match v {
        Some(t_) => t(c, t_)?,
        None => Json::String(String::new()),
    })
}

/// `Assert`'s inputs: the condition, resolved, as written.
fn condition(cond: &Condition, c: &dyn Chain) -> Result<Json, ToeError> {
    Ok(match cond {
        Condition::And(items) => {
            json!({ "and": items.iter().map(|i| condition(i, c)).collect::<Result<Vec<_>, _>>()? })
        }
        Condition::Or(items) => {
            json!({ "or": items.iter().map(|i| condition(i, c)).collect::<Result<Vec<_>, _>>()? })
        }
        Condition::Not(inner) => json!({ "not": condition(inner, c)? }),
        Condition::Compare(cmp) => {
            let mut map = Map::new();
            map.insert(cmp.operator.name().to_owned(), t(c, &cmp.operand)?);
            if let (Some(key), Some(other)) = (cmp.operator.second(), &cmp.other) {
                map.insert(key.to_owned(), t(c, other)?);
            }
            Json::Object(map)
        }
    })
}

/// The text of one input value as `{{ phase.step.inputs[i].var }}` answers it.
pub fn input_text(inputs: &Json, index: Option<usize>, var: &str) -> Option<String> {
    let entry = match (inputs, index) {
        (Json::Array(items), Some(i)) => items.get(i)?,
        (Json::Array(items), None) if items.len() == 1 => &items[0],
        (Json::Object(_), None | Some(0)) => inputs,
        _ => return None,
    };
    scalar_text(entry.get(var)?)
}

/// A JSON scalar as the text a template substitutes (strings as they are).
pub fn scalar_text(v: &Json) -> Option<String> {
    Some(match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Array(items) => items
            .iter()
            .map(scalar_text)
            .collect::<Option<Vec<_>>>()?
            .join("\n"),
        Json::Null | Json::Object(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use davit_toe::Document;

    struct Nothing;
    impl Chain for Nothing {
        fn output(&self, _: &str, _: &str, _: &str) -> Option<String> {
            None
        }
        fn input(&self, _: &str, _: &str, _: Option<usize>, _: &str) -> Option<String> {
            None
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let doc = Document::parse(
            "c.yml",
            "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Make\n        action: CreateFile\n        inputs:\n          - path: /etc/motd\n            permissions: 0644\n",
        )
        .unwrap();
        let json = to_json(&doc.phases[0].steps[0].action, &Nothing).unwrap();
        assert_eq!(
            json,
            json!([{
                "path": "/etc/motd", "content": "", "encoding": "utf-8",
                "permissions": "0644", "overwrite": true
            }])
        );
        assert_eq!(
            input_text(&json, Some(0), "path").as_deref(),
            Some("/etc/motd")
        );
        assert_eq!(
            input_text(&json, Some(0), "overwrite").as_deref(),
            Some("true")
        );
        assert_eq!(input_text(&json, Some(1), "path"), None);
    }
}
