//! A browser for the web side's tests: real HTTP, no automatic redirects
//! (every hop is checked), and a cookie jar of its own — one [`Browser`]
//! per simulated visitor, so a cookie never leaks from one to another.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};

/// One answer: status, headers, body.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }
    /// Every `Set-Cookie` value, whole.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
    /// The `Set-Cookie` for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }
}

pub struct Browser {
    http: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    /// The `Cookie` header this browser sends (every cookie, whatever its
    /// path: the tests only talk to one server).
    pub fn cookie_header(&self) -> String {
        self.jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn remember(&self, page: &Page) {
        let mut jar = self.jar.lock().unwrap();
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let expired = c.to_ascii_lowercase().contains("max-age=0");
            if expired || value.is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, extra: &[(&str, &str)]) -> Page {
        let mut request = request;
        let cookies = self.cookie_header();
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies);
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let r = request.send().await.expect("HTTP request");
        let page = Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        };
        self.remember(&page);
        page
    }

    /// GET `url` (a `#fragment` is not sent, as browsers do).
    pub async fn get(&self, url: &str) -> Page {
        self.get_with(url, &[]).await
    }

    /// GET with extra request headers.
    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Page {
        let url = url.split('#').next().unwrap_or(url);
        self.send(self.http.get(url), headers).await
    }

    pub async fn post(&self, url: &str) -> Page {
        self.send(self.http.post(url), &[]).await
    }

    /// Follows redirects from `url` (relative ones against `origin`),
    /// remembering cookies; returns every page on the way, the last one
    /// not a redirect (at most 10 hops).
    pub async fn follow(&self, origin: &str, url: &str) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut next = url.to_owned();
        for _ in 0..10 {
            let page = self.get(&next).await;
            let to = page.location().map(str::to_owned);
            pages.push(page);
            match to {
                Some(to) if to.starts_with('/') => next = format!("{origin}{to}"),
                Some(to) => next = to,
                None => return pages,
            }
        }
        panic!("more than 10 redirects from {url}");
    }
}
