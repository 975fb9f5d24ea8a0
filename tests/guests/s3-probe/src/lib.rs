//! Attacks on the `s3` host interface (world `action`): the action's inputs are one operation,
//! `presign get|put|list BUCKET KEY` (`-` for an empty key), `send METHOD URL`, or
//! `presign-send get|put|list BUCKET KEY EDIT`, which signs, replaces `FROM` by `TO` in the
//! signed URL when `EDIT` is `FROM=>TO` (`-`: as signed) and sends it there; it returns
//! `{"result":"…"}`: `signed URL`, `denied: …` (the host would not sign, or egress refused the
//! request) or `sent: …` (the request left the sandbox: a status or a connection error). The
//! host tests check which requests were signed and which left.

use davit_sdk::s3::{Operation, presign};
use davit_sdk::{Action, ActionNext, ActionResult, Context};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, Scheme};

fn send(method: &str, url: &str) -> String {
    let (https, rest) = match url.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some((_, rest)) => (false, rest),
        None => return format!("failed: `{url}` is not a URL"),
    };
    let split = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let request = OutgoingRequest::new(Fields::new());
    let method = if method == "PUT" {
        Method::Put
    } else {
        Method::Get
    };
    let scheme = if https { Scheme::Https } else { Scheme::Http };
    let _ = request.set_method(&method);
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let future = match outgoing_handler::handle(request, None) {
        Ok(f) => f,
        Err(ErrorCode::HttpRequestDenied) => return "denied: by egress".into(),
        Err(e) => return format!("sent: {e:?}"),
    };
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => format!("sent: {}", response.status()),
        Some(Ok(Err(ErrorCode::HttpRequestDenied))) => "denied: by egress".into(),
        Some(Ok(Err(e))) => format!("sent: {e:?}"),
        _ => "failed: no response".into(),
    }
}

struct Probe;
impl Action for Probe {
    fn execute(_ctx: Context, _action: &str, inputs: &str) -> Result<ActionResult, String> {
        let words: Vec<&str> = inputs.split_whitespace().collect();
        let sign = |op: &str, bucket: &str, key: &str| {
            let op = match op {
                "get" => Operation::GetObject,
                "put" => Operation::PutObject,
                _ => Operation::ListObjects,
            };
            let key = if key == "-" { "" } else { key };
            presign(op, bucket, key, None)
        };
        let shown = match words.as_slice() {
            ["presign", op, bucket, key] => match sign(op, bucket, key) {
                Ok(p) => format!("signed {}", p.url),
                Err(why) => format!("denied: {why}"),
            },
            ["send", method, url] => send(method, url),
            ["presign-send", op, bucket, key, edit] => match sign(op, bucket, key) {
                Ok(p) => {
                    let url = match edit.split_once("=>") {
                        Some((from, to)) => p.url.replace(from, to),
                        None => p.url,
                    };
                    send(&p.method, &url)
                }
                Err(why) => format!("denied: {why}"),
            },
            _ => return Err(format!("unknown operation `{inputs}`")),
        };
        Ok(ActionResult {
            outputs: serde_json_string(&shown),
            next: ActionNext::Proceed,
        })
    }
}

/// `{"result": shown}` with `shown` as a JSON string (no serde in this guest).
fn serde_json_string(shown: &str) -> String {
    let escaped: String = shown
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c => vec![c],
        })
        .collect();
    format!("{{\"result\":\"{escaped}\"}}")
}

davit_sdk::export_action!(Probe);
