//! Host-side bindings generated from `wit/plugin.wit` (`wechat:plugin@0.1.0`).
//!
//! Imports (host functions) are async so WeChat API calls can await, and
//! trappable so the host can abort a misbehaving guest; exports are async so
//! epoch interruption can stop a guest without blocking a tokio worker.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The WIT package this host implements; components must be built against a
/// semver-compatible version (`0.1.x`).
pub const WIT_PACKAGE: &str = "wechat:plugin";
pub const WIT_VERSION: (u64, u64, u64) = (0, 1, 0);
