//! What the host allocates on a plugin's behalf is bounded, whatever the
//! guest asks for (`fault_hostmem`): huge `wasi:random` requests, lists the
//! host would copy many times over, oversized kv values and replies are
//! refused or trapped as `host_limit` before the host allocates them, and the
//! process's peak RSS (`VmHWM`, reset through `/proc/self/clear_refs`) stays
//! far below what was asked for.
//!
//! The tests take turns (one lock): the peak RSS is the whole process's.

mod plugin_support;

use plugin_support::*;
use wxhost::config::PluginSettings;
use wxhost::plugin::{HandlerInput, LoadedPlugin, PluginError, PluginOutcome};
use wxhost::protocol::Reply;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: u64 = 1 << 20;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `text` through `p` and returns the result with how far the peak
/// RSS rose above the RSS before the call, in bytes.
async fn call_measured(p: &LoadedPlugin, text_: &str) -> (Result<PluginOutcome, PluginError>, u64) {
    let msg = text(text_);
    let input = HandlerInput::new(&msg);
    // "5" resets the peak RSS to the current RSS (Linux ≥ 4.0).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before = status_kib("VmRSS:");
    let r = p.call(&input, deadline()).await;
    let peak = status_kib("VmHWM:");
    (r, peak.saturating_sub(before) << 10)
}

fn host_limit(r: &Result<PluginOutcome, PluginError>, what: &str) {
    match r {
        Err(e @ PluginError::HostLimit(m)) => {
            assert_eq!(e.kind(), "host_limit");
            assert!(m.contains(what), "{m}");
        }
        other => panic!("expected host_limit ({what}), got {other:?}"),
    }
}

fn small_memory() -> PluginSettings {
    PluginSettings {
        memory_mib: Some(16),
        ..Default::default()
    }
}

fn text_reply(s: &str) -> Result<PluginOutcome, PluginError> {
    Ok(PluginOutcome::Reply(Reply::Text(s.into())))
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_random_requests_are_refused_before_the_host_allocates_them() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let e = env(settings(&[("fault_hostmem", small_memory())]));
    let p = e.rt.load_file(&wasm("fault_hostmem")).await.unwrap();
    // What a guest legitimately wants (a key, a nonce) is served.
    let (r, _) = call_measured(&p, "random:65536").await;
    assert_eq!(r, text_reply("random 65536"));
    // 48 MiB: more than the guest could even receive (16 MiB memory).
    let (r, grew) = call_measured(&p, &format!("random:{}", 48 * MIB)).await;
    host_limit(&r, "wasi:random");
    assert!(grew < 16 * MIB, "peak RSS rose by {} MiB", grew / MIB);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_cannot_make_the_host_copy_more_than_a_call_may() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let e = env(settings(&[("fault_hostmem", small_memory())]));
    let p = e.rt.load_file(&wasm("fault_hostmem")).await.unwrap();
    // 2000 log fields all pointing at one 64 KiB string: the guest holds
    // ~100 KiB, the copy into the host would be 125 MiB.
    let (r, grew) = call_measured(&p, "fields:2000:65536").await;
    host_limit(&r, "in one call");
    assert!(grew < 16 * MIB, "peak RSS rose by {} MiB", grew / MIB);
    // A modest call still goes through.
    let (r, _) = call_measured(&p, "fields:8:100").await;
    assert_eq!(r, text_reply("logged 8 fields"));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_kv_values_and_replies_are_refused() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let e = env(Default::default());
    let p = e.rt.load_file(&wasm("fault_hostmem")).await.unwrap();
    // Above the kv value limit but within a call's copy: the plugin gets
    // the error and carries on.
    let (r, _) = call_measured(&p, "kv:100000").await;
    match r {
        Ok(PluginOutcome::Reply(Reply::Text(t))) => {
            assert!(t.starts_with("refused: value is 100000 bytes"), "{t}")
        }
        other => panic!("{other:?}"),
    }
    // Past what one call may pass the host: trapped, classified.
    let (r, grew) = call_measured(&p, &format!("kv:{}", 24 * MIB)).await;
    host_limit(&r, "in one call");
    // The guest's own 24 MiB are in the peak; the host's copy is not.
    assert!(grew < 40 * MIB, "peak RSS rose by {} MiB", grew / MIB);
    // A reply far too large to be lifted at all, and one merely too long.
    let (r, _) = call_measured(&p, &format!("reply:{}", 8 * MIB)).await;
    host_limit(&r, "in one call");
    let (r, _) = call_measured(&p, "reply:3000").await;
    assert!(matches!(r, Err(PluginError::InvalidReply(_))), "{r:?}");
    // The plugin (fresh instances) and the host are fine afterwards.
    let (r, _) = call_measured(&p, "random:16").await;
    assert_eq!(r, text_reply("random 16"));
}
