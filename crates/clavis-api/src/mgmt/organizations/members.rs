//! `GET|POST|DELETE /organizations/{id}/members` and
//! `GET|POST|DELETE /organizations/{id}/members/{user_id}/roles`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::organizations::{OrgMembersBody, OrgRolesBody};
use clavis_types::UserId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::doc::{Errors, PageQuery};
use super::super::logs::json_body;
use super::super::parse_path;
use super::super::{Caller, MgmtError};
use super::{OrgMemberList, OrgRoleRefList, org_of, paging};
use crate::ApiContext;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, add, remove))
        .routes(routes!(roles, roles_add, roles_remove))
}

/// List an organization's members, by user id.
#[utoipa::path(get, path = "/organizations/{id}/members", tag = "organizations", operation_id = "get_members",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"), PageQuery),
    responses((status = 200, description = "The members", body = OrgMemberList), Errors),
    security(("bearer" = ["read:organization_members"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:organization_members")?;
    let id = org_of(&caller, &id)?;
    let paging = paging(raw.as_deref())?;
    let l = ctx
        .core
        .org_member_list(&caller.tenant, &id, paging.page())
        .await?;
    Ok(paging.respond("members", l.items, l.total))
}

/// Add users as members (those already members stay as they are); 409 beyond the
/// organization's `user_limit`. Tenant-wide callers only: an organization's credential
/// invites people instead, since adding any user by id would reveal users of other
/// organizations to it.
#[utoipa::path(post, path = "/organizations/{id}/members", tag = "organizations", operation_id = "post_members",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgMembersBody,
    responses((status = 204, description = "The users are members"), Errors),
    security(("bearer" = ["create:organization_members"])))]
async fn add(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:organization_members")?;
    caller.require_tenant_wide()?;
    let id = org_of(&caller, &id)?;
    let body: OrgMembersBody = json_body(&body)?;
    ctx.core
        .org_members_add(&caller.tenant, &id, body, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Remove members, with their team memberships and roles in the organization.
#[utoipa::path(delete, path = "/organizations/{id}/members", tag = "organizations", operation_id = "delete_members",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgMembersBody,
    responses((status = 204, description = "The users are no longer members"), Errors),
    security(("bearer" = ["delete:organization_members"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("delete:organization_members")?;
    let id = org_of(&caller, &id)?;
    let body: OrgMembersBody = json_body(&body)?;
    ctx.core
        .org_members_remove(&caller.tenant, &id, body, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The roles a member holds in the organization, by name.
#[utoipa::path(get, path = "/organizations/{id}/members/{user_id}/roles", tag = "organizations", operation_id = "get_organization_member_roles",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("user_id" = String, Path, description = "the member's user id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        PageQuery),
    responses((status = 200, description = "The member's roles", body = OrgRoleRefList), Errors),
    security(("bearer" = ["read:organization_member_roles"])))]
async fn roles(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, user)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:organization_member_roles")?;
    let id = org_of(&caller, &id)?;
    let user = parse_path("user_id", &user, UserId::parse)?;
    let paging = paging(raw.as_deref())?;
    let l = ctx
        .core
        .org_member_roles(&caller.tenant, &id, &user, paging.page())
        .await?;
    Ok(paging.respond("roles", l.items, l.total))
}

/// Assign roles to a member inside the organization.
#[utoipa::path(post, path = "/organizations/{id}/members/{user_id}/roles", tag = "organizations", operation_id = "post_organization_member_roles",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("user_id" = String, Path, description = "the member's user id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgRolesBody,
    responses((status = 204, description = "The roles are assigned"), Errors),
    security(("bearer" = ["create:organization_member_roles"])))]
async fn roles_add(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, user)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:organization_member_roles")?;
    let id = org_of(&caller, &id)?;
    let user = parse_path("user_id", &user, UserId::parse)?;
    let body: OrgRolesBody = json_body(&body)?;
    super::org_assignable(&ctx, &caller, &body.roles).await?;
    ctx.core
        .org_member_roles_add(&caller.tenant, &id, &user, body, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Remove roles from a member inside the organization (roles not held are ignored).
#[utoipa::path(delete, path = "/organizations/{id}/members/{user_id}/roles", tag = "organizations", operation_id = "delete_organization_member_roles",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("user_id" = String, Path, description = "the member's user id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgRolesBody,
    responses((status = 204, description = "The roles are removed"), Errors),
    security(("bearer" = ["delete:organization_member_roles"])))]
async fn roles_remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, user)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("delete:organization_member_roles")?;
    let id = org_of(&caller, &id)?;
    let user = parse_path("user_id", &user, UserId::parse)?;
    let body: OrgRolesBody = json_body(&body)?;
    super::org_assignable(&ctx, &caller, &body.roles).await?;
    ctx.core
        .org_member_roles_remove(&caller.tenant, &id, &user, body, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
