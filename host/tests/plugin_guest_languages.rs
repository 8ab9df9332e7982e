//! JavaScript and Python plugins (built from source by `make plugins`) on
//! the real runtime: their failures are classified with the guest's own
//! message, loops and allocation bombs are stopped by the same limits as a
//! Rust plugin's; and opt-in instance reuse (`reuse_calls`) serves at most
//! N calls per instance, throws an instance away after a failure, is never
//! shared between plugins or versions, and never starves other plugins.

mod plugin_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_support::*;
use wxhost::config::PluginSettings;
use wxhost::plugin::{HandlerInput, LoadedPlugin, PluginError, PluginOutcome};
use wxhost::protocol::Reply;

/// Compiling a 14–18 MB component takes seconds: every test here shares one
/// artifact cache (keyed by content and engine, as in production).
fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guest-plugin-cache")
}

/// Loads one plugin at a time across the tests of this file, so the first
/// load of a component compiles it into [`shared_cache`] while the others
/// wait and then deserialize it, instead of all compiling it at once.
async fn load(e: &Env, path: &std::path::Path) -> anyhow::Result<Arc<LoadedPlugin>> {
    static LOADING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = LOADING.lock().await;
    e.rt.load_file(path).await
}

fn guest_env(settings: std::collections::BTreeMap<String, PluginSettings>) -> Env {
    env_with(tempfile::tempdir().unwrap(), shared_cache(), settings)
}

fn limits(timeout_ms: u64, memory_mib: u64) -> PluginSettings {
    PluginSettings {
        timeout_ms: Some(timeout_ms),
        memory_mib: Some(memory_mib),
        ..Default::default()
    }
}

fn reuse(n: u32) -> PluginSettings {
    PluginSettings {
        reuse_calls: Some(n),
        ..Default::default()
    }
}

fn panic_of(r: Result<PluginOutcome, PluginError>) -> (String, Vec<String>) {
    match r {
        Err(PluginError::Panic { message, trace }) => (message, trace),
        other => panic!("expected a panic, got {other:?}"),
    }
}

fn text_of(r: Result<PluginOutcome, PluginError>) -> String {
    match r {
        Ok(PluginOutcome::Reply(Reply::Text(t))) => t,
        other => panic!("expected a text reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thrown_javascript_error_is_a_panic_with_its_message_and_place() {
    let e = guest_env(Default::default());
    let p = load(&e, &wasm("fault-js")).await.unwrap();
    let r = p
        .call_traced(&HandlerInput::new(&text("throw")), deadline())
        .await;
    assert!(
        r.stderr.contains("Stack:"),
        "the raw report stays: {}",
        r.stderr
    );
    let (message, trace) = panic_of(r.result);
    assert!(
        message.starts_with(
            "Error: plugin bug: cannot handle \"throw\" at plugins/fault-js/plugin.js:"
        ),
        "{message}"
    );
    assert!(message.ends_with("(in text)"), "{message}");
    assert!(!message.contains("mozalloc"), "{message}");
    assert!(
        trace[0].starts_with("text at plugins/fault-js/plugin.js:"),
        "{trace:?}"
    );
    assert!(
        trace.iter().any(|f| f.contains("sdk-js/src/plugin.js")),
        "{trace:?}"
    );

    // A rejected promise and a thrown non-Error are reported the same way.
    let r = p
        .call(&HandlerInput::new(&text("reject")), deadline())
        .await;
    let (message, _) = panic_of(r);
    assert!(
        message.starts_with("RangeError: plugin bug: rejected at "),
        "{message}"
    );
    let r = p
        .call(&HandlerInput::new(&text("throw-value")), deadline())
        .await;
    assert_eq!(panic_of(r).0, "\"plugin bug: a bare string\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uncaught_python_exception_is_a_panic_with_its_exception_line_and_frame() {
    let e = guest_env(Default::default());
    let p = load(&e, &wasm("fault-py")).await.unwrap();
    let r = p
        .call_traced(&HandlerInput::new(&text("throw")), deadline())
        .await;
    assert!(r.stderr.contains("Traceback"), "{}", r.stderr);
    let (message, trace) = panic_of(r.result);
    assert!(
        message.starts_with("app.PluginBug: plugin bug: cannot handle 'throw' at app.py:"),
        "{message}"
    );
    assert!(message.ends_with("(in handle_text)"), "{message}");
    assert!(!message.contains("Python function threw"), "{message}");
    assert!(trace[0].starts_with("handle_text at app.py:"), "{trace:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_loops_in_javascript_and_python_are_stopped_at_the_time_limit() {
    let e = guest_env(settings(&[
        ("fault-js", limits(200, 64)),
        ("fault-py", limits(200, 64)),
    ]));
    for name in ["fault-js", "fault-py"] {
        let p = load(&e, &wasm(name)).await.unwrap();
        let t = Instant::now();
        let err = p
            .call(&HandlerInput::new(&text("loop")), deadline())
            .await
            .unwrap_err();
        assert!(
            matches!(err, PluginError::Timeout { limit_ms: 200, .. }),
            "{name}: {err:?}"
        );
        assert!(t.elapsed() >= Duration::from_millis(200), "{name}");
        // The plugin still answers afterwards (a fresh instance).
        let ok = p.call(&HandlerInput::new(&text("hi")), deadline()).await;
        assert_eq!(text_of(ok), "hi", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn allocation_bombs_in_javascript_and_python_hit_the_memory_limit() {
    let e = guest_env(settings(&[
        ("fault-js", limits(5000, 32)),
        ("fault-py", limits(5000, 32)),
    ]));
    for name in ["fault-js", "fault-py"] {
        let p = load(&e, &wasm(name)).await.unwrap();
        let r = p
            .call_traced(&HandlerInput::new(&text("alloc")), deadline())
            .await;
        match r.result {
            Err(PluginError::MemoryLimit { limit_mib: 32, .. }) => {}
            other => panic!("{name}: {other:?}"),
        }
        assert!(
            r.memory_peak_bytes <= 32 << 20,
            "{name}: {}",
            r.memory_peak_bytes
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_limit_below_a_guest_runtimes_heap_fails_the_load_naming_the_limit() {
    // SpiderMonkey needs ~10.5 MB and CPython ~13 MB at instantiation.
    let e = guest_env(settings(&[
        ("fault-js", limits(1000, 8)),
        ("fault-py", limits(1000, 8)),
    ]));
    for name in ["fault-js", "fault-py"] {
        let err = load(&e, &wasm(name)).await.unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("memory limit of 8 MiB exceeded"),
            "{name}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_reuse_an_instance_serves_at_most_n_calls_and_keeps_its_globals() {
    let e = guest_env(settings(&[
        ("fault-js", reuse(3)),
        ("fault-py", reuse(3)),
        ("fixture", reuse(3)),
    ]));
    for name in ["fault-js", "fault-py", "fixture"] {
        let p = load(&e, &wasm(name)).await.unwrap();
        assert_eq!(p.reuse_calls(), 3);
        let mut counts = Vec::new();
        let mut reused = Vec::new();
        for _ in 0..7 {
            let r = p
                .call_traced(&HandlerInput::new(&text("count")), deadline())
                .await;
            reused.push(r.reused);
            counts.push(text_of(r.result));
        }
        assert_eq!(counts, ["1", "2", "3", "1", "2", "3", "1"], "{name}");
        assert_eq!(
            reused,
            [false, true, true, false, true, true, false],
            "{name}"
        );
    }
    // Without reuse every call is a fresh instance.
    let e = guest_env(Default::default());
    let p = load(&e, &wasm("fault-js")).await.unwrap();
    for _ in 0..2 {
        let r = p.call(&HandlerInput::new(&text("count")), deadline()).await;
        assert_eq!(text_of(r), "1");
    }
    assert_eq!(p.idle_instances(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reused_instance_is_thrown_away_after_a_failure() {
    let mut fast = limits(200, 64);
    fast.reuse_calls = Some(100);
    let e = guest_env(settings(&[("fault-js", fast.clone()), ("fault-py", fast)]));
    for name in ["fault-js", "fault-py"] {
        let p = load(&e, &wasm(name)).await.unwrap();
        let count = async || text_of(p.call(&HandlerInput::new(&text("count")), deadline()).await);
        assert_eq!(count().await, "1", "{name}");
        assert_eq!(count().await, "2", "{name}");
        // A trap poisons the instance: the next call starts afresh.
        let r = p.call(&HandlerInput::new(&text("throw")), deadline()).await;
        assert!(matches!(r, Err(PluginError::Panic { .. })), "{name}: {r:?}");
        assert_eq!(count().await, "1", "{name}: after a throw");
        assert_eq!(count().await, "2", "{name}");
        // So does a timeout, and a memory-limit hit.
        let r = p.call(&HandlerInput::new(&text("loop")), deadline()).await;
        assert!(
            matches!(r, Err(PluginError::Timeout { .. })),
            "{name}: {r:?}"
        );
        assert_eq!(count().await, "1", "{name}: after a timeout");
        let r = p.call(&HandlerInput::new(&text("alloc")), deadline()).await;
        assert!(
            matches!(r, Err(PluginError::MemoryLimit { .. })),
            "{name}: {r:?}"
        );
        assert_eq!(count().await, "1", "{name}: after the memory limit");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reused_instances_are_never_shared_between_plugins_or_versions() {
    let e = guest_env(settings(&[("a", reuse(100)), ("b", reuse(100))]));
    let (a, b) = (e.install("fault-js", "a"), e.install("fault-js", "b"));
    let a1 = load(&e, &a).await.unwrap();
    let b1 = load(&e, &b).await.unwrap();
    let count = async |p: &LoadedPlugin| {
        text_of(p.call(&HandlerInput::new(&text("count")), deadline()).await)
    };
    assert_eq!(count(&a1).await, "1");
    assert_eq!(count(&a1).await, "2");
    assert_eq!(count(&b1).await, "1", "another plugin, same code");
    // A reload of `a` (another loaded version) starts with fresh instances,
    // while the old version's keep serving calls already holding it.
    let a2 = load(&e, &a).await.unwrap();
    assert_eq!(count(&a2).await, "1", "a new version");
    assert_eq!(count(&a1).await, "3");
    drop(a1);
    assert_eq!(count(&a2).await, "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_reused_instances_give_up_their_permits_to_other_plugins() {
    // Two instances at once, both held idle by two reusing plugins: a third
    // plugin's call still gets one (an idle instance is evicted for it).
    let e = env_sized(
        tempfile::tempdir().unwrap(),
        shared_cache(),
        settings(&[("x", reuse(100)), ("y", reuse(100))]),
        2,
    );
    let (x, y) = (e.install("fixture", "x"), e.install("fixture", "y"));
    let x = load(&e, &x).await.unwrap();
    let y = load(&e, &y).await.unwrap();
    let echo = load(&e, &wasm("echo")).await.unwrap();
    for p in [&x, &y] {
        let r = p.call(&HandlerInput::new(&text("count")), deadline()).await;
        assert_eq!(text_of(r), "1");
        assert_eq!(p.idle_instances(), 1);
    }
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        echo.call(&HandlerInput::new(&text("still here")), deadline()),
    )
    .await
    .expect("a fresh instance is not kept waiting by idle ones");
    assert_eq!(text_of(r), "still here");
    assert_eq!(
        x.idle_instances() + y.idle_instances(),
        1,
        "one was evicted"
    );
}
