//! A real `redis-server` as a test fixture: started on a free loopback port
//! with no persistence and its own temp dir, stopped on drop; it can be
//! killed and restarted on the same port (the fault tests). Debian's
//! `redis-server` comes from `scripts/setup-redis.sh` (`make test`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wxhost::store::{RedisSettings, Stores};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: crate::service::free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The environment that points `wxhost` at this server, with `prefix`.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("WXHOST_STORAGE_BACKEND".into(), "redis".into()),
            ("WXHOST_REDIS_URL".into(), self.url()),
            ("WXHOST_REDIS_KEY_PREFIX".into(), prefix.into()),
            (
                "WXHOST_SESSION_SECRET".into(),
                "redis-test-session-secret-of-32-chars-or-more".into(),
            ),
        ]
    }

    /// Settings for an in-process `RedisStore` on this server.
    pub fn settings(&self, prefix: &str) -> RedisSettings {
        RedisSettings {
            url: self.url(),
            key_prefix: prefix.into(),
            timeout: Duration::from_millis(1000),
        }
    }

    /// A store on this server under `prefix` (its own connection, as
    /// another instance has).
    pub fn stores(&self, prefix: &str) -> Stores {
        Stores::open(&wxhost::store::StoreLocation::Redis(self.settings(prefix)))
            .expect("redis store")
    }

    /// Kills the server at once (SIGKILL: as a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server without closing anything (SIGSTOP): every call to
    /// it hangs, as to a Redis that stalls, until [`RedisServer::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server running").id();
        let ok = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(ok.success(), "kill {signal} {pid}");
    }

    /// Sends one command (its arguments as RESP bulk strings) and returns
    /// the raw reply (enough for integer and simple replies).
    pub async fn command(&self, args: &[&str]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to redis-server");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Starts the server (again) on the same port; its data is gone.
    pub async fn restart(&mut self) {
        self.kill();
        let log = std::fs::File::create(self.dir.path().join("redis.log")).expect("log file");
        let child = Command::new(redis_server())
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && let Ok(n) = s.read(&mut buf).await
                    && buf[..n].starts_with(b"+PONG")
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "redis-server did not start on {}:\n{}",
            self.port,
            std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_server() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("redis-server"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("redis-server is not installed: run scripts/setup-redis.sh (or `make test`)")
    })
}
