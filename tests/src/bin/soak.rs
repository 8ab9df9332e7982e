//! Soak driver for `bench/soak.sh`: a bounded run of mixed safe-mode pushes
//! through several plugins against the real `wxhost` binary, while a plugin
//! is hot-replaced every few seconds, one plugin faults (panic, spin, memory
//! bomb) on some messages, and others write to kv (SQLite). It fails (exit 1)
//! unless every request got a 2xx, every reply verified and decrypted to the
//! expected content, kv counters never skipped or repeated, the plugin
//! versions switched, and the server's RSS stayed flat after warm-up.
//!
//! `soak BINARY WASM_DIR SECONDS [CONNECTIONS]`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wxhost::protocol::Reply;
use wxhost::protocol::{AesKey, Mode, MsgCrypt, Push, open_reply, parse_reply, signed_request};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "pamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";
/// How often the `echo` plugin is replaced by a new version.
const SWAP_EVERY: Duration = Duration::from_secs(3);
/// After warm-up (the first third), the second half of the run's RSS may
/// exceed the first half's peak by this much (allocator and cache noise)
/// plus 10 %; more is growth that continues, i.e. a leak.
const RSS_SLACK_KIB: u64 = 24 * 1024;

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    faults_sent: AtomicU64,
    counts: AtomicU64,
    keyword: AtomicU64,
    latency_us: std::sync::Mutex<Vec<u64>>,
    first_failure: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut f = self.first_failure.lock().unwrap();
        if f.is_none() {
            *f = Some(why);
        }
    }
}

/// The verdict is the last line printed, so a CI log that keeps only its
/// tail still says why a soak failed (an error returned from `main` would
/// end with a backtrace when `RUST_BACKTRACE` is set).
fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    if let Err(e) = runtime.block_on(soak()) {
        eprintln!("soak FAILED: {e:#}");
        std::process::exit(1);
    }
}

async fn soak() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: soak BINARY WASM_DIR SECONDS [CONNECTIONS]");
        std::process::exit(2);
    }
    let (bin, wasm_dir) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let seconds: u64 = args[2].parse().context("SECONDS")?;
    let connections: usize = args.get(3).map(|c| c.parse()).transpose()?.unwrap_or(16);

    let work = tempfile::tempdir()?;
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    for p in ["echo", "keyword", "soak"] {
        std::fs::copy(
            wasm_dir.join(format!("{p}.wasm")),
            plugins.join(format!("{p}.wasm")),
        )
        .with_context(|| format!("{p}.wasm (run scripts/build-plugins.sh)"))?;
    }
    let echo_bytes = std::fs::read(wasm_dir.join("echo.wasm"))?;
    let config = work.path().join("wxhost.toml");
    std::fs::write(
        &config,
        "[plugin.soak]\ntimeout_ms = 300\nmemory_mib = 32\n\
         [plugin.keyword.config]\nrules = \"hello=Hi there!;price=See our menu\"\n",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log_path = work.path().join("wxhost.log");
    let mut child = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("WXHOST_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "WXHOST_ADMIN_LISTEN",
            format!("127.0.0.1:{}", wxhost_tests::service::free_port()),
        )
        .env("WXHOST_PLUGINS_DIR", &plugins)
        .env("WXHOST_DATA_DIR", work.path().join("data"))
        .env("WXHOST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path)?))
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id();
    let url = format!("http://127.0.0.1:{port}/wechat");
    wait_ready(port).await?;

    let crypt = Arc::new(MsgCrypt::new(
        AesKey::from_encoding_aes_key(AES_KEY)?,
        APP_ID,
    ));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicU64::new(1));
    let started = Instant::now();

    let mut workers = Vec::new();
    for w in 0..connections {
        let (crypt, tally, stop, next_id, url) = (
            crypt.clone(),
            tally.clone(),
            stop.clone(),
            next_id.clone(),
            url.clone(),
        );
        workers.push(tokio::spawn(async move {
            worker(w, &url, &crypt, &tally, &stop, &next_id).await
        }));
    }

    // Hot replacement: a new version of `echo` every few seconds (same code,
    // a different custom section, so a different content hash).
    let swaps = {
        let (stop, plugins) = (stop.clone(), plugins.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(SWAP_EVERY).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                n += 1;
                if let Err(e) = replace_atomically(&plugins, "echo", &versioned(&echo_bytes, n)) {
                    eprintln!("swap {n} failed: {e}");
                }
            }
            n
        })
    };

    // RSS every second; the first third of the run is warm-up.
    let rss = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    samples.push((Instant::now(), kib));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            samples
        })
    };

    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed();
    let swaps = swaps.await?;
    let samples = rss.await?;
    // Give the last swap time to land before reading the log.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let status = child.wait()?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();

    let warm = elapsed / 3;
    let after: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| t.duration_since(started) >= warm)
        .map(|(_, k)| *k)
        .collect();
    let (early, late) = after.split_at(after.len() / 2);
    let (rss_first, rss_max) = (
        early.iter().copied().max().unwrap_or(0),
        late.iter().copied().max().unwrap_or(0),
    );
    let replaced = log.matches("plugin echo replaced").count() as u64;
    let mut lat = tally.latency_us.lock().unwrap().clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let ok = tally.ok.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    println!(
        "soak: {ok} pushes verified in {:.1} s ({:.0}/s) over {connections} connections, {failed} failed; \
         p50 {:.2} ms, p99 {:.2} ms; faults sent {}, kv counts {}, keyword hits {}; \
         echo replaced {replaced} of {swaps} swaps; RSS peak after warm-up {} MiB, in the last third {} MiB; exit {status}",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        tally.faults_sent.load(Ordering::Relaxed),
        tally.counts.load(Ordering::Relaxed),
        tally.keyword.load(Ordering::Relaxed),
        rss_first / 1024,
        rss_max / 1024,
    );
    if let Some(f) = tally.first_failure.lock().unwrap().as_ref() {
        eprintln!("first failure: {f}");
        // What the server said about it: its warnings, without the faults
        // the run provokes on purpose.
        let provoked = [
            "soak: asked to panic",
            "timed out",
            "memory limit",
            "plugin soak failed",
        ];
        for line in log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .filter(|l| !provoked.iter().any(|p| l.contains(p)))
            .take(40)
        {
            eprintln!("server: {line}");
        }
    }
    if failed > 0 {
        bail!("{failed} pushes failed or did not verify");
    }
    if ok == 0 {
        bail!("no push was answered");
    }
    if swaps > 0 && replaced + 1 < swaps {
        bail!("only {replaced} of {swaps} plugin versions were switched in");
    }
    if rss_max > rss_first + RSS_SLACK_KIB + rss_first / 10 {
        bail!("RSS kept growing after warm-up: peak {rss_first} KiB, then {rss_max} KiB");
    }
    if !status.success() {
        bail!("wxhost exited with {status}");
    }
    Ok(())
}

/// One connection's loop: a mix of plain texts (echo), keyword hits, kv
/// counters and faults, each reply checked against what it must be.
async fn worker(
    w: usize,
    url: &str,
    crypt: &MsgCrypt,
    tally: &Tally,
    stop: &AtomicBool,
    next_id: &AtomicU64,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let counter = format!("w{w}");
    let mut counted = 0i64;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        // Faults cost their plugin's time limit, so they are rarer.
        let (text, expect) = match i % 40 {
            0 => (format!("spin {id}"), Expect::Echo),
            13 => (format!("panic {id}"), Expect::Echo),
            26 => (format!("bomb {id}"), Expect::Echo),
            n if n % 5 == 1 => ("hello".to_owned(), Expect::Text("Hi there!".to_owned())),
            n if n % 5 == 2 => (format!("count {counter}"), Expect::Count),
            _ => (format!("soak {w} {id} 你好 <&>"), Expect::Echo),
        };
        if text.starts_with("spin") || text.starts_with("panic") || text.starts_with("bomb") {
            tally.faults_sent.fetch_add(1, Ordering::Relaxed);
        }
        let now = wxhost::unix_now();
        let xml = Push::Text(text.clone()).to_xml("gh_soak", &format!("o_soak_{w}"), now, id);
        let (u, body) = signed_request(url, TOKEN, Some(crypt), Mode::Safe, &xml, now);
        let t = Instant::now();
        let res = match client.post(&u).body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                tally.fail(format!("{text:?}: request failed: {e}"));
                continue;
            }
        };
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if !status.is_success() {
            tally.fail(format!("{text:?}: HTTP {status}: {body}"));
            continue;
        }
        let content = match open_reply(TOKEN, crypt, &body).map(|p| parse_reply(&p)) {
            Ok(Ok(r)) => match r.reply {
                Reply::Text(c) => c,
                other => {
                    tally.fail(format!("{text:?}: not a text reply: {other:?}"));
                    continue;
                }
            },
            _ => {
                tally.fail(format!("{text:?}: reply did not verify: {body}"));
                continue;
            }
        };
        let good = match &expect {
            Expect::Echo => content == text,
            Expect::Text(t) => {
                tally.keyword.fetch_add(1, Ordering::Relaxed);
                &content == t
            }
            Expect::Count => {
                tally.counts.fetch_add(1, Ordering::Relaxed);
                counted += 1;
                content == format!("count {counter} {counted}")
            }
        };
        if !good {
            tally.fail(format!("{text:?}: got {content:?}"));
            continue;
        }
        tally.ok.fetch_add(1, Ordering::Relaxed);
        tally
            .latency_us
            .lock()
            .unwrap()
            .push(t.elapsed().as_micros() as u64);
    }
}

enum Expect {
    Echo,
    Text(String),
    /// `count KEY N` with N one more than the last.
    Count,
}

/// `wasm` with a custom section `wxhost-soak-version` = `n` appended: the
/// same component, a different content hash.
fn versioned(wasm: &[u8], n: u64) -> Vec<u8> {
    fn leb(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let name = b"wxhost-soak-version";
    let payload = n.to_le_bytes();
    let mut content = Vec::new();
    leb(name.len() as u64, &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(&payload);
    let mut out = wasm.to_vec();
    out.push(0);
    leb(content.len() as u64, &mut out);
    out.extend_from_slice(&content);
    out
}

/// Writes `<id>.wasm` as a deploy tool would: a dotfile, then a rename.
fn replace_atomically(dir: &Path, id: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{id}.wasm.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(format!("{id}.wasm")))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn wait_ready(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("wxhost did not start on port {port}")
}
