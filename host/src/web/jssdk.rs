//! `GET /jssdk/config?url=PAGE_URL`: the `wx.config` values for a page of
//! this server, `{"appId","timestamp","nonceStr","signature"}` (§7.9), signed
//! with the managed jsapi_ticket ([`crate::api::jssdk::JsSdk`]).

use axum::Json;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::site::CurrentSite;
use crate::api::jssdk::JsSdkError;

#[derive(Debug, Deserialize)]
pub struct ConfigQuery {
    url: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub async fn config(CurrentSite(site): CurrentSite, Query(q): Query<ConfigQuery>) -> Response {
    let Some(url) = q.url.filter(|u| !u.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "give the page's URL: ?url=…");
    };
    let Some(jssdk) = &site.account.jssdk else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the JS-SDK needs the account's API credentials (wechat.app_secret)",
        );
    };
    match jssdk.config(&url).await {
        Ok(c) => ([(header::CACHE_CONTROL, "no-store")], Json(c)).into_response(),
        Err(JsSdkError::Refused(m)) => error(StatusCode::BAD_REQUEST, &m),
        Err(e @ JsSdkError::Unavailable(_)) => {
            tracing::warn!(error = %e, "JS-SDK config failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no jsapi_ticket could be had; try again",
            )
        }
    }
}
