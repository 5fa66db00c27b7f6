//! Resource servers (Apis), shaped after Auth0's Management API: `GET|POST
//! /resource-servers`, `GET|PATCH|DELETE /resource-servers/{id}`.
//!
//! Scopes: `read:resource_servers`, `create:resource_servers`, `update:resource_servers`,
//! `delete:resource_servers`. Every operation spans the tenant: an organization's
//! credential is refused. The Management API's own Api (identifier `{issuer}/api/v2/`)
//! is shown with `is_system: true`; it cannot be deleted (403) and nothing of it but
//! `token_lifetime` can be changed (400).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::roles::resource_servers::{
    ResourceServerInput, ResourceServerPatch, ResourceServerView,
};
use clavis_types::ApiId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::logs::json_body;
use super::{Caller, MgmtError, Params, parse_path};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
}

list_schema!(ResourceServerList, "resource_servers", ResourceServerView);

/// The caller may use `scope` on the whole tenant.
fn allow(caller: &Caller, scope: &'static str) -> Result<(), MgmtError> {
    caller.require(scope)?;
    caller.require_tenant_wide()
}

/// The identifier of the tenant's Management API (its system Api).
fn system(ctx: &ApiContext, caller: &Caller) -> String {
    super::audience(&ctx.issuer(caller.tenant.slug.as_str()))
}

/// List the tenant's Apis.
#[utoipa::path(get, path = "/resource-servers", tag = "resource-servers", operation_id = "get_resource_servers",
    params(PageQuery),
    responses((status = 200, description = "The Apis", body = ResourceServerList), Errors),
    security(("bearer" = ["read:resource_servers"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    allow(&caller, "read:resource_servers")?;
    let p = Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?;
    let paging = Paging::from_params(&p)?;
    let (apis, total) = ctx
        .core
        .mgmt_resource_server_list(&caller.tenant, paging.page(), paging.include_totals)
        .await?;
    let system = system(&ctx, &caller);
    let views: Vec<ResourceServerView> = apis
        .iter()
        .map(|a| ResourceServerView::new(a, &system))
        .collect();
    Ok(paging.respond("resource_servers", views, total))
}

/// Create an Api.
#[utoipa::path(post, path = "/resource-servers", tag = "resource-servers", operation_id = "post_resource_servers",
    request_body = ResourceServerInput,
    responses((status = 201, description = "The Api was created", body = ResourceServerView), Errors),
    security(("bearer" = ["create:resource_servers"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "create:resource_servers")?;
    let input: ResourceServerInput = json_body(&body)?;
    let api = ctx
        .core
        .mgmt_resource_server_create(&caller.tenant, input, &caller.meta)
        .await?;
    let view = ResourceServerView::new(&api, &system(&ctx, &caller));
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// One Api.
#[utoipa::path(get, path = "/resource-servers/{id}", tag = "resource-servers", operation_id = "get_resource_servers_by_id",
    params(("id" = String, Path, description = "the Api's id (`api_…`)", pattern = "^api_[A-Za-z0-9_]{1,60}$")),
    responses((status = 200, description = "The Api", body = ResourceServerView), Errors),
    security(("bearer" = ["read:resource_servers"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    allow(&caller, "read:resource_servers")?;
    let id = parse_path("id", &id, ApiId::parse)?;
    let api = ctx
        .core
        .mgmt_resource_server_get(&caller.tenant, &id)
        .await?;
    Ok(Json(ResourceServerView::new(&api, &system(&ctx, &caller))).into_response())
}

/// Change an Api; `scopes` replaces all its scopes, and scopes removed leave every role
/// and client grant holding them. The identifier cannot change.
#[utoipa::path(patch, path = "/resource-servers/{id}", tag = "resource-servers", operation_id = "patch_resource_servers_by_id",
    params(("id" = String, Path, description = "the Api's id (`api_…`)", pattern = "^api_[A-Za-z0-9_]{1,60}$")),
    request_body = ResourceServerPatch,
    responses((status = 200, description = "The changed Api", body = ResourceServerView), Errors),
    security(("bearer" = ["update:resource_servers"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "update:resource_servers")?;
    let id = parse_path("id", &id, ApiId::parse)?;
    let patch: ResourceServerPatch = json_body(&body)?;
    let system = system(&ctx, &caller);
    let api = ctx
        .core
        .mgmt_resource_server_update(&caller.tenant, &id, patch, &system, &caller.meta)
        .await?;
    Ok(Json(ResourceServerView::new(&api, &system)).into_response())
}

/// Delete an Api: its permissions leave every role and its client grants are deleted.
/// The Management API's own Api cannot be deleted.
#[utoipa::path(delete, path = "/resource-servers/{id}", tag = "resource-servers", operation_id = "delete_resource_servers_by_id",
    params(("id" = String, Path, description = "the Api's id (`api_…`)", pattern = "^api_[A-Za-z0-9_]{1,60}$")),
    responses((status = 204, description = "The Api was deleted"), Errors),
    security(("bearer" = ["delete:resource_servers"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    allow(&caller, "delete:resource_servers")?;
    let id = parse_path("id", &id, ApiId::parse)?;
    let system = system(&ctx, &caller);
    let api = ctx
        .core
        .mgmt_resource_server_get(&caller.tenant, &id)
        .await?;
    if api.identifier == system {
        return Err(MgmtError::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "this is the Management API's own Api: it is built in and cannot be deleted",
        )));
    }
    ctx.core
        .mgmt_resource_server_delete(&caller.tenant, &id, &system, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
