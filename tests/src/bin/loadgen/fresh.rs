//! `loadgen fresh`: first deliveries at full rate, as an outside benchmark
//! (wrk replaying a pre-signed corpus) measures them. Every push has its own
//! MsgId and nonce, so neither dedup nor the replay guard short-cuts it;
//! the corpus is signed, encrypted and encoded as HTTP/1.1 request bytes
//! before the clock starts, on every core; during the run a connection only
//! writes the next request and reads its answer by `Content-Length`. The
//! same loop against `loadgen floor` gives the floor, so the ratio compares
//! servers, not clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wxhost::protocol::{AesKey, Mode, MsgCrypt, Push, build_push};

/// The test account of `wxhost.example.toml` / the default config.
const TOKEN: &str = "pamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";

pub async fn run(
    url: &str,
    connections: usize,
    seconds: u64,
    label: &str,
    corpus_len: usize,
) -> anyhow::Result<()> {
    let url = url::Url::parse(url).context("URL")?;
    let host = url.host_str().context("URL without a host")?;
    let port = url.port_or_known_default().context("URL without a port")?;
    let addr = format!("{host}:{port}");
    let corpus = Arc::new(corpus(&format!("{host}:{port}"), url.path(), corpus_len)?);

    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let replies = Arc::new(AtomicUsize::new(0));
    let cpu = super::cpu::Meter::from_env();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (corpus, next, stop, errors, replies, addr) = (
            corpus.clone(),
            next.clone(),
            stop.clone(),
            errors.clone(),
            replies.clone(),
            addr.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut conn: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = corpus.get(i) else {
                    // Used up: the run ends here for everyone.
                    stop.store(true, Ordering::Relaxed);
                    break;
                };
                let t = Instant::now();
                let c = match conn.take() {
                    Some(c) => c,
                    None => match Conn::open(&addr).await {
                        Ok(c) => c,
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                match c.exchange(request).await {
                    Ok((c, 200, body)) => {
                        latencies.push(t.elapsed());
                        if body != b"success" {
                            replies.fetch_add(1, Ordering::Relaxed);
                        }
                        conn = Some(c);
                    }
                    Ok((c, _, _)) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        conn = Some(c);
                    }
                    // The connection is gone: the next request opens another.
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let end = started + Duration::from_secs(seconds);
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let used_up = stop.swap(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = all.len();
    super::report(label, all, elapsed, errors.load(Ordering::Relaxed));
    cpu.report(label, n);
    println!(
        "{label}: {} of {n} answers were replies (not `success`){}",
        replies.load(Ordering::Relaxed),
        if used_up {
            format!(
                "; the corpus of {} ran out before {seconds} s",
                corpus.len()
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `len` distinct signed safe-mode text pushes to `path` on `host`, each as
/// the complete bytes of an HTTP/1.1 keep-alive request, built on every core.
fn corpus(host: &str, path: &str, len: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(AES_KEY)?, APP_ID);
    let now = wxhost::unix_now();
    // A MsgId range no other run of the same server uses (dedup would
    // answer a repeat from memory): seconds since the epoch × 10^6.
    let base = now * 1_000_000;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = len.div_ceil(threads);
    let mut out = Vec::with_capacity(len);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let crypt = &crypt;
                s.spawn(move || {
                    let range = (t * chunk).min(len)..((t + 1) * chunk).min(len);
                    range
                        .map(|i| {
                            let i = i as u64;
                            let xml = Push::Text(format!("load {i}")).to_xml(
                                "gh_load",
                                &format!("o_user_{}", i % 1000),
                                now,
                                base + i,
                            );
                            // A unique nonce: a repeated one with another
                            // body is a forged reuse, refused.
                            let nonce = format!("{}", base + i);
                            let (query, body) =
                                build_push(TOKEN, Some(crypt), Mode::Safe, &xml, now, &nonce);
                            format!(
                                "POST {path}?{} HTTP/1.1\r\nhost: {host}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{body}",
                                query.to_query_string(),
                                body.len()
                            )
                            .into_bytes()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            out.extend(h.join().expect("corpus thread"));
        }
    });
    Ok(out)
}

/// One keep-alive connection and the bytes read past the last answer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Writes `request`, reads one answer: its status and body. Consumes
    /// the connection on an I/O or framing error (it cannot be reused).
    async fn exchange(mut self, request: &[u8]) -> std::io::Result<(Conn, u16, Vec<u8>)> {
        self.stream.write_all(request).await?;
        let (head_end, status, len) = loop {
            if let Some(head_end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..head_end]).map_err(invalid)?;
                let status = head
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("status line"))?;
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .ok_or_else(|| invalid("no content-length"))?;
                break (head_end + 4, status, len);
            }
            self.fill().await?;
        };
        while self.buf.len() < head_end + len {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok((self, status, body))
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wxhost::protocol::{Callback, CallbackQuery, CallbackSettings};

    /// The query string as axum's `Query` extractor reads it.
    fn query(s: &str) -> CallbackQuery {
        let pairs: serde_json::Map<String, serde_json::Value> =
            url::form_urlencoded::parse(s.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned().into()))
                .collect();
        serde_json::from_value(pairs.into()).unwrap()
    }

    /// Every request of the corpus is a complete HTTP/1.1 request that the
    /// host's callback accepts, and no two share a nonce or a MsgId (else
    /// the replay guard or dedup would short-cut them: not new pushes).
    #[test]
    fn the_corpus_is_valid_distinct_new_pushes() {
        let corpus = corpus("127.0.0.1:1", "/wechat", 301).unwrap();
        assert_eq!(corpus.len(), 301);
        let mut settings = CallbackSettings::new(TOKEN, APP_ID);
        settings.encoding_aes_key = Some(AES_KEY.to_owned());
        settings.require_encryption = true;
        let callback = Callback::new(settings).unwrap();
        let (mut nonces, mut ids) = (
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        );
        for request in &corpus {
            let text = std::str::from_utf8(request).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let target = head.lines().next().unwrap().split(' ').nth(1).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, body.len());
            let query = query(target.split_once('?').unwrap().1);
            let inbound = callback
                .open(&query, body.as_bytes(), wxhost::unix_now())
                .unwrap();
            assert!(nonces.insert(query.nonce.clone().unwrap()));
            assert!(ids.insert(inbound.message.msg_id));
        }
    }
}
