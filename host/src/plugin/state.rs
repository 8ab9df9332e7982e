//! Per-call store data ([`CallState`]): the WASI context (deny-by-default,
//! stdout/stderr captured), the memory limiter, and one narrow context per
//! host interface ([`HostCtx`], [`WechatCtx`], [`WebCtx`]), which the
//! linker reaches through projections (see `engine.rs`), and the WASI-HTTP
//! context of a page call, whose outgoing requests go through
//! [`OutgoingHttp`] (denied unless granted). [`PluginScope`] is what every call
//! of one loaded version shares: its identity, config and grants; the
//! [`AccountScope`] a call acts for brings the account's services (kv scope,
//! API client, JS-SDK) and this account's overrides of the grants.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::account_scope::AccountScope;
use super::bounds::{MAX_RANDOM_BYTES, MAX_RESOURCES};
use super::capture::{CAPTURE_BYTES, CapturePipe};
use super::host_ctx::HostCtx;
use super::limiter::Limiter;
use super::outbound_ctx::OutboundCtx;
use super::outgoing_http::OutgoingHttp;
use super::web_ctx::WebCtx;
use super::wechat_ctx::WechatCtx;
use crate::config::Capability;
use crate::config::secrets::Secrets;
use crate::store::KvQuota;

/// What host functions know about the plugin they serve; shared by every
/// call of one loaded version.
pub(crate) struct PluginScope {
    pub id: Arc<str>,
    pub config: Arc<BTreeMap<String, String>>,
    /// `[plugin.<id>.secrets]`, read at load; `config-get` reads them too.
    pub secrets: Secrets,
    pub capabilities: Arc<BTreeSet<Capability>>,
    pub kv_quota: KvQuota,
    /// With `http-outgoing`: `plugin.<id>.http_hosts` (empty: none; see `outgoing_http.rs`).
    pub http_hosts: Arc<[String]>,
}

pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    pub host: HostCtx,
    pub wechat: WechatCtx,
    pub web: WebCtx,
    /// WIT 1.1 `outbound` (named apart from `outgoing`, which is HTTP).
    pub outbound_queue: OutboundCtx,
    http: WasiHttpCtx,
    outgoing: OutgoingHttp,
    pub stdout: CapturePipe,
    pub stderr: CapturePipe,
}

impl CallState {
    /// `deadline` bounds host functions that await (epochs only interrupt
    /// wasm code).
    pub fn new(
        scope: &PluginScope,
        account: &AccountScope,
        memory_limit: usize,
        deadline: Instant,
    ) -> CallState {
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
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        CallState {
            wasi,
            table,
            limiter: Limiter::new(memory_limit),
            host: HostCtx::new(scope, account, deadline),
            wechat: WechatCtx::new(scope, account, deadline),
            web: WebCtx::new(scope, account, deadline),
            outbound_queue: OutboundCtx::new(scope, account, deadline),
            http: WasiHttpCtx::new(),
            outgoing: OutgoingHttp::new(scope, account),
            stdout,
            stderr,
        }
    }
}

impl CallState {
    /// Readies a reused instance's state for its next call: the call's own
    /// deadline and an empty log budget (captured output was taken when the
    /// last call finished). The WASI context and resource table stay: a
    /// guest runtime keeps the stream handles it opened.
    pub fn begin_call(&mut self, deadline: Instant) {
        self.host.deadline = deadline;
        self.wechat.deadline = deadline;
        self.web.deadline = deadline;
        self.outbound_queue.deadline = deadline;
        self.host.log = Default::default();
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}
