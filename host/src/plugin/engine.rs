//! The process-wide wasmtime `Engine`: pooling allocator (falling back to
//! on-demand allocation where the address space cannot be reserved), epoch
//! interruption driven by a 10 ms ticker thread, and the `Linker`: WASI, and
//! each of our host interfaces linked to its own narrow context by a
//! projection from the per-call [`CallState`].

use std::hash::{Hash, Hasher};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use super::bindings::{v0_2, v1};
use super::host_ctx::HostCtx;
use super::outbound_ctx::OutboundCtx;
use super::state::CallState;
use super::web_ctx::WebCtx;
use super::wechat_ctx::WechatCtx;

/// One epoch tick: how often a running guest checks its wall-clock limit
/// and yields to the executor (see `call.rs`).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub(crate) struct EngineParts {
    pub engine: Engine,
    pub linker: Linker<CallState>,
    pub pooling: bool,
    /// Hex digest of `Engine::precompile_compatibility_hash`, part of cache keys.
    pub compat: String,
}

/// `instances`: concurrent instances the pool holds (= concurrent plugin
/// calls, including `describe` at load; see `pool.rs`). Calls beyond this
/// wait on the runtime's semaphore.
fn config(pooling: bool, instances: u32) -> Config {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 8)
            .total_stacks(instances)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            // Reset only the pages a call dirtied (PAGEMAP_SCAN, Linux 6.7+)
            // and keep them resident, instead of madvise + page faults on
            // every call (which was ~45% of a small plugin's per-call cost).
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(64 << 10);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    cfg
}

pub(crate) fn build(instances: u32) -> anyhow::Result<EngineParts> {
    let (engine, pooling) = match Engine::new(&config(true, instances)) {
        Ok(e) => (e, true),
        Err(e) => {
            tracing::warn!(
                "pooling allocator unavailable ({e}); using on-demand instance allocation"
            );
            (
                Engine::new(&config(false, instances)).map_err(anyhow::Error::from)?,
                false,
            )
        }
    };
    spawn_ticker(engine.weak());
    let mut linker: Linker<CallState> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // Page plugins' `wasi:http/types` (their requests and responses) and
    // `outgoing-handler` (denied unless granted: `outgoing_http.rs`).
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    // Every WIT version the host runs, each under its own names
    // (`wechat:plugin/host@1.0.0`, `...@0.2.0`), on the same contexts.
    {
        use v1::wechat::plugin::{chat, host, outbound, web, wechat};
        host::add_to_linker::<CallState, HasSelf<HostCtx>>(&mut linker, |s| &mut s.host)?;
        wechat::add_to_linker::<CallState, HasSelf<WechatCtx>>(&mut linker, |s| &mut s.wechat)?;
        web::add_to_linker::<CallState, HasSelf<WebCtx>>(&mut linker, |s| &mut s.web)?;
        // 1.1: components built for 1.0 do not import these.
        outbound::add_to_linker::<CallState, HasSelf<OutboundCtx>>(&mut linker, |s| {
            &mut s.outbound_queue
        })?;
        chat::add_to_linker::<CallState, HasSelf<WechatCtx>>(&mut linker, |s| &mut s.wechat)?;
    }
    {
        use v0_2::wechat::plugin::{host, web, wechat};
        host::add_to_linker::<CallState, HasSelf<HostCtx>>(&mut linker, |s| &mut s.host)?;
        wechat::add_to_linker::<CallState, HasSelf<WechatCtx>>(&mut linker, |s| &mut s.wechat)?;
        web::add_to_linker::<CallState, HasSelf<WebCtx>>(&mut linker, |s| &mut s.web)?;
    }
    let compat = compat_hash(&engine);
    Ok(EngineParts {
        engine,
        linker,
        pooling,
        compat,
    })
}

/// Increments the epoch every tick until the engine is dropped.
fn spawn_ticker(weak: EngineWeak) {
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn epoch ticker thread");
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().unwrap())
    }
}

/// A stable digest of everything that makes a precompiled artifact loadable
/// by this engine (wasmtime version, compiler settings, target features).
fn compat_hash(engine: &Engine) -> String {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..8])
}
