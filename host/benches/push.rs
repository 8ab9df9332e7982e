//! A push end to end in process (`cargo bench -p wxhost --bench push`;
//! needs `scripts/build-plugins.sh`): the whole service as `serve` builds
//! it ([`Service::build`]: SQLite store, activity, outbound queue, metrics
//! recorder absent) with one echo plugin, driven through its router with
//! `oneshot` — no sockets, no HTTP parsing — so what is measured is the
//! push path itself: authentication, decryption, the push memory (dedup
//! and replay guard), dispatch in a detached task, the plugin call in a
//! fresh instance, sealing, the activity row and the log line.
//!
//! Every push is new (its own MsgId and nonce, signed before the timed
//! loop), as in `bench/load.sh`'s new-push section. Benchmarked for the
//! current echo and the released WIT 1.0 and 0.2 builds of it, which go
//! through the same path, so a difference between them is the plugin
//! call's.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use criterion::Criterion;
use tower::ServiceExt;
use wxhost::config::Config;
use wxhost::protocol::{AesKey, Mode, MsgCrypt, Push, build_push};
use wxhost::server::Service;
use wxhost::store::Stores;

#[path = "../tests/plugin_support/mod.rs"]
mod support;

const TOKEN: &str = "pamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";

/// The built-in config over a temp dir with `wasm` as the only plugin.
async fn service(wasm: &std::path::Path, dir: &tempfile::TempDir) -> Service {
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(wasm, plugins.join("echo.wasm")).unwrap();
    let env = vec![
        (
            "WXHOST_PLUGINS_DIR".to_owned(),
            plugins.display().to_string(),
        ),
        (
            "WXHOST_DATA_DIR".to_owned(),
            dir.path().join("data").display().to_string(),
        ),
    ];
    let config = Config::from_toml("bench", "[plugins]\nwatch = false\n", &env).unwrap();
    let stores = Stores::sqlite(&config.storage.data_dir).unwrap();
    Service::build(&config, stores).await.unwrap()
}

/// `n` signed safe-mode text pushes, each new, numbered from `from`.
fn corpus(crypt: &MsgCrypt, from: u64, n: u64) -> Vec<Request<Body>> {
    let now = wxhost::unix_now();
    (from..from + n)
        .map(|i| {
            let xml = Push::Text(format!("bench {i}")).to_xml(
                "gh_bench",
                &format!("o_user_{}", i % 1000),
                now,
                i,
            );
            let (q, body) = build_push(TOKEN, Some(crypt), Mode::Safe, &xml, now, &i.to_string());
            Request::post(format!("/wechat?{}", q.to_query_string()))
                .body(Body::from(body))
                .unwrap()
        })
        .collect()
}

fn bench_push(
    c: &mut Criterion,
    tokio_rt: &tokio::runtime::Runtime,
    label: &str,
    wasm: &std::path::Path,
) {
    let dir = tempfile::tempdir().unwrap();
    let service = tokio_rt.block_on(service(wasm, &dir));
    let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(AES_KEY).unwrap(), APP_ID);
    // MsgIds no earlier run used (the data dir is new, but be plain about it).
    let mut next = wxhost::unix_now() * 1_000_000;
    c.bench_function(&format!("push/{label}"), |b| {
        b.iter_custom(|iters| {
            let requests = corpus(&crypt, next, iters);
            next += iters;
            tokio_rt.block_on(async {
                let t = Instant::now();
                for req in requests {
                    let res = service.router.clone().oneshot(req).await.unwrap();
                    assert!(res.status().is_success());
                    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                        .await
                        .unwrap();
                    // A reply, not `success` (a budget cut would be).
                    debug_assert!(body.starts_with(b"<xml>"));
                }
                t.elapsed()
            })
        })
    });
}

fn main() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    bench_push(&mut c, &tokio_rt, "echo", &support::wasm("echo"));
    bench_push(
        &mut c,
        &tokio_rt,
        "echo_v1_0",
        &fixtures.join("wit-1.0/echo.wasm"),
    );
    bench_push(
        &mut c,
        &tokio_rt,
        "echo_v0_2",
        &fixtures.join("wit-0.2/echo.wasm"),
    );
    c.final_summary();
}
