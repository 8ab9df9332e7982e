//! `/api/v1/messages`: outbound jobs over the admin API (bearer token, like
//! the rest of `/api/v1`), and `/api/v1/tags`: the account's user tags.
//!
//! - `POST /api/v1/messages[?account=]`: one job object or an array (all
//!   queued or none); `202` with `{"id": …}` or `{"ids": […]}` (a job whose
//!   `key` was seen gets the first job's id, listed in `duplicates`).
//! - `GET /api/v1/messages?status=&account=&limit=&before=`: newest first.
//! - `GET /api/v1/messages/<id>[?account=]`: `status`, `reason`,
//!   `attempts`, `msgid`, the job and its history.
//! - `GET /api/v1/outbound`: queue depth, failures by reason, pauses.
//! - Tags: `GET|POST /api/v1/tags`, `GET|POST /api/v1/tags/<id>/members`;
//!   `GET /api/v1/quota?cgi_path=`: an API's daily quota (`openapi/quota/get`).
//! - `POST /api/v1/media?type=image|voice|video|thumb[&permanent=true]`:
//!   WeChat's own multipart form (field `media`), uploaded once per content
//!   (`outbound/media.rs`); its body is read after auth, up to 10 MiB.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Admin;
use super::auth::ApiCaller;
use super::error::AdminError;
use crate::outbound::SubmitError;
use crate::outbound::job::{JobSpec, Status};
use crate::outbound::queue::ListFilter;

type ApiResult = Result<Response, AdminError>;

/// Jobs a listing returns at most.
const MAX_LIST: usize = 1000;

/// The media upload: a large body, read only once the caller is signed in
/// (see `admin::router`).
pub fn upload_routes() -> Router<Arc<Admin>> {
    Router::new().route(
        "/api/v1/media",
        axum::routing::post(upload_media).layer(axum::extract::DefaultBodyLimit::max(
            crate::api::media::MAX_MEDIA_BYTES + (64 << 10),
        )),
    )
}

#[derive(Debug, Deserialize)]
struct MediaQuery {
    account: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    permanent: bool,
}

/// `POST /api/v1/media`.
async fn upload_media(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(q): Query<MediaQuery>,
    mut form: axum::extract::Multipart,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let kind = q
        .kind
        .as_deref()
        .and_then(crate::api::media::MediaKind::parse)
        .ok_or_else(|| AdminError::bad_request("?type=image, voice, video or thumb"))?;
    let mut bytes = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| AdminError::bad_request(format!("multipart form: {e}")))?
    {
        if field.name() == Some("media") {
            let data = field
                .bytes()
                .await
                .map_err(|e| AdminError::bad_request(format!("multipart form: {e}")))?;
            bytes = Some(data);
        }
    }
    let bytes = bytes.ok_or_else(|| AdminError::bad_request("the form has no `media` field"))?;
    let wechat = wechat(&admin)?;
    let media =
        crate::outbound::media::upload(wechat, &*admin.stores.kv, kind, &bytes, q.permanent)
            .await?;
    Ok((StatusCode::CREATED, Json(json!(media))).into_response())
}

pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/v1/messages", get(list).post(submit))
        .route("/api/v1/messages/{id}", get(show))
        .route("/api/v1/outbound", get(overview))
        .route("/api/v1/tags", get(tags).post(create_tag))
        .route(
            "/api/v1/tags/{id}/members",
            get(tag_members).post(tag_users),
        )
        .route("/api/v1/quota", get(quota))
}

#[derive(Debug, Deserialize)]
struct QuotaQuery {
    account: Option<String>,
    cgi_path: Option<String>,
}

/// `GET /api/v1/quota?cgi_path=/cgi-bin/message/template/send`: WeChat's
/// `openapi/quota/get` for the account (`daily_limit`, `used`, `remain`).
async fn quota(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(q): Query<QuotaQuery>,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let path = q
        .cgi_path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| AdminError::bad_request("?cgi_path=/cgi-bin/… names the API"))?;
    let quota = wechat(&admin)?.api_quota(&path).await?;
    Ok(Json(json!({"cgi_path": path, "quota": quota})).into_response())
}

#[derive(Debug, Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

impl From<SubmitError> for AdminError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Invalid { .. } => AdminError::bad_request(e.to_string()),
            SubmitError::Store(s) => s.into(),
        }
    }
}

/// `POST /api/v1/messages`.
async fn submit(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
    body: Bytes,
) -> ApiResult {
    let account = scope
        .account
        .unwrap_or_else(|| crate::store::DEFAULT_ACCOUNT.to_owned());
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        AdminError::bad_request(format!("the body must be a job or an array of jobs: {e}"))
    })?;
    let (single, values) = match value {
        Value::Array(list) => (false, list),
        v @ Value::Object(_) => (true, vec![v]),
        _ => {
            return Err(AdminError::bad_request(
                "the body must be a job object or an array of them",
            ));
        }
    };
    if values.is_empty() {
        return Err(AdminError::bad_request("no jobs"));
    }
    let specs = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            JobSpec::from_json(v).map_err(|e| AdminError::bad_request(format!("job {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let queued = admin.service.outbound.submit(&account, specs).await?;
    let duplicates: Vec<i64> = queued
        .iter()
        .filter(|q| q.duplicate)
        .map(|q| q.id)
        .collect();
    let body = if single {
        json!({"id": queued[0].id, "duplicate": queued[0].duplicate})
    } else {
        json!({"ids": queued.iter().map(|q| q.id).collect::<Vec<_>>(), "duplicates": duplicates})
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    account: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    before: Option<i64>,
}

/// `GET /api/v1/messages`.
async fn list(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            AdminError::bad_request(format!("status `{s}`: queued, sent, delivered or failed"))
        })?),
    };
    let filter = ListFilter {
        account: q.account.filter(|a| !a.is_empty()),
        status,
        limit: q.limit.unwrap_or(100).clamp(1, MAX_LIST),
        before_id: q.before,
    };
    let jobs = admin.service.outbound.queue.list(&filter).await?;
    let list: Vec<Value> = jobs.iter().map(|j| j.to_json(false)).collect();
    Ok(Json(json!({"messages": list})).into_response())
}

/// `GET /api/v1/messages/<id>`.
async fn show(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| AdminError::bad_request(format!("`{id}` is not a job id")))?;
    let job = admin
        .service
        .outbound
        .job(id, scope.account.as_deref())
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no job {id}")))?;
    Ok(Json(job.to_json(true)).into_response())
}

/// `GET /api/v1/outbound`: the queue at a glance.
async fn overview(State(admin): State<Arc<Admin>>, _: ApiCaller) -> ApiResult {
    let now = crate::store::now_millis();
    let q = &admin.service.outbound.queue;
    let stats = q.stats(now).await?;
    let pauses = q.pauses(now).await?;
    Ok(Json(json!({
        "by_status": stats.by_status.iter().map(|(a, s, n)| json!({"account": a, "status": s, "count": n})).collect::<Vec<_>>(),
        "failures": stats.failures.iter().map(|(c, r, n)| json!({"channel": c, "reason": r, "count": n})).collect::<Vec<_>>(),
        "sent_last_minute": stats.sent_last_minute,
        "pauses": pauses.iter().map(|p| json!({"account": p.account, "api": p.api, "until_ms": p.until_ms, "reason": p.reason})).collect::<Vec<_>>(),
    }))
    .into_response())
}

fn wechat(admin: &Admin) -> Result<&crate::api::Wechat, AdminError> {
    admin.wechat.as_deref().ok_or_else(AdminError::no_api)
}

async fn tags(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let tags = wechat(&admin)?.list_tags().await?;
    Ok(Json(json!({"tags": tags})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTag {
    name: String,
}

async fn create_tag(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
    body: Bytes,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let t: NewTag = serde_json::from_slice(&body)
        .map_err(|e| AdminError::bad_request(format!("tag: {e} (expected {{\"name\": …}})")))?;
    let id = wechat(&admin)?.create_tag(&t.name).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "name": t.name}))).into_response())
}

#[derive(Debug, Deserialize)]
struct MembersQuery {
    account: Option<String>,
    next: Option<String>,
}

fn tag_id(id: &str) -> Result<u64, AdminError> {
    id.parse()
        .map_err(|_| AdminError::bad_request(format!("`{id}` is not a tag id")))
}

async fn tag_members(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(q): Query<MembersQuery>,
    Path(id): Path<String>,
) -> ApiResult {
    let admin = admin.for_account(q.account.as_deref())?;
    let (openids, next) = wechat(&admin)?
        .tag_users_list(tag_id(&id)?, q.next.as_deref())
        .await?;
    Ok(Json(json!({"openids": openids, "next": next})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tagging {
    openids: Vec<String>,
    /// Remove the tag instead of adding it.
    #[serde(default)]
    untag: bool,
}

async fn tag_users(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Query(scope): Query<AccountQuery>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let admin = admin.for_account(scope.account.as_deref())?;
    let t: Tagging = serde_json::from_slice(&body).map_err(|e| {
        AdminError::bad_request(format!(
            "tagging: {e} (expected {{\"openids\": […], \"untag\": false}})"
        ))
    })?;
    wechat(&admin)?
        .tag_users(tag_id(&id)?, &t.openids, !t.untag)
        .await?;
    Ok(
        Json(json!({"tag": tag_id(&id)?, "users": t.openids.len(), "tagged": !t.untag}))
            .into_response(),
    )
}
