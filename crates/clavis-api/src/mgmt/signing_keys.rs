//! Signing keys, shaped after Auth0's `keys/signing`: `GET /keys/signing`,
//! `GET /keys/signing/{kid}`, `POST /keys/signing/rotate`, `PUT /keys/signing/{kid}/revoke`.
//! Scopes `read:signing_keys`, `create:signing_keys` (rotate), `update:signing_keys`
//! (revoke). Tenant-wide. Only public keys are ever returned.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::signing_keys::{SigningKeyRotation, SigningKeyView};
use clavis_types::Kid;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(rotate))
        .routes(routes!(revoke))
}

list_schema!(SigningKeyList, "keys", SigningKeyView);

fn kid_param(raw: &str) -> Result<Kid, ApiError> {
    Kid::parse(raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("path `kid`: {}", e.reason),
        )
    })
}

/// List the tenant's signing keys (current, next, previous and revoked), oldest first.
#[utoipa::path(get, path = "/keys/signing", tag = "keys", operation_id = "get_signing_keys",
    params(PageQuery),
    responses((status = 200, description = "The signing keys", body = SigningKeyList), Errors),
    security(("bearer" = ["read:signing_keys"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:signing_keys")?;
    caller.require_tenant_wide()?;
    let params = Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?;
    let paging = Paging::from_params(&params)?;
    let (items, total) = ctx
        .core
        .signing_key_list(&caller.tenant, paging.page())
        .await?;
    Ok(paging.respond("keys", items, total))
}

/// One signing key.
#[utoipa::path(get, path = "/keys/signing/{kid}", tag = "keys", operation_id = "get_signing_key",
    params(("kid" = String, Path, description = "the key id", pattern = "^[A-Za-z0-9_-]{8,64}$")),
    responses((status = 200, description = "The signing key", body = SigningKeyView), Errors),
    security(("bearer" = ["read:signing_keys"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, kid)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:signing_keys")?;
    caller.require_tenant_wide()?;
    let kid = kid_param(&kid)?;
    let view = ctx.core.signing_key_get(&caller.tenant, &kid).await?;
    Ok(Json(view).into_response())
}

/// Rotate: the next key (published at least 5 minutes ago, so relying parties caching
/// the JWKS know it) starts signing, the current one becomes previous, and a new next key
/// is published. 409 when the next key is too recent, with the time it becomes possible.
#[utoipa::path(post, path = "/keys/signing/rotate", tag = "keys", operation_id = "post_signing_keys",
    responses((status = 201, description = "Rotated (or, with no next key, one published)", body = SigningKeyRotation), Errors),
    security(("bearer" = ["create:signing_keys"])))]
async fn rotate(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("create:signing_keys")?;
    caller.require_tenant_wide()?;
    let rotation = ctx
        .core
        .signing_key_rotate(&caller.tenant, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(rotation)).into_response())
}

/// Revoke a next or previous key: it leaves the JWKS and tokens it signed stop
/// verifying. The current key cannot be revoked (409): rotate first.
#[utoipa::path(put, path = "/keys/signing/{kid}/revoke", tag = "keys", operation_id = "put_signing_keys",
    params(("kid" = String, Path, description = "the key id", pattern = "^[A-Za-z0-9_-]{8,64}$")),
    responses((status = 200, description = "The revoked key", body = SigningKeyView), Errors),
    security(("bearer" = ["update:signing_keys"])))]
async fn revoke(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, kid)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("update:signing_keys")?;
    caller.require_tenant_wide()?;
    let kid = kid_param(&kid)?;
    let view = ctx
        .core
        .signing_key_revoke(&caller.tenant, &kid, &caller.meta)
        .await?;
    Ok(Json(view).into_response())
}
