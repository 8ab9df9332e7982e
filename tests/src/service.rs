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
    env: Vec<(String, String)>,
}

/// Where the servers of one build share compiled plugin code: a JavaScript
/// or Python component takes seconds to compile, so every test server's
/// `<data_dir>/cache` links here (artifacts are keyed by content and engine,
/// and written atomically, as in production).
pub fn shared_cache() -> PathBuf {
    let target = binary()
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_owned();
    target.join("tmp").join("wxhost-e2e-plugin-cache")
}

/// The `wxhost` binary as a command-line tool (`plugin new/build/run/check`),
/// run in `cwd`, with a data directory whose compile cache is the shared one.
pub fn cli(cwd: &Path) -> Command {
    let data = shared_cache().with_file_name("wxhost-e2e-cli-data");
    if !data.join("cache").exists() {
        std::fs::create_dir_all(shared_cache()).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        // Another test may have linked it meanwhile.
        let _ = std::os::unix::fs::symlink(shared_cache(), data.join("cache"));
    }
    let mut cmd = Command::new(binary());
    cmd.current_dir(cwd)
        .env("WXHOST_DATA_DIR", &data)
        .env("WXHOST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// Components this large are guest-language runtimes (10–20 MB).
const LARGE_COMPONENT: u64 = 1 << 20;

impl Wxhost {
    /// Starts `wxhost serve` with `plugins` (built by `make plugins`) copied
    /// in and `env` overrides; the config file text (may be empty) is
    /// written to `wxhost.toml`. Compiled plugin code is shared between test
    /// servers ([`shared_cache`]).
    pub async fn start(plugins: &[&str], config_toml: &str, env: &[(&str, &str)]) -> Wxhost {
        let files: Vec<(String, PathBuf)> =
            plugins.iter().map(|p| (p.to_string(), wasm(p))).collect();
        Wxhost::start_files(&files, config_toml, env, true).await
    }

    /// [`Wxhost::start`] pointed at `fake`: its API base URL, its OAuth
    /// authorize page and the default account's AppSecret, then `env`.
    pub async fn start_against(
        fake: &crate::fake_wechat::FakeWechat,
        plugins: &[&str],
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> Wxhost {
        let files: Vec<(String, PathBuf)> =
            plugins.iter().map(|p| (p.to_string(), wasm(p))).collect();
        Wxhost::start_files_against(fake, &files, config_toml, env).await
    }

    /// [`Wxhost::start_against`] with `(id, file)` pairs.
    pub async fn start_files_against(
        fake: &crate::fake_wechat::FakeWechat,
        files: &[(String, PathBuf)],
        config_toml: &str,
        env: &[(&str, &str)],
    ) -> Wxhost {
        let base = fake.base_url();
        let authorize = format!("{base}{}", crate::fake_wechat::paths::OAUTH_AUTHORIZE);
        let mut all = vec![
            ("WXHOST_API_BASE_URL", base.as_str()),
            ("WXHOST_APP_SECRET", crate::fake_wechat::APP_SECRET),
            ("WXHOST_OAUTH_AUTHORIZE_URL", authorize.as_str()),
        ];
        all.extend_from_slice(env);
        Wxhost::start_files(files, config_toml, &all, true).await
    }

    /// [`Wxhost::start`] with `(id, file)` pairs, and a compile cache of its
    /// own when `shared_cache` is false (every component is compiled).
    pub async fn start_files(
        files: &[(String, PathBuf)],
        config_toml: &str,
        env: &[(&str, &str)],
        shared_cache: bool,
    ) -> Wxhost {
        let dir = tempfile::tempdir().expect("tempdir");
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins_dir).unwrap();
        for (id, file) in files {
            std::fs::copy(file, plugins_dir.join(format!("{id}.wasm"))).unwrap();
        }
        if shared_cache {
            let cache = self::shared_cache();
            std::fs::create_dir_all(&cache).unwrap();
            std::fs::create_dir_all(dir.path().join("data")).unwrap();
            std::os::unix::fs::symlink(&cache, dir.path().join("data/cache")).unwrap();
        }
        std::fs::write(dir.path().join("wxhost.toml"), config_toml).unwrap();
        // One server at a time compiles a guest-language component: the
        // others wait, then load it from the shared cache, instead of all
        // compiling the same 10–20 MB at once on a small machine.
        static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let large = files
            .iter()
            .any(|(_, f)| std::fs::metadata(f).is_ok_and(|m| m.len() > LARGE_COMPONENT));
        let _one_at_a_time = match large && shared_cache {
            true => Some(STARTING.lock().await),
            false => None,
        };
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let port = free_port();
        let child = spawn(dir.path(), port, &env);
        let crypt = MsgCrypt::new(AesKey::from_encoding_aes_key(AES_KEY).unwrap(), APP_ID);
        let mut host = Wxhost {
            child,
            port,
            url: format!("http://127.0.0.1:{port}/wechat"),
            dir,
            crypt,
            http: reqwest::Client::new(),
            env,
        };
        host.wait_ready().await;
        host
    }

    /// Stops the server and starts it again on the same config, data and
    /// plugins directories (a new port; the log file is appended to).
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port = free_port();
        self.url = format!("http://127.0.0.1:{}/wechat", self.port);
        self.child = spawn(self.dir.path(), self.port, &self.env);
        self.wait_ready().await;
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    async fn wait_ready(&mut self) {
        // Generous: a server starting with guest-language components it has
        // not compiled before spends seconds on each (more on a busy machine).
        let deadline = Instant::now() + Duration::from_secs(240);
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

/// `wxhost serve` in `dir` (its `wxhost.toml`, `plugins/` and `data/`),
/// logging to `dir/wxhost.log` (appended).
fn spawn(dir: &Path, port: u16, env: &[(String, String)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("wxhost.log"))
        .unwrap();
    let mut cmd = Command::new(binary());
    cmd.arg("--config")
        .arg(dir.join("wxhost.toml"))
        .arg("serve")
        .current_dir(dir)
        .env("WXHOST_LISTEN", format!("127.0.0.1:{port}"))
        // Each instance its own console port (the default 8081 would
        // collide between tests running at once).
        .env("WXHOST_ADMIN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("WXHOST_PLUGINS_DIR", dir.join("plugins"))
        .env("WXHOST_DATA_DIR", dir.join("data"))
        .env("WXHOST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn wxhost")
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
