//! wxhost: a server for WeChat Official Accounts whose reply logic runs as
//! sandboxed WebAssembly plugins.
//!
//! - [`account`]: one Official Account (crypto, API client, store scope,
//!   plugin set) and the registry of those served.
//! - [`protocol`]: signatures, WXBizMsgCrypt, messages and replies (no I/O).
//! - [`plugin`]: the wasmtime runtime, hot reload, the WIT bindings.
//! - [`server`]: the callback endpoint, dispatch, retries and the 5 s budget;
//!   the one router.
//! - [`http`]: generic HTTP plumbing the callback listener and the console
//!   share: the accept loop and connection limits, the body deadline,
//!   health checks.
//! - [`web`]: the web side: OAuth login, sessions, JS-SDK, plugin pages.
//! - [`api`]: WeChat server APIs (access_token, menus, QR codes, customer service,
//!   template, subscription and mass messages, tags).
//! - [`outbound`]: the durable queue of outbound messages and its worker.
//! - [`schedule`]: scheduled plugin runs, once per tick across instances.
//! - [`store`]: persistent state, one narrow trait per concern (SQLite by default).
//! - [`config`]: the configuration file and environment.
//! - [`admin`]: the operator's console, API, metrics and health checks, on
//!   a listener of its own.
//! - [`cli`]: the `wxhost` commands, one file each.
//! - [`fsutil`]: private files and directories.
//!
//! Dependencies point one way: `cli` → `admin` → `server` → `outbound` → `account`; `server` → `schedule` → `account`; `server` → `web` → `account` → `plugin`, `api` → `store`,
//! `protocol`; `server` and `admin` → `http` → `store`; `store` and `protocol` depend on nothing else of wxhost.

pub mod account;
pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod fsutil;
pub mod http;
pub mod open;
pub mod outbound;
pub mod plugin;
pub mod protocol;
pub mod schedule;
pub mod server;
pub mod store;
pub mod web;

/// Unix seconds now: the one clock for timestamps on the wire and in storage.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
