//! Custom domains of the tenant (Auth0's shape): `GET|POST /custom-domains`,
//! `GET|DELETE /custom-domains/{id}` and `POST /custom-domains/{id}/verify`. Scopes
//! `read:custom_domains`, `create:custom_domains`, `delete:custom_domains`.
//!
//! A custom domain serves the whole tenant, so only tenant-wide callers may use these
//! operations (an organization's token or API key is refused with 403).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::custom_domains::{CustomDomainInput, CustomDomainView};
use clavis_types::CustomDomainId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::Errors;
use super::logs::json_body;
use super::{Caller, MgmtError, parse_path};
use crate::ApiContext;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, remove))
        .routes(routes!(verify))
}

/// A tenant-wide caller holding `scope`.
fn tenant_wide(caller: &Caller, scope: &'static str) -> Result<(), MgmtError> {
    caller.require(scope)?;
    caller.require_tenant_wide()
}

fn id_of(raw: &str) -> Result<CustomDomainId, MgmtError> {
    Ok(parse_path("id", raw, CustomDomainId::parse)?)
}

/// The tenant's custom domains, in name order.
#[utoipa::path(get, path = "/custom-domains", tag = "custom_domains", operation_id = "get_custom_domains",
    responses((status = 200, description = "The custom domains", body = Vec<CustomDomainView>), Errors),
    security(("bearer" = ["read:custom_domains"])))]
async fn list(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    tenant_wide(&caller, "read:custom_domains")?;
    let list = ctx.core.mgmt_custom_domain_list(&caller.tenant).await?;
    let views: Vec<CustomDomainView> = list.iter().map(CustomDomainView::from).collect();
    Ok(Json(views).into_response())
}

/// Register a custom domain, pending verification: publish the returned TXT record, then
/// call `verify`. 409 when the domain is registered already (by any tenant).
#[utoipa::path(post, path = "/custom-domains", tag = "custom_domains", operation_id = "post_custom_domains",
    request_body = CustomDomainInput,
    responses((status = 201, description = "Registered", body = CustomDomainView), Errors),
    security(("bearer" = ["create:custom_domains"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, MgmtError> {
    tenant_wide(&caller, "create:custom_domains")?;
    let input: CustomDomainInput = json_body(&body)?;
    let d = ctx
        .core
        .mgmt_custom_domain_create(&caller.tenant, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(CustomDomainView::from(&d))).into_response())
}

/// One custom domain.
#[utoipa::path(get, path = "/custom-domains/{id}", tag = "custom_domains", operation_id = "get_custom_domains_by_id",
    params(("id" = String, Path, description = "the custom domain's id (`cd_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The custom domain", body = CustomDomainView), Errors),
    security(("bearer" = ["read:custom_domains"])))]
async fn get_one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    tenant_wide(&caller, "read:custom_domains")?;
    let d = ctx
        .core
        .mgmt_custom_domain_get(&caller.tenant, &id_of(&id)?)
        .await?;
    Ok(Json(CustomDomainView::from(&d)).into_response())
}

/// Remove a custom domain: it stops serving the tenant.
#[utoipa::path(delete, path = "/custom-domains/{id}", tag = "custom_domains", operation_id = "delete_custom_domains_by_id",
    params(("id" = String, Path, description = "the custom domain's id (`cd_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Removed"), Errors),
    security(("bearer" = ["delete:custom_domains"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    tenant_wide(&caller, "delete:custom_domains")?;
    ctx.core
        .mgmt_custom_domain_delete(&caller.tenant, &id_of(&id)?, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Look up the domain's TXT record: the domain becomes `ready` when it holds the expected
/// value; otherwise the answer keeps `pending_verification` and says in `error` what was
/// found.
#[utoipa::path(post, path = "/custom-domains/{id}/verify", tag = "custom_domains", operation_id = "post_verify_custom_domain",
    params(("id" = String, Path, description = "the custom domain's id (`cd_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The custom domain after the check", body = CustomDomainView), Errors),
    security(("bearer" = ["create:custom_domains"])))]
async fn verify(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    tenant_wide(&caller, "create:custom_domains")?;
    let view = ctx
        .core
        .mgmt_custom_domain_verify(&caller.tenant, &id_of(&id)?, &caller.meta)
        .await?;
    Ok(Json(view).into_response())
}
