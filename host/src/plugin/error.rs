//! [`PluginError`]: why a call failed, one line for people and a stable
//! snake_case label ([`PluginError::kind`]) for logs and metrics.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("timed out after {elapsed_ms} ms (limit {limit_ms} ms)")]
    Timeout { limit_ms: u64, elapsed_ms: u64 },
    #[error("memory limit of {limit_mib} MiB exceeded (tried to grow to {requested_bytes} bytes)")]
    MemoryLimit {
        limit_mib: u64,
        requested_bytes: u64,
    },
    /// The guest aborted: a Rust panic, an uncaught JavaScript error or
    /// Python exception. `message` is the guest's own, with where it was
    /// raised; `trace` its frames, innermost first (bounded; empty for Rust).
    #[error("{message}")]
    Panic { message: String, trace: Vec<String> },
    /// It asked the host to allocate more on its behalf than a call may
    /// (see `bounds.rs`): too much data passed in one host call, too many
    /// resources, too many random bytes.
    #[error("host limit exceeded: it {0}")]
    HostLimit(String),
    #[error("invalid reply: {0}")]
    InvalidReply(String),
    #[error("trap: {0}")]
    Trap(String),
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    #[error("host error: {0}")]
    Host(String),
    /// Not called: its time was used up waiting for a free instance (load
    /// shedding); the plugin itself did nothing wrong.
    #[error("skipped: no time left after waiting {waited_ms} ms for a free instance")]
    Shed { waited_ms: u64 },
    /// It returned an error of its own (a scheduled run's `err(...)`).
    #[error("{0}")]
    Failed(String),
}

impl PluginError {
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Timeout { .. } => "timeout",
            PluginError::MemoryLimit { .. } => "memory_limit",
            PluginError::Panic { .. } => "panic",
            PluginError::HostLimit(_) => "host_limit",
            PluginError::InvalidReply(_) => "invalid_reply",
            PluginError::Trap(_) => "trap",
            PluginError::Instantiate(_) => "instantiate",
            PluginError::Host(_) => "host",
            PluginError::Shed { .. } => "shed",
            PluginError::Failed(_) => "failed",
        }
    }
}
