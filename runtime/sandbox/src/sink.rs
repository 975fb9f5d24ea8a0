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

/// Bytes of the host's own lines (`sandbox: …`) kept per invocation, on top of the guest's
/// output limit, so that a guest that filled its budget cannot crowd out why it was stopped.
const HOST_RESERVE: u64 = 64 << 10;

/// What the host's own lines start with; a guest line that does is marked with [`GUEST_MARK`].
pub(crate) const HOST_PREFIX: &str = "sandbox:";

/// Put before a guest line that looks like one of the host's.
const GUEST_MARK: &str = "(hook) ";

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
    /// The guest's budget has run out: the rest of its output is counted, not kept.
    full: bool,
    host_used: u64,
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

    /// A line of the host's own (a refusal, a fault): kept within [`HOST_RESERVE`], whatever the
    /// guest printed.
    pub(crate) fn line(&self, stream: Stream, text: &str) {
        self.push(stream, sanitize(text), true);
    }

    /// The line that says how the invocation ended (its fault): always kept, whatever the guest
    /// and the host's other lines used.
    pub(crate) fn fault_line(&self, text: &str) {
        let line = LogLine {
            stream: Stream::Error,
            text: sanitize(text),
        };
        let mut inner = self.inner.lock().expect("sink lock");
        if let Some(observer) = &self.observer {
            observer(&line);
        }
        inner.lines.push(line);
    }

    /// A line the guest wrote (log call, stdout, stderr): cleaned, and marked when it would pass
    /// for one of the host's lines.
    pub(crate) fn guest_line(&self, stream: Stream, text: &str) {
        {
            let mut inner = self.inner.lock().expect("sink lock");
            if inner.full {
                inner.dropped += text.len() as u64 + 1;
                return;
            }
        }
        let mut text = sanitize(text);
        let looks_like_host = text
            .trim_start()
            .get(..HOST_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(HOST_PREFIX));
        if looks_like_host {
            text.insert_str(0, GUEST_MARK);
        }
        self.push(stream, text, false);
    }

    fn push(&self, stream: Stream, text: String, host: bool) {
        let mut inner = self.inner.lock().expect("sink lock");
        let cost = text.len() as u64 + 1;
        let (used, limit) = if host {
            (inner.host_used, HOST_RESERVE)
        } else {
            (inner.used, self.limit)
        };
        if used + cost > limit {
            inner.dropped += cost;
            inner.full |= !host;
            return;
        }
        if host {
            inner.host_used += cost;
        } else {
            inner.used += cost;
        }
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
            if inner.full {
                // Past the limit output is cut: count it without building lines.
                inner.dropped += data.len() as u64;
                return;
            }
            let buf = if stream == Stream::Stdout {
                &mut inner.stdout
            } else {
                &mut inner.stderr
            };
            buf.extend_from_slice(data);
            let mut start = 0;
            while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
                complete.push(buf[start..start + pos + 1].to_vec());
                start += pos + 1;
            }
            buf.drain(..start);
            // A line without an end that grows past the limit is flushed as it stands.
            if buf.len() > MAX_LINE {
                complete.push(std::mem::take(buf));
            }
        }
        for line in complete {
            self.guest_line(
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
                self.guest_line(stream, &String::from_utf8_lossy(&rest));
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

/// Keeps printable text only, so that output cannot forge terminal escapes, extra log lines or
/// text that reads differently from how it is stored: control characters (C0, C1, so `ESC` and
/// newlines) are dropped but tabs, and bidirectional overrides, isolates and invisible format
/// characters are replaced with `U+FFFD`. Lines past 4096 bytes are cut.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .map(|c| {
            if is_invisible_format(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
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

/// Bidi embeddings, overrides, isolates and marks, zero-width and other invisible format
/// characters (Unicode `Cf` that change how text reads), the line and paragraph separators
/// (U+2028, U+2029: viewers break lines there), and tag characters.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x061C
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xE0000..=0xE007F
    )
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
    fn guest_lines_cannot_pass_for_the_hosts() {
        let sink = Sink::new(1 << 20, None);
        sink.bytes(
            Stream::Stdout,
            b"ok\nsandbox: hook succeeded\n  SANDBOX: x\n",
        );
        sink.guest_line(Stream::Info, "a\u{202E}b\u{2066}c\u{200B}d");
        sink.line(Stream::Error, "sandbox: hook timed out");
        let (lines, _) = sink.finish();
        let texts: Vec<_> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "ok",
                "(hook) sandbox: hook succeeded",
                "(hook)   SANDBOX: x",
                "a\u{FFFD}b\u{FFFD}c\u{FFFD}d",
                "sandbox: hook timed out"
            ]
        );
    }

    #[test]
    fn host_lines_survive_a_guest_that_filled_its_budget() {
        let sink = Sink::new(16, None);
        sink.guest_line(Stream::Stdout, "0123456789");
        sink.guest_line(Stream::Stdout, "0123456789");
        sink.line(Stream::Error, "sandbox: hook ran out of memory");
        let (lines, dropped) = sink.finish();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].text, "sandbox: hook ran out of memory");
        assert_eq!(dropped, 11);
    }

    #[test]
    fn output_past_the_limit_is_dropped_and_counted() {
        let sink = Sink::new(10, None);
        sink.guest_line(Stream::Info, "12345");
        sink.guest_line(Stream::Info, "67890");
        let (lines, dropped) = sink.finish();
        assert_eq!(lines.len(), 1);
        assert_eq!(dropped, 6);
    }
}
