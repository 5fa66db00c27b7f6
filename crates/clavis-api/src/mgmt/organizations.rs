//! Organizations, shaped after Auth0's Management API: `GET|POST /organizations`,
//! `GET|PATCH|DELETE /organizations/{id}`, `GET /organizations/name/{name}`, with their
//! members and members' roles ([`members`]), invitations ([`invitations`]) and enabled
//! connections ([`connections`]). Teams are in [`super::teams`].
//!
//! Who may call what: listing, creating, deleting and finding organizations by name span
//! the tenant; everything under `/organizations/{id}` also answers an organization's own
//! administrator (a caller acting for that organization), except changing its `name`,
//! `metadata` or `user_limit` and changing its enabled connections, which stay
//! tenant-wide (they hold what the tenant grants the organization: its slug, tier,
//! feature flags, member cap and identity sources).

mod connections;
mod invitations;
mod members;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::organizations::{
    OrgInput, OrgMemberView, OrgPatch, OrgRoleRef, OrgView,
};
use clavis_types::OrgId;
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
        .routes(routes!(by_name))
        .merge(members::routes())
        .merge(invitations::routes())
        .merge(connections::routes())
}

list_schema!(OrgList, "organizations", OrgView);
list_schema!(OrgMemberList, "members", OrgMemberView);
list_schema!(OrgRoleRefList, "roles", OrgRoleRef);

/// The organization of the path, which the caller must be allowed to act on.
pub(super) fn org_of(caller: &Caller, raw: &str) -> Result<OrgId, MgmtError> {
    let id = parse_path("id", raw, OrgId::parse)?;
    caller.require_org(id.as_str())?;
    Ok(id)
}

/// Paging of a list request that takes no other query parameter.
/// For an organization's credential, 403 unless every role in `roles` is one the tenant
/// lets organizations assign: an organization role applies to every Api of the tenant, so
/// which roles a customer's administrator may hand out is the tenant's decision.
pub(super) async fn org_assignable(
    ctx: &ApiContext,
    caller: &Caller,
    roles: &[String],
) -> Result<(), MgmtError> {
    if caller.org_id.is_none() {
        return Ok(());
    }
    match ctx.core.org_roles_assignable(&caller.tenant, roles).await? {
        Ok(()) => Ok(()),
        Err(name) => Err(MgmtError::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!(
                "role `{name}` is not one an organization's administrator may assign; the \
                 tenant lists those in `org_assignable_roles`"
            ),
        ))),
    }
}

pub(super) fn paging(raw: Option<&str>) -> Result<Paging, ApiError> {
    Paging::from_params(&Params::parse(raw, PAGE_PARAMS, &[])?)
}

/// List the tenant's organizations, by id.
#[utoipa::path(get, path = "/organizations", tag = "organizations", operation_id = "get_organizations",
    params(PageQuery),
    responses((status = 200, description = "The organizations", body = OrgList), Errors),
    security(("bearer" = ["read:organizations"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:organizations")?;
    caller.require_tenant_wide()?;
    let paging = paging(raw.as_deref())?;
    let l = ctx.core.org_list(&caller.tenant, paging.page()).await?;
    let items: Vec<OrgView> = l.items.iter().map(OrgView::from).collect();
    Ok(paging.respond("organizations", items, l.total))
}

/// Create an organization.
#[utoipa::path(post, path = "/organizations", tag = "organizations", operation_id = "post_organizations",
    request_body = OrgInput,
    responses((status = 201, description = "Created", body = OrgView), Errors),
    security(("bearer" = ["create:organizations"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:organizations")?;
    caller.require_tenant_wide()?;
    let input: OrgInput = json_body(&body)?;
    let org = ctx
        .core
        .org_create(&caller.tenant, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(OrgView::from(&org))).into_response())
}

/// One organization.
#[utoipa::path(get, path = "/organizations/{id}", tag = "organizations", operation_id = "get_organizations_by_id",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The organization", body = OrgView), Errors),
    security(("bearer" = ["read:organizations"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:organizations")?;
    let id = org_of(&caller, &id)?;
    let org = ctx.core.org_get(&caller.tenant, &id).await?;
    Ok(Json(OrgView::from(&org)).into_response())
}

/// The organization with this `name` (its slug).
#[utoipa::path(get, path = "/organizations/name/{name}", tag = "organizations", operation_id = "get_name_by_name",
    params(("name" = String, Path, description = "the organization's name (slug)", pattern = "^[a-z0-9][a-z0-9_-]{0,62}$")),
    responses((status = 200, description = "The organization", body = OrgView), Errors),
    security(("bearer" = ["read:organizations"])))]
async fn by_name(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:organizations")?;
    caller.require_tenant_wide()?;
    let org = ctx
        .core
        .org_get_by_name(&caller.tenant, &name)
        .await
        .map_err(|e| match e {
            clavis_core::CoreError::Invalid { reason, .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("path `name`: {reason}"),
            ),
            other => other.into(),
        })?;
    Ok(Json(OrgView::from(&org)).into_response())
}

/// Change an organization. An organization's own administrator may change only
/// `display_name`; `name`, `metadata` (subscription tier, feature flags, …) and
/// `user_limit` are the tenant's to set.
#[utoipa::path(patch, path = "/organizations/{id}", tag = "organizations", operation_id = "patch_organizations_by_id",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgPatch,
    responses((status = 200, description = "The changed organization", body = OrgView), Errors),
    security(("bearer" = ["update:organizations"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:organizations")?;
    let id = org_of(&caller, &id)?;
    let patch: OrgPatch = json_body(&body)?;
    if patch.name.is_some() || patch.metadata.is_some() || patch.user_limit.is_some() {
        caller.require_tenant_wide()?;
    }
    let org = ctx
        .core
        .org_update(&caller.tenant, &id, patch, &caller.meta)
        .await?;
    Ok(Json(OrgView::from(&org)).into_response())
}

/// Delete an organization with its memberships, teams, invitations, enabled connections
/// and API keys.
#[utoipa::path(delete, path = "/organizations/{id}", tag = "organizations", operation_id = "delete_organizations_by_id",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:organizations"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:organizations")?;
    caller.require_tenant_wide()?;
    let id = parse_path("id", &id, OrgId::parse)?;
    ctx.core
        .org_delete(&caller.tenant, &id, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
