//! Load generator for `bench/load.sh`: signed safe-mode text pushes at full
//! rate over N keep-alive connections, reporting req/s and latency
//! percentiles; `floor`, a bare axum server on the same stack, to measure
//! what the HTTP layer alone can do on this machine; and `until`, the time
//! until a server answers a text with itself (after copying a plugin in:
//! hot-load time; or right after starting the server: restart time).
//!
//! `accounts` spreads the pushes over N accounts (those of
//! `bench/accounts-config.py`), each push to a random one's URL, signed and
//! encrypted with its keys.
//!
//! `fresh` is the figure users get for first deliveries: every push is new
//! (its own MsgId and nonce), the whole corpus is signed and encrypted
//! *before* the run and kept as ready HTTP/1.1 request bytes, and a light
//! loop writes them over raw keep-alive TCP connections and reads the
//! answers by `Content-Length` (no HTTP client library: the client costs
//! far less than the server, so the ratio to the floor is the server's).
//! With `CPU_PID=<pid>` in the environment, `run`, `accounts`, `get` and
//! `fresh` also print that process's CPU time per request (from
//! `/proc/<pid>/stat`), a steadier figure than req/s on a noisy machine.
//!
//! For `bench/web.sh`: `get` sends GETs (with a `Cookie`, e.g. a logged-in
//! session) at full rate, and `web-floor` serves a page of the same size
//! from bare axum.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wxhost::protocol::{AesKey, Mode, MsgCrypt};

// The same allocator as `wxhost`, so the floor runs on the same stack.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use wxhost::protocol::Push;
use wxhost::protocol::signed_request;

mod cpu;
mod fresh;

fn usage() -> ! {
    eprintln!(
        "usage: loadgen floor ADDR | loadgen run URL CONNECTIONS SECONDS LABEL [TOKEN AES_KEY APP_ID] | loadgen fresh URL CONNECTIONS SECONDS LABEL [CORPUS] | loadgen until URL TIMEOUT_SECS LABEL [SRC DST]\n       loadgen accounts BASE_URL CONNECTIONS SECONDS LABEL N\n       loadgen web-floor ADDR | loadgen get URL CONNECTIONS SECONDS LABEL [COOKIE]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("floor") => floor(args.get(1).unwrap_or_else(|| usage())).await,
        Some("web-floor") => web_floor(args.get(1).unwrap_or_else(|| usage())).await,
        Some("get") if args.len() >= 5 => {
            let cookie = args.get(5).cloned().unwrap_or_default();
            get(
                &args[1],
                args[2].parse()?,
                args[3].parse()?,
                &args[4],
                cookie,
            )
            .await
        }
        Some("until") if args.len() == 4 || args.len() == 6 => {
            let copy = args.get(4).zip(args.get(5));
            until(&args[1], args[2].parse()?, &args[3], copy).await
        }
        Some("run") if args.len() >= 5 => {
            let token = args.get(5).map(String::as_str).unwrap_or("pamtest");
            let key = args
                .get(6)
                .map(String::as_str)
                .unwrap_or("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
            let app_id = args
                .get(7)
                .map(String::as_str)
                .unwrap_or("wxb11529c136998cb6");
            run(
                &args[1],
                args[2].parse()?,
                args[3].parse()?,
                &args[4],
                token,
                key,
                app_id,
            )
            .await
        }
        Some("fresh") if args.len() == 5 || args.len() == 6 => {
            let seconds: u64 = args[3].parse()?;
            // Enough for ~60k req/s; a run that uses it all up stops early
            // (the rate is still requests / elapsed, and it says so).
            let corpus = match args.get(5) {
                Some(n) => n.parse()?,
                None => (seconds as usize * 60_000).max(10_000),
            };
            fresh::run(&args[1], args[2].parse()?, seconds, &args[4], corpus).await
        }
        Some("accounts") if args.len() == 6 => {
            accounts(
                &args[1],
                args[2].parse()?,
                args[3].parse()?,
                &args[4],
                args[5].parse()?,
            )
            .await
        }
        _ => usage(),
    }
}

/// Copies `SRC` to `DST` (if given; through a temp file and a rename, as a
/// deploy does), then sends a signed safe-mode text every 5 ms until one is
/// answered with the same text; prints how long that took from the start.
async fn until(
    url: &str,
    timeout_secs: u64,
    label: &str,
    copy: Option<(&String, &String)>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some((src, dst)) = copy {
        let tmp = format!("{dst}.part");
        std::fs::copy(src, &tmp)?;
        std::fs::rename(&tmp, dst)?;
    }
    let crypt = MsgCrypt::new(
        AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?,
        "wxb11529c136998cb6",
    );
    let client = reqwest::Client::new();
    let end = started + Duration::from_secs(timeout_secs);
    for i in 0u64.. {
        let now = wxhost::unix_now();
        let text = format!("ready? {i}");
        let xml = Push::Text(text.clone()).to_xml("gh_load", "o_until", now, 500_000_000 + i);
        let (u, body) = signed_request(url, "pamtest", Some(&crypt), Mode::Safe, &xml, now);
        if let Ok(r) = client.post(&u).body(body).send().await
            && r.status().is_success()
            && let Ok(body) = r.text().await
            && let Ok(plain) = wxhost::protocol::open_reply("pamtest", &crypt, &body)
            && plain.contains(&text)
        {
            println!(
                "{label}: serving after {:.0} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < end,
            "{label}: not serving after {timeout_secs} s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    unreachable!()
}

async fn floor(addr: &str) -> anyhow::Result<()> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/wechat",
        post(|body: axum::body::Bytes| async move {
            std::hint::black_box(body);
            "success"
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// A page like the `member` plugin's (about 1 KiB of HTML), from bare axum.
async fn web_floor(addr: &str) -> anyhow::Result<()> {
    use axum::routing::get;
    let page: &'static str = Box::leak(
        format!(
            "<!doctype html><html><body><h1>My points</h1><p>{}</p></body></html>",
            "x".repeat(900)
        )
        .into_boxed_str(),
    );
    let app = axum::Router::new().route(
        "/app/member/",
        get(move |headers: axum::http::HeaderMap| async move {
            std::hint::black_box(headers);
            axum::response::Html(page)
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// GETs of `url` with `cookie` at full rate over `connections` keep-alive
/// connections; only 2xx answers count.
async fn get(
    url: &str,
    connections: usize,
    seconds: u64,
    label: &str,
    cookie: String,
) -> anyhow::Result<()> {
    let url = url.to_owned();
    drive(connections, seconds, label, move |client, _| {
        let req = client.get(url.as_str());
        if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie.as_str())
        }
    })
    .await
}

/// Sends `request(client, i)` (`i` counts requests across connections)
/// back to back over `connections` keep-alive connections for `seconds`,
/// then prints the report. Latency is timed from the send, so building a
/// request (signing, encrypting) is not counted.
async fn drive(
    connections: usize,
    seconds: u64,
    label: &str,
    request: impl Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let cpu = cpu::Meter::from_env();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (request, next, stop, errors) =
            (request.clone(), next.clone(), stop.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                let req = request(&client, i);
                let t = Instant::now();
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed());
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await?);
    }
    let n = all.len();
    report(
        label,
        all,
        started.elapsed().as_secs_f64(),
        errors.load(Ordering::Relaxed),
    );
    cpu.report(label, n);
    Ok(())
}

fn report(label: &str, mut all: Vec<Duration>, elapsed: f64, errors: usize) {
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    println!(
        "{label}: {} requests in {elapsed:.1} s = {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
    );
}

/// Pushes to `n` accounts (`bench/accounts-config.py`'s), each request to
/// a random one at `<base>/<app_id>`, with its Token and key.
async fn accounts(
    base: &str,
    connections: usize,
    seconds: u64,
    label: &str,
    n: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(n > 0, "N must be at least 1");
    let accounts: Vec<(String, String, MsgCrypt)> = (0..n)
        .map(|i| {
            let app_id = format!("wxacc{i:010}");
            let key = format!(
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF{}",
                (b'A' + (i % 26) as u8) as char
            );
            let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(&key)?, &app_id);
            Ok((format!("{base}/{app_id}"), format!("tok{i}"), crypt))
        })
        .collect::<anyhow::Result<_>>()?;
    drive(connections, seconds, label, move |client, i| {
        let (url, token, crypt) = &accounts[rand::random_range(0..accounts.len())];
        let now = wxhost::unix_now();
        let xml = Push::Text(format!("load {i}")).to_xml(
            "gh_load",
            &format!("o_user_{}", i % 1000),
            now,
            1_000_000 + i,
        );
        let (u, body) = signed_request(url, token, Some(crypt), Mode::Safe, &xml, now);
        client.post(&u).body(body)
    })
    .await
}

async fn run(
    url: &str,
    connections: usize,
    seconds: u64,
    label: &str,
    token: &str,
    key: &str,
    app_id: &str,
) -> anyhow::Result<()> {
    let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(key)?, app_id);
    // Every request is new: a distinct MsgId (so dedup replays nothing) and
    // a fresh nonce (so the replay guard sees no repeat). Building one costs
    // the client a few microseconds, the same for the floor.
    let (url, token) = (url.to_owned(), token.to_owned());
    drive(connections, seconds, label, move |client, i| {
        let now = wxhost::unix_now();
        let xml = Push::Text(format!("load {i}")).to_xml(
            "gh_load",
            &format!("o_user_{}", i % 1000),
            now,
            1_000_000 + i,
        );
        let (u, body) = signed_request(&url, &token, Some(&crypt), Mode::Safe, &xml, now);
        client.post(&u).body(body)
    })
    .await
}
