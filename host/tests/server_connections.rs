//! `server::run` on a real listener against clients that misbehave at the
//! connection level: stalled or trickled headers, trickled bodies, idle
//! keep-alive connections, more connections than allowed. Raw TCP, because
//! an HTTP client library would not misbehave on purpose.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wxhost::config::Config;
use wxhost::protocol::{self, AesKey, Mode, MsgCrypt, Push};
use wxhost::server::{self, Service};
use wxhost::store::Stores;

const TOKEN: &str = "pamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";

/// Far longer than any limit under test: a read that takes this long means
/// the server held the connection.
const HELD: Duration = Duration::from_secs(8);

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.server)
            .await
            .expect("run returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

/// The service (no plugins: pushes are answered `success`) with `server`
/// settings from `toml`, served by `server::run` on 127.0.0.1.
async fn serve(toml: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "WXHOST_PLUGINS_DIR",
            dir.path().join("plugins").display().to_string(),
        ),
        (
            "WXHOST_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    let config = Config::from_toml(
        "test",
        &format!("[plugins]\nwatch = false\n[server]\n{toml}"),
        &env,
    )
    .unwrap();
    let stores = Stores::sqlite(&config.storage.data_dir).unwrap();
    let service = Service::build(&config, stores).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(service, listener, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        server,
        _dir: dir,
    }
}

/// A complete signed safe-mode push, as raw HTTP/1.1.
fn push_bytes(keep_alive: bool) -> Vec<u8> {
    let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(AES_KEY).unwrap(), APP_ID);
    let now = wxhost::unix_now();
    let msg_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        >> 1;
    let xml = Push::Text("hi".into()).to_xml("gh_test", "o_user", now, msg_id);
    let (url, body) =
        protocol::signed_request("/wechat", TOKEN, Some(&crypt), Mode::Safe, &xml, now);
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads until the server closes the connection (or `HELD` passes: `None`).
async fn read_to_close(stream: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(HELD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&out).into_owned())
}

/// Sends a whole push on a fresh connection and returns the answer.
async fn push(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&push_bytes(false)).await.unwrap();
    read_to_close(&mut s).await.expect("answered and closed")
}

/// A connection that has sent half a request head and then stalls.
async fn stalled(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /wechat?signature=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_mid_header_is_disconnected_after_the_header_timeout() {
    let running = serve("header_read_timeout_ms = 300\n").await;
    let started = Instant::now();
    let mut s = stalled(running.addr).await;
    let answer = read_to_close(&mut s)
        .await
        .expect("the server closed the stalled connection");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not before the timeout"
    );
    assert!(!answer.starts_with("HTTP/1.1 5"), "never a 5xx: {answer:?}");
    // A client that never sends a byte is closed too.
    let mut silent = TcpStream::connect(running.addr).await.unwrap();
    assert!(read_to_close(&mut silent).await.is_some());
    // Meanwhile pushes are served.
    assert!(push(running.addr).await.starts_with("HTTP/1.1 200"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_slower_than_the_limit_is_cut_with_408_not_5xx() {
    let running = serve("body_read_timeout_ms = 400\n").await;
    let mut s = TcpStream::connect(running.addr).await.unwrap();
    s.write_all(
        b"POST /wechat?signature=x&timestamp=1&nonce=n HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut read, mut write) = s.into_split();
    // One byte every 50 ms: steady, but 1000 bytes would take 50 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if write.write_all(b"<").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = Vec::new();
    let done = tokio::time::timeout(HELD, read.read_to_end(&mut answer)).await;
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        done.is_ok(),
        "the trickling connection was held: {answer:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "cut with 408 or a close, never a 5xx: {answer:?}"
    );
    assert!(push(running.addr).await.starts_with("HTTP/1.1 200"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let running = serve("header_read_timeout_ms = 300\n").await;
    let mut s = TcpStream::connect(running.addr).await.unwrap();
    s.write_all(&push_bytes(true)).await.unwrap();
    // The answer arrives and the connection stays open for the next
    // request, until it has been idle for the limit.
    let answer = read_to_close(&mut s)
        .await
        .expect("the idle connection was closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(!answer.contains("connection: close"), "{answer:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_while_free_slots_serve_pushes() {
    // Two slots; the header timeout is long so that only the test frees them.
    let running = serve("max_connections = 2\nheader_read_timeout_ms = 30000\n").await;
    let first = stalled(running.addr).await;
    // The second slot serves pushes, one connection after another.
    for _ in 0..3 {
        assert!(push(running.addr).await.starts_with("HTTP/1.1 200"));
    }
    let second = stalled(running.addr).await;
    // Both slots held: a new connection is not served...
    let waiting = tokio::spawn(push(running.addr));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served past the connection limit");
    // ...until a slot frees.
    drop(first);
    let answer = tokio::time::timeout(HELD, waiting)
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    drop(second);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_stalled_connections_and_returns() {
    // Shutdown waits the body timeout plus the budget (plus 1 s) for open
    // connections, here 2 s, not the 30 s header timeout.
    let running =
        serve("header_read_timeout_ms = 30000\nbody_read_timeout_ms = 500\nbudget_ms = 500\n")
            .await;
    let mut s = stalled(running.addr).await;
    // Give the server a moment to accept it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.stop().await;
    assert!(read_to_close(&mut s).await.is_some());
}
