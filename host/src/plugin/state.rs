//! Per-call store data: the WASI context (deny-by-default, stdout/stderr
//! captured), the memory limiter, collected logs, and the plugin's identity
//! for host functions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::{HostServices, LogLine};

/// What host functions need to know about the plugin they serve; shared by
/// every call of one loaded version.
pub(crate) struct PluginHost {
    pub id: String,
    pub config: BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    pub services: HostServices,
}

pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    pub host: Arc<PluginHost>,
    pub logs: Vec<LogLine>,
    pub log_bytes: usize,
    pub logs_dropped: usize,
    /// When this call must be over; bounds host functions that await.
    pub deadline: Instant,
    pub stdout: CapturePipe,
    pub stderr: CapturePipe,
}

/// Captured output kept per call; beyond this it is dropped (not a trap).
const CAPTURE_BYTES: usize = 16 * 1024;

impl State {
    pub fn new(host: Arc<PluginHost>, memory_limit: usize, deadline: Instant) -> State {
        let stdout = CapturePipe::new(CAPTURE_BYTES);
        let stderr = CapturePipe::new(CAPTURE_BYTES);
        // Deny-by-default: no preopens, env, args, stdin or network (every
        // address is refused); only clocks and randomness remain.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        State {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_limit),
            host,
            logs: Vec::new(),
            log_bytes: 0,
            logs_dropped: 0,
            deadline,
            stdout,
            stderr,
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Limits the *sum* of all linear memories of the instance (wasmtime's
/// `StoreLimits` is per memory) and remembers a refusal, so the resulting trap
/// is classified as `MemoryLimit` whatever error text it carries.
pub(crate) struct Limiter {
    pub max: usize,
    total: usize,
    pub peak: usize,
    /// The total size a refused growth asked for.
    pub exceeded: Option<usize>,
}

impl Limiter {
    fn new(max: usize) -> Limiter {
        Limiter {
            max,
            total: 0,
            peak: 0,
            exceeded: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total + desired.saturating_sub(current);
        if total > self.max {
            self.exceeded = Some(total);
            // An error (not `Ok(false)`) traps at once: a Rust guest would
            // otherwise abort, which looks exactly like a panic.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded (growing to {total} bytes)",
                self.max
            ));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

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
