//! Branding of the hosted login pages: `GET|PATCH|DELETE /branding` and
//! `PUT|DELETE /branding/logo` for the tenant, and the same under
//! `/organizations/{id}/branding` for one organization. Scopes `read:branding`,
//! `update:branding` (PATCH, PUT logo) and `delete:branding` (DELETE, DELETE logo).
//!
//! The tenant's branding spans the tenant; an organization's administrator may read and
//! change the branding of their own organization (it shows only on its pages).
//!
//! A logo is uploaded as the raw image body (`Content-Type: image/png`, `image/jpeg`,
//! `image/gif` or `image/webp`), at most 256 KiB: these two routes raise the API's 64 KiB
//! body limit for themselves only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::branding::logo::MAX_LOGO_BYTES;
use clavis_core::service::management::branding::{BrandingPatch, BrandingView};
use clavis_types::OrgId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::Errors;
use super::logs::json_body;
use super::organizations::org_of;
use super::{Caller, MgmtError};
use crate::{ApiContext, ApiError};

/// Body limit of the logo routes: the largest logo (the image is the whole body).
pub(crate) const LOGO_BODY_LIMIT: usize = MAX_LOGO_BYTES;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    let logos = OpenApiRouter::new()
        .routes(routes!(put_logo, delete_logo))
        .routes(routes!(put_org_logo, delete_org_logo))
        .layer(DefaultBodyLimit::max(LOGO_BODY_LIMIT));
    OpenApiRouter::new()
        .routes(routes!(get, update, remove))
        .routes(routes!(get_org, update_org, remove_org))
        .merge(logos)
}

/// The raw body of a logo upload and its declared media type.
fn logo_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, Bytes), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("a logo may be at most {} KiB", MAX_LOGO_BYTES / 1024),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body could not be read",
            )
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "header `Content-Type`: required (image/png, image/jpeg, image/gif or image/webp)",
            )
        })?;
    Ok((content_type.to_owned(), body))
}

/// The tenant's branding (404 when none is stored: the login pages use the defaults).
#[utoipa::path(get, path = "/branding", tag = "branding", operation_id = "get_branding",
    responses((status = 200, description = "The tenant's branding", body = BrandingView), Errors),
    security(("bearer" = ["read:branding"])))]
async fn get(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("read:branding")?;
    caller.require_tenant_wide()?;
    let v = ctx.core.mgmt_branding_get(&caller.tenant, None).await?;
    Ok(Json(BrandingView::from(&v)).into_response())
}

/// Change the tenant's branding (created on first change): absent fields stay, `null`
/// removes one.
#[utoipa::path(patch, path = "/branding", tag = "branding", operation_id = "patch_branding",
    request_body = BrandingPatch,
    responses((status = 200, description = "The changed branding", body = BrandingView), Errors),
    security(("bearer" = ["update:branding"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:branding")?;
    caller.require_tenant_wide()?;
    let patch: BrandingPatch = json_body(&body)?;
    let v = ctx
        .core
        .mgmt_branding_update(&caller.tenant, None, patch, &caller.meta)
        .await?;
    Ok(Json(BrandingView::from(&v)).into_response())
}

/// Remove the tenant's branding settings and logo.
#[utoipa::path(delete, path = "/branding", tag = "branding", operation_id = "delete_branding",
    responses((status = 204, description = "Removed (or there was none)"), Errors),
    security(("bearer" = ["delete:branding"])))]
async fn remove(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("delete:branding")?;
    caller.require_tenant_wide()?;
    ctx.core
        .mgmt_branding_delete(&caller.tenant, None, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Upload the tenant's logo: the raw image as the body. PNG, JPEG, GIF or WebP (checked
/// by content, which must agree with `Content-Type`), at most 256 KiB and 1024×1024
/// pixels; SVG is refused.
#[utoipa::path(put, path = "/branding/logo", tag = "branding", operation_id = "put_branding_logo",
    request_body(description = "The image file itself", content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"))),
    responses((status = 200, description = "The branding with its new logo", body = BrandingView), Errors),
    security(("bearer" = ["update:branding"])))]
async fn put_logo(
    State(ctx): State<ApiContext>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, MgmtError> {
    caller.require("update:branding")?;
    caller.require_tenant_wide()?;
    let (content_type, body) = logo_body(&headers, body)?;
    let v = ctx
        .core
        .mgmt_branding_logo_put(&caller.tenant, None, &content_type, &body, &caller.meta)
        .await?;
    Ok(Json(BrandingView::from(&v)).into_response())
}

/// Remove the tenant's logo, keeping the other settings.
#[utoipa::path(delete, path = "/branding/logo", tag = "branding", operation_id = "delete_branding_logo",
    responses((status = 204, description = "Removed (or there was none)"), Errors),
    security(("bearer" = ["delete:branding"])))]
async fn delete_logo(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("delete:branding")?;
    caller.require_tenant_wide()?;
    ctx.core
        .mgmt_branding_logo_delete(&caller.tenant, None, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An organization's branding (404 when none is stored). The login pages fall back to
/// the tenant's branding field by field.
#[utoipa::path(get, path = "/organizations/{id}/branding", tag = "branding", operation_id = "get_organization_branding",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The organization's branding", body = BrandingView), Errors),
    security(("bearer" = ["read:branding"])))]
async fn get_org(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:branding")?;
    let id: OrgId = org_of(&caller, &id)?;
    let v = ctx
        .core
        .mgmt_branding_get(&caller.tenant, Some(&id))
        .await?;
    Ok(Json(BrandingView::from(&v)).into_response())
}

/// Change an organization's branding: absent fields stay, `null` removes one.
#[utoipa::path(patch, path = "/organizations/{id}/branding", tag = "branding", operation_id = "patch_organization_branding",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = BrandingPatch,
    responses((status = 200, description = "The changed branding", body = BrandingView), Errors),
    security(("bearer" = ["update:branding"])))]
async fn update_org(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:branding")?;
    let id = org_of(&caller, &id)?;
    let patch: BrandingPatch = json_body(&body)?;
    let v = ctx
        .core
        .mgmt_branding_update(&caller.tenant, Some(&id), patch, &caller.meta)
        .await?;
    Ok(Json(BrandingView::from(&v)).into_response())
}

/// Remove an organization's branding settings and logo.
#[utoipa::path(delete, path = "/organizations/{id}/branding", tag = "branding", operation_id = "delete_organization_branding",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Removed (or there was none)"), Errors),
    security(("bearer" = ["delete:branding"])))]
async fn remove_org(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:branding")?;
    let id = org_of(&caller, &id)?;
    ctx.core
        .mgmt_branding_delete(&caller.tenant, Some(&id), &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Upload an organization's logo: the raw image as the body, as for the tenant's.
#[utoipa::path(put, path = "/organizations/{id}/branding/logo", tag = "branding", operation_id = "put_organization_branding_logo",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body(description = "The image file itself", content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"))),
    responses((status = 200, description = "The branding with its new logo", body = BrandingView), Errors),
    security(("bearer" = ["update:branding"])))]
async fn put_org_logo(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, MgmtError> {
    caller.require("update:branding")?;
    let id = org_of(&caller, &id)?;
    let (content_type, body) = logo_body(&headers, body)?;
    let v = ctx
        .core
        .mgmt_branding_logo_put(
            &caller.tenant,
            Some(&id),
            &content_type,
            &body,
            &caller.meta,
        )
        .await?;
    Ok(Json(BrandingView::from(&v)).into_response())
}

/// Remove an organization's logo, keeping its other settings.
#[utoipa::path(delete, path = "/organizations/{id}/branding/logo", tag = "branding", operation_id = "delete_organization_branding_logo",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Removed (or there was none)"), Errors),
    security(("bearer" = ["delete:branding"])))]
async fn delete_org_logo(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:branding")?;
    let id = org_of(&caller, &id)?;
    ctx.core
        .mgmt_branding_logo_delete(&caller.tenant, Some(&id), &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
