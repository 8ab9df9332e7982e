//! `assistant`: answers texts (and voice messages, from WeChat's speech
//! recognition) through an OpenAI-compatible chat-completions endpoint.
//!
//! Config (`[plugin.assistant.config]`): `base_url` (e.g.
//! `https://api.openai.com/v1`, or a local server), `model`,
//! `system_prompt`, `max_history` (exchanges kept per user, default 10),
//! `model_timeout_ms` (default 20000; keep it below the plugin's
//! `timeout_ms`), `send_long` (`true` where the account may send
//! customer-service messages: a long answer's first parts go out as such;
//! else the rest waits for "more"), `late_after_secs` (default 14: where
//! the account may not send customer-service messages, an answer ready this
//! long after the message came, when WeChat has stopped waiting, is kept
//! whole for "more" instead of being lost). The key is a secret:
//! `[plugin.assistant.secrets] api_key = "env:ASSISTANT_API_KEY"` (none: no
//! `Authorization` header, for local servers). The host needs
//! `capabilities = ["http-outgoing"]` and `http_hosts` naming the server.
//!
//! Each user's conversation is kept in kv (`history:<openid>`, at most
//! `max_history` exchanges); `/reset` clears it. A model that fails or
//! times out gets the user a readable message, and nothing is added to the
//! conversation.

use serde_json::{Value, json};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};
use wasip2::io::streams::StreamError;
use wxhost_sdk::long_text;
use wxhost_sdk::prelude::*;

const RESET: &str = "/reset";
const MORE: [&str; 3] = ["more", "更多", "/more"];
const MORE_HINT: &str = "\n（回复“更多”查看余下内容 / reply \"more\" for the rest）";
const DEFAULT_MAX_HISTORY: usize = 10;
const DEFAULT_TIMEOUT_MS: u64 = 20_000;
/// WeChat's last delivery is answered by ~14.5 s after the message.
const DEFAULT_LATE_AFTER_SECS: u64 = 14;
/// A model answer larger than this is refused (the reply could not hold it
/// anyway; the kept rest lives in kv).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

struct Assistant;

impl Plugin for Assistant {
    fn describe() -> PluginInfo {
        PluginInfo::new("assistant", env!("CARGO_PKG_VERSION")).handles([Kind::Text, Kind::Voice])
    }

    fn handle_text(ctx: &Context, msg: TextMessage) -> Reply {
        converse(ctx, msg.content.trim())
    }

    fn handle_voice(ctx: &Context, msg: VoiceMessage) -> Reply {
        match msg.recognition.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => converse(ctx, text),
            _ => Reply::text(
                "抱歉，没能识别这段语音，请发文字。Sorry, I could not make out that voice message; please type it.",
            ),
        }
    }
}

fn converse(ctx: &Context, text: &str) -> Reply {
    let user = ctx.from_user.as_str();
    if text.eq_ignore_ascii_case(RESET) {
        let _ = kv::delete(&history_key(user));
        long_text::forget(user);
        return Reply::text("对话已清空。The conversation was cleared.");
    }
    if MORE.iter().any(|m| text.eq_ignore_ascii_case(m))
        && let Some(reply) = long_text::take_more(user, MORE_HINT)
    {
        return reply;
    }
    if text.is_empty() {
        return Reply::text("请说点什么。Say something.");
    }
    let settings = Settings::read();
    let mut history = History::load(user);
    let mut messages = Vec::new();
    if !settings.system_prompt.is_empty() {
        messages.push(json!({"role": "system", "content": settings.system_prompt}));
    }
    for (question, answer) in &history.exchanges {
        messages.push(json!({"role": "user", "content": question}));
        messages.push(json!({"role": "assistant", "content": answer}));
    }
    messages.push(json!({"role": "user", "content": text}));
    match complete(&settings, messages) {
        Ok(answer) => {
            history.push(text, &answer, settings.max_history);
            history.save(user);
            if !settings.send_long && seconds_since(ctx.create_time) >= settings.late_after_secs {
                log::info("the answer is ready after WeChat stopped waiting: kept for \"more\"");
                long_text::keep_for_more(user, &answer, MORE_HINT);
                // Still the reply, for a host that can send it late.
                let first = long_text::split(&answer, long_text::MAX_TEXT_BYTES).remove(0);
                return Reply::text(first);
            }
            long_text::reply_long(user, &answer, settings.send_long, MORE_HINT)
        }
        Err(Failure::Timeout) => {
            log::warn("the model did not answer in time");
            Reply::text(
                "抱歉，模型暂时没有回应，请稍后再试。Sorry, the model took too long to answer; please try again in a moment.",
            )
        }
        Err(Failure::Other(e)) => {
            log::warn(&format!("the model call failed: {e}"));
            Reply::text(
                "抱歉，模型暂时不可用，请稍后再试。Sorry, the assistant is unavailable right now; please try again later.",
            )
        }
    }
}

struct Settings {
    base_url: String,
    model: String,
    system_prompt: String,
    max_history: usize,
    timeout_ms: u64,
    send_long: bool,
    late_after_secs: u64,
    api_key: Option<String>,
}

impl Settings {
    fn read() -> Settings {
        Settings {
            base_url: config::get("base_url").unwrap_or_default(),
            model: config::get("model").unwrap_or_else(|| "gpt-4o-mini".into()),
            system_prompt: config::get("system_prompt").unwrap_or_default(),
            max_history: config::get("max_history")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_MAX_HISTORY),
            timeout_ms: config::get("model_timeout_ms")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_TIMEOUT_MS),
            send_long: config::get("send_long").is_some_and(|v| v.trim() == "true"),
            late_after_secs: config::get("late_after_secs")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_LATE_AFTER_SECS),
            api_key: config::get("api_key"),
        }
    }
}

/// Whole seconds since `create_time` (WeChat's, in unix seconds).
fn seconds_since(create_time: u64) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(create_time)
}

fn history_key(user: &str) -> String {
    format!("history:{user}")
}

/// A user's conversation: (question, answer) pairs, oldest first.
struct History {
    exchanges: Vec<(String, String)>,
}

impl History {
    fn load(user: &str) -> History {
        let exchanges = kv::get_string(&history_key(user))
            .and_then(|s| serde_json::from_str::<Vec<(String, String)>>(&s).ok())
            .unwrap_or_default();
        History { exchanges }
    }

    fn push(&mut self, question: &str, answer: &str, max: usize) {
        self.exchanges
            .push((question.to_owned(), answer.to_owned()));
        let excess = self.exchanges.len().saturating_sub(max);
        self.exchanges.drain(..excess);
    }

    fn save(&mut self, user: &str) {
        // kv values are at most 64 KiB: drop the oldest exchanges until it fits.
        loop {
            let json = serde_json::to_string(&self.exchanges).unwrap_or_default();
            if json.len() <= 60 * 1024 || self.exchanges.is_empty() {
                if let Err(e) = kv::set_string(&history_key(user), &json) {
                    log::warn(&format!("keeping the conversation failed: {e}"));
                }
                return;
            }
            self.exchanges.remove(0);
        }
    }
}

enum Failure {
    Timeout,
    Other(String),
}

/// One chat-completions call; the answer's text.
fn complete(s: &Settings, messages: Vec<Value>) -> Result<String, Failure> {
    let url = format!("{}/chat/completions", s.base_url.trim_end_matches('/'));
    let body = json!({"model": s.model, "messages": messages}).to_string();
    let (status, response) = post_json(&url, s.api_key.as_deref(), &body, s.timeout_ms)?;
    if status != 200 {
        let reason = serde_json::from_slice::<Value>(&response)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(Failure::Other(format!("HTTP {status} {reason}")));
    }
    let v: Value = serde_json::from_slice(&response)
        .map_err(|e| Failure::Other(format!("the answer is not JSON: {e}")))?;
    match v["choices"][0]["message"]["content"].as_str() {
        Some(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => Err(Failure::Other("the answer has no text".into())),
    }
}

/// POSTs `body` as JSON to `url` (http or https) over WASI-HTTP.
fn post_json(
    url: &str,
    key: Option<&str>,
    body: &str,
    timeout_ms: u64,
) -> Result<(u16, Vec<u8>), Failure> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", r)) => (Scheme::Https, r),
        Some(("http", r)) => (Scheme::Http, r),
        _ => {
            return Err(Failure::Other(format!(
                "base_url must start with http:// or https:// (is `{url}`)"
            )));
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let headers = Fields::new();
    let _ = headers.append("content-type", b"application/json");
    if let Some(key) = key {
        let _ = headers.append("authorization", format!("Bearer {key}").as_bytes());
    }
    let req = OutgoingRequest::new(headers);
    let _ = req.set_method(&wasip2::http::types::Method::Post);
    let _ = req.set_scheme(Some(&scheme));
    let _ = req.set_authority(Some(authority));
    let _ = req.set_path_with_query(Some(path));
    let out = req
        .body()
        .map_err(|_| Failure::Other("request body".into()))?;
    {
        let stream = out
            .write()
            .map_err(|_| Failure::Other("request body".into()))?;
        for chunk in body.as_bytes().chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| Failure::Other(format!("sending the request: {e:?}")))?;
        }
    }
    let nanos = timeout_ms.saturating_mul(1_000_000);
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    let future = outgoing_handler::handle(req, Some(options))
        .map_err(|e| Failure::Other(format!("refused: {e:?}")))?;
    OutgoingBody::finish(out, None).map_err(|e| Failure::Other(format!("{e:?}")))?;
    future.subscribe().block();
    let resp = match future.get() {
        Some(Ok(Ok(resp))) => resp,
        Some(Ok(Err(e))) => {
            let text = format!("{e:?}");
            return Err(match text.contains("Timeout") {
                true => Failure::Timeout,
                false => Failure::Other(text),
            });
        }
        other => return Err(Failure::Other(format!("{other:?}"))),
    };
    let status = resp.status();
    let incoming = resp
        .consume()
        .map_err(|_| Failure::Other("response body".into()))?;
    let stream = incoming
        .stream()
        .map_err(|_| Failure::Other("response body".into()))?;
    let mut data = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                data.extend_from_slice(&chunk);
                if data.len() > MAX_RESPONSE_BYTES {
                    return Err(Failure::Other("the answer is too large".into()));
                }
            }
            Err(StreamError::Closed) => break,
            Err(e) => {
                let text = format!("{e:?}");
                return Err(match text.contains("Timeout") {
                    true => Failure::Timeout,
                    false => Failure::Other(format!("reading the answer: {text}")),
                });
            }
        }
    }
    Ok((status, data))
}

wxhost_sdk::export_plugin!(Assistant);
