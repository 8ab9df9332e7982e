//! Bounds on what the *host* allocates on a plugin's behalf, which the
//! memory limiter (`limiter.rs`, the guest's own linear memory) does not see:
//!
//! - data copied out of the guest: every string and list a host function
//!   receives, and an export's result, is lifted into host memory before any
//!   host code can look at its length; wasmtime's *hostcall fuel* caps the
//!   bytes of one such copy ([`HOSTCALL_FUEL_BYTES`]);
//! - host-side resources (WASI streams, pollables) in the call's
//!   `ResourceTable` ([`MAX_RESOURCES`]) and component-model handles in the
//!   store ([`MAX_COMPONENT_HANDLES`]);
//! - `wasi:random` `get-random-bytes(len)`, which allocates `len` bytes on
//!   the host first ([`MAX_RANDOM_BYTES`]).
//!
//! Past any of them the call traps, and [`exceeded`] recognizes the trap so
//! it is classified as `host_limit` rather than an anonymous trap. The
//! host functions' own argument limits (kv, log, wechat) come on top.

use wasmtime::Store;

use super::state::CallState;

/// Bytes one guest → host copy may take (one host call's arguments, or one
/// export's result). The largest legitimate ones are far below: a kv value
/// (64 KiB), a log line (kept to 4 KiB per value), a reply (a few KiB).
pub const HOSTCALL_FUEL_BYTES: usize = 1 << 20;
/// Host-side WASI resources one call may hold open at once.
pub const MAX_RESOURCES: usize = 4096;
/// Component-model handles live at once in one call's store.
pub const MAX_COMPONENT_HANDLES: usize = 10_000;
/// Largest `wasi:random` `get-random-bytes` / `get-insecure-random-bytes`.
pub const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// Applies the store-wide bounds to a fresh call store.
pub(crate) fn apply(store: &mut Store<CallState>) {
    store.set_hostcall_fuel(HOSTCALL_FUEL_BYTES);
    store.set_max_component_handles(MAX_COMPONENT_HANDLES);
}

/// Which bound a failed call ran into, if any, as one line for the operator.
///
/// wasmtime reports these as plain errors (its fuel error type is private),
/// so they are recognized by the messages of the pinned wasmtime version;
/// `tests/plugin_host_memory.rs` fails if an upgrade changes them.
pub(crate) fn exceeded(err: &wasmtime::Error) -> Option<String> {
    let text = format!("{err:#}");
    if text.contains("fuel allocated for hostcalls has been exhausted") {
        return Some(format!(
            "passed the host more than {} KiB in one call",
            HOSTCALL_FUEL_BYTES >> 10
        ));
    }
    if text.contains("resource table has no free keys") {
        return Some(format!("held more than {MAX_RESOURCES} host resources"));
    }
    if text.contains("store handle limit exceeded") {
        return Some(format!(
            "held more than {MAX_COMPONENT_HANDLES} component handles"
        ));
    }
    if text.contains("requested len") && text.contains(&format!("exceeds limit {MAX_RANDOM_BYTES}"))
    {
        return Some(format!(
            "asked wasi:random for more than {} KiB at once",
            MAX_RANDOM_BYTES >> 10
        ));
    }
    None
}
