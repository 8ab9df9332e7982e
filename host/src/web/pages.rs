//! The pages a person sees when the web side cannot do what they asked: a
//! login that was refused, expired or replayed, a page that failed. Short,
//! in Chinese and English, with a way on, and the right status (4xx for
//! the visitor's situation, 5xx only for ours) — never a bare 500.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One human-readable page.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    /// A link onward: (label, href). The href is built by us, never taken
    /// from the request unchecked.
    pub action: Option<(&'static str, String)>,
}

impl Page {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Page {
        Page {
            status,
            title,
            message: message.into(),
            action: None,
        }
    }

    pub fn with_action(mut self, label: &'static str, href: impl Into<String>) -> Page {
        self.action = Some((label, href.into()));
        self
    }

    /// "Log in again", back to `next`.
    pub fn retry_login(self, next: &str) -> Page {
        let href = format!(
            "/oauth/login?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        self.with_action("重新登录 / Log in again", href)
    }
}

/// Text for HTML: `&<>"'` escaped.
pub fn escape(s: &str) -> String {
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

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let action = self
            .action
            .map(|(label, href)| {
                format!("<p><a href=\"{}\">{}</a></p>", escape(&href), escape(label))
            })
            .unwrap_or_default();
        let body = format!(
            "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{title}</title></head>\n<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em\">\
             <h1 style=\"font-size:1.3em\">{title}</h1>\n<p>{message}</p>\n{action}</body></html>\n",
            title = escape(self.title),
            message = escape(&self.message),
        );
        (
            self.status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_page_escapes_what_it_shows() {
        let page = Page::new(
            StatusCode::BAD_REQUEST,
            "登录失败 / Login failed",
            "<script>x</script>",
        )
        .retry_login("/a?b=\"c\"");
        let res = page.into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("&lt;script&gt;") && !body.contains("<script>"),
            "{body}"
        );
        assert!(
            body.contains("/oauth/login?next=%2Fa%3Fb%3D%22c%22"),
            "{body}"
        );
    }
}
