//! `/api/v1/open/*`: the Open Platform component's operations
//! (`crate::open`), with the API's bearer token:
//! - `POST /api/v1/open/authorize` (body `{"auth_type": 1|2|3, "biz_appid":
//!   …, "mobile": bool}`, all optional) → `{"url": …}`, a fresh
//!   authorization link;
//! - `GET /api/v1/open/authorizers` → every authorized account with its
//!   `gh_` id, name, permission sets and state (`active`, `unauthorized`,
//!   `needs-reauth`), and whether it is served here;
//! - `POST /api/v1/open/recover` → refresh tokens re-seeded from
//!   `api_get_authorizer_list`.
//!
//! Without `[open_platform]` every route answers 404 saying so.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::Admin;
use super::auth::ApiCaller;
use super::error::AdminError;
use crate::open::Platform;
use crate::open::authorize::LinkRequest;

type ApiResult = Result<Response, AdminError>;

pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/v1/open/authorize", post(authorize))
        .route("/api/v1/open/authorizers", get(authorizers))
        .route("/api/v1/open/recover", post(recover))
}

fn platform(admin: &Admin) -> Result<Arc<Platform>, AdminError> {
    admin
        .accounts
        .open_platform()
        .cloned()
        .ok_or_else(|| AdminError::not_found("this deployment has no [open_platform]"))
}

async fn authorize(State(admin): State<Arc<Admin>>, caller: ApiCaller, body: Bytes) -> ApiResult {
    let platform = platform(&admin)?;
    let req: LinkRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LinkRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AdminError::bad_request(format!("the body: {e}")))?
    };
    let url = platform.authorization_link(&req).await?;
    admin
        .audit(
            &caller.actor,
            "open_authorize_link",
            "authorization link created",
        )
        .await;
    Ok(Json(json!({"url": url})).into_response())
}

async fn authorizers(State(admin): State<Arc<Admin>>, _: ApiCaller) -> ApiResult {
    let platform = platform(&admin)?;
    let list: Vec<_> = platform
        .authorizers()
        .await?
        .into_iter()
        .map(|(app_id, info)| {
            json!({
                "app_id": app_id,
                "serving": admin.accounts.by_app_id(&app_id).is_some(),
                "user_name": info.user_name,
                "nick_name": info.nick_name,
                "func_info": info.func_info,
                "state": info.state.as_str(),
                "authorized_at": info.authorized_at,
            })
        })
        .collect();
    Ok(Json(json!({"authorizers": list})).into_response())
}

async fn recover(State(admin): State<Arc<Admin>>, caller: ApiCaller) -> ApiResult {
    let platform = platform(&admin)?;
    let r = platform.recover().await?;
    let _ = admin.accounts.sync().await;
    admin
        .audit(
            &caller.actor,
            "open_recover",
            &format!(
                "{} authorizers restored, {} without a refresh token",
                r.restored.len(),
                r.without_token.len()
            ),
        )
        .await;
    Ok(Json(json!({"restored": r.restored, "without_token": r.without_token})).into_response())
}
