//! `GET|POST /organizations/{id}/enabled_connections` and
//! `GET|PATCH|DELETE /organizations/{id}/enabled_connections/{connection_id}`. An
//! organization's administrator may read them; changing them is tenant-wide.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::organizations::{
    OrgConnectionInput, OrgConnectionPatch, OrgConnectionView,
};
use clavis_types::{ConnectionId, OrgId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::doc::{Errors, PageQuery, list_schema};
use super::super::logs::json_body;
use super::super::parse_path;
use super::super::{Caller, MgmtError};
use super::{org_of, paging};
use crate::ApiContext;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
}

list_schema!(OrgConnectionList, "enabled_connections", OrgConnectionView);

/// List the connections enabled for an organization.
#[utoipa::path(get, path = "/organizations/{id}/enabled_connections", tag = "organizations", operation_id = "get_enabled_connections",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"), PageQuery),
    responses((status = 200, description = "The enabled connections", body = OrgConnectionList), Errors),
    security(("bearer" = ["read:organization_connections"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:organization_connections")?;
    let id = org_of(&caller, &id)?;
    let paging = paging(raw.as_deref())?;
    let l = ctx
        .core
        .org_connection_list(&caller.tenant, &id, paging.page())
        .await?;
    Ok(paging.respond("enabled_connections", l.items, l.total))
}

/// The organization of a change to its connections: tenant-wide callers only.
fn tenant_wide_org(caller: &Caller, id: &str) -> Result<OrgId, MgmtError> {
    caller.require_tenant_wide()?;
    org_of(caller, id)
}

/// Enable a connection for an organization; 409 if it already is.
#[utoipa::path(post, path = "/organizations/{id}/enabled_connections", tag = "organizations", operation_id = "post_enabled_connections",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgConnectionInput,
    responses((status = 201, description = "Enabled", body = OrgConnectionView), Errors),
    security(("bearer" = ["create:organization_connections"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:organization_connections")?;
    let id = tenant_wide_org(&caller, &id)?;
    let input: OrgConnectionInput = json_body(&body)?;
    let v = ctx
        .core
        .org_connection_enable(&caller.tenant, &id, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// One connection enabled for an organization.
#[utoipa::path(get, path = "/organizations/{id}/enabled_connections/{connection_id}", tag = "organizations", operation_id = "get_enabled_connections_by_connection_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("connection_id" = String, Path, description = "the connection's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The enabled connection", body = OrgConnectionView), Errors),
    security(("bearer" = ["read:organization_connections"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, connection)): Path<(String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:organization_connections")?;
    let id = org_of(&caller, &id)?;
    let connection = parse_path("connection_id", &connection, ConnectionId::parse)?;
    let v = ctx
        .core
        .org_connection_get(&caller.tenant, &id, &connection)
        .await?;
    Ok(Json(v).into_response())
}

/// Change how a connection is enabled for an organization.
#[utoipa::path(patch, path = "/organizations/{id}/enabled_connections/{connection_id}", tag = "organizations", operation_id = "patch_enabled_connections_by_connection_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("connection_id" = String, Path, description = "the connection's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgConnectionPatch,
    responses((status = 200, description = "The changed enabled connection", body = OrgConnectionView), Errors),
    security(("bearer" = ["update:organization_connections"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, connection)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:organization_connections")?;
    let id = tenant_wide_org(&caller, &id)?;
    let connection = parse_path("connection_id", &connection, ConnectionId::parse)?;
    let patch: OrgConnectionPatch = json_body(&body)?;
    let v = ctx
        .core
        .org_connection_update(&caller.tenant, &id, &connection, patch, &caller.meta)
        .await?;
    Ok(Json(v).into_response())
}

/// Disable a connection for an organization.
#[utoipa::path(delete, path = "/organizations/{id}/enabled_connections/{connection_id}", tag = "organizations", operation_id = "delete_enabled_connections_by_connection_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("connection_id" = String, Path, description = "the connection's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Disabled"), Errors),
    security(("bearer" = ["delete:organization_connections"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, connection)): Path<(String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:organization_connections")?;
    let id = tenant_wide_org(&caller, &id)?;
    let connection = parse_path("connection_id", &connection, ConnectionId::parse)?;
    ctx.core
        .org_connection_disable(&caller.tenant, &id, &connection, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
