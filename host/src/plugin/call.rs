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

use super::account_scope::AccountScope;
use super::engine::EPOCH_TICK;
use super::guest_failure::GuestFailure;
use super::handler::{HandlerInput, call_describe, call_handler};
use super::loaded::{LoadedPlugin, PluginCode, PluginInfo};
use super::log_buffer::{LogLine, printable};
use super::reuse::{self, Warm};
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
    /// Ran on an instance that served earlier calls (`reuse_calls`); its
    /// `instantiate` is then zero.
    pub reused: bool,
}

/// Whether a call may run on a reused instance (`plugin.<id>.reuse_calls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InstanceUse {
    /// A message: an idle instance of this version when reuse is on.
    MayReuse,
    /// Always a store of its own: `describe`, and page calls (whose
    /// wasi:http resources must not meet a message call's instance).
    Fresh,
}

/// The store a call runs in: made for this call, or a reused instance's.
enum Slot {
    Fresh(Store<CallState>),
    Warm(Warm),
}

impl Slot {
    fn store(&mut self) -> &mut Store<CallState> {
        match self {
            Slot::Fresh(s) => s,
            Slot::Warm(w) => w.store(),
        }
    }
}

impl PluginCode {
    /// Runs `f` against an instance under this plugin's limits and
    /// `deadline` — a fresh one, or with `reuse_calls` and
    /// [`InstanceUse::MayReuse`] an idle one of this version (`reuse.rs`) —
    /// and returns its result with everything the call produced.
    pub(crate) async fn with_instance<T>(
        &self,
        account: &AccountScope,
        deadline: Instant,
        instance_use: InstanceUse,
        f: impl AsyncFnOnce(
            &wasmtime::component::Instance,
            &mut Store<CallState>,
        ) -> wasmtime::Result<T>,
    ) -> (Result<T, PluginError>, CallReport<()>) {
        self.with_instance_for(self.timeout, account, deadline, instance_use, f)
            .await
    }

    /// [`PluginCode::with_instance`] with a time limit other than the
    /// plugin's `timeout_ms` (a scheduled run's own).
    pub(crate) async fn with_instance_for<T>(
        &self,
        timeout: Duration,
        account: &AccountScope,
        deadline: Instant,
        instance_use: InstanceUse,
        f: impl AsyncFnOnce(
            &wasmtime::component::Instance,
            &mut Store<CallState>,
        ) -> wasmtime::Result<T>,
    ) -> (Result<T, PluginError>, CallReport<()>) {
        let queued = Instant::now();
        let pool = match instance_use {
            InstanceUse::MayReuse => self.reuse.as_ref(),
            InstanceUse::Fresh => None,
        };
        // An idle instance holds its own permit.
        // Only an instance that served this account: a guest's globals must
        // not carry one account's data into another's call.
        let warm = pool.and_then(|r| r.take(&account.name));
        let permit = match warm {
            Some(_) => None,
            None => reuse::acquire(&self.inner).await,
        };
        let start = Instant::now();
        let limit = timeout.min(deadline.saturating_duration_since(start));
        if limit.is_zero() {
            if let (Some(r), Some(w)) = (pool, warm) {
                r.put_back(w);
            }
            let waited_ms = start.duration_since(queued).as_millis() as u64;
            let report = CallReport {
                result: (),
                logs: vec![],
                stdout: String::new(),
                stderr: String::new(),
                instantiate: Duration::ZERO,
                elapsed: Duration::ZERO,
                memory_peak_bytes: 0,
                reused: false,
            };
            return (Err(PluginError::Shed { waited_ms }), report);
        }
        let ends = start + limit;
        let reused = warm.is_some();
        let mut slot = match warm {
            Some(mut w) => {
                w.store().data_mut().begin_call(ends);
                Slot::Warm(w)
            }
            None => {
                let mut store = Store::new(
                    &self.inner.engine,
                    CallState::new(&self.scope, account, self.memory_limit_bytes as usize, ends),
                );
                store.limiter(|s| &mut s.limiter);
                bounds::apply(&mut store);
                Slot::Fresh(store)
            }
        };
        // Called at every tick while guest code runs (deadline = next tick);
        // a call shorter than a tick never gets here.
        let store = slot.store();
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
            let instance = match &mut slot {
                Slot::Warm(w) => w.instance,
                Slot::Fresh(store) => {
                    let i = self
                        .pre
                        .instantiate_async(&mut *store)
                        .await
                        .map_err(|e| (e, true))?;
                    instantiated = Some(start.elapsed());
                    i
                }
            };
            let v = f(&instance, slot.store()).await.map_err(|e| (e, false))?;
            Ok((v, instance))
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
                Err(self.classify(e, slot.store().data(), during_instantiate, timeout))
            }
        };
        let state = slot.store().data_mut();
        let report = CallReport {
            result: (),
            logs: std::mem::take(&mut state.host.log).finish(&self.id),
            // What the plugin printed is logged and shown: never its secrets.
            stdout: state.host.redact(&state.stdout.take()),
            stderr: state.host.redact(&state.stderr.take()),
            instantiate: if reused {
                Duration::ZERO
            } else {
                instantiated.unwrap_or(elapsed)
            },
            elapsed,
            memory_peak_bytes: state.limiter.peak as u64,
            reused,
        };
        let result = match (result, pool) {
            // A fresh instance's pool slot is freed with its store: only
            // then may the next call have the permit (else its
            // instantiation can find the pool full).
            (result, None) => {
                drop(slot);
                drop(permit);
                result.map(|(v, _)| v)
            }
            (Ok((v, instance)), Some(reuse)) => {
                let mut warm = match slot {
                    Slot::Warm(w) => w,
                    Slot::Fresh(store) => {
                        // The permit now belongs to the instance (`Warm`
                        // returns it when dropped).
                        if let Some(p) = permit {
                            p.forget();
                        }
                        Warm::new(store, instance, account.name.clone(), self.inner.clone())
                    }
                };
                warm.calls += 1;
                reuse.put_back(warm);
                Ok(v)
            }
            // Thrown away after any failure (`Warm` returns its permit).
            (Err(e), Some(_)) => {
                drop(slot);
                drop(permit);
                Err(e)
            }
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
                let stderr = state.host.redact(&state.stderr.text());
                match GuestFailure::from_stderr(&stderr) {
                    Some(f) => PluginError::Panic {
                        message: f.message,
                        trace: f.trace,
                    },
                    None => {
                        let tail = stderr.trim();
                        let message = if tail.is_empty() {
                            format!("aborted (wasm `unreachable`{at}) without a panic message")
                        } else {
                            format!("aborted{at}: {}", printable(last_line(tail), 1024))
                        };
                        PluginError::Panic {
                            message,
                            trace: vec![],
                        }
                    }
                }
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
            .with_instance(
                &self.inner.default_account,
                deadline,
                InstanceUse::Fresh,
                async |i, s| call_describe(i, exports, s).await,
            )
            .await;
        PluginInfo::try_from(r?).map_err(PluginError::InvalidReply)
    }
}

impl LoadedPlugin {
    /// Runs the plugin on `input` and returns the outcome with its logs,
    /// captured output and timings. The call's limit is the plugin's own
    /// timeout cut to `deadline`. Failures are logged (one line) here.
    pub async fn call_traced(&self, input: &HandlerInput<'_>, deadline: Instant) -> CallReport {
        let account = self.code.inner.default_account.clone();
        self.call_as(&account, input, deadline).await
    }

    /// [`LoadedPlugin::call_traced`] acting for `account`: its kv scope,
    /// API client and grants.
    pub async fn call_as(
        &self,
        account: &AccountScope,
        input: &HandlerInput<'_>,
        deadline: Instant,
    ) -> CallReport {
        let code = &self.code;
        let (r, report) = match &code.exports {
            Some(exports) => {
                code.with_instance(account, deadline, InstanceUse::MayReuse, async |i, s| {
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
                    reused: false,
                },
            ),
        };
        let result = r
            .and_then(|reply| reply::validate(reply, input.msg).map_err(PluginError::InvalidReply));
        code.inner.stats.record(&code.id, &result);
        let acct = account.name.to_string();
        metrics::counter!("wxhost_plugin_calls_total", "plugin" => code.id.clone(), "kind" => "message", "account" => acct.clone()).increment(1);
        if let Err(e) = &result {
            metrics::counter!("wxhost_plugin_failures_total", "plugin" => code.id.clone(), "class" => e.kind(), "kind" => "message", "account" => acct).increment(1);
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
            // A guest's trace goes on the same line, so an operator who
            // filters to warnings still sees where it failed.
            Err(e @ PluginError::Panic { trace, .. }) if !trace.is_empty() => tracing::warn!(
                target: "wxhost::plugin",
                plugin = %code.id,
                error.kind = e.kind(),
                sha256 = %&code.sha256[..12],
                trace = %trace.join(" | "),
                "plugin {} failed on {} ({}): {e}",
                code.id,
                input.kind,
                e.kind()
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
            reused: report.reused,
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
