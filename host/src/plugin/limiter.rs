//! [`Limiter`]: the per-call memory limit over the *sum* of an instance's
//! linear memories, remembering a refusal so the trap it causes is
//! classified as a memory-limit failure.

use wasmtime::ResourceLimiter;

/// Table elements one table may grow to.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Limits the *sum* of all linear memories of the instance (wasmtime's
/// `StoreLimits` is per memory) and remembers a refusal, so the resulting trap
/// is classified as `MemoryLimit` whatever error text it carries.
pub(crate) struct Limiter {
    pub max: usize,
    total: usize,
    pub peak: usize,
    /// The total size a refused growth asked for.
    pub exceeded: Option<usize>,
}

impl Limiter {
    pub fn new(max: usize) -> Limiter {
        Limiter {
            max,
            total: 0,
            peak: 0,
            exceeded: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total + desired.saturating_sub(current);
        if total > self.max {
            self.exceeded = Some(total);
            // An error (not `Ok(false)`) traps at once: a Rust guest would
            // otherwise abort, which looks exactly like a panic.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded (growing to {total} bytes)",
                self.max
            ));
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
