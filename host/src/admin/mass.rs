//! `/api/v1/mass`: what an operator does with mass messages (群发) besides
//! sending them (sends go through the queue, `POST /api/v1/messages` with
//! `"channel": "mass"`), for the account named by `?account=`:
//!
//! - `POST /api/v1/mass/preview`: WeChat's preview body (`touser` or
//!   `towxname`, `msgtype` and its content) — the message to one follower
//!   before it goes to all; audited.
//! - `GET /api/v1/mass/<msg_id>`: the send's status (`mass/get`).
//! - `DELETE /api/v1/mass/<msg_id>[?article_idx=N]`: withdraws it (all its
//!   articles, or the N-th, 1-based); audited.
//! - `GET|PUT /api/v1/mass/speed`: the account's mass speed, 0 (fastest,
//!   800k users a minute) to 4 (100k); `PUT` body `{"speed": N}`; audited.
//!
//! WeChat's errors come back as 502 with its code (40007: no such send).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Admin;
use super::auth::ApiCaller;
use super::error::AdminError;

type ApiResult = Result<Response, AdminError>;

#[derive(Debug, Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DeleteQuery {
    account: Option<String>,
    article_idx: Option<u32>,
}

pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/v1/mass/preview", post(preview))
        .route("/api/v1/mass/speed", get(speed).put(set_speed))
        .route("/api/v1/mass/{msg_id}", get(status).delete(withdraw))
}

fn api(admin: &Admin) -> Result<&crate::api::Wechat, AdminError> {
    admin.wechat.as_deref().ok_or_else(AdminError::no_api)
}

fn msg_id(id: &str) -> Result<u64, AdminError> {
    id.parse()
        .map_err(|_| AdminError::bad_request(format!("`{id}` is not a mass msg_id")))
}

async fn preview(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(q): Query<AccountQuery>,
    body: Bytes,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| AdminError::bad_request(format!("preview: {e}")))?;
    let to = ["touser", "towxname"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .ok_or_else(|| {
            AdminError::bad_request("preview: `touser` (an OpenID) or `towxname` is required")
        })?
        .to_owned();
    if body.get("msgtype").and_then(Value::as_str).is_none() {
        return Err(AdminError::bad_request("preview: `msgtype` is required"));
    }
    let result = api(&admin)?
        .preview_mass(&body)
        .await
        .map_err(AdminError::from);
    admin
        .audited(
            &caller.actor,
            "mass_preview",
            &format!("to {to}"),
            result,
            |_| "sent".into(),
        )
        .await?;
    Ok(Json(json!({"previewed": to})).into_response())
}

async fn status(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let id = msg_id(&id)?;
    let v = api(&admin)?.mass_status(id).await?;
    Ok(Json(json!({"msg_id": id, "status": v.get("msg_status")})).into_response())
}

async fn withdraw(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let id = msg_id(&id)?;
    let result = api(&admin)?
        .delete_mass(id, q.article_idx)
        .await
        .map_err(AdminError::from);
    let what = match q.article_idx {
        Some(i) => format!("mass {id} article {i}"),
        None => format!("mass {id}"),
    };
    admin
        .audited(&caller.actor, "mass_delete", &what, result, |_| {
            "withdrawn".into()
        })
        .await?;
    Ok(Json(json!({"msg_id": id, "deleted": true})).into_response())
}

async fn speed(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(q): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let (speed, realspeed) = api(&admin)?.mass_speed().await?;
    Ok(Json(json!({"speed": speed, "realspeed": realspeed})).into_response())
}

async fn set_speed(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(q): Query<AccountQuery>,
    body: Bytes,
) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Speed {
        speed: u8,
    }
    let admin = admin.for_account(q.account.as_deref())?;
    let s: Speed = serde_json::from_slice(&body).map_err(|e| {
        AdminError::bad_request(format!("speed: {e} (expected {{\"speed\": 0..4}})"))
    })?;
    if s.speed > 4 {
        return Err(AdminError::bad_request(format!(
            "speed {}: 0 (fastest) to 4",
            s.speed
        )));
    }
    let result = api(&admin)?
        .set_mass_speed(s.speed)
        .await
        .map_err(AdminError::from);
    admin
        .audited(
            &caller.actor,
            "mass_speed",
            &format!("speed {}", s.speed),
            result,
            |_| "set".into(),
        )
        .await?;
    Ok(Json(json!({"speed": s.speed})).into_response())
}
