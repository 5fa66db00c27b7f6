//! Client grants, shaped after Auth0's `client-grants`: `GET|POST /client-grants` (the
//! list filtered by `audience` and `client_id`), `GET|PATCH|DELETE /client-grants/{id}`.
//! Scopes `read:client_grants`, `create:client_grants`, `update:client_grants`,
//! `delete:client_grants`. Tenant-wide: an organization's credential is refused. A grant
//! on the Management API itself may only hold, and be changed by a caller holding, scopes
//! the caller holds (403 otherwise).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::clients::{
    ClientGrantInput, ClientGrantPatch, ClientGrantView,
};
use clavis_types::{ClientGrantId, ClientId};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::clients::{management_audience, no_escalation};
use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::logs::json_body;
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
}

list_schema!(ClientGrantList, "client_grants", ClientGrantView);

/// Filters of `GET /client-grants`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct GrantFilter {
    /// Only grants on the Api with this identifier.
    audience: Option<String>,
    /// Only grants of this application.
    client_id: Option<String>,
}

fn bad(what: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", what)
}

fn grant_id(raw: &str) -> Result<ClientGrantId, ApiError> {
    ClientGrantId::parse(raw).map_err(|e| bad(format!("path `id`: {}", e.reason)))
}

/// List the tenant's client grants, by id.
#[utoipa::path(get, path = "/client-grants", tag = "client-grants", operation_id = "get_client_grants",
    params(PageQuery, GrantFilter),
    responses((status = 200, description = "The client grants", body = ClientGrantList), Errors),
    security(("bearer" = ["read:client_grants"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:client_grants")?;
    caller.require_tenant_wide()?;
    let known: Vec<&str> = PAGE_PARAMS
        .iter()
        .copied()
        .chain(["audience", "client_id"])
        .collect();
    let params = Params::parse(raw.as_deref(), &known, &[])?;
    let paging = Paging::from_params(&params)?;
    let client = params
        .text("client_id")
        .map(ClientId::parse)
        .transpose()
        .map_err(|e| bad(format!("query parameter `client_id`: {}", e.reason)))?;
    let audience = params.text("audience");
    if audience.is_some_and(|a| a.len() > 600) {
        return Err(bad("query parameter `audience`: at most 600 characters".to_owned()).into());
    }
    let (items, total) = ctx
        .core
        .client_grant_list(
            &caller.tenant,
            client.as_ref(),
            audience,
            paging.page(),
            paging.include_totals,
        )
        .await?;
    Ok(paging.respond("client_grants", items, total))
}

/// Grant an `m2m` application permissions of an Api.
#[utoipa::path(post, path = "/client-grants", tag = "client-grants", operation_id = "post_client_grants",
    request_body = ClientGrantInput,
    responses((status = 201, description = "Created", body = ClientGrantView), Errors),
    security(("bearer" = ["create:client_grants"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:client_grants")?;
    caller.require_tenant_wide()?;
    let input: ClientGrantInput = json_body(&body)?;
    if input.audience.trim() == management_audience(&ctx, &caller) {
        no_escalation(&caller, &input.scope, "the grant")?;
    }
    let view = ctx
        .core
        .client_grant_create(&caller.tenant, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// One client grant.
#[utoipa::path(get, path = "/client-grants/{id}", tag = "client-grants", operation_id = "get_client_grants_by_id",
    params(("id" = String, Path, description = "the client grant's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The client grant", body = ClientGrantView), Errors),
    security(("bearer" = ["read:client_grants"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:client_grants")?;
    caller.require_tenant_wide()?;
    let id = grant_id(&id)?;
    let view = ctx.core.client_grant_get(&caller.tenant, &id).await?;
    Ok(Json(view).into_response())
}

/// Replace a client grant's scope. The client's existing Management API tokens are cut
/// down to the new scope at once.
#[utoipa::path(patch, path = "/client-grants/{id}", tag = "client-grants", operation_id = "patch_client_grants_by_id",
    params(("id" = String, Path, description = "the client grant's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = ClientGrantPatch,
    responses((status = 200, description = "The changed client grant", body = ClientGrantView), Errors),
    security(("bearer" = ["update:client_grants"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:client_grants")?;
    caller.require_tenant_wide()?;
    let id = grant_id(&id)?;
    let patch: ClientGrantPatch = json_body(&body)?;
    let current = ctx.core.client_grant_get(&caller.tenant, &id).await?;
    if current.audience == management_audience(&ctx, &caller) {
        no_escalation(&caller, &current.scope, "the grant")?;
        no_escalation(
            &caller,
            patch.scope.as_deref().unwrap_or_default(),
            "the grant",
        )?;
    }
    let view = ctx
        .core
        .client_grant_update(&caller.tenant, &id, patch, &caller.meta)
        .await?;
    Ok(Json(view).into_response())
}

/// Delete a client grant.
#[utoipa::path(delete, path = "/client-grants/{id}", tag = "client-grants", operation_id = "delete_client_grants_by_id",
    params(("id" = String, Path, description = "the client grant's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:client_grants"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:client_grants")?;
    caller.require_tenant_wide()?;
    let id = grant_id(&id)?;
    ctx.core
        .client_grant_delete(&caller.tenant, &id, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
