//! The HTTP client for WeChat's server APIs: base URL, JSON in and out,
//! `errcode` classification, and the busy (-1) backoff.
//!
//! It knows nothing about access_tokens: [`super::Wechat`] adds the token and
//! the refresh-once rule on top. Request URLs carry secrets (`access_token`,
//! the AppSecret for `/cgi-bin/token`), so they are stripped from every error
//! message and never logged.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use super::ApiError;

/// WeChat's own API host, used unless `wechat.api_base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.weixin.qq.com";

/// errcodes meaning "this access_token is no good": drop it, fetch a new
/// one, retry the call once.
pub const TOKEN_ERRCODES: [i64; 3] = [40001, 40014, 42001];
/// "System busy": worth retrying after a pause.
pub const BUSY_ERRCODE: i64 = -1;
/// Daily quota of the API reached.
pub const QUOTA_ERRCODE: i64 = 45009;

/// How often and how patiently a busy (-1) answer is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub busy_attempts: u32,
    /// Pause before the first retry; doubles after each.
    pub busy_base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            busy_attempts: 3,
            busy_base_delay: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, retry: u32) -> Duration {
        self.busy_base_delay.saturating_mul(1u32 << retry.min(16))
    }

    /// Runs `call` until it answers something other than errcode -1, at
    /// most `busy_attempts` times, pausing with exponential backoff between.
    pub async fn run<F, Fut>(&self, mut call: F) -> Result<Value, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Value, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            let value = call().await?;
            attempt += 1;
            if errcode(&value) != BUSY_ERRCODE || attempt >= self.busy_attempts.max(1) {
                return Ok(value);
            }
            let delay = self.delay(attempt - 1);
            tracing::info!(attempt, ?delay, "WeChat is busy (-1); retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// A thin JSON client for one base URL. Cheap to clone.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish()
    }
}

impl ApiClient {
    /// A client for `base_url` (e.g. `https://api.weixin.qq.com`, or a fake
    /// server in tests) with a per-request `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<ApiClient, ApiError> {
        let parsed = url::Url::parse(base_url)
            .map_err(|e| ApiError::Invalid(format!("API base URL `{base_url}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ApiError::Invalid(format!(
                "API base URL `{base_url}` must be http(s)"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("wxhost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Transport(describe(e)))?;
        Ok(ApiClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET base + path ? query`, the answer as JSON (errcode not checked).
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.send(
            self.http.get(format!("{}{path}", self.base)).query(query),
            path,
        )
        .await
    }

    /// `POST base + path ? query` with a JSON body. serde_json writes
    /// non-ASCII and `&<>` unescaped, which WeChat requires (errcode 40033
    /// for `\uXXXX` escapes).
    pub async fn post(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: &Value,
    ) -> Result<Value, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Invalid(e.to_string()))?;
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .query(query)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(bytes);
        self.send(request, path).await
    }

    /// `POST base + path ? query` with a multipart form (media uploads);
    /// reqwest writes the boundary into the Content-Type itself (a
    /// hand-set one loses it: WeChat's 44001).
    pub async fn post_multipart(
        &self,
        path: &str,
        query: &[(&str, &str)],
        form: reqwest::multipart::Form,
    ) -> Result<Value, ApiError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .query(query)
            .multipart(form);
        self.send(request, path).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> Result<Value, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Transport(format!("{path}: {}", describe(e))))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(format!("{path}: {}", describe(e))))?;
        if !status.is_success() {
            return Err(ApiError::Transport(format!("{path}: HTTP {status}")));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Transport(format!("{path}: answer is not JSON ({e})")))
    }
}

/// A reqwest error without its URL (which may hold the token or secret),
/// with its causes.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The answer's `errcode`, 0 when absent (successful answers often omit it).
pub fn errcode(value: &Value) -> i64 {
    value.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

/// `Ok(value)` for errcode 0, else the matching [`ApiError`].
pub fn check(value: Value) -> Result<Value, ApiError> {
    match errcode(&value) {
        0 => Ok(value),
        code => Err(error_for(code, &value)),
    }
}

/// The [`ApiError`] for a non-zero errcode, with a hint for the codes that
/// are configuration problems rather than bugs.
pub fn error_for(code: i64, value: &Value) -> ApiError {
    let errmsg = value
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let hint = match code {
        40013 => " (check wechat.app_id / WXHOST_APP_ID)",
        40125 => " (check wechat.app_secret / WXHOST_APP_SECRET)",
        40164 => " (add this server's IP to the account's API IP whitelist)",
        45011 => " (per-minute quota; wait a minute)",
        48001 => " (the account lacks this API permission)",
        61004 => " (add this server's IP to the Open Platform component's IP whitelist)",
        61005 => {
            " (the component_verify_ticket expired: WeChat pushes a new one to /open/notify every 10 minutes)"
        }
        61006 => " (the component_verify_ticket is not the one WeChat last pushed)",
        61023 => {
            " (the authorizer's refresh token is no longer valid: the account must authorize the platform again)"
        }
        _ => "",
    };
    if code == QUOTA_ERRCODE {
        return ApiError::QuotaExceeded(format!(
            "{errmsg}; wait for the daily reset (Beijing midnight) or clear the quota in the WeChat console"
        ));
    }
    ApiError::Wechat {
        code,
        message: format!("{errmsg}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errcodes_classify() {
        assert!(check(json!({"access_token": "x"})).is_ok());
        assert!(check(json!({"errcode": 0, "errmsg": "ok"})).is_ok());
        assert!(matches!(
            check(json!({"errcode": 45009, "errmsg": "reach max api daily quota limit"})),
            Err(ApiError::QuotaExceeded(_))
        ));
        let e = check(json!({"errcode": 40164, "errmsg": "invalid ip"})).unwrap_err();
        assert!(
            matches!(&e, ApiError::Wechat { code: 40164, message } if message.contains("whitelist")),
            "{e}"
        );
    }

    #[test]
    fn bodies_are_not_escaped() {
        let body =
            serde_json::to_string(&json!({"url": "https://x.cn/?a=1&b=2", "name": "菜单<>"}))
                .unwrap();
        assert!(
            body.contains("a=1&b=2") && body.contains("菜单<>"),
            "{body}"
        );
    }

    #[test]
    fn backoff_doubles() {
        let p = RetryPolicy {
            busy_attempts: 3,
            busy_base_delay: Duration::from_millis(10),
        };
        assert_eq!(
            (p.delay(0), p.delay(1), p.delay(2)),
            (
                Duration::from_millis(10),
                Duration::from_millis(20),
                Duration::from_millis(40)
            )
        );
    }
}
