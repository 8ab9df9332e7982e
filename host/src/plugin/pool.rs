//! How many plugin instances may exist at once — the size of wasmtime's
//! instance pool and of the semaphore in front of it. Each instance may use
//! its plugin's `memory_mib` of linear memory plus what the host allocates
//! for the call (see `bounds.rs`), so a fixed count is either too many for a
//! small machine (out of memory under load) or needlessly few for a large
//! one. Unless `plugins.max_instances` says otherwise, the count is what
//! fits in half the memory this process can have.

/// Host memory a call may cost beyond its linear memory: one hostcall copy,
/// captured output, log lines, resources, the store itself.
pub const HOST_BYTES_PER_INSTANCE: u64 = 4 << 20;
/// The most instances the derived default picks (the pool reserves address
/// space per slot; 128 concurrent calls is far beyond two cores' worth).
pub const DEFAULT_MAX_INSTANCES: u32 = 128;
/// The fewest the derived default picks, however small the machine.
pub const MIN_INSTANCES: u32 = 4;
/// The most `plugins.max_instances` accepts.
pub const MAX_INSTANCES: u32 = 1024;

/// The default pool size for instances of at most `memory_mib` each.
pub fn default_max_instances(memory_mib: u64) -> u32 {
    fit(available_memory(), memory_mib)
}

/// Instances of `memory_mib` (+ host overhead) that fit in half of
/// `available` bytes, within [`MIN_INSTANCES`]..=[`DEFAULT_MAX_INSTANCES`];
/// the maximum when the memory is unknown.
pub(crate) fn fit(available: Option<u64>, memory_mib: u64) -> u32 {
    let Some(available) = available else {
        return DEFAULT_MAX_INSTANCES;
    };
    let each = (memory_mib << 20).saturating_add(HOST_BYTES_PER_INSTANCE);
    let n = (available / 2) / each.max(1);
    n.clamp(MIN_INSTANCES as u64, DEFAULT_MAX_INSTANCES as u64) as u32
}

/// Memory this process can still get: the machine's `MemAvailable`, or less
/// if its cgroup (a container's memory limit) has less headroom.
pub(crate) fn available_memory() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| meminfo_available(&m));
    let cgroup = cgroup_headroom();
    match (machine, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// cgroup v2 `memory.max - memory.current`, or v1's limit minus usage.
fn cgroup_headroom() -> Option<u64> {
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let (limit, used) = match read("/sys/fs/cgroup/memory.max") {
        Some(max) => (max, read("/sys/fs/cgroup/memory.current").unwrap_or(0)),
        None => (
            read("/sys/fs/cgroup/memory/memory.limit_in_bytes")?,
            read("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0),
        ),
    };
    Some(limit.saturating_sub(used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_fits_half_the_available_memory() {
        let gib = 1u64 << 30;
        // 2 GiB free, 64 MiB plugins: 1 GiB / 68 MiB = 15 instances.
        assert_eq!(fit(Some(2 * gib), 64), 15);
        // Plenty of memory: capped at the default maximum.
        assert_eq!(fit(Some(256 * gib), 64), DEFAULT_MAX_INSTANCES);
        // Larger plugins, fewer instances.
        assert_eq!(fit(Some(2 * gib), 512), 4);
        // A tiny machine still gets a few; unknown memory gets the maximum.
        assert_eq!(fit(Some(64 << 20), 64), MIN_INSTANCES);
        assert_eq!(fit(None, 64), DEFAULT_MAX_INSTANCES);
    }

    #[test]
    fn the_config_sets_the_pool_size_or_leaves_it_to_the_memory() {
        use crate::config::Config;
        use crate::plugin::RuntimeConfig;
        let cfg = |toml: &str| Config::from_toml("test", toml, &[]);
        let set = cfg("[plugins]\nmax_instances = 7\n").unwrap();
        assert_eq!(RuntimeConfig::from_config(&set).max_instances, 7);
        // Unset: derived at the largest memory limit of any plugin.
        let big = cfg("[plugin.big]\nmemory_mib = 100000\n").unwrap();
        let derived = RuntimeConfig::from_config(&big).max_instances;
        assert_eq!(derived, fit(available_memory(), 100000));
        assert_eq!(derived, MIN_INSTANCES, "100 GB plugins on this machine");
        let err = cfg("[plugins]\nmax_instances = 0\n").unwrap_err();
        assert!(err.to_string().contains("plugins.max_instances"), "{err}");
    }

    #[test]
    fn meminfo_is_read_in_kib() {
        let m = "MemTotal:       24683520 kB\nMemFree:  1486848 kB\nMemAvailable:   20603904 kB\n";
        assert_eq!(meminfo_available(m), Some(20603904 << 10));
        assert!(available_memory().is_some_and(|b| b > 0));
    }
}
