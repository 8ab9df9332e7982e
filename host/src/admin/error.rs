//! [`AdminError`]: why an admin operation did not happen, with the status it
//! answers with. The API renders it as JSON `{"error": "…"}` (plus
//! `problems`, one per line, for a refused menu); pages show it in place.
//!
//! A client's mistake is a 4xx; WeChat failing is 502, the store 503.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::ApiError;
use crate::api::menu::MenuErrors;
use crate::plugin::{PublishError, SwitchError};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct AdminError {
    pub status: StatusCode,
    pub message: String,
    /// A refused menu's problems, each naming its button.
    pub problems: Vec<String>,
}

impl AdminError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> AdminError {
        AdminError {
            status,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, message)
    }

    /// The API calls WeChat needs an AppSecret.
    pub fn no_api() -> AdminError {
        AdminError::new(
            StatusCode::CONFLICT,
            "WeChat API calls are off: set wechat.app_secret (WXHOST_APP_SECRET)",
        )
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        let status = match &e {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Wechat { .. } | ApiError::Transport(_) => StatusCode::BAD_GATEWAY,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        AdminError::new(status, e.to_string())
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Backend(_) => {
                AdminError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            other => AdminError::new(StatusCode::CONFLICT, other.to_string()),
        }
    }
}

impl From<MenuErrors> for AdminError {
    fn from(e: MenuErrors) -> Self {
        AdminError {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "invalid menu ({} problem{})",
                e.0.len(),
                if e.0.len() == 1 { "" } else { "s" }
            ),
            problems: e.0,
        }
    }
}

impl From<PublishError> for AdminError {
    fn from(e: PublishError) -> Self {
        let status = match &e {
            PublishError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PublishError::Unknown(_) => StatusCode::NOT_FOUND,
            PublishError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        AdminError::new(status, e.to_string())
    }
}

impl From<SwitchError> for AdminError {
    fn from(e: SwitchError) -> Self {
        let status = match &e {
            SwitchError::DisabledInConfig(_) => StatusCode::CONFLICT,
            SwitchError::Unknown(_) => StatusCode::NOT_FOUND,
            SwitchError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        AdminError::new(status, e.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = if self.problems.is_empty() {
            json!({"error": self.message})
        } else {
            json!({"error": self.message, "problems": self.problems})
        };
        (self.status, Json(body)).into_response()
    }
}
