//! `GET /v1/dist/davit`: the server's own executable, which the `davit/agent` image component
//! downloads, so that a baked agent is the same build as the server it talks to. Public like
//! `/healthz` (it is the program, no secret); streamed from the file in 1 MiB reads.

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

pub(crate) async fn davit() -> Response {
    let file = match std::env::current_exe() {
        Ok(path) => tokio::fs::File::open(path).await,
        Err(e) => Err(e),
    };
    let (file, len) = match file {
        Ok(f) => match f.metadata().await {
            Ok(m) => (f, m.len()),
            Err(e) => return unavailable(e),
        },
        Err(e) => return unavailable(e),
    };
    let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

fn unavailable(e: std::io::Error) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the server cannot read its own executable: {e}"),
    )
        .into_response()
}
