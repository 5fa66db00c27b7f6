//! Email domains of organizations (home-realm discovery):
//! `GET|POST /organizations/{id}/domains` and `DELETE /organizations/{id}/domains/{domain}`.
//! Scopes `read:organization_domains`, `create:organization_domains`,
//! `delete:organization_domains`.
//!
//! A registered domain sends every login of that domain in the tenant to the organization,
//! so adding and removing one spans the tenant; an organization's administrator may read
//! their own organization's domains.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::domains::{OrgDomainInput, OrgDomainView};
use clavis_types::OrgId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::Errors;
use super::logs::json_body;
use super::organizations::org_of;
use super::{Caller, MgmtError};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
}

/// The organization of a change to its domains: tenant-wide callers only.
fn tenant_wide_org(caller: &Caller, id: &str) -> Result<OrgId, MgmtError> {
    caller.require_tenant_wide()?;
    org_of(caller, id)
}

/// A domain from the path: a host name, at most 253 characters.
fn domain_param(raw: &str) -> Result<String, ApiError> {
    let ok = (1..=253).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "path `domain`: expected a host name such as `acme.example`",
        ))
    }
}

/// The email domains registered for an organization, in name order.
#[utoipa::path(get, path = "/organizations/{id}/domains", tag = "organizations", operation_id = "get_organization_domains",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The domains", body = Vec<OrgDomainView>), Errors),
    security(("bearer" = ["read:organization_domains"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:organization_domains")?;
    let id = org_of(&caller, &id)?;
    let list = ctx.core.mgmt_org_domain_list(&caller.tenant, &id).await?;
    let views: Vec<OrgDomainView> = list.iter().map(OrgDomainView::from).collect();
    Ok(Json(views).into_response())
}

/// Register an email domain for an organization: logins of addresses at that domain go
/// to the organization. 409 when an organization of the tenant already has it.
#[utoipa::path(post, path = "/organizations/{id}/domains", tag = "organizations", operation_id = "post_organization_domains",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgDomainInput,
    responses((status = 201, description = "Registered", body = OrgDomainView), Errors),
    security(("bearer" = ["create:organization_domains"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:organization_domains")?;
    let id = tenant_wide_org(&caller, &id)?;
    let input: OrgDomainInput = json_body(&body)?;
    let d = ctx
        .core
        .mgmt_org_domain_add(&caller.tenant, &id, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(OrgDomainView::from(&d))).into_response())
}

/// Remove an email domain of an organization.
#[utoipa::path(delete, path = "/organizations/{id}/domains/{domain}", tag = "organizations", operation_id = "delete_organization_domains_by_domain",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("domain" = String, Path, description = "the domain, e.g. `acme.example`", pattern = "^[A-Za-z0-9.-]{1,253}$")),
    responses((status = 204, description = "Removed"), Errors),
    security(("bearer" = ["delete:organization_domains"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, domain)): Path<(String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:organization_domains")?;
    let id = tenant_wide_org(&caller, &id)?;
    let domain = domain_param(&domain)?;
    ctx.core
        .mgmt_org_domain_remove(&caller.tenant, &id, &domain, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
