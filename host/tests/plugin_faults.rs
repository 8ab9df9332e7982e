//! Fault plugins (panic, endless loop, unbounded allocation, invalid reply,
//! another major WIT version) are stopped, classified, and never affect the
//! other plugins or the host.

mod plugin_support;

use std::time::{Duration, Instant};

use plugin_support::*;
use wxhost::config::PluginSettings;
use wxhost::plugin::{HandlerInput, PluginError, PluginOutcome};
use wxhost::protocol::{Event, Reply};

fn fast() -> PluginSettings {
    PluginSettings {
        timeout_ms: Some(200),
        memory_mib: Some(16),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn panic_is_classified_with_the_guest_message() {
    let e = env(Default::default());
    let p = e.rt.load_file(&wasm("fault_panic")).await.unwrap();
    let r = p
        .call_traced(&HandlerInput::new(&text("boom"), None), deadline())
        .await;
    match r.result {
        Err(PluginError::Panic { message }) => {
            assert!(
                message.contains("plugin bug: cannot handle \"boom\""),
                "{message}"
            );
            assert!(message.contains("src/lib.rs"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(r.stderr.contains("panicked at"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_loop_is_stopped_at_the_time_limit() {
    let e = env(settings(&[("fault_loop", fast())]));
    let p = e.rt.load_file(&wasm("fault_loop")).await.unwrap();
    let t = Instant::now();
    let err = p
        .call(&HandlerInput::new(&text("spin"), None), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Timeout { limit_ms: 200, .. }),
        "{err:?}"
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(err.kind(), "timeout");

    // The caller's deadline wins when it is earlier than the plugin's limit.
    let err = p
        .call(
            &HandlerInput::new(&text("spin"), None),
            Instant::now() + Duration::from_millis(50),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Timeout { limit_ms, .. } if limit_ms <= 50),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_allocation_hits_the_memory_limit() {
    let e = env(settings(&[("fault_alloc", fast())]));
    let p = e.rt.load_file(&wasm("fault_alloc")).await.unwrap();
    let err = p
        .call(&HandlerInput::new(&text("eat"), None), deadline())
        .await
        .unwrap_err();
    match &err {
        PluginError::MemoryLimit {
            limit_mib: 16,
            requested_bytes,
        } => assert!(*requested_bytes > 16 << 20),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("16 MiB"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_replies_are_refused() {
    let e = env(Default::default());
    let p = e.rt.load_file(&wasm("fault_invalid_reply")).await.unwrap();
    let err = p
        .call(&HandlerInput::new(&text("x"), None), deadline())
        .await
        .unwrap_err();
    assert_eq!(err, PluginError::InvalidReply("text is empty".into()));
    let click = event("CLICK", Event::Click { key: "K".into() }, Some("K"));
    let err = p
        .call(&HandlerInput::new(&click, None), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidReply(m) if m.contains("9 articles")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn other_major_wit_version_is_refused_naming_both() {
    let e = env(Default::default());
    let err = e.rt.load_file(&wasm("fault_wit_v2")).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("wechat:plugin@1.0.0") && msg.contains("wechat:plugin@0.2.x"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_core_modules_are_refused() {
    let e = env(Default::default());
    let junk = e.plugins_dir().join("junk.wasm");
    std::fs::write(&junk, b"definitely not wasm").unwrap();
    let msg = format!("{:#}", e.rt.load_file(&junk).await.unwrap_err());
    assert!(msg.contains("not a valid WebAssembly component"), "{msg}");
    let core = e.plugins_dir().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let msg = format!("{:#}", e.rt.load_file(&core).await.unwrap_err());
    assert!(msg.contains("core WebAssembly module"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn host_keeps_answering_with_the_other_plugins() {
    let e = env(settings(&[("fault_loop", fast()), ("fault_alloc", fast())]));
    for f in [
        "fault_panic",
        "fault_loop",
        "fault_alloc",
        "fault_invalid_reply",
        "fault_wit_v2",
        "echo",
    ] {
        e.install(f, f);
    }
    e.rt.load_all().await.unwrap();
    let ids: Vec<String> = e.rt.plugins().iter().map(|p| p.id().to_owned()).collect();
    // Faults have priority 100, so they all run before echo; v2 was refused.
    assert_eq!(
        ids,
        [
            "fault_alloc",
            "fault_invalid_reply",
            "fault_loop",
            "fault_panic",
            "echo"
        ]
    );
    for round in 0..2 {
        let d =
            e.rt.dispatch(&text(&format!("still here {round}")), None, deadline())
                .await;
        assert_eq!(
            d.answer,
            Some((
                "echo".to_string(),
                PluginOutcome::Reply(Reply::Text(format!("still here {round}")))
            ))
        );
        let kinds: Vec<(&str, &str)> = d
            .failures
            .iter()
            .map(|(id, e)| (id.as_str(), e.kind()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("fault_alloc", "memory_limit"),
                ("fault_invalid_reply", "invalid_reply"),
                ("fault_loop", "timeout"),
                ("fault_panic", "panic")
            ]
        );
    }
    // A runaway plugin does not block concurrent calls to others.
    let looping = e.rt.get("fault_loop").unwrap();
    let echo = e.rt.get("echo").unwrap();
    let a = text("a");
    let a = HandlerInput::new(&a, None);
    let (l, r) = tokio::join!(looping.call(&a, deadline()), async {
        let mut n = 0;
        for i in 0..20 {
            if echo
                .call(&HandlerInput::new(&text(&i.to_string()), None), deadline())
                .await
                .is_ok()
            {
                n += 1;
            }
        }
        n
    });
    assert!(matches!(l, Err(PluginError::Timeout { .. })));
    assert_eq!(r, 20);
}
