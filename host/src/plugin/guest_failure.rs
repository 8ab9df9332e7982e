//! What a guest's captured stderr says about why it aborted. Every guest
//! language ends an uncaught failure the same way on the wasm side (an
//! `abort` → `unreachable` trap) and says *why* only on stderr, each in its
//! own words:
//!
//! - Rust: `thread '<unnamed>' panicked at src/lib.rs:11:9:` then the message;
//! - JavaScript (componentize-js / StarlingMonkey): the error's message (the
//!   SDK prefixes its name: `RangeError: …`), `Stack:` with one
//!   `function@file:line:col` frame per line (innermost first), then
//!   `Redirecting call to abort() to mozalloc_abort`;
//! - Python (componentize-py): a standard traceback (`Traceback (most recent
//!   call last):`, `  File "/0/app.py", line 19, in handle_text` frames,
//!   innermost last, then the exception line), then componentize-py's own
//!   Rust panic `Python function threw an unexpected exception`.
//!
//! [`GuestFailure::from_stderr`] turns that into one line for the operator —
//! the guest's own message and where it was raised — plus the frames,
//! bounded. The JavaScript and Python forms are recognized by their
//! runtimes' fixed markers (componentize-js 0.23, componentize-py 0.25);
//! `tests/plugin_guest_languages.rs` runs the real components, so a toolchain
//! upgrade that changes them fails there.

use super::log_buffer::printable;

/// Frames kept of a trace (innermost first).
pub const MAX_TRACE_FRAMES: usize = 16;
/// Bytes kept of the message, and of each frame.
const MAX_MESSAGE_BYTES: usize = 1024;
const MAX_FRAME_BYTES: usize = 256;

/// componentize-js's engine prints this when an exception escapes an export.
const JS_ABORT: &str = "Redirecting call to abort() to mozalloc_abort";
/// componentize-py's runtime panics with this after printing the traceback.
const PY_ABORT: &str = "Python function threw an unexpected exception";
const PY_TRACEBACK: &str = "Traceback (most recent call last):";

/// A guest's own account of an abort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuestFailure {
    /// `<message> at <file:line> (in <function>)`, one printable line.
    pub message: String,
    /// Frames, innermost first, each `<function> at <file:line>`; empty for
    /// a Rust panic (whose message already names the place).
    pub trace: Vec<String>,
}

impl GuestFailure {
    /// Recognizes the failure text of any supported guest language, the
    /// most specific first (a Python abort also prints a Rust panic).
    pub fn from_stderr(stderr: &str) -> Option<GuestFailure> {
        python(stderr)
            .or_else(|| javascript(stderr))
            .or_else(|| rust_panic(stderr))
    }
}

/// One frame as shown: `function at file:line`.
struct Frame {
    function: String,
    place: String,
}

impl Frame {
    fn show(&self) -> String {
        let f = if self.function.is_empty() {
            "<anonymous>"
        } else {
            &self.function
        };
        printable(&format!("{f} at {}", self.place), MAX_FRAME_BYTES)
    }
}

fn failure(message: &str, frames: Vec<Frame>) -> GuestFailure {
    let mut message = message.trim().to_owned();
    if message.is_empty() {
        message = "uncaught exception (no message)".to_owned();
    }
    if let Some(inner) = frames.first() {
        message = if inner.function.is_empty() {
            format!("{message} at {}", inner.place)
        } else {
            format!("{message} at {} (in {})", inner.place, inner.function)
        };
    }
    GuestFailure {
        message: printable(&message, MAX_MESSAGE_BYTES),
        trace: frames
            .iter()
            .take(MAX_TRACE_FRAMES)
            .map(Frame::show)
            .collect(),
    }
}

/// The last uncaught JavaScript error before the engine's abort.
fn javascript(stderr: &str) -> Option<GuestFailure> {
    let lines: Vec<&str> = stderr.lines().collect();
    let abort = lines.iter().rposition(|l| l.trim() == JS_ABORT)?;
    let report = &lines[..abort];
    // The report is the lines right before the abort: a stack (if the thrown
    // value had one) after the message.
    let end = report.iter().rposition(|l| !l.trim().is_empty())? + 1;
    let report = &report[..end];
    let stack_at = report.iter().rposition(|l| l.trim_end() == "Stack:");
    let (message, frames) = match stack_at {
        Some(at) if at > 0 => {
            let frames = report[at + 1..]
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| js_frame(l.trim()))
                .collect();
            (report[at - 1], frames)
        }
        // A thrown value without a stack (`throw "text"`) prints only itself.
        _ => (report[report.len() - 1], vec![]),
    };
    Some(failure(message, frames))
}

/// `text@plugins/echo-js/plugin.js:11:19` (an anonymous function has no name).
fn js_frame(line: &str) -> Frame {
    match line.split_once('@') {
        Some((function, place)) => Frame {
            function: function.to_owned(),
            place: place.to_owned(),
        },
        None => Frame {
            function: String::new(),
            place: line.to_owned(),
        },
    }
}

/// The last traceback before componentize-py's abort.
fn python(stderr: &str) -> Option<GuestFailure> {
    let lines: Vec<&str> = stderr.lines().collect();
    let abort = lines.iter().rposition(|l| l.trim() == PY_ABORT)?;
    let start = lines[..abort]
        .iter()
        .rposition(|l| l.trim_end() == PY_TRACEBACK)?;
    let block: Vec<&str> = lines[start + 1..abort]
        .iter()
        .copied()
        .take_while(|l| !l.starts_with("thread '"))
        .collect();
    let mut frames = Vec::new();
    let mut last_frame = None;
    for (i, line) in block.iter().enumerate() {
        if let Some(frame) = py_frame(line) {
            frames.push(frame);
            last_frame = Some(i);
        }
    }
    // The exception: what follows the innermost frame at column 0 (indented
    // lines there are source excerpts and `^^^` markers), up to the blank
    // line that ends the traceback. A multi-line message is joined.
    let after = last_frame.map_or(0, |i| i + 1);
    let exception: Vec<&str> = block[after..]
        .iter()
        .copied()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with(' '))
        .collect();
    // Python prints the outermost frame first.
    frames.reverse();
    Some(failure(&exception.join(" / "), frames))
}

/// `  File "/0/app.py", line 19, in handle_text`. componentize-py mounts
/// each source directory as `/0`, `/1`, …: that prefix is dropped.
fn py_frame(line: &str) -> Option<Frame> {
    let rest = line.strip_prefix("  File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let (line_no, function) = match rest.split_once(", in ") {
        Some((n, f)) => (n, f),
        None => (rest, ""),
    };
    let file = match file.strip_prefix('/').and_then(|f| f.split_once('/')) {
        Some((mount, f)) if !mount.is_empty() && mount.bytes().all(|b| b.is_ascii_digit()) => f,
        _ => file,
    };
    Some(Frame {
        function: function.trim().to_owned(),
        place: format!("{file}:{}", line_no.trim()),
    })
}

/// `panicked at src/lib.rs:5:9: message` from a Rust guest's stderr (a
/// multi-line message is joined with ` / `).
fn rust_panic(stderr: &str) -> Option<GuestFailure> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start..];
    let mut lines = rest.lines();
    let head = lines.next()?.trim_end_matches(':').to_owned();
    let msg: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note: ") && !l.starts_with("stack backtrace"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let msg = msg.join(" / ");
    let message = if msg.is_empty() {
        head
    } else {
        format!("{head}: {msg}")
    };
    Some(GuestFailure {
        message: printable(&message, MAX_MESSAGE_BYTES),
        trace: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The texts below are what the real components print (captured from
    // plugins/fault-panic, fault-js and fault-py).

    const RUST: &str = "\nthread '<unnamed>' panicked at src/lib.rs:11:9:\nplugin bug: \"x\"\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";

    const JS_THROW: &str = "Error: plugin bug: cannot handle \"throw\"\nStack:\n  text@plugins/fault-js/plugin.js:11:19\n  run@sdk-js/src/plugin.js:104:27\n  definePlugin/exports[k.export]@sdk-js/src/plugin.js:120:46\n  export_handler_0_2_0$handleText@/tmp/8636d6891120/sources/initializer.js:1253:15\n\nRedirecting call to abort() to mozalloc_abort\n\n";

    const JS_VALUE: &str =
        "\"plugin bug: a bare string\"\nRedirecting call to abort() to mozalloc_abort\n\n";

    const PY: &str = "Traceback (most recent call last):\n  File \"/0/wxhost_sdk/plugin.py\", line 53, in call\n  File \"/0/app.py\", line 19, in handle_text\napp.PluginBug: plugin bug: cannot handle 'throw'\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";

    #[test]
    fn a_rust_panic_is_its_message_and_place() {
        let f = GuestFailure::from_stderr(RUST).unwrap();
        assert_eq!(f.message, "panicked at src/lib.rs:11:9: plugin bug: \"x\"");
        assert!(f.trace.is_empty());
        assert_eq!(GuestFailure::from_stderr("nothing"), None);
    }

    #[test]
    fn a_javascript_error_is_its_message_and_innermost_frame() {
        let f = GuestFailure::from_stderr(JS_THROW).unwrap();
        assert_eq!(
            f.message,
            "Error: plugin bug: cannot handle \"throw\" at plugins/fault-js/plugin.js:11:19 (in text)"
        );
        assert_eq!(f.trace.len(), 4);
        assert_eq!(f.trace[0], "text at plugins/fault-js/plugin.js:11:19");
        assert_eq!(f.trace[1], "run at sdk-js/src/plugin.js:104:27");
    }

    #[test]
    fn a_thrown_javascript_value_without_a_stack_is_still_named() {
        let f = GuestFailure::from_stderr(JS_VALUE).unwrap();
        assert_eq!(f.message, "\"plugin bug: a bare string\"");
        assert!(f.trace.is_empty());
    }

    #[test]
    fn only_the_last_javascript_error_counts_and_console_output_before_it_does_not() {
        let s = format!("debug: about to fail\nStack:\n  old@x.js:1:1\n{JS_THROW}");
        let f = GuestFailure::from_stderr(&s).unwrap();
        assert!(f.message.starts_with("Error: plugin bug"), "{}", f.message);
    }

    #[test]
    fn a_python_exception_is_its_line_and_innermost_frame_not_the_runtime_panic() {
        let f = GuestFailure::from_stderr(PY).unwrap();
        assert_eq!(
            f.message,
            "app.PluginBug: plugin bug: cannot handle 'throw' at app.py:19 (in handle_text)"
        );
        assert_eq!(
            f.trace,
            [
                "handle_text at app.py:19",
                "call at wxhost_sdk/plugin.py:53"
            ]
        );
    }

    #[test]
    fn a_chained_python_exception_reports_the_last_one() {
        let s = "Traceback (most recent call last):\n  File \"/0/app.py\", line 5, in f\nKeyError: 'k'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"/0/app.py\", line 7, in handle_text\n    raise ValueError(\"bad\\nvalue\")\n    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\nValueError: bad\nvalue\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\n";
        let f = GuestFailure::from_stderr(s).unwrap();
        assert_eq!(
            f.message,
            "ValueError: bad / value at app.py:7 (in handle_text)"
        );
    }

    #[test]
    fn messages_and_frames_are_bounded_and_printable() {
        let long = "x".repeat(5000);
        let mut s = format!("Error: \u{1b}[31m{long}\nStack:\n");
        for i in 0..100 {
            s.push_str(&format!("  f{i}@a.js:{i}:1\n"));
        }
        s.push_str("\nRedirecting call to abort() to mozalloc_abort\n");
        let f = GuestFailure::from_stderr(&s).unwrap();
        // Cut to the bound, then escaped (one escape here) and marked `…`.
        assert!(
            f.message.len() <= MAX_MESSAGE_BYTES + 16,
            "{}",
            f.message.len()
        );
        assert!(!f.message.contains('\u{1b}'));
        assert_eq!(f.trace.len(), MAX_TRACE_FRAMES);
    }
}
