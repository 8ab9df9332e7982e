//! Host-side bindings, one `bindgen!` per released WIT version: [`v1`]
//! (`wit/plugin.wit`, `wechat:plugin@1.1.0`, the host's own model; a
//! component built for 1.0 links to it unchanged, its `@1.0.0` imports
//! matched to the `@1.1.0` definitions by semver) and
//! [`v0_2`] (`wit/0.2/plugin.wit`, kept so components built for 0.2 keep
//! running; `convert/v0_2.rs` maps the host's types down to it). A later
//! 1.x whose types change gets its own module here and `v1` stays, linked
//! for the plugins built against it (docs/wit-versioning.md).
//!
//! Imports (host functions) are async so WeChat API calls can await, and
//! trappable so the host can abort a misbehaving guest; exports are async so
//! epoch interruption can stop a guest without blocking a tokio worker. The
//! WIT `api-error` result of the `wechat` functions is carried by
//! [`WechatCallError`](super::wechat_ctx::WechatCallError), so host code
//! uses `?` and the conversion happens once per version, in `convert_api_error`.

/// `wechat:plugin@1.1.0`: the current interface (1.0 components link to it).
/// Generated for the `scheduled-plugin` world, which is `plugin` plus the
/// optional `schedule` export: each export is resolved on its own
/// (`handler.rs`, `schedule.rs`), so a component without `schedule` loads.
pub mod v1 {
    wasmtime::component::bindgen!({
        world: "scheduled-plugin",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        trappable_error_type: {
            "wechat:plugin/wechat.api-error" => crate::plugin::wechat_ctx::WechatCallError,
        },
    });
}

/// `wechat:plugin@0.2.0`: per-kind handler exports, `kv-get` without errors.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit/0.2",
        imports: { default: async | trappable },
        exports: { default: async },
        trappable_error_type: {
            "wechat:plugin/wechat.api-error" => crate::plugin::wechat_ctx::WechatCallError,
        },
    });
}

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "wechat:plugin";

/// A WIT version the host links (a component targets exactly one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitVersion {
    /// `0.2.x`: one export per kind (`handle-text`, ...).
    V0_2,
    /// `1.x` up to [`V1_MINOR`]: one `handle` export with a `message` variant.
    V1,
}

/// The newest 1.x minor this host implements (`1.1`).
pub const V1_MINOR: u64 = 1;

impl WitVersion {
    /// The version a component's `wechat:plugin/...@<version>` names
    /// belong to, if this host links it.
    pub fn of(v: (u64, u64, u64)) -> Option<WitVersion> {
        match v {
            (0, 2, _) => Some(WitVersion::V0_2),
            (1, minor, _) if (0..=V1_MINOR).contains(&minor) => Some(WitVersion::V1),
            _ => None,
        }
    }

    /// `0.2` or `1.0`, as `plugin check` and the console show it.
    pub fn label(self) -> &'static str {
        match self {
            WitVersion::V0_2 => "0.2",
            WitVersion::V1 => "1.0",
        }
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{WIT_PACKAGE}@{}", self.label())
    }
}
