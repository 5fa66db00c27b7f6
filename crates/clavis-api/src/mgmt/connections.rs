//! Connections of the Management API, shaped after Auth0's: `GET|POST /connections`,
//! `GET|PATCH|DELETE /connections/{id}`. Scopes `read:connections`, `create:connections`,
//! `update:connections`, `delete:connections`. Every operation spans the tenant: an
//! organization's credential is refused.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::connections::{
    ConnectionInput, ConnectionPatch, ConnectionView,
};
use clavis_types::ConnectionId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::logs::{json_body, path_id};
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
}

list_schema!(ConnectionList, "connections", ConnectionView);

/// `id` from the path, as a connection id: 400 naming it when malformed.
fn connection_id(raw: &str) -> Result<ConnectionId, ApiError> {
    let id = path_id("id", raw)?;
    ConnectionId::parse(&id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "path `id`: expected a connection id starting with `con_`",
        )
    })
}

/// List the tenant's connections.
#[utoipa::path(get, path = "/connections", tag = "connections", operation_id = "get_connections",
    params(PageQuery),
    responses((status = 200, description = "The connections", body = ConnectionList), Errors),
    security(("bearer" = ["read:connections"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:connections")?;
    caller.require_tenant_wide()?;
    let paging = Paging::from_params(&Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?)?;
    let (list, total) = ctx
        .core
        .mgmt_connection_list(&caller.tenant, paging.page(), paging.include_totals)
        .await?;
    let views: Vec<ConnectionView> = list.iter().map(ConnectionView::from).collect();
    Ok(paging.respond("connections", views, total))
}

/// Create a connection.
#[utoipa::path(post, path = "/connections", tag = "connections", operation_id = "post_connections",
    request_body = ConnectionInput,
    responses((status = 201, description = "Created", body = ConnectionView), Errors),
    security(("bearer" = ["create:connections"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:connections")?;
    caller.require_tenant_wide()?;
    let input: ConnectionInput = json_body(&body)?;
    let c = ctx
        .core
        .mgmt_connection_create(&caller.tenant, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(ConnectionView::from(&c))).into_response())
}

/// One connection.
#[utoipa::path(get, path = "/connections/{id}", tag = "connections", operation_id = "get_connections_by_id",
    params(("id" = String, Path, description = "the connection's id (`con_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The connection", body = ConnectionView), Errors),
    security(("bearer" = ["read:connections"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:connections")?;
    caller.require_tenant_wide()?;
    let id = connection_id(&id)?;
    let c = ctx.core.mgmt_connection_get(&caller.tenant, &id).await?;
    Ok(Json(ConnectionView::from(&c)).into_response())
}

/// Replace a connection's options (the name and strategy cannot change).
#[utoipa::path(patch, path = "/connections/{id}", tag = "connections", operation_id = "patch_connections_by_id",
    params(("id" = String, Path, description = "the connection's id (`con_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = ConnectionPatch,
    responses((status = 200, description = "The changed connection", body = ConnectionView), Errors),
    security(("bearer" = ["update:connections"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:connections")?;
    caller.require_tenant_wide()?;
    let id = connection_id(&id)?;
    let patch: ConnectionPatch = json_body(&body)?;
    let c = ctx
        .core
        .mgmt_connection_update(&caller.tenant, &id, patch, &caller.meta)
        .await?;
    Ok(Json(ConnectionView::from(&c)).into_response())
}

/// Delete a connection. The tenant's default database connection, and a connection that
/// still holds user identities, cannot be deleted (409).
#[utoipa::path(delete, path = "/connections/{id}", tag = "connections", operation_id = "delete_connections_by_id",
    params(("id" = String, Path, description = "the connection's id (`con_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:connections"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:connections")?;
    caller.require_tenant_wide()?;
    let id = connection_id(&id)?;
    ctx.core
        .mgmt_connection_delete(&caller.tenant, &id, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
