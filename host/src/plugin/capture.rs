//! [`CapturePipe`]: a plugin's stdout/stderr for one call, bounded.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Captured output kept per call; beyond this it is dropped (not a trap).
pub const CAPTURE_BYTES: usize = 16 * 1024;

/// A bounded in-memory stdout/stderr. Unlike wasmtime-wasi's
/// `MemoryOutputPipe`, writing past the capacity silently truncates instead
/// of trapping the guest.
#[derive(Clone)]
pub(crate) struct CapturePipe {
    inner: Arc<Mutex<Capture>>,
}

struct Capture {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl CapturePipe {
    pub fn new(cap: usize) -> CapturePipe {
        CapturePipe {
            inner: Arc::new(Mutex::new(Capture {
                buf: Vec::new(),
                cap,
                truncated: false,
            })),
        }
    }

    /// The text written so far (lossy UTF-8), with a marker if truncated.
    pub fn text(&self) -> String {
        let c = self.inner.lock().unwrap();
        let mut s = String::from_utf8_lossy(&c.buf).into_owned();
        if c.truncated {
            s.push_str("\n[... output truncated]");
        }
        s
    }

    /// [`CapturePipe::text`], emptying the pipe: an instance that serves
    /// several calls captures each call's output on its own.
    pub fn take(&self) -> String {
        let mut c = self.inner.lock().unwrap();
        let mut s = String::from_utf8_lossy(&c.buf).into_owned();
        if c.truncated {
            s.push_str("\n[... output truncated]");
        }
        c.buf.clear();
        c.truncated = false;
        s
    }

    fn push(&self, bytes: &[u8]) {
        let mut c = self.inner.lock().unwrap();
        let room = c.cap - c.buf.len();
        if bytes.len() > room {
            c.truncated = true;
        }
        let n = bytes.len().min(room);
        c.buf.extend_from_slice(&bytes[..n]);
    }
}

impl IsTerminal for CapturePipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturePipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CapturePipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturePipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturePipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
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
