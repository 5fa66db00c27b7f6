//! Applications, shaped after Auth0's `clients`: `GET|POST /clients`,
//! `GET|PATCH|DELETE /clients/{id}` and `POST /clients/{id}/rotate-secret`. Scopes
//! `read:clients`, `create:clients`, `update:clients`, `delete:clients` and
//! `update:client_keys` (rotation). Tenant-wide: an organization's credential is refused.
//! A client secret is returned only by the response that issued it. Changing an
//! application or rotating its secret needs every scope the application is granted on the
//! Management API (403 otherwise): credentials are never handed over to a weaker caller.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::MANAGEMENT_SCOPES;
use clavis_core::service::management::clients::{ClientInput, ClientPatch, ClientView};
use clavis_types::ClientId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::logs::json_body;
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
        .routes(routes!(rotate_secret))
}

list_schema!(ClientList, "clients", ClientView);

/// A path parameter that must be a client id: 400 naming it otherwise.
pub(super) fn client_id_param(name: &str, raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("path `{name}`: {}", e.reason),
        )
    })
}

/// 403 unless the caller holds every one of `scopes` that is a Management API scope:
/// nobody obtains, through an application's credentials or a grant, more than it holds.
/// (Other values are left to the service, which names them in a 400.)
pub(super) fn no_escalation(
    caller: &Caller,
    scopes: &[String],
    what: &str,
) -> Result<(), MgmtError> {
    match scopes
        .iter()
        .filter(|s| MANAGEMENT_SCOPES.contains(&s.as_str()))
        .find(|s| !caller.scopes.contains(s))
    {
        Some(s) => Err(MgmtError::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!(
                "{what} holds `{s}` on the Management API and the caller does not, so it \
                 cannot manage it"
            ),
        ))),
        None => Ok(()),
    }
}

/// The tenant's Management API audience.
pub(super) fn management_audience(ctx: &ApiContext, caller: &Caller) -> String {
    super::audience(&ctx.issuer(caller.tenant.slug.as_str()))
}

/// 403 unless the caller holds every scope `client` is granted on the Management API:
/// changing or rotating its credentials would hand them over.
async fn no_takeover(
    ctx: &ApiContext,
    caller: &Caller,
    client: &ClientId,
) -> Result<(), MgmtError> {
    let granted = ctx
        .core
        .client_grant_scope(&caller.tenant, client, &management_audience(ctx, caller))
        .await?
        .unwrap_or_default();
    no_escalation(caller, &granted, "this application")
}

/// List the tenant's applications, oldest first.
#[utoipa::path(get, path = "/clients", tag = "clients", operation_id = "get_clients",
    params(PageQuery),
    responses((status = 200, description = "The applications", body = ClientList), Errors),
    security(("bearer" = ["read:clients"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:clients")?;
    caller.require_tenant_wide()?;
    let params = Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?;
    let paging = Paging::from_params(&params)?;
    let (apps, total) = ctx
        .core
        .client_list(&caller.tenant, paging.page(), paging.include_totals)
        .await?;
    let items: Vec<ClientView> = apps.iter().map(ClientView::from).collect();
    Ok(paging.respond("clients", items, total))
}

/// Create an application. A confidential one that authenticates with a secret gets its
/// `client_secret` in this response only.
#[utoipa::path(post, path = "/clients", tag = "clients", operation_id = "post_clients",
    request_body = ClientInput,
    responses((status = 201, description = "Created; `client_secret` is shown this once", body = ClientView), Errors),
    security(("bearer" = ["create:clients"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:clients")?;
    caller.require_tenant_wide()?;
    let input: ClientInput = json_body(&body)?;
    let view = ctx
        .core
        .client_create(&caller.tenant, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// One application (never its secret).
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", operation_id = "get_clients_by_id",
    params(("id" = String, Path, description = "the client id", pattern = "^[A-Za-z0-9_-]{8,64}$")),
    responses((status = 200, description = "The application", body = ClientView), Errors),
    security(("bearer" = ["read:clients"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:clients")?;
    caller.require_tenant_wide()?;
    let id = client_id_param("id", &id)?;
    let app = ctx.core.client_get(&caller.tenant, &id).await?;
    Ok(Json(ClientView::from(&app)).into_response())
}

/// Change an application. When the change makes it authenticate with a secret it did not
/// have, the new `client_secret` is in this response only.
#[utoipa::path(patch, path = "/clients/{id}", tag = "clients", operation_id = "patch_clients_by_id",
    params(("id" = String, Path, description = "the client id", pattern = "^[A-Za-z0-9_-]{8,64}$")),
    request_body = ClientPatch,
    responses((status = 200, description = "The changed application", body = ClientView), Errors),
    security(("bearer" = ["update:clients"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:clients")?;
    caller.require_tenant_wide()?;
    let id = client_id_param("id", &id)?;
    no_takeover(&ctx, &caller, &id).await?;
    let patch: ClientPatch = json_body(&body)?;
    let view = ctx
        .core
        .client_update(&caller.tenant, &id, patch, &caller.meta)
        .await?;
    Ok(Json(view).into_response())
}

/// Delete an application with its client grants; its tokens stop working here at once.
#[utoipa::path(delete, path = "/clients/{id}", tag = "clients", operation_id = "delete_clients_by_id",
    params(("id" = String, Path, description = "the client id", pattern = "^[A-Za-z0-9_-]{8,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:clients"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:clients")?;
    caller.require_tenant_wide()?;
    let id = client_id_param("id", &id)?;
    ctx.core
        .client_delete(&caller.tenant, &id, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Issue a new client secret, returned this once. The old secret stops working at once
/// on the node that served this request and within 2 seconds on every other node.
#[utoipa::path(post, path = "/clients/{id}/rotate-secret", tag = "clients", operation_id = "post_rotate_secret",
    params(("id" = String, Path, description = "the client id", pattern = "^[A-Za-z0-9_-]{8,64}$")),
    responses((status = 200, description = "The application with its new `client_secret`", body = ClientView), Errors),
    security(("bearer" = ["update:client_keys"])))]
async fn rotate_secret(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("update:client_keys")?;
    caller.require_tenant_wide()?;
    let id = client_id_param("id", &id)?;
    no_takeover(&ctx, &caller, &id).await?;
    let view = ctx
        .core
        .client_rotate_secret(&caller.tenant, &id, &caller.meta)
        .await?;
    Ok(Json(view).into_response())
}
