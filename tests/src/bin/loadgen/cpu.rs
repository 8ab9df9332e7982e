//! CPU time a process spent while a run went on, from `/proc/<pid>/stat`
//! (utime + stime, fields 14 and 15): on a shared 2-core machine the
//! server's CPU per request is steadier than its requests per second,
//! which drift with whatever else runs.

/// The process named by `CPU_PID`, with its CPU time at the start of a run.
pub struct Meter(Option<(u32, u64)>);

/// Linux's `USER_HZ`, the unit of `/proc/<pid>/stat` times (100 on every
/// architecture Linux runs this on).
const TICKS_PER_SEC: f64 = 100.0;

impl Meter {
    /// Starts measuring `CPU_PID` if it is set (else measures nothing).
    pub fn from_env() -> Self {
        let pid = std::env::var("CPU_PID").ok().and_then(|p| p.parse().ok());
        Meter(pid.and_then(|pid| ticks(pid).map(|t| (pid, t))))
    }

    /// Prints the CPU time per request since the start, if measuring.
    pub fn report(&self, label: &str, requests: usize) {
        let Some((pid, start)) = self.0 else { return };
        let Some(end) = ticks(pid) else { return };
        let secs = (end - start) as f64 / TICKS_PER_SEC;
        println!(
            "{label}: server CPU {secs:.2} s = {:.1} µs per request",
            secs * 1e6 / requests.max(1) as f64
        );
    }
}

/// utime + stime of `pid`, in ticks.
fn ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields after its closing one (field 3 onwards).
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}
