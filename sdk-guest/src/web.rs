//! Web pages from a plugin: the host mounts a plugin that exports
//! `wasi:http/incoming-handler` at `/app/<plugin-id>/` (the request keeps
//! the full path). [`Request`] and [`Response`] are the page call in plain
//! types, [`Router`] picks a handler by method and path, and
//! [`export_web!`](crate::export_web) exports a [`WebApp`] (beside
//! [`export_plugin!`](crate::export_plugin), so one component answers chat
//! and serves pages, with the same kv).
//!
//! ```ignore
//! use wxhost_sdk::web::{Request, Response, Router, WebApp};
//! struct Pages;
//! impl WebApp for Pages {
//!     fn serve(req: Request) -> Response {
//!         Router::new()
//!             .get("/app/points/", |req| match req.openid() {
//!                 Some(id) => Response::html(format!("<p>Hello {id}</p>")),
//!                 None => Response::status(401),
//!             })
//!             .handle(&req)
//!     }
//! }
//! wxhost_sdk::export_web!(Pages);
//! ```
//!
//! Who the visitor is comes only from the host: [`Request::openid`] and
//! friends read the `x-wxhost-*` headers, which the host sets and strips
//! from what clients send. Outgoing HTTP is denied unless the host grants
//! `http-outgoing`.

use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

pub use crate::bindings::wechat::plugin::web::JssdkConfig;

/// Largest request body read (the host bounds it too).
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// A page request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The full path, `/app/<id>/…`.
    pub path: String,
    /// Without the `?`; empty if none.
    pub query: String,
    /// `https` or `http`, as the visitor reached the server.
    pub scheme: String,
    /// The public host (and port).
    pub authority: String,
    /// Names lowercase.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The logged-in visitor's OpenID (set by the host only).
    pub fn openid(&self) -> Option<&str> {
        self.header("x-wxhost-openid").filter(|s| !s.is_empty())
    }

    /// The visitor's UnionID, when WeChat gave one.
    pub fn unionid(&self) -> Option<&str> {
        self.header("x-wxhost-unionid").filter(|s| !s.is_empty())
    }

    /// `base` or `userinfo` when logged in.
    pub fn scope(&self) -> Option<&str> {
        self.header("x-wxhost-scope")
    }

    /// A snapshot-page virtual user: do not bind an account to its OpenID.
    pub fn is_snapshot_user(&self) -> bool {
        self.header("x-wxhost-snapshot") == Some("1")
    }

    /// The first value of query parameter `key`, percent-decoded.
    pub fn query_param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == key).then(|| decode(v))
        })
    }

    /// The page's URL as the visitor sees it (what the JS-SDK signs).
    pub fn url(&self) -> String {
        let mut url = format!("{}://{}{}", self.scheme, self.authority, self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
        url
    }

    /// The body as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Text for HTML: `&<>"'` escaped.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn status(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    /// 200, `text/html; charset=utf-8`.
    pub fn html(body: impl Into<String>) -> Response {
        Response::status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(body.into().into_bytes())
    }
    /// 200, `text/plain; charset=utf-8`.
    pub fn text(body: impl Into<String>) -> Response {
        Response::status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }
    /// 200, `application/json` (the caller serializes).
    pub fn json(body: impl Into<String>) -> Response {
        Response::status(200)
            .header("content-type", "application/json")
            .body(body.into().into_bytes())
    }
    /// 303 to `location`.
    pub fn redirect(location: &str) -> Response {
        Response::status(303).header("location", location)
    }
    pub fn not_found() -> Response {
        Response::status(404)
            .header("content-type", "text/plain; charset=utf-8")
            .body(b"not found".to_vec())
    }
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn body(mut self, body: Vec<u8>) -> Response {
        self.body = body;
        self
    }
}

type Handler = Box<dyn Fn(&Request) -> Response>;

/// Routes by method and path: exact paths, or a prefix ending in `*`.
/// The first match wins; no match is 404, a path with other methods 405.
#[derive(Default)]
pub struct Router {
    routes: Vec<(&'static str, String, Handler)>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }
    pub fn route(
        mut self,
        method: &'static str,
        path: &str,
        handler: impl Fn(&Request) -> Response + 'static,
    ) -> Router {
        self.routes
            .push((method, path.to_owned(), Box::new(handler)));
        self
    }
    /// GET (and HEAD).
    pub fn get(self, path: &str, handler: impl Fn(&Request) -> Response + 'static) -> Router {
        self.route("GET", path, handler)
    }
    pub fn post(self, path: &str, handler: impl Fn(&Request) -> Response + 'static) -> Router {
        self.route("POST", path, handler)
    }
    pub fn handle(&self, req: &Request) -> Response {
        let matches = |pattern: &str| match pattern.strip_suffix('*') {
            Some(prefix) => req.path.starts_with(prefix),
            None => req.path == pattern,
        };
        let mut path_known = false;
        for (method, pattern, handler) in &self.routes {
            if !matches(pattern) {
                continue;
            }
            path_known = true;
            if *method == req.method || (*method == "GET" && req.method == "HEAD") {
                return handler(req);
            }
        }
        if path_known {
            Response::status(405)
        } else {
            Response::not_found()
        }
    }
}

/// A plugin's pages.
pub trait WebApp {
    fn serve(req: Request) -> Response;
}

/// The JS-SDK `wx.config` values for the page at `url` (only pages on the
/// server's public origin are signed).
pub fn jssdk_config(url: &str) -> Result<JssdkConfig, String> {
    crate::bindings::wechat::plugin::web::get_jssdk_config(url)
}

impl JssdkConfig {
    /// `{"appId":…,"timestamp":…,"nonceStr":…,"signature":…}`, for a page's script.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"appId\":\"{}\",\"timestamp\":{},\"nonceStr\":\"{}\",\"signature\":\"{}\"}}",
            self.app_id, self.timestamp, self.nonce_str, self.signature
        )
    }
}

fn method_name(m: Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(s) => s,
    }
}

fn read_body(body: IncomingBody) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(stream) = body.stream() {
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    out.extend_from_slice(&chunk);
                    if out.len() > MAX_BODY_BYTES {
                        out.truncate(MAX_BODY_BYTES);
                        break;
                    }
                }
                Err(StreamError::Closed) | Err(StreamError::LastOperationFailed(_)) => break,
            }
        }
    }
    let _ = IncomingBody::finish(body);
    out
}

/// Converts the WASI request, calls `A::serve`, writes the response.
#[doc(hidden)]
pub fn handle<A: WebApp>(request: IncomingRequest, out: ResponseOutparam) {
    let pq = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (pq, String::new()),
    };
    let scheme = match request.scheme() {
        Some(wasip2::http::types::Scheme::Https) => "https".to_owned(),
        Some(wasip2::http::types::Scheme::Other(s)) => s,
        _ => "http".to_owned(),
    };
    let headers = request.headers().entries();
    let req = Request {
        method: method_name(request.method()),
        path,
        query,
        scheme,
        authority: request.authority().unwrap_or_default(),
        headers,
        body: request.consume().map(read_body).unwrap_or_default(),
    };
    let head = req.method == "HEAD";
    let res = A::serve(req);
    let fields = Fields::new();
    for (name, value) in &res.headers {
        // Headers the host forbids (hop-by-hop) are skipped, not fatal.
        let _ = fields.append(&name.to_ascii_lowercase(), value.as_bytes());
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(res.status);
    let body = response.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(response));
    if !head && let Ok(stream) = body.write() {
        for chunk in res.body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Exports a [`WebApp`] as this component's `wasi:http/incoming-handler`.
/// Use once, at the crate root (with or without
/// [`export_plugin!`](crate::export_plugin)).
#[macro_export]
macro_rules! export_web {
    ($app:ty) => {
        #[doc(hidden)]
        struct __WxhostSdkWeb;
        impl $crate::__wasip2::exports::http::incoming_handler::Guest for __WxhostSdkWeb {
            fn handle(
                request: $crate::__wasip2::http::types::IncomingRequest,
                out: $crate::__wasip2::http::types::ResponseOutparam,
            ) {
                $crate::web::handle::<$app>(request, out)
            }
        }
        $crate::__wasip2::http::proxy::export!(__WxhostSdkWeb with_types_in $crate::__wasip2);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let r = Request {
            query: "a=1&name=%E4%BD%A0+x&b".into(),
            ..Default::default()
        };
        assert_eq!(r.query_param("name").as_deref(), Some("你 x"));
        assert_eq!(r.query_param("b").as_deref(), Some(""));
        assert_eq!(r.query_param("c"), None);
    }
}
