//! `/api/v1`: the console's operations as JSON for scripts and CI (menus,
//! QR codes, the token and the audit log of the account named by
//! `?account=NAME`, default `default`), with
//! `Authorization: Bearer <admin.api_token>` ([`ApiCaller`]; anything else
//! is 401). Errors are `{"error": "…"}` with a 4xx (502 when WeChat
//! failed); bodies are read as bytes and parsed here so that a malformed
//! one gets the same JSON error.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Admin;
use super::auth::ApiCaller;
use super::error::AdminError;
use crate::plugin::MAX_COMPONENT_BYTES;
use crate::store::{MenuVersion, QrRecord};

type ApiResult = Result<Response, AdminError>;

/// The upload route: its body is read after auth (see `admin::router`).
pub fn upload_routes() -> Router<Arc<Admin>> {
    Router::new().route(
        "/api/v1/plugins",
        get(plugins)
            .post(upload)
            .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES + 1)),
    )
}

/// `?account=NAME`: the account a route acts for (default `default`).
#[derive(Debug, Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/v1/plugins/{id}/enable", post(enable))
        .route("/api/v1/plugins/{id}/disable", post(disable))
        .route("/api/v1/plugins/{id}/rollback", post(rollback_plugin))
        .route("/api/v1/plugins/{id}/history", get(plugin_history))
        .route("/api/v1/menu", get(menu).post(publish).delete(delete_menu))
        .route("/api/v1/menu/history", get(history))
        .route("/api/v1/menu/rollback/{version}", post(rollback))
        .route("/api/v1/qrcodes", get(qrcodes).post(create_qrcode))
        .route("/api/v1/token", get(token))
        .route("/api/v1/token/refresh", post(refresh_token))
        .route("/api/v1/pushes", get(pushes))
        .route("/api/v1/instances", get(instances))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/schedules", get(schedules))
        .fallback(|| async { AdminError::not_found("no such API route") })
}

#[derive(Serialize)]
struct VersionJson {
    version: i64,
    note: Option<String>,
    created_at: i64,
    published_at: Option<i64>,
    current: bool,
    partial: Option<String>,
    conditional_menu_ids: Vec<String>,
    menu: Value,
}

impl From<MenuVersion> for VersionJson {
    fn from(v: MenuVersion) -> Self {
        VersionJson {
            version: v.id,
            menu: serde_json::from_str(&v.json).unwrap_or(Value::Null),
            note: v.note,
            created_at: v.created_at,
            published_at: v.published_at,
            current: v.current,
            partial: v.partial,
            conditional_menu_ids: v.conditional_menu_ids,
        }
    }
}

fn qr_json(r: &QrRecord, counts: Option<&crate::store::SceneCounts>) -> Value {
    json!({
        "id": r.id,
        "scene": r.code.scene,
        "permanent": r.code.permanent,
        "expires_at": r.code.expires_at,
        "note": r.code.note,
        "url": r.code.url,
        "ticket": r.code.ticket,
        "created_at": r.code.created_at,
        "scans": counts.map_or(0, |c| c.scans),
        "follows": counts.map_or(0, |c| c.follows),
    })
}

async fn plugins(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    Ok(Json(json!({"plugins": admin.plugin_views()})).into_response())
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    id: Option<String>,
}

/// `POST /api/v1/plugins?id=<id>` with the `.wasm` as the body.
async fn upload(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> ApiResult {
    let id =
        q.id.filter(|i| !i.is_empty())
            .ok_or_else(|| AdminError::bad_request("name the plugin: ?id=<plugin id>"))?;
    if body.is_empty() {
        return Err(AdminError::bad_request(
            "the body must be the .wasm component",
        ));
    }
    let view = admin
        .upload_plugin(&caller.actor, &id, body.to_vec())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"plugin": view}))).into_response())
}

async fn enable(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    admin.switch_plugin(&caller.actor, &id, true).await?;
    Ok(Json(json!({"id": id, "enabled": true, "account": &*admin.account})).into_response())
}

async fn disable(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    admin.switch_plugin(&caller.actor, &id, false).await?;
    Ok(Json(json!({"id": id, "enabled": false, "account": &*admin.account})).into_response())
}

/// `POST /api/v1/plugins/<id>/rollback`, body `{"digest": "<sha256>"}`
/// or empty (the version before the current one).
async fn rollback_plugin(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        digest: Option<String>,
    }
    let digest = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Body>(&body)
            .map_err(|e| {
                AdminError::bad_request(format!(
                    "body: {e} (expected {{\"digest\": \"<sha256>\"}})"
                ))
            })?
            .digest
    };
    if let Some(d) = &digest
        && !crate::store::published::valid_digest(d)
    {
        return Err(AdminError::bad_request(
            "digest: 64 lowercase hex digits (a published version's sha256)",
        ));
    }
    let m = admin
        .rollback_plugin(&caller.actor, &id, digest.as_deref())
        .await?;
    Ok(Json(json!({"plugin": m})).into_response())
}

/// `GET /api/v1/plugins/<id>/history`: its publications, newest first.
async fn plugin_history(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult {
    let history = admin.runtime.history(&id).await?;
    Ok(Json(json!({"id": id, "history": history})).into_response())
}

async fn menu(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let current = admin.stores.menus.current().await?.map(VersionJson::from);
    Ok(Json(json!({"current": current})).into_response())
}

#[derive(Debug, Deserialize)]
struct NoteQuery {
    note: Option<String>,
}

/// `POST /api/v1/menu?note=…` with WeChat's menu JSON as the body.
async fn publish(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(scope): Query<AccountQuery>,
    Query(q): Query<NoteQuery>,
    body: Bytes,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| AdminError::bad_request("the menu must be UTF-8 JSON"))?;
    let note = q.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let v = admin.publish_menu(&caller.actor, text, note).await?;
    Ok((StatusCode::CREATED, Json(VersionJson::from(v))).into_response())
}

async fn delete_menu(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    admin.delete_menu(&caller.actor).await?;
    Ok(Json(json!({"deleted": true})).into_response())
}

async fn history(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let versions: Vec<VersionJson> = admin
        .stores
        .menus
        .history()
        .await?
        .into_iter()
        .map(VersionJson::from)
        .collect();
    Ok(Json(json!({"versions": versions})).into_response())
}

async fn rollback(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(scope): Query<AccountQuery>,
    Path(version): Path<String>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let id: i64 = version
        .parse()
        .map_err(|_| AdminError::bad_request(format!("`{version}` is not a version number")))?;
    let v = admin.rollback_menu(&caller.actor, id).await?;
    Ok(Json(VersionJson::from(v)).into_response())
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn qrcodes(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
    Query(q): Query<SearchQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let codes = super::pages::qr_matching(&admin, &q.q).await?;
    let scenes: Vec<String> = codes.iter().map(|r| r.code.scene.clone()).collect();
    let counts = admin.stores.scene_stats.counts(&scenes).await?;
    let used = admin.stores.qrcodes.permanent_count().await?;
    let list: Vec<Value> = codes
        .iter()
        .map(|r| qr_json(r, counts.get(&r.code.scene)))
        .collect();
    Ok(Json(json!({
        "qrcodes": list,
        "permanent_used": used,
        "permanent_left": admin.permanent_qr_limit.saturating_sub(used),
    }))
    .into_response())
}

/// `POST /api/v1/qrcodes` with `{"scene": …, "permanent": bool,
/// "expire_seconds": n, "note": …}`.
async fn create_qrcode(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(scope): Query<AccountQuery>,
    body: Bytes,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let req: super::ops::QrRequest = serde_json::from_slice(&body)
        .map_err(|e| AdminError::bad_request(format!("QR code request: {e}")))?;
    let r = admin.create_qr(&caller.actor, &req).await?;
    Ok((StatusCode::CREATED, Json(qr_json(&r, None))).into_response())
}

async fn token(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let w = admin.wechat.as_ref().ok_or_else(AdminError::no_api)?;
    let s = w.tokens().status().await?;
    Ok(Json(json!({
        "app_id": admin.app_id,
        "fingerprint": s.fingerprint,
        "expires_at": s.expires_at,
        "fetched_at": s.fetched_at,
        "seconds_left": s.seconds_left,
        "needs_refresh": s.needs_refresh,
        "fetches_today": s.fetches_today,
        "daily_limit": super::DAILY_TOKEN_LIMIT,
        "day": s.day,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct ForceQuery {
    #[serde(default)]
    force: bool,
}

async fn refresh_token(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Query(scope): Query<AccountQuery>,
    Query(q): Query<ForceQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let s = admin.refresh_token(&caller.actor, q.force).await?;
    Ok(Json(json!({"fingerprint": s.fingerprint, "expires_at": s.expires_at})).into_response())
}

/// `GET /api/v1/pushes`: the recent pushes of every instance, newest first.
async fn pushes(State(admin): State<Arc<Admin>>, _: ApiCaller) -> ApiResult {
    let list: Vec<Value> = admin
        .service
        .activity
        .recent_everywhere(crate::server::activity::RECENT_CAPACITY)
        .await
        .into_iter()
        .map(|p| {
            json!({
                "at": p.at,
                "account": p.account,
                "instance": p.instance,
                "kind": p.kind,
                "user": p.user,
                "plugin": p.plugin,
                "outcome": p.outcome.as_str(),
                "retry": p.retry,
                "latency_ms": p.latency.as_secs_f64() * 1e3,
                "content": p.content,
            })
        })
        .collect();
    Ok(Json(json!({"pushes": list})).into_response())
}

/// `GET /api/v1/instances`: every instance that reported to the shared
/// store, when it last did, and whether that was in the last minute.
async fn instances(State(admin): State<Arc<Admin>>, _: ApiCaller) -> ApiResult {
    let activity = &admin.service.activity;
    let now_ms = crate::store::now_millis().max(0) as u64;
    let all = activity.instances(now_ms).await?;
    Ok(Json(json!({"this": activity.instance(), "instances": all})).into_response())
}

async fn audit(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let entries: Vec<Value> = admin
        .stores
        .audit
        .recent(500)
        .await?
        .into_iter()
        .map(|e| json!({"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "detail": e.detail}))
        .collect();
    Ok(Json(json!({"entries": entries})).into_response())
}

#[derive(Debug, Deserialize)]
struct SchedulesQuery {
    account: Option<String>,
    /// Runs listed (default 100, at most 500).
    limit: Option<usize>,
}

/// `GET /api/v1/schedules?account=NAME`: the account's schedules with
/// their next run, and its recent runs, newest first.
async fn schedules(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(q): Query<SchedulesQuery>,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let limit = q
        .limit
        .unwrap_or(100)
        .min(crate::store::schedules::RUNS_KEPT);
    let runs = admin.stores.schedules.runs(limit).await?;
    let scheduler = &admin.service.schedules;
    Ok(Json(json!({
        "account": &*admin.account,
        "timezone": scheduler.timezone(),
        "enabled": admin.service.schedules_enabled,
        "schedules": scheduler.list(Some(&admin.account)),
        "runs": runs,
    }))
    .into_response())
}
