//! The admin console in-process, for tests: a [`Service`] and its [`Admin`]
//! on two real loopback listeners (the callback and the console), pointed
//! at a [`FakeWechat`], with a password and an API token set. Both
//! listeners stop when the [`Console`] is dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use wxhost::admin::Admin;
use wxhost::plugin::Runtime;
use wxhost::protocol::{AesKey, MsgCrypt, Push, signed_request};
use wxhost::server::{self, Service};
use wxhost::store::Stores;

use crate::fake_wechat::{APP_ID, FakeWechat};
use crate::service::{AES_KEY, TOKEN, wasm};

pub const PASSWORD: &str = "correct-horse-battery";
pub const API_TOKEN: &str = "test-api-token-0123456789";

pub struct Console {
    pub fake: FakeWechat,
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the console.
    pub admin_url: String,
    /// `http://127.0.0.1:PORT` of the callback listener.
    pub callback_base: String,
    pub runtime: Arc<Runtime>,
    pub admin: Arc<Admin>,
    pub stores: Stores,
    pub http: reqwest::Client,
    crypt: MsgCrypt,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A signed-in browser, as far as the server can tell: its session cookie
/// and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// The value of the first `name="csrf" value="…"` in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_owned())
}

/// `name=value` of a `Set-Cookie` header named `name`.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

impl Console {
    /// With `plugins` (built test plugins) in its plugins directory.
    pub async fn start(plugins: &[&str]) -> Console {
        Console::start_with(plugins, "", &[], None).await
    }

    /// With extra TOML and environment (an empty value unsets one of the
    /// defaults: `("WXHOST_ADMIN_PASSWORD", "")` for no password); `dir`
    /// reuses a data dir (a restart).
    pub async fn start_with(
        plugins: &[&str],
        toml: &str,
        env: &[(&str, &str)],
        dir: Option<tempfile::TempDir>,
    ) -> Console {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let plugins_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins_dir).unwrap();
        for p in plugins {
            std::fs::copy(wasm(p), plugins_dir.join(format!("{p}.wasm"))).unwrap();
        }
        let fake = FakeWechat::start().await;
        let mut vars = fake.env(&dir.path().join("data"));
        for (k, v) in [
            ("WXHOST_PLUGINS_DIR", plugins_dir.display().to_string()),
            ("WXHOST_ADMIN_PASSWORD", PASSWORD.to_owned()),
            ("WXHOST_ADMIN_API_TOKEN", API_TOKEN.to_owned()),
            ("WXHOST_REQUIRE_ENCRYPTION", "false".to_owned()),
        ] {
            vars.push((k.to_owned(), v));
        }
        vars.retain(|(k, _)| !env.iter().any(|(e, v)| e == k && v.is_empty()));
        vars.extend(
            env.iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let config = wxhost::config::Config::from_toml("console test", toml, &vars)
            .expect("console test config");
        let stores = Stores::sqlite(&config.storage.data_dir).unwrap();
        let service = Service::build(&config, stores).await.unwrap();
        let admin = Arc::new(Admin::new(&config, &service));
        let runtime = service.runtime.clone();
        let stores = service.stores.clone();
        let limits = service.limits.clone();
        let callback = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let console = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback_base = format!("http://{}", callback.local_addr().unwrap());
        let admin_url = format!("http://{}", console.local_addr().unwrap());
        let (stop, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let tasks = vec![
            tokio::spawn({
                let rx = rx.clone();
                async move {
                    let _ = server::run(service, callback, stopped(rx)).await;
                }
            }),
            tokio::spawn(wxhost::admin::serve(
                admin.clone(),
                console,
                limits,
                stopped(rx),
            )),
        ];
        Console {
            fake,
            dir,
            admin_url,
            callback_base,
            runtime,
            admin,
            stores,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            crypt: MsgCrypt::new(AesKey::from_encoding_aes_key(AES_KEY).unwrap(), APP_ID),
            stop,
            tasks,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.admin_url)
    }

    /// A request to the API with the bearer token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(API_TOKEN)
    }

    /// The login form's pre-session cookie and CSRF token.
    pub async fn login_form(&self) -> (String, String) {
        let res = self.http.get(self.url("/login")).send().await.unwrap();
        let cookie = set_cookie(&res, "wxhost_admin_login").expect("login cookie");
        let csrf = csrf_in(&res.text().await.unwrap()).expect("login csrf");
        (cookie, csrf)
    }

    /// Posts the login form with `password`.
    pub async fn try_login(&self, password: &str) -> reqwest::Response {
        let (cookie, csrf) = self.login_form().await;
        self.http
            .post(self.url("/login"))
            .header(reqwest::header::COOKIE, cookie)
            .form(&[("csrf", csrf.as_str()), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// Logs in with the password; the session and its CSRF token.
    pub async fn login(&self) -> Session {
        let res = self.try_login(PASSWORD).await;
        assert_eq!(res.status(), 303, "login: {}", res.status());
        let cookie = set_cookie(&res, "wxhost_admin").expect("session cookie");
        let page = self.page(&cookie, "/").await;
        Session {
            csrf: csrf_in(&page).expect("session csrf"),
            cookie,
        }
    }

    /// A page's HTML with a session cookie.
    pub async fn page(&self, cookie: &str, path: &str) -> String {
        let res = self
            .http
            .get(self.url(path))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.text().await.unwrap()
    }

    /// Sends a signed safe-mode push; the reply's plaintext XML or `success`.
    pub async fn push(&self, push: &Push, msg_id: u64) -> String {
        self.push_from(push, "o_test_user_0123456789", msg_id).await
    }

    /// [`Console::push`] from the user `from`.
    pub async fn push_from(&self, push: &Push, from: &str, msg_id: u64) -> String {
        let now = wxhost::unix_now();
        let xml = push.to_xml("gh_test", from, now, msg_id);
        let (url, body) = signed_request(
            &format!("{}/wechat", self.callback_base),
            TOKEN,
            Some(&self.crypt),
            wxhost::protocol::Mode::Safe,
            &xml,
            now,
        );
        let res = self.http.post(url).body(body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        if body == "success" {
            return body;
        }
        wxhost::protocol::open_reply(TOKEN, &self.crypt, &body).expect("reply opens")
    }

    /// Waits until `check` holds, up to `timeout`.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            if check().await {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops both listeners and hands back the data dir (for a restart).
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
