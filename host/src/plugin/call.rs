//! One call into a plugin: a pool permit, a fresh `Store` and instance, the
//! memory limiter, the epoch deadline, captured output, and classification
//! of every failure into a [`PluginError`].
//!
//! Time: a call's limit is its plugin's own timeout, cut to the caller's
//! deadline. Both are measured *after* the pool permit is acquired, so time
//! spent queueing for an instance is never time the plugin gets; a call whose
//! deadline passed while it queued is not made at all (load shedding).
//!
//! Sharing the CPU: plugin calls run on the same tokio workers as the HTTP
//! endpoint, and epoch interruption only checks in at ticks. So at every
//! tick a running guest either traps (its wall-clock limit has passed:
//! `Trap::Interrupt`, classified as a timeout) or yields to the executor
//! (`tokio::task::yield_now`) — a spinning plugin costs its own time slices,
//! never a worker other pushes are waiting for.

use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::wechat::plugin::types as wit;
use super::engine::EPOCH_TICK;
use super::handler::{HandlerInput, call_export, call_handler};
use super::loaded::{LoadedPlugin, PluginCode, PluginInfo};
use super::log_buffer::{LogLine, printable};
use super::state::CallState;
use super::{PluginError, bounds, loader, reply};
use crate::protocol::Reply;

/// A successful call.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginOutcome {
    /// A validated passive reply.
    Reply(Reply),
    /// Answer `success`; no later plugin runs.
    NoReply,
    /// Let the next plugin try.
    Pass,
}

/// Everything one call produced.
#[derive(Debug, Clone)]
pub struct CallReport<R = Result<PluginOutcome, PluginError>> {
    pub result: R,
    pub logs: Vec<LogLine>,
    pub stdout: String,
    pub stderr: String,
    /// Store creation + instantiation.
    pub instantiate: Duration,
    /// Instantiation + call.
    pub elapsed: Duration,
    /// Highest total linear memory of the instance.
    pub memory_peak_bytes: u64,
}

impl PluginCode {
    /// Runs `f` against a fresh instance under this plugin's limits and
    /// `deadline`; returns its result with everything the call produced.
    pub(crate) async fn with_instance<T>(
        &self,
        deadline: Instant,
        f: impl AsyncFnOnce(
            &wasmtime::component::Instance,
            &mut Store<CallState>,
        ) -> wasmtime::Result<T>,
    ) -> (Result<T, PluginError>, CallReport<()>) {
        let queued = Instant::now();
        let permit = self.inner.permits.acquire().await;
        let start = Instant::now();
        let limit = self.timeout.min(deadline.saturating_duration_since(start));
        if limit.is_zero() {
            let waited_ms = start.duration_since(queued).as_millis() as u64;
            let report = CallReport {
                result: (),
                logs: vec![],
                stdout: String::new(),
                stderr: String::new(),
                instantiate: Duration::ZERO,
                elapsed: Duration::ZERO,
                memory_peak_bytes: 0,
            };
            return (Err(PluginError::Shed { waited_ms }), report);
        }
        let mut store = Store::new(
            &self.inner.engine,
            CallState::new(&self.scope, self.memory_limit_bytes as usize, start + limit),
        );
        store.limiter(|s| &mut s.limiter);
        bounds::apply(&mut store);
        let ends = start + limit;
        // Called at every tick while guest code runs (deadline = next tick);
        // a call shorter than a tick never gets here.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= ends {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });

        let mut instantiated = None;
        // Backstop for time spent in host code (epochs only interrupt wasm).
        let backstop = limit + 5 * EPOCH_TICK;
        let run = tokio::time::timeout(backstop, async {
            let plugin = self
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| (e, true))?;
            instantiated = Some(start.elapsed());
            f(&plugin, &mut store).await.map_err(|e| (e, false))
        })
        .await;
        let elapsed = start.elapsed();
        let timeout = || PluginError::Timeout {
            limit_ms: limit.as_millis() as u64,
            elapsed_ms: elapsed.as_millis() as u64,
        };
        let result = match run {
            Err(_) => Err(timeout()),
            Ok(Ok(v)) => Ok(v),
            Ok(Err((e, during_instantiate))) => {
                Err(self.classify(e, store.data(), during_instantiate, timeout))
            }
        };
        // The instance's pool slot is freed with the store: only then may
        // the next call have the permit (else its instantiation can find the
        // pool full).
        let state = store.into_data();
        drop(permit);
        let report = CallReport {
            result: (),
            logs: state.host.log.finish(&self.id),
            stdout: state.stdout.text(),
            stderr: state.stderr.text(),
            instantiate: instantiated.unwrap_or(elapsed),
            elapsed,
            memory_peak_bytes: state.limiter.peak as u64,
        };
        for (name, text) in [("stdout", &report.stdout), ("stderr", &report.stderr)] {
            for line in text.lines().filter(|l| !l.trim().is_empty()).take(50) {
                let line = printable(line, 4096);
                tracing::info!(target: "wxhost::plugin", plugin = %self.id, stream = name, "{line}");
            }
        }
        (result, report)
    }

    fn classify(
        &self,
        err: wasmtime::Error,
        state: &CallState,
        during_instantiate: bool,
        timeout: impl Fn() -> PluginError,
    ) -> PluginError {
        if let Some(requested) = state.limiter.exceeded {
            return PluginError::MemoryLimit {
                limit_mib: self.memory_limit_bytes >> 20,
                requested_bytes: requested as u64,
            };
        }
        let func = err
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .and_then(|bt| {
                bt.frames()
                    .iter()
                    .find_map(|f| f.func_name().map(str::to_owned))
            });
        let at = func.map(|f| format!(" in {f}")).unwrap_or_default();
        if let Some(what) = bounds::exceeded(&err) {
            return PluginError::HostLimit(format!("{what}{at}"));
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => timeout(),
            Some(Trap::UnreachableCodeReached) => {
                let stderr = state.stderr.text();
                let message = panic_message(&stderr).unwrap_or_else(|| {
                    let tail = stderr.trim();
                    if tail.is_empty() {
                        format!("aborted (wasm `unreachable`{at}) without a panic message")
                    } else {
                        format!("aborted{at}: {}", last_line(tail))
                    }
                });
                PluginError::Panic { message }
            }
            Some(trap) => PluginError::Trap(format!("{trap}{at}")),
            None if during_instantiate => PluginError::Instantiate(one_line(&err)),
            None => PluginError::Trap(one_line(&err)),
        }
    }

    /// Calls `describe` (at load).
    pub(crate) async fn describe(&self) -> Result<PluginInfo, PluginError> {
        let deadline = Instant::now()
            + loader::DESCRIBE_TIMEOUT.min(self.timeout.max(Duration::from_millis(500)));
        let Some(exports) = &self.exports else {
            return Err(PluginError::Host("no message handler to describe".into()));
        };
        let (r, _) = self
            .with_instance(deadline, async |i, s| {
                call_export::<(), (wit::PluginInfo,)>(s, i, &exports.describe, ()).await
            })
            .await;
        PluginInfo::try_from(r?.0).map_err(PluginError::InvalidReply)
    }
}

impl LoadedPlugin {
    /// Runs the plugin on `input` and returns the outcome with its logs,
    /// captured output and timings. The call's limit is the plugin's own
    /// timeout cut to `deadline`. Failures are logged (one line) here.
    pub async fn call_traced(&self, input: &HandlerInput<'_>, deadline: Instant) -> CallReport {
        let code = &self.code;
        let (r, report) = match &code.exports {
            Some(exports) => {
                code.with_instance(deadline, async |i, s| {
                    call_handler(i, exports, s, input).await
                })
                .await
            }
            // Never dispatched (it declares no kind); `plugin run` may try.
            None => (
                Err(PluginError::Host(format!(
                    "plugin {} has no message handler (it serves web pages only)",
                    code.id
                ))),
                CallReport {
                    result: (),
                    logs: vec![],
                    stdout: String::new(),
                    stderr: String::new(),
                    instantiate: Duration::ZERO,
                    elapsed: Duration::ZERO,
                    memory_peak_bytes: 0,
                },
            ),
        };
        let result = r
            .and_then(|reply| reply::validate(reply, input.msg).map_err(PluginError::InvalidReply));
        code.inner.stats.record(&code.id, &result);
        metrics::counter!("wxhost_plugin_calls_total", "plugin" => code.id.clone()).increment(1);
        if let Err(e) = &result {
            metrics::counter!("wxhost_plugin_failures_total", "plugin" => code.id.clone(), "class" => e.kind()).increment(1);
        }
        match &result {
            Err(e @ PluginError::Shed { .. }) => tracing::warn!(
                target: "wxhost::plugin",
                plugin = %code.id,
                error.kind = e.kind(),
                "plugin {} not called on {} (load shedding): {e}",
                code.id,
                input.kind,
            ),
            Err(e) => tracing::warn!(
                target: "wxhost::plugin",
                plugin = %code.id,
                error.kind = e.kind(),
                sha256 = %&code.sha256[..12],
                "plugin {} failed on {} ({}): {e}",
                code.id,
                input.kind,
                e.kind()
            ),
            Ok(_) => {}
        }
        CallReport {
            result,
            logs: report.logs,
            stdout: report.stdout,
            stderr: report.stderr,
            instantiate: report.instantiate,
            elapsed: report.elapsed,
            memory_peak_bytes: report.memory_peak_bytes,
        }
    }

    /// [`LoadedPlugin::call_traced`], the outcome only.
    pub async fn call(
        &self,
        input: &HandlerInput<'_>,
        deadline: Instant,
    ) -> Result<PluginOutcome, PluginError> {
        self.call_traced(input, deadline).await.result
    }
}

fn one_line(err: &wasmtime::Error) -> String {
    let s = format!("{err:#}");
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn last_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
}

/// Extracts `panicked at src/lib.rs:5:9: message` from a Rust guest's stderr.
pub(crate) fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start..];
    let mut lines = rest.lines();
    let head = lines.next()?.trim_end_matches(':').to_owned();
    // One line: a multi-line panic message is joined with " / ".
    let msg: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note: ") && !l.starts_with("stack backtrace"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let msg = msg.join(" / ");
    Some(if msg.is_empty() {
        head
    } else {
        format!("{head}: {msg}")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn panic_messages() {
        let s = "\nthread '<unnamed>' panicked at src/lib.rs:11:9:\nplugin bug: \"x\"\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            super::panic_message(s).unwrap(),
            "panicked at src/lib.rs:11:9: plugin bug: \"x\""
        );
        assert_eq!(super::panic_message("nothing"), None);
    }
}
