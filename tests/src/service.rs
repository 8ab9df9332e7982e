//! The real `wxhost` binary as a test fixture: started on a free loopback
//! port with its own data and plugins directories, talked to over real HTTP
//! the way WeChat does, and killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wxhost::protocol::Push;
use wxhost::protocol::signed_request;
use wxhost::protocol::{self, AesKey, Mode, MsgCrypt};

pub const TOKEN: &str = "pamtest";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The built-in config's sample AppID, which the fake WeChat also accepts.
pub use crate::fake_wechat::APP_ID;

/// The repo's built plugins (`scripts/build-plugins.sh`).
pub fn wasm(name: &str) -> PathBuf {
    // Read at run time: cargo sets it for the test process, and a build shared
    // between checkouts may have baked in another checkout's path.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let path = Path::new(&manifest_dir)
        .join("../build/wasm")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-plugins.sh (or `make test`)",
        path.display()
    );
    path
}

/// The `wxhost` binary cargo built next to this test executable.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("wxhost");
    assert!(
        bin.exists(),
        "{} not built: run `cargo test` from the workspace root",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Wxhost {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub crypt: MsgCrypt,
    http: reqwest::Client,
}

impl Wxhost {
    /// Starts `wxhost serve` with `plugins` copied in and `env` overrides; the
    /// config file text (may be empty) is written to `wxhost.toml`.
    pub async fn start(plugins: &[&str], config_toml: &str, env: &[(&str, &str)]) -> Wxhost {
        let dir = tempfile::tempdir().expect("tempdir");
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins_dir).unwrap();
        for p in plugins {
            std::fs::copy(wasm(p), plugins_dir.join(format!("{p}.wasm"))).unwrap();
        }
        let config = dir.path().join("wxhost.toml");
        std::fs::write(&config, config_toml).unwrap();
        let port = free_port();
        let mut cmd = Command::new(binary());
        cmd.arg("--config")
            .arg(&config)
            .arg("serve")
            .current_dir(dir.path())
            .env("WXHOST_LISTEN", format!("127.0.0.1:{port}"))
            // Each instance its own console port (the default 8081 would
            // collide between tests running at once).
            .env("WXHOST_ADMIN_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("WXHOST_PLUGINS_DIR", &plugins_dir)
            .env("WXHOST_DATA_DIR", dir.path().join("data"))
            .env("WXHOST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("wxhost.log")).unwrap(),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn wxhost");
        let http = reqwest::Client::new();
        let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(AES_KEY).unwrap(), APP_ID);
        let mut host = Wxhost {
            child,
            port,
            url: format!("http://127.0.0.1:{port}/wechat"),
            dir,
            crypt,
            http,
        };
        host.wait_ready().await;
        host
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("wxhost exited with {status}:\n{}", self.log());
            }
            if let Ok(r) = self
                .http
                .get(format!("http://127.0.0.1:{}/healthz", self.port))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("wxhost did not start:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("wxhost.log")).unwrap_or_default()
    }

    /// Posts a signed push of `xml` in `mode`; returns status and raw body.
    pub async fn post_xml(&self, xml: &str, mode: Mode) -> (u16, String) {
        let now = wxhost::unix_now();
        let (url, body) = signed_request(&self.url, TOKEN, Some(&self.crypt), mode, xml, now);
        self.post_raw(&url, body).await
    }

    /// Starts posting a signed push of `xml` in the background (e.g. to send
    /// a retry, or a signal, while it is in flight).
    pub fn spawn_post_xml(&self, xml: &str, mode: Mode) -> tokio::task::JoinHandle<(u16, String)> {
        let now = wxhost::unix_now();
        let (url, body) = signed_request(&self.url, TOKEN, Some(&self.crypt), mode, xml, now);
        let http = self.http.clone();
        tokio::spawn(async move {
            let r = http.post(url).body(body).send().await.expect("POST");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    }

    /// Starts posting `body` to `url` in the background.
    pub fn spawn_post_raw(
        &self,
        url: &str,
        body: String,
    ) -> tokio::task::JoinHandle<(u16, String)> {
        let (http, url) = (self.http.clone(), url.to_owned());
        tokio::spawn(async move {
            let r = http.post(url).body(body).send().await.expect("POST");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        })
    }

    pub async fn post_raw(&self, url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let r = self.http.post(url).body(body).send().await.expect("POST");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// `http://127.0.0.1:PORT`: the web side's origin (the default
    /// `web.public_url`).
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn get(&self, url: &str) -> (u16, String) {
        let r = self.http.get(url).send().await.expect("GET");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// Sends `push` and returns the reply's plaintext XML, or `success`.
    pub async fn push(&self, push: &Push, mode: Mode, msg_id: u64) -> String {
        let now = wxhost::unix_now();
        let xml = push.to_xml("gh_test", "o_test_user", now, msg_id);
        let (status, body) = self.post_xml(&xml, mode).await;
        assert_eq!(status, 200, "push refused: {body}\n{}", self.log());
        self.open(&body, mode)
    }

    /// The plaintext of a reply body (verifies and decrypts encrypted ones).
    pub fn open(&self, body: &str, mode: Mode) -> String {
        if body == "success" || body.is_empty() || mode == Mode::Plaintext {
            return body.to_owned();
        }
        protocol::open_reply(TOKEN, &self.crypt, body).expect("reply verifies and decrypts")
    }
}

impl Wxhost {
    /// Kills the process at once (SIGKILL: as a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM, as a service manager does.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "wxhost did not exit:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Wxhost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
