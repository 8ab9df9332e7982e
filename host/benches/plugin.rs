//! Plugin runtime benchmarks (`cargo bench -p wxhost --bench plugin`;
//! needs `scripts/build-plugins.sh`):
//!
//! 1. `echo/instantiate+call`: a fresh store + instance + `handle` call
//!    of the `echo` plugin per message (criterion), followed by a per-call
//!    latency distribution (median / p99) over 20 000 single calls; the
//!    same for `echo_v0_2`, the committed 0.2 build of `echo`
//!    (`tests/fixtures/wit-0.2/echo.wasm`), which runs through the 1.0 → 0.2
//!    conversions (docs/wit-versioning.md), and `echo_v1_0`, the released
//!    WIT 1.0 build (`tests/fixtures/wit-1.0/echo.wasm`).
//!    With `scripts/build-plugins.sh` run for JS and Python too, the same
//!    for `echo-js` and `echo-py` (a guest runtime's fresh instance per
//!    call: what its instantiation costs).
//! 2. `page/member`: a page call of the `member` plugin (fresh instance,
//!    wasi:http request and response, a kv read) for a logged-in visitor,
//!    as `/app/member/` makes it after the session check.
//! 3. `cp echo.wasm plugins/` → first reply served through hot reload,
//!    cold (empty artifact cache: compiles) and warm (cached artifact).

use std::time::{Duration, Instant};

use criterion::Criterion;
use wxhost::plugin::{HandlerInput, PluginOutcome};

#[path = "../tests/plugin_support/mod.rs"]
mod support;
use support::{env, env_with, text, wasm};

fn bench_echo(
    c: &mut Criterion,
    tokio_rt: &tokio::runtime::Runtime,
    label: &str,
    file: &std::path::Path,
) {
    let e = env(Default::default());
    let rt = &e.rt;
    let echo = tokio_rt.block_on(rt.load_file(file)).unwrap();
    println!("pooling allocator: {}", rt.pooling());
    let msg = text("hello");
    let far = Instant::now() + Duration::from_secs(3600);

    c.bench_function(&format!("{label}/instantiate+call"), |b| {
        b.iter_custom(|iters| {
            tokio_rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    let r = echo.call(&HandlerInput::new(&msg), far).await.unwrap();
                    debug_assert!(matches!(r, PluginOutcome::Reply(_)));
                }
                t.elapsed()
            })
        })
    });

    // Per-call distribution (each call timed on its own).
    let (times, inst) = tokio_rt.block_on(async {
        let mut times = Vec::with_capacity(20_000);
        let mut inst = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            let r = echo.call_traced(&HandlerInput::new(&msg), far).await;
            times.push(t.elapsed());
            inst.push(r.instantiate);
            assert!(r.result.is_ok());
        }
        (times, inst)
    });
    let p = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        v[((v.len() - 1) as f64 * q) as usize]
    };
    let (mut times, mut inst) = (times, inst);
    println!(
        "{label} instantiate+call per message (20000 calls): median {:.1} µs, p99 {:.1} µs (instantiate median {:.1} µs)",
        p(&mut times, 0.5).as_secs_f64() * 1e6,
        p(&mut times, 0.99).as_secs_f64() * 1e6,
        p(&mut inst, 0.5).as_secs_f64() * 1e6,
    );
}

/// A logged-in visitor's `GET /app/member/`, straight to the plugin.
fn bench_page(c: &mut Criterion, tokio_rt: &tokio::runtime::Runtime) {
    let e = env(Default::default());
    let rt = &e.rt;
    let member = tokio_rt.block_on(rt.load_file(&wasm("member"))).unwrap();
    let account = rt.default_scope();
    let request = || {
        http::Request::get("https://example.com/app/member/")
            .header("x-wxhost-openid", "o_bench_visitor")
            .body(bytes::Bytes::new())
            .unwrap()
    };
    c.bench_function("page/member", |b| {
        b.iter_custom(|iters| {
            tokio_rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    let (r, _) = member.serve_web(&account, request(), 1 << 20).await;
                    let page = r.unwrap();
                    debug_assert!(page.status().is_success());
                }
                t.elapsed()
            })
        })
    });
}

/// `cp echo.wasm plugins/` → first successful reply, polled every 2 ms.
fn copy_to_first_reply(tokio_rt: &tokio::runtime::Runtime, warm: bool) -> Duration {
    tokio_rt.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        if warm {
            // Populate the cache with another runtime first.
            let pre = env_with(
                tempfile::tempdir().unwrap(),
                cache.clone(),
                Default::default(),
            );
            pre.rt.load_file(&wasm("echo")).await.unwrap();
        }
        let e = env_with(tmp, cache, Default::default());
        let (rt, dir) = (&e.rt, e.plugins_dir());
        rt.load_all().await.unwrap();
        rt.watch().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let msg = text("ping");
        let t = Instant::now();
        std::fs::copy(wasm("echo"), dir.join("echo.wasm")).unwrap();
        loop {
            if let Some(p) = rt.get("echo")
                && p.call(
                    &HandlerInput::new(&msg),
                    Instant::now() + Duration::from_secs(1),
                )
                .await
                .is_ok()
            {
                return t.elapsed();
            }
            assert!(t.elapsed() < Duration::from_secs(10), "echo never served");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

fn main() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default().configure_from_args();
    bench_echo(&mut c, &tokio_rt, "echo", &wasm("echo"));
    let v0_2 = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/wit-0.2/echo.wasm");
    bench_echo(&mut c, &tokio_rt, "echo_v0_2", &v0_2);
    let v1_0 = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/wit-1.0/echo.wasm");
    bench_echo(&mut c, &tokio_rt, "echo_v1_0", &v1_0);
    // Built only where the JS and Python tool sets are installed.
    let built = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../build/wasm");
    for guest in ["echo-js", "echo-py"] {
        let file = built.join(format!("{guest}.wasm"));
        if file.exists() {
            bench_echo(&mut c, &tokio_rt, guest, &file);
        } else {
            println!("{guest}: not built (scripts/build-plugins.sh with WXHOST_GUEST_LANGS)");
        }
    }
    bench_page(&mut c, &tokio_rt);
    c.final_summary();

    for warm in [false, true] {
        let mut v: Vec<Duration> = (0..5)
            .map(|_| copy_to_first_reply(&tokio_rt, warm))
            .collect();
        v.sort();
        println!(
            "cp echo.wasm → first reply ({} cache, 5 runs): median {:.0} ms, max {:.0} ms",
            if warm { "warm" } else { "cold" },
            v[2].as_secs_f64() * 1e3,
            v[4].as_secs_f64() * 1e3
        );
    }
}
