//! API keys of the Management API: `GET|POST {issuer}/api/v2/api-keys`,
//! `GET|PATCH|DELETE …/api-keys/{id}`, `POST …/api-keys/{id}/rotate`.
//! Scopes `read:api_keys`, `create:api_keys`, `update:api_keys`, `delete:api_keys`.
//!
//! The key (`clv_…`) is in the body of the create and rotate answers only. A caller may
//! not give a key a scope it does not hold itself, nor create, change or rotate a key
//! holding one; an organization's caller sees and manages only its organization's keys.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::MANAGEMENT_SCOPES;
use clavis_core::service::management::api_keys::{
    ApiKeyInput, ApiKeyIssued, ApiKeyPatch, ApiKeyView, KeyHolder,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::logs::{json_body, path_id};
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, revoke))
        .routes(routes!(rotate))
}

list_schema!(ApiKeyList, "api_keys", ApiKeyView);

fn holder(caller: &Caller) -> KeyHolder<'_> {
    KeyHolder {
        scopes: &caller.scopes,
        org_id: caller.org_id.as_deref(),
    }
}

/// 403 unless the caller holds every one of `scopes` it names that exist (an unknown
/// scope is left to the service's 400 naming it).
fn no_escalation(caller: &Caller, scopes: &[String]) -> Result<(), MgmtError> {
    let known: Vec<String> = scopes
        .iter()
        .filter(|s| MANAGEMENT_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect();
    match holder(caller).missing(&known) {
        Some(s) => Err(MgmtError::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("the caller does not hold `{s}`, so it cannot manage a key holding it"),
        ))),
        None => Ok(()),
    }
}

fn no_store(r: impl IntoResponse) -> Response {
    let mut resp = r.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Filters of `GET /api-keys`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct KeyFilters {
    /// Also list revoked keys (`revoked: true`); they are otherwise gone.
    include_revoked: Option<bool>,
}

/// List API keys, newest first.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", operation_id = "get_api_keys",
    params(PageQuery, KeyFilters),
    responses((status = 200, description = "The keys (never the keys themselves)", body = ApiKeyList), Errors),
    security(("bearer" = ["read:api_keys"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:api_keys")?;
    let mut known = PAGE_PARAMS.to_vec();
    known.push("include_revoked");
    let p = Params::parse(raw.as_deref(), &known, &[])?;
    let paging = Paging::from_params(&p)?;
    let include_revoked = p.choice("include_revoked", &["true", "false"], "false")? == "true";
    let (keys, total) = ctx
        .core
        .api_key_list(
            &caller.tenant,
            &holder(&caller),
            include_revoked,
            paging.page(),
            paging.include_totals,
        )
        .await?;
    Ok(paging.respond("api_keys", keys, total))
}

/// Create an API key; the key is in this answer only.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", operation_id = "post_api_keys",
    request_body = ApiKeyInput,
    responses((status = 201, description = "Created; `key` is shown this once", body = ApiKeyIssued), Errors),
    security(("bearer" = ["create:api_keys"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:api_keys")?;
    let input: ApiKeyInput = json_body(&body)?;
    if let Some(org) = input.org_id.as_deref().filter(|o| !o.trim().is_empty()) {
        caller.require_org(org.trim())?;
    }
    no_escalation(&caller, &input.scopes)?;
    let issued = ctx
        .core
        .api_key_create_within(
            &caller.tenant,
            input,
            &holder(&caller),
            caller.not_after,
            &caller.meta,
        )
        .await?;
    Ok((StatusCode::CREATED, no_store(Json(issued))).into_response())
}

/// One API key.
#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys", operation_id = "get_api_keys_by_id",
    params(("id" = String, Path, description = "the key's id (`akey_…`)", pattern = "^akey_[A-Za-z0-9_]{1,59}$")),
    responses((status = 200, description = "The key (never the key itself)", body = ApiKeyView), Errors),
    security(("bearer" = ["read:api_keys"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:api_keys")?;
    let id = key_id(&id)?;
    let view = ctx
        .core
        .api_key_get(&caller.tenant, &id, &holder(&caller))
        .await?;
    Ok(Json(view).into_response())
}

/// Change an API key's name, scopes or expiry.
#[utoipa::path(patch, path = "/api-keys/{id}", tag = "api-keys", operation_id = "patch_api_keys_by_id",
    params(("id" = String, Path, description = "the key's id (`akey_…`)", pattern = "^akey_[A-Za-z0-9_]{1,59}$")),
    request_body = ApiKeyPatch,
    responses((status = 200, description = "The changed key", body = ApiKeyView), Errors),
    security(("bearer" = ["update:api_keys"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:api_keys")?;
    let id = key_id(&id)?;
    let patch: ApiKeyPatch = json_body(&body)?;
    let current = ctx
        .core
        .api_key_get(&caller.tenant, &id, &holder(&caller))
        .await?;
    no_escalation(&caller, &current.scopes)?;
    if let Some(scopes) = &patch.scopes {
        no_escalation(&caller, scopes)?;
    }
    let view = ctx
        .core
        .api_key_update_within(
            &caller.tenant,
            &id,
            patch,
            &holder(&caller),
            caller.not_after,
            &caller.meta,
        )
        .await?;
    Ok(Json(view).into_response())
}

/// Revoke an API key: it stops working at once and is gone from then on (listed only
/// with `include_revoked=true`).
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", operation_id = "delete_api_keys_by_id",
    params(("id" = String, Path, description = "the key's id (`akey_…`)", pattern = "^akey_[A-Za-z0-9_]{1,59}$")),
    responses((status = 204, description = "Revoked"), Errors),
    security(("bearer" = ["delete:api_keys"])))]
async fn revoke(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:api_keys")?;
    let id = key_id(&id)?;
    ctx.core
        .api_key_revoke(&caller.tenant, &id, &holder(&caller), &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Replace an API key with a new one; the old key stops working at once and the new one
/// is in this answer only.
#[utoipa::path(post, path = "/api-keys/{id}/rotate", tag = "api-keys", operation_id = "post_rotate_api_key",
    params(("id" = String, Path, description = "the key's id (`akey_…`)", pattern = "^akey_[A-Za-z0-9_]{1,59}$")),
    responses((status = 200, description = "Rotated; `key` is shown this once", body = ApiKeyIssued), Errors),
    security(("bearer" = ["update:api_keys"])))]
async fn rotate(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("update:api_keys")?;
    let id = key_id(&id)?;
    let current = ctx
        .core
        .api_key_get(&caller.tenant, &id, &holder(&caller))
        .await?;
    no_escalation(&caller, &current.scopes)?;
    let issued = ctx
        .core
        .api_key_rotate(&caller.tenant, &id, &holder(&caller), &caller.meta)
        .await?;
    Ok(no_store(Json(issued)))
}

/// The path `id`: an identifier (400 otherwise) that is an API key id (`akey_…`), else
/// 400 naming it.
fn key_id(id: &str) -> Result<String, ApiError> {
    let id = path_id("id", id)?;
    clavis_types::ApiKeyId::parse(&id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "path `id`: expected an API key id starting with `akey_`",
        )
    })?;
    Ok(id)
}
