//! Roles, shaped after Auth0's Management API: `GET|POST /roles` (`name_filter`),
//! `GET|PATCH|DELETE /roles/{id}`, `GET|POST|DELETE /roles/{id}/permissions`,
//! `GET|POST /roles/{id}/users`, and the Clavis extension `GET|POST|DELETE
//! /roles/{id}/inherits` (roles a role inherits; cycles are a 409 naming them).
//!
//! Scopes: `read:roles`, `create:roles`, `update:roles` (also permissions and
//! inheritance), `delete:roles`, `read:role_members`, `create:role_members`. Every
//! operation spans the tenant: an organization's credential is refused.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::roles::{
    RoleInheritsBody, RoleInput, RolePatch, RolePermissionView, RolePermissionsBody, RoleUserView,
    RoleUsersBody, RoleView,
};
use clavis_types::RoleId;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::logs::json_body;
use super::{Caller, MgmtError, Params, parse_path};
use crate::ApiContext;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
        .routes(routes!(permissions, permissions_add, permissions_remove))
        .routes(routes!(inherits, inherits_add, inherits_remove))
        .routes(routes!(users, users_assign))
}

list_schema!(RoleList, "roles", RoleView);
list_schema!(RolePermissionList, "permissions", RolePermissionView);
list_schema!(RoleUserList, "users", RoleUserView);

/// The filter of `GET /roles`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct RoleFilter {
    /// Only roles whose name contains this text (ASCII letters match in any case).
    #[param(max_length = 255)]
    name_filter: Option<String>,
}

/// The caller may use `scope` on the whole tenant.
fn allow(caller: &Caller, scope: &'static str) -> Result<(), MgmtError> {
    caller.require(scope)?;
    caller.require_tenant_wide()
}

/// List the tenant's roles by name.
#[utoipa::path(get, path = "/roles", tag = "roles", operation_id = "get_roles",
    params(PageQuery, RoleFilter),
    responses((status = 200, description = "The roles", body = RoleList), Errors),
    security(("bearer" = ["read:roles"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    allow(&caller, "read:roles")?;
    let mut known = PAGE_PARAMS.to_vec();
    known.push("name_filter");
    let p = Params::parse(raw.as_deref(), &known, &[])?;
    let paging = Paging::from_params(&p)?;
    let (roles, total) = ctx
        .core
        .mgmt_role_list(
            &caller.tenant,
            p.text("name_filter"),
            paging.page(),
            paging.include_totals,
        )
        .await?;
    let views: Vec<RoleView> = roles.iter().map(RoleView::from).collect();
    Ok(paging.respond("roles", views, total))
}

/// Create a role.
#[utoipa::path(post, path = "/roles", tag = "roles", operation_id = "post_roles",
    request_body = RoleInput,
    responses((status = 201, description = "The role was created", body = RoleView), Errors),
    security(("bearer" = ["create:roles"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "create:roles")?;
    let input: RoleInput = json_body(&body)?;
    let role = ctx
        .core
        .mgmt_role_create(&caller.tenant, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(RoleView::from(&role))).into_response())
}

/// One role.
#[utoipa::path(get, path = "/roles/{id}", tag = "roles", operation_id = "get_roles_by_id",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    responses((status = 200, description = "The role", body = RoleView), Errors),
    security(("bearer" = ["read:roles"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    allow(&caller, "read:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let role = ctx.core.mgmt_role_get(&caller.tenant, &id).await?;
    Ok(Json(RoleView::from(&role)).into_response())
}

/// Change a role's name or description.
#[utoipa::path(patch, path = "/roles/{id}", tag = "roles", operation_id = "patch_roles_by_id",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    request_body = RolePatch,
    responses((status = 200, description = "The changed role", body = RoleView), Errors),
    security(("bearer" = ["update:roles"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "update:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let patch: RolePatch = json_body(&body)?;
    let role = ctx
        .core
        .mgmt_role_update(&caller.tenant, &id, patch, &caller.meta)
        .await?;
    Ok(Json(RoleView::from(&role)).into_response())
}

/// Delete a role; its permissions, inheritance and assignments go with it.
#[utoipa::path(delete, path = "/roles/{id}", tag = "roles", operation_id = "delete_roles_by_id",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    responses((status = 204, description = "The role was deleted"), Errors),
    security(("bearer" = ["delete:roles"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    allow(&caller, "delete:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    ctx.core
        .mgmt_role_delete(&caller.tenant, &id, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The permissions a role holds directly, by Api identifier and value.
#[utoipa::path(get, path = "/roles/{id}/permissions", tag = "roles", operation_id = "get_role_permission",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$"), PageQuery),
    responses((status = 200, description = "The role's permissions", body = RolePermissionList), Errors),
    security(("bearer" = ["read:roles"])))]
async fn permissions(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    allow(&caller, "read:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let p = Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?;
    let paging = Paging::from_params(&p)?;
    let all = ctx.core.mgmt_role_permissions(&caller.tenant, &id).await?;
    let (items, total) = paging.page().window(all);
    Ok(paging.respond("permissions", items, total))
}

/// Give a role permissions of Apis; each must exist on its Api.
#[utoipa::path(post, path = "/roles/{id}/permissions", tag = "roles", operation_id = "post_role_permission_assignment",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    request_body = RolePermissionsBody,
    responses((status = 201, description = "The role holds the permissions"), Errors),
    security(("bearer" = ["update:roles"])))]
async fn permissions_add(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "update:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let body: RolePermissionsBody = json_body(&body)?;
    ctx.core
        .mgmt_role_permissions_add(&caller.tenant, &id, &body.permissions, &caller.meta)
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

/// Take permissions from a role (those it does not hold are ignored).
#[utoipa::path(delete, path = "/roles/{id}/permissions", tag = "roles", operation_id = "delete_role_permission_assignment",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    request_body = RolePermissionsBody,
    responses((status = 204, description = "The role no longer holds the permissions"), Errors),
    security(("bearer" = ["update:roles"])))]
async fn permissions_remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "update:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let body: RolePermissionsBody = json_body(&body)?;
    ctx.core
        .mgmt_role_permissions_remove(&caller.tenant, &id, &body.permissions, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The roles a role inherits directly, at most 100 (a Clavis extension).
#[utoipa::path(get, path = "/roles/{id}/inherits", tag = "roles", operation_id = "get_role_inherits",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    responses((status = 200, description = "The inherited roles", body = [RoleView]), Errors),
    security(("bearer" = ["read:roles"])))]
async fn inherits(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    allow(&caller, "read:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let roles = ctx.core.mgmt_role_inherits(&caller.tenant, &id).await?;
    let views: Vec<RoleView> = roles.iter().map(RoleView::from).collect();
    Ok(Json(views).into_response())
}

/// Let a role inherit other roles' permissions; a cycle is a 409 naming it.
#[utoipa::path(post, path = "/roles/{id}/inherits", tag = "roles", operation_id = "post_role_inherits",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    request_body = RoleInheritsBody,
    responses((status = 201, description = "The role inherits the roles"), Errors),
    security(("bearer" = ["update:roles"])))]
async fn inherits_add(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "update:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let body: RoleInheritsBody = json_body(&body)?;
    ctx.core
        .mgmt_role_inherits_add(&caller.tenant, &id, &body.roles, &caller.meta)
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

/// Stop a role inheriting roles (those it does not inherit are ignored).
#[utoipa::path(delete, path = "/roles/{id}/inherits", tag = "roles", operation_id = "delete_role_inherits",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    request_body = RoleInheritsBody,
    responses((status = 204, description = "The role no longer inherits the roles"), Errors),
    security(("bearer" = ["update:roles"])))]
async fn inherits_remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "update:roles")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let body: RoleInheritsBody = json_body(&body)?;
    ctx.core
        .mgmt_role_inherits_remove(&caller.tenant, &id, &body.roles, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The users holding a role tenant-wide.
#[utoipa::path(get, path = "/roles/{id}/users", tag = "roles", operation_id = "get_role_user",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$"), PageQuery),
    responses((status = 200, description = "The role's users", body = RoleUserList), Errors),
    security(("bearer" = ["read:role_members"])))]
async fn users(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    allow(&caller, "read:role_members")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let p = Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?;
    let paging = Paging::from_params(&p)?;
    let (users, total) = ctx
        .core
        .mgmt_role_users(&caller.tenant, &id, paging.page(), paging.include_totals)
        .await?;
    let views: Vec<RoleUserView> = users.iter().map(RoleUserView::from).collect();
    Ok(paging.respond("users", views, total))
}

/// Assign a role to users tenant-wide.
#[utoipa::path(post, path = "/roles/{id}/users", tag = "roles", operation_id = "post_role_users",
    params(("id" = String, Path, description = "the role's id (`rol_…`)", pattern = "^rol_[A-Za-z0-9_]{1,60}$")),
    request_body = RoleUsersBody,
    responses((status = 201, description = "The users hold the role"), Errors),
    security(("bearer" = ["create:role_members"])))]
async fn users_assign(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    allow(&caller, "create:role_members")?;
    let id = parse_path("id", &id, RoleId::parse)?;
    let body: RoleUsersBody = json_body(&body)?;
    ctx.core
        .mgmt_role_users_assign(&caller.tenant, &id, &body.users, &caller.meta)
        .await?;
    Ok(StatusCode::CREATED.into_response())
}
