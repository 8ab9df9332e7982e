//! [`PluginStats`]: calls and failures per plugin id, by failure class, with
//! the last error and its time. Kept per id (not per loaded version) in the
//! runtime, so the counts survive a hot reload; in memory only (the
//! Prometheus counters are the durable record for dashboards).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::PluginError;

/// One plugin id's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginCounters {
    /// Versions of this id loaded so far (1 = the first).
    pub generation: u64,
    pub calls: u64,
    /// By [`PluginError::kind`].
    pub failures: BTreeMap<&'static str, u64>,
    /// Unix seconds and the one-line error.
    pub last_error: Option<(u64, String)>,
}

impl PluginCounters {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

#[derive(Default)]
pub struct PluginStats {
    by_id: Mutex<HashMap<String, PluginCounters>>,
}

impl PluginStats {
    /// Counts one call of `id` that ended with `result`.
    pub fn record<T>(&self, id: &str, result: &Result<T, PluginError>) {
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let c = match by_id.get_mut(id) {
            Some(c) => c,
            None => by_id.entry(id.to_owned()).or_default(),
        };
        c.calls += 1;
        if let Err(e) = result {
            *c.failures.entry(e.kind()).or_default() += 1;
            let mut line = e.to_string();
            if line.len() > 500 {
                let mut end = 500;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
                line.push('…');
            }
            c.last_error = Some((crate::unix_now(), line));
        }
    }

    /// Counts a version of `id` published.
    pub fn loaded(&self, id: &str) {
        let mut by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        by_id.entry(id.to_owned()).or_default().generation += 1;
    }

    /// The counters of `id` (zero if never called).
    pub fn get(&self, id: &str) -> PluginCounters {
        let by_id = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        by_id.get(id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_class_with_the_last_error() {
        let s = PluginStats::default();
        s.record::<()>("echo", &Ok(()));
        s.record::<()>(
            "echo",
            &Err(PluginError::Trap("unreachable in handle_text".into())),
        );
        s.record::<()>(
            "echo",
            &Err(PluginError::Timeout {
                limit_ms: 10,
                elapsed_ms: 11,
            }),
        );
        let c = s.get("echo");
        assert_eq!((c.calls, c.failed()), (3, 2));
        assert_eq!(c.failures.get("trap"), Some(&1));
        assert!(c.last_error.unwrap().1.contains("timed out"));
        assert_eq!(s.get("other"), PluginCounters::default());
    }
}
