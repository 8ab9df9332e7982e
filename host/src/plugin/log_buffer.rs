//! A plugin's log lines for one call: [`LogBuffer`] owns the per-call budget
//! (lines, bytes) and makes every line safe to print: a plugin controls its
//! text, so newlines and terminal escapes are escaped and it cannot forge
//! lines of the host's log.

/// Lines kept per call.
pub const MAX_LOG_LINES: usize = 200;
/// Bytes kept of one message or field value.
pub const MAX_LOG_MESSAGE_BYTES: usize = 4096;
/// Fields kept per line.
pub const MAX_LOG_FIELDS: usize = 32;
/// Bytes kept per call, all lines together.
pub const MAX_LOG_TOTAL_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One `log` call of a plugin, already truncated and escaped.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl LogLine {
    /// Emits it as a `tracing` event, target `wxhost::plugin`, field `plugin`.
    /// The fields are formatted only if the event is enabled.
    pub(crate) fn emit(&self, plugin: &str) {
        let (m, f) = (&self.message, Fields(&self.fields));
        match self.level {
            LogLevel::Trace => tracing::trace!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Debug => tracing::debug!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Info => tracing::info!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Warn => tracing::warn!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Error => tracing::error!(target: "wxhost::plugin", plugin, "{m}{f}"),
        }
    }
}

/// ` k="v" k2="v2"` for a log line's fields.
struct Fields<'a>(&'a [(String, String)]);

impl std::fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|(k, v)| write!(f, " {k}={v:?}"))
    }
}

/// The lines one call logged, within the budget.
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped: usize,
}

impl LogBuffer {
    /// Keeps the line (truncated, escaped, emitted) if the budget allows;
    /// counts it as dropped otherwise. Returns whether it was kept.
    pub fn push(
        &mut self,
        plugin: &str,
        level: LogLevel,
        message: &str,
        fields: &[(String, String)],
    ) -> bool {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if self.lines.len() >= MAX_LOG_LINES || self.bytes + size > MAX_LOG_TOTAL_BYTES {
            self.dropped += 1;
            return false;
        }
        self.bytes += size;
        let line = LogLine {
            level,
            message: printable(message, MAX_LOG_MESSAGE_BYTES),
            fields: fields
                .iter()
                .take(MAX_LOG_FIELDS)
                .map(|(k, v)| (printable(k, 128), printable(v, MAX_LOG_MESSAGE_BYTES)))
                .collect(),
        };
        line.emit(plugin);
        self.lines.push(line);
        true
    }

    /// The lines, plus one warning line (also emitted) if any were dropped.
    pub fn finish(mut self, plugin: &str) -> Vec<LogLine> {
        if self.dropped > 0 {
            let line = LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{} log lines dropped (limit {MAX_LOG_LINES} lines, {} KiB per call)",
                    self.dropped,
                    MAX_LOG_TOTAL_BYTES >> 10
                ),
                fields: vec![],
            };
            line.emit(plugin);
            self.lines.push(line);
        }
        self.lines
    }
}

/// `s` cut to at most `max` bytes (on a char boundary, `…` appended) with
/// every control character escaped (`\n`, `\u{1b}`), so one plugin line is
/// one line of the host's log and carries no terminal escapes.
pub(crate) fn printable(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 8);
    for c in s[..end].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    if end < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cannot_forge_log_lines_or_escape_the_terminal() {
        let p = printable("ok\n2026-01-01 INFO forged\u{1b}[31mred\r", 4096);
        assert_eq!(p, "ok\\n2026-01-01 INFO forged\\u{1b}[31mred\\r");
        assert_eq!(printable("ab中", 3), "ab…");
    }

    #[test]
    fn the_budget_drops_and_reports() {
        let mut b = LogBuffer::default();
        for i in 0..MAX_LOG_LINES + 5 {
            b.push("p", LogLevel::Info, &format!("line {i}"), &[]);
        }
        let lines = b.finish("p");
        assert_eq!(lines.len(), MAX_LOG_LINES + 1);
        assert!(
            lines
                .last()
                .unwrap()
                .message
                .starts_with("5 log lines dropped")
        );
    }
}
