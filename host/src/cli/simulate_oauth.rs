//! `wxhost simulate --oauth PATH`: plays a visitor and WeChat's authorize
//! step against a running server, so a plugin's pages can be tried logged
//! in without WeChat. The server must send logins to the fake WeChat's
//! authorize stand-in (`WXHOST_OAUTH_AUTHORIZE_URL`) and exchange codes
//! with it (`WXHOST_API_BASE_URL`, `WXHOST_APP_SECRET`). Prints the session
//! cookie, a `curl` line, and what the page answered.

use std::io::Write;

use anyhow::{Context, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// One visitor's cookies (name=value), as a `Cookie` header.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for v in response.headers().get_all(SET_COOKIE) {
            let Ok(text) = v.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.0.retain(|(n, _)| n != name);
                if !value.is_empty() {
                    self.0.push((name.to_owned(), value.to_owned()));
                }
            }
        }
    }
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .with_context(|| format!("expected a redirect, got HTTP {}", response.status()))
}

/// Logs in on `origin` as `openid` (the fake's default user if `None`) and
/// opens `path`.
pub async fn run(
    origin: &str,
    path: &str,
    openid: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if !path.starts_with('/') {
        bail!("--oauth takes a path on the server, like /app/member/");
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut jar = Jar::default();
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    let login = http
        .get(format!("{origin}/oauth/login?next={next}"))
        .send()
        .await
        .with_context(|| format!("GET {origin}/oauth/login (is the server running?)"))?;
    jar.take(&login);
    if !login.status().is_redirection() {
        bail!(
            "the server did not start a login (HTTP {}): {}",
            login.status(),
            login.text().await.unwrap_or_default()
        );
    }
    let authorize = location(&login)?;
    if authorize.starts_with("https://open.weixin.qq.com/") {
        bail!(
            "the server sends logins to WeChat's real authorize page. Start it against the fake \
             WeChat: WXHOST_OAUTH_AUTHORIZE_URL=http://127.0.0.1:18999/connect/oauth2/authorize \
             WXHOST_API_BASE_URL=http://127.0.0.1:18999 WXHOST_APP_SECRET=fake-app-secret-0123456789abcdef \
             (with `fake-wechat 127.0.0.1:18999` running)"
        );
    }
    // The authorize step (what WeChat does), as the chosen user.
    let mut at = authorize.split('#').next().unwrap_or(&authorize).to_owned();
    if let Some(o) = openid {
        let o: String = url::form_urlencoded::byte_serialize(o.as_bytes()).collect();
        at.push_str(&format!("&openid={o}"));
    }
    let wechat = http
        .get(&at)
        .send()
        .await
        .with_context(|| format!("GET {at}"))?;
    let callback = location(&wechat).context("the authorize stand-in did not redirect back")?;
    let done = http
        .get(&callback)
        .header(COOKIE, jar.header())
        .send()
        .await
        .with_context(|| format!("GET {callback}"))?;
    jar.take(&done);
    let Some(session) = jar.get("wxhost_session").map(str::to_owned) else {
        bail!(
            "the login did not complete (HTTP {}): {}",
            done.status(),
            done.text().await.unwrap_or_default()
        );
    };
    let page_url = format!(
        "{origin}{}",
        location(&done).unwrap_or_else(|_| path.to_owned())
    );
    writeln!(out, "logged in: Cookie: wxhost_session={session}")?;
    writeln!(
        out,
        "curl -H 'Cookie: wxhost_session={session}' '{page_url}'"
    )?;
    let page = http
        .get(&page_url)
        .header(COOKIE, format!("wxhost_session={session}"))
        .send()
        .await?;
    let status = page.status();
    let body = page.text().await.unwrap_or_default();
    writeln!(out, "GET {page_url} → HTTP {status}")?;
    writeln!(out, "{body}")?;
    Ok(())
}
