//! `/api/v1/accounts[/<name>]`: the accounts served, and runtime accounts
//! added (`POST`, body: the keys of `[account.<name>]` plus `name`),
//! changed (`PUT`; credentials left out keep the stored ones), disabled
//! (`PUT` with `"disabled": true`) and removed (`DELETE`) without a restart
//! (see `crate::account::runtime`). Credentials are accepted, never
//! returned: an answer says only whether each is set. Every change is
//! audited, refusals included.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Admin;
use super::auth::ApiCaller;
use super::error::AdminError;
use crate::account::AccountChange;
use crate::config::AccountConfig;

type ApiResult = Result<Response, AdminError>;

pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/v1/accounts", get(list).post(create))
        .route(
            "/api/v1/accounts/{name}",
            get(show).put(change).delete(remove),
        )
}

impl From<AccountChange> for AdminError {
    fn from(e: AccountChange) -> Self {
        let status = match &e {
            AccountChange::Invalid(_) => StatusCode::BAD_REQUEST,
            AccountChange::NotFound(_) => StatusCode::NOT_FOUND,
            AccountChange::Conflict(_) => StatusCode::CONFLICT,
            AccountChange::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        AdminError::new(status, e.to_string())
    }
}

async fn list(State(admin): State<Arc<Admin>>, _: ApiCaller) -> ApiResult {
    let views = admin.accounts.views().await?;
    Ok(Json(json!({"accounts": views})).into_response())
}

async fn show(
    State(admin): State<Arc<Admin>>,
    _: ApiCaller,
    Path(name): Path<String>,
) -> ApiResult {
    let views = admin.accounts.views().await?;
    let view = views
        .into_iter()
        .find(|v| v.name == name)
        .ok_or_else(|| AdminError::not_found(format!("no account {name}")))?;
    Ok(Json(json!({"account": view})).into_response())
}

/// The body as an account: a JSON object of `[account.<name>]`'s keys,
/// `name` taken out (and returned).
fn parse(body: &[u8]) -> Result<(Option<String>, AccountConfig), AdminError> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| AdminError::bad_request(format!("the body is not JSON: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| AdminError::bad_request("the body must be a JSON object"))?;
    let name = match obj.remove("name") {
        None => None,
        Some(Value::String(n)) => Some(n),
        Some(_) => return Err(AdminError::bad_request("name: must be a string")),
    };
    let account: AccountConfig = serde_path_to_error::deserialize(v).map_err(|e| {
        let key = e.path().to_string();
        AdminError::bad_request(format!("{key}: {}", e.into_inner()))
    })?;
    Ok((name, account))
}

async fn create(State(admin): State<Arc<Admin>>, caller: ApiCaller, body: Bytes) -> ApiResult {
    let (name, account) = parse(&body)?;
    let name = name.ok_or_else(|| AdminError::bad_request("name: must be set"))?;
    admin
        .put_account(&caller.actor, &name, account, false)
        .await?;
    Ok((StatusCode::CREATED, show_json(&admin, &name).await?).into_response())
}

async fn change(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let (named, account) = parse(&body)?;
    if named.as_ref().is_some_and(|n| *n != name) {
        return Err(AdminError::bad_request(
            "name: an account cannot be renamed (remove it and add it again)",
        ));
    }
    admin
        .put_account(&caller.actor, &name, account, true)
        .await?;
    Ok(show_json(&admin, &name).await?.into_response())
}

async fn remove(
    State(admin): State<Arc<Admin>>,
    caller: ApiCaller,
    Path(name): Path<String>,
) -> ApiResult {
    admin.remove_account(&caller.actor, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn show_json(admin: &Admin, name: &str) -> Result<Json<Value>, AdminError> {
    let views = admin.accounts.views().await?;
    let view = views.into_iter().find(|v| v.name == name);
    Ok(Json(json!({"account": view})))
}

impl Admin {
    /// Adds runtime account `name` (or with `replace` changes it), audited
    /// whatever the outcome: the one way the API and the console do it.
    pub(super) async fn put_account(
        &self,
        actor: &str,
        name: &str,
        account: AccountConfig,
        replace: bool,
    ) -> Result<(), AdminError> {
        let app_id = account.app_id.clone();
        let result = self
            .accounts
            .put(name, account, replace)
            .await
            .map_err(AdminError::from);
        let action = if replace {
            "account_change"
        } else {
            "account_add"
        };
        self.audited_account(actor, action, name, &app_id, &result)
            .await;
        result
    }

    /// Removes runtime account `name`, audited whatever the outcome.
    pub(super) async fn remove_account(&self, actor: &str, name: &str) -> Result<(), AdminError> {
        let result = self.accounts.remove(name).await.map_err(AdminError::from);
        self.audited_account(actor, "account_remove", name, "", &result)
            .await;
        result
    }

    /// Audits an account change (never its credentials).
    async fn audited_account(
        &self,
        actor: &str,
        action: &str,
        name: &str,
        app_id: &str,
        result: &Result<(), AdminError>,
    ) {
        let what = if app_id.is_empty() {
            format!("account {name}")
        } else {
            format!("account {name} ({app_id})")
        };
        let detail = match result {
            Ok(()) => format!("{what}: done"),
            Err(e) => format!("{what}: refused: {}", e.message),
        };
        self.audit(actor, action, &detail).await;
    }
}
