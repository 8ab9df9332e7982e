//! Host-side bindings generated from `wit/plugin.wit` (`wechat:plugin@0.2.0`).
//!
//! Imports (host functions) are async so WeChat API calls can await, and
//! trappable so the host can abort a misbehaving guest; exports are async so
//! epoch interruption can stop a guest without blocking a tokio worker. The
//! WIT `api-error` result of the `wechat` functions is carried by
//! [`WechatCallError`](super::wechat_ctx::WechatCallError), so host code
//! uses `?` and the conversion happens once, in `convert_api_error`.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "wechat:plugin/wechat.api-error" => super::wechat_ctx::WechatCallError,
    },
});

/// The WIT package this host implements; components must be built against a
/// semver-compatible version (`0.2.x`).
pub const WIT_PACKAGE: &str = "wechat:plugin";
pub const WIT_VERSION: (u64, u64, u64) = (0, 2, 0);
