//! Bounded capture of what a guest says: log calls, stdout and stderr, as lines.
//!
//! Output past the limit is dropped and counted; the guest never sees an error for it, so a
//! chatty hook is cut short in the log, not killed.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line kept; the rest of a longer line is dropped.
const MAX_LINE: usize = 4096;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Stdout,
    Stderr,
}

impl Stream {
    /// Lowercase name, as shown in logs and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Trace => "trace",
            Stream::Debug => "debug",
            Stream::Info => "info",
            Stream::Warn => "warn",
            Stream::Error => "error",
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of a guest's output, with control characters removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: Stream,
    pub text: String,
}

/// Called for every line as it arrives, for live progress.
pub type LineObserver = Arc<dyn Fn(&LogLine) + Send + Sync>;

#[derive(Default)]
struct Captured {
    used: u64,
    dropped: u64,
    lines: Vec<LogLine>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Shared by the log interface and the guest's stdout and stderr.
#[derive(Clone)]
pub(crate) struct Sink {
    limit: u64,
    observer: Option<LineObserver>,
    inner: Arc<Mutex<Captured>>,
}

impl Sink {
    pub(crate) fn new(limit: u64, observer: Option<LineObserver>) -> Self {
        Sink {
            limit,
            observer,
            inner: Arc::default(),
        }
    }

    pub(crate) fn line(&self, stream: Stream, text: &str) {
        let text = clean(text);
        let mut inner = self.inner.lock().expect("sink lock");
        let cost = text.len() as u64 + 1;
        if inner.used + cost > self.limit {
            inner.dropped += cost;
            return;
        }
        inner.used += cost;
        let line = LogLine { stream, text };
        if let Some(observer) = &self.observer {
            observer(&line);
        }
        inner.lines.push(line);
    }

    fn bytes(&self, stream: Stream, data: &[u8]) {
        let mut complete = Vec::new();
        {
            let mut inner = self.inner.lock().expect("sink lock");
            let buf = if stream == Stream::Stdout {
                &mut inner.stdout
            } else {
                &mut inner.stderr
            };
            buf.extend_from_slice(data);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let rest = buf.split_off(pos + 1);
                complete.push(std::mem::replace(buf, rest));
            }
            // A line without an end that grows past the limit is flushed as it stands.
            if buf.len() > MAX_LINE {
                complete.push(std::mem::take(buf));
            }
        }
        for line in complete {
            self.line(
                stream,
                String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']),
            );
        }
    }

    /// Flushes partial lines and returns every line kept and the number of bytes dropped.
    pub(crate) fn finish(&self) -> (Vec<LogLine>, u64) {
        let (out, err) = {
            let mut inner = self.inner.lock().expect("sink lock");
            (
                std::mem::take(&mut inner.stdout),
                std::mem::take(&mut inner.stderr),
            )
        };
        for (stream, rest) in [(Stream::Stdout, out), (Stream::Stderr, err)] {
            if !rest.is_empty() {
                self.line(stream, &String::from_utf8_lossy(&rest));
            }
        }
        let inner = self.inner.lock().expect("sink lock");
        (inner.lines.clone(), inner.dropped)
    }

    pub(crate) fn stream(&self, stream: Stream) -> SinkStream {
        SinkStream {
            sink: self.clone(),
            stream,
        }
    }
}

/// Keeps printable text only, so a guest cannot forge terminal escapes or extra log lines.
fn clean(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect();
    if out.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(" …");
    }
    out
}

/// A guest's stdout or stderr, feeding the sink.
#[derive(Clone)]
pub(crate) struct SinkStream {
    sink: Sink,
    stream: Stream,
}

impl IsTerminal for SinkStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for SinkStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for SinkStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.bytes(self.stream, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for SinkStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for SinkStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.sink.bytes(self.stream, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_strips_escapes() {
        let sink = Sink::new(1 << 20, None);
        sink.bytes(Stream::Stdout, b"one\ntw");
        sink.bytes(Stream::Stdout, b"o\x1b[31m\nthree");
        let (lines, dropped) = sink.finish();
        let texts: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two[31m", "three"]);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn output_past_the_limit_is_dropped_and_counted() {
        let sink = Sink::new(10, None);
        sink.line(Stream::Info, "12345");
        sink.line(Stream::Info, "67890");
        let (lines, dropped) = sink.finish();
        assert_eq!(lines.len(), 1);
        assert_eq!(dropped, 6);
    }
}
