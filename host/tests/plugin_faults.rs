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
        .call_traced(&HandlerInput::new(&text("boom")), deadline())
        .await;
    match r.result {
        Err(PluginError::Panic { message, .. }) => {
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
        .call(&HandlerInput::new(&text("spin")), deadline())
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
            &HandlerInput::new(&text("spin")),
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
        .call(&HandlerInput::new(&text("eat")), deadline())
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
        .call(&HandlerInput::new(&text("x")), deadline())
        .await
        .unwrap_err();
    assert_eq!(err, PluginError::InvalidReply("text is empty".into()));
    let click = event("CLICK", Event::Click { key: "K".into() }, Some("K"));
    let err = p
        .call(&HandlerInput::new(&click), deadline())
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
        msg.contains("wechat:plugin@2.0.0")
            && msg.contains("wechat:plugin@0.2.x and @1.0.x to @1.1.x"),
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
    let a = HandlerInput::new(&a);
    let (l, r) = tokio::join!(looping.call(&a, deadline()), async {
        let mut n = 0;
        for i in 0..20 {
            if echo
                .call(&HandlerInput::new(&text(&i.to_string())), deadline())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_plugins_do_not_hold_the_workers_other_calls_need() {
    // More spinning calls than workers, each with a 4 s limit: a guest that
    // never yields would hold both workers until its limit.
    let spin_limit = PluginSettings {
        timeout_ms: Some(4000),
        ..Default::default()
    };
    let e = env(settings(&[("fault_loop", spin_limit)]));
    let looping = e.rt.load_file(&wasm("fault_loop")).await.unwrap();
    let echo = e.rt.load_file(&wasm("echo")).await.unwrap();
    let spinners: Vec<_> = (0..3)
        .map(|i| {
            let p = looping.clone();
            tokio::spawn(async move {
                let msg = text(&format!("spin {i}"));
                p.call(&HandlerInput::new(&msg), deadline()).await
            })
        })
        .collect();
    // A blocking sleep: with the workers held, tokio's timers would not fire.
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let answer = tokio::spawn(async move {
        let msg = text("still here");
        echo.call(&HandlerInput::new(&msg), deadline()).await
    })
    .await
    .unwrap();
    let waited = asked.elapsed();
    assert_eq!(
        answer,
        Ok(PluginOutcome::Reply(Reply::Text("still here".into())))
    );
    // A correctness bound (the spinners' limit is 4 s), not a speed goal.
    assert!(
        waited < Duration::from_secs(2),
        "echo answered after {waited:?}"
    );
    for s in spinners {
        let err = s.await.unwrap().unwrap_err();
        assert!(
            matches!(err, PluginError::Timeout { limit_ms: 4000, .. }),
            "{err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_instance_pool_makes_calls_wait_and_sheds_those_out_of_time() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join(".cache");
    let one = env_with(
        dir,
        cache,
        settings(&[(
            "fixture",
            PluginSettings {
                timeout_ms: Some(5000),
                ..Default::default()
            },
        )]),
    );
    let mut cfg = one.rt.config().clone();
    cfg.max_instances = 1;
    let rt = wxhost::plugin::Runtime::new(
        cfg,
        wxhost::plugin::HostServices {
            kv: one.kv.clone(),
            wechat: None,
            jssdk: None,
            outbound: Default::default(),
        },
    )
    .unwrap();
    assert_eq!(rt.max_instances(), 1);
    let slow = rt.load_file(&wasm("fixture")).await.unwrap();
    let echo = rt.load_file(&wasm("echo")).await.unwrap();
    let busy = tokio::spawn(async move {
        let msg = text("sleep:1000");
        slow.call(&HandlerInput::new(&msg), deadline()).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The one instance is taken: a call that cannot wait long is shed...
    let msg = text("x");
    let short = Instant::now() + Duration::from_millis(200);
    let err = echo
        .call(&HandlerInput::new(&msg), short)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::Shed { .. }), "{err:?}");
    // ...and one that can, waits for it and answers.
    assert_eq!(
        echo.call(&HandlerInput::new(&msg), deadline()).await,
        Ok(PluginOutcome::Reply(Reply::Text("x".into())))
    );
    assert!(busy.await.unwrap().is_ok());
}
