//! The QR codes page: create, list with search, each code's image rendered
//! here (SVG of its URL, nothing fetched from WeChat), scans and follows per
//! scene, the permanent quota.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Chrome, Flash, Scoped, html, when};
use crate::admin::Admin;
use crate::admin::auth::Operator;
use crate::admin::error::AdminError;
use crate::admin::ops::QrRequest;
use crate::store::QrRecord;

/// Codes listed (the newest).
pub const LIST_LIMIT: usize = 500;

struct Card {
    id: i64,
    scene: String,
    permanent: bool,
    expired: bool,
    expiry: String,
    note: String,
    created: String,
    scans: u64,
    follows: u64,
}

#[derive(Template)]
#[template(path = "admin/qrcodes.html")]
struct QrPage {
    page: Chrome,
    query: String,
    codes: Vec<Card>,
    permanent_used: u64,
    permanent_left: u64,
    permanent_limit: u64,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    notice: Option<String>,
}

/// The stored codes matching `query` (scene or note, case-insensitive).
pub async fn matching(admin: &Admin, query: &str) -> Result<Vec<QrRecord>, AdminError> {
    let q = query.trim().to_lowercase();
    let all = admin.stores.qrcodes.list(LIST_LIMIT).await?;
    Ok(all
        .into_iter()
        .filter(|r| {
            q.is_empty()
                || r.code.scene.to_lowercase().contains(&q)
                || r.code
                    .note
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&q))
        })
        .collect())
}

async fn render(
    admin: &Admin,
    op: &Operator,
    query: &str,
    status: StatusCode,
    flash: Flash,
) -> Response {
    let built = async {
        let codes = matching(admin, query).await?;
        let scenes: Vec<String> = codes.iter().map(|r| r.code.scene.clone()).collect();
        let counts = admin.stores.scene_stats.counts(&scenes).await?;
        let used = admin.stores.qrcodes.permanent_count().await?;
        let now = crate::unix_now();
        let cards = codes
            .into_iter()
            .map(|r| {
                let c = counts.get(&r.code.scene).copied().unwrap_or_default();
                let (expired, expiry) = match r.code.expires_at {
                    None => (false, String::new()),
                    Some(t) if t <= now => (true, "expired".to_owned()),
                    Some(t) => (false, format!("until {}", when(t as i64))),
                };
                Card {
                    id: r.id,
                    scene: r.code.scene,
                    permanent: r.code.permanent,
                    expired,
                    expiry,
                    note: r.code.note.unwrap_or_default(),
                    created: when(r.code.created_at as i64),
                    scans: c.scans,
                    follows: c.follows,
                }
            })
            .collect();
        Ok::<_, AdminError>((cards, used))
    }
    .await;
    let limit = admin.permanent_qr_limit;
    let (codes, used, flash, status) = match built {
        Ok((cards, used)) => (cards, used, flash, status),
        Err(e) => (Vec::new(), 0, Flash::Error(e.clone()), e.status),
    };
    let page = QrPage {
        page: Chrome::new("QR codes", "qrcodes", op, admin).with(flash),
        query: query.to_owned(),
        codes,
        permanent_used: used,
        permanent_left: limit.saturating_sub(used),
        permanent_limit: limit,
    };
    html(status, &page)
}

pub async fn page(Scoped(admin): Scoped, op: Operator, Query(q): Query<ListQuery>) -> Response {
    let flash = super::NoticeQuery { notice: q.notice }.into();
    render(&admin, &op, &q.q, StatusCode::OK, flash).await
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    scene: String,
    #[serde(default)]
    expire_seconds: String,
    #[serde(default)]
    note: String,
}

pub async fn create(Scoped(admin): Scoped, op: Operator, Form(f): Form<CreateForm>) -> Response {
    if let Err(e) = op.check_csrf(&f.csrf) {
        return render(&admin, &op, "", e.status, Flash::Error(e)).await;
    }
    let permanent = f.kind == "permanent";
    let expire_seconds = match f.expire_seconds.trim() {
        "" => None,
        s if permanent => s.parse().ok(),
        s => match s.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                let e = AdminError::bad_request(format!("expiry `{s}` is not a number of seconds"));
                return render(&admin, &op, "", e.status, Flash::Error(e)).await;
            }
        },
    };
    let req = QrRequest {
        scene: f.scene,
        permanent,
        expire_seconds,
        note: Some(f.note),
    };
    match admin.create_qr(&op.actor, &req).await {
        Ok(r) => super::done(
            &admin,
            "/qrcodes",
            &format!("QR code {} for scene {} created.", r.id, r.code.scene),
        ),
        Err(e) => render(&admin, &op, "", e.status, Flash::Error(e)).await,
    }
}

/// `GET /qrcodes/{id}.svg`: the code's image, drawn here from its URL.
pub async fn image(Scoped(admin): Scoped, _op: Operator, Path(file): Path<String>) -> Response {
    let Some(id) = file
        .strip_suffix(".svg")
        .and_then(|i| i.parse::<i64>().ok())
    else {
        return AdminError::not_found("no such image").into_response();
    };
    let record = match admin.stores.qrcodes.by_id(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return AdminError::not_found(format!("no QR code {id}")).into_response(),
        Err(e) => return AdminError::from(e).into_response(),
    };
    match crate::api::qrcode::render_svg(&record.code.url) {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "private, max-age=86400"),
            ],
            svg,
        )
            .into_response(),
        Err(e) => AdminError::from(e).into_response(),
    }
}
