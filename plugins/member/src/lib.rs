//! `member`: a plugin with both halves of an Official Account.
//!
//! - Chat: `points` answers with the sender's balance and a link to the
//!   member page; `checkin` adds 10 points.
//! - Web (`/app/member/`, login `base` — the default `[plugin.member.web]`
//!   in wxhost's built-in config): the logged-in visitor's OpenID and
//!   balance, read from the same kv the chat half writes; the page calls
//!   `/jssdk/config` for `wx.config`. `/app/member/jssdk.json` gives the
//!   same config through the host function, for the page's own URL.
//!
//! Config: `page_url` (default `/app/member/`), the link sent in chat;
//! set it to the absolute URL (`https://wx.example.com/app/member/`).
use wxhost_sdk::prelude::*;
use wxhost_sdk::web::{self, Request, Response, Router, WebApp, escape_html};

struct Member;

fn balance_key(openid: &str) -> String {
    format!("points:{openid}")
}

fn balance(openid: &str) -> i64 {
    kv::get(&balance_key(openid))
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Plugin for Member {
    fn describe() -> PluginInfo {
        PluginInfo::new("member", env!("CARGO_PKG_VERSION")).handles([Kind::Text])
    }

    fn handle_text(ctx: &Context, msg: TextMessage) -> Reply {
        let page = config::get("page_url").unwrap_or_else(|| "/app/member/".into());
        match msg.content.trim() {
            "points" | "积分" => Reply::text(format!(
                "Your balance: {} points. <a href=\"{page}\">My points</a>",
                balance(&ctx.from_user)
            )),
            "checkin" | "签到" => match kv::incr_by(&balance_key(&ctx.from_user), 10) {
                Ok(n) => Reply::text(format!("Checked in: +10 points, {n} in all.")),
                Err(e) => Reply::text(format!("Check-in failed: {e}")),
            },
            _ => Reply::pass(),
        }
    }
}

const PAGE_SCRIPT: &str = r#"<script src="https://res.wx.qq.com/open/js/jweixin-1.6.0.js"></script>
<script>
fetch('/jssdk/config?url=' + encodeURIComponent(location.href.split('#')[0]))
  .then(function (r) { return r.json(); })
  .then(function (c) {
    if (window.wx && c.signature) {
      wx.config({ debug: false, appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr,
                  signature: c.signature, jsApiList: ['updateAppMessageShareData'] });
    }
  });
</script>"#;

fn page(req: &Request) -> Response {
    let Some(openid) = req.openid() else {
        // The host sends visitors through the login first (login = "base").
        return Response::status(401).body(b"log in first".to_vec());
    };
    let note = if req.is_snapshot_user() {
        "<p>You are browsing a preview (snapshot page): open the page in WeChat to use your account.</p>"
    } else {
        ""
    };
    Response::html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>My points</title></head>\
         <body><h1>My points</h1>{note}<p>OpenID: <code id=\"openid\">{}</code></p>\
         <p>Balance: <strong id=\"balance\">{}</strong> points</p>{PAGE_SCRIPT}</body></html>",
        escape_html(openid),
        balance(openid),
    ))
    .header("cache-control", "no-store")
}

fn jssdk(req: &Request) -> Response {
    let page = format!("{}://{}/app/member/", req.scheme, req.authority);
    match web::jssdk_config(&page) {
        Ok(c) => Response::json(c.to_json()),
        Err(e) => Response::status(503).body(e.into_bytes()),
    }
}

impl WebApp for Member {
    fn serve(req: Request) -> Response {
        Router::new()
            .get("/app/member/", page)
            .get("/app/member/jssdk.json", jssdk)
            .handle(&req)
    }
}

wxhost_sdk::export_plugin!(Member);
wxhost_sdk::export_web!(Member);
