//! Users of the Management API, shaped after Auth0's: `GET|POST /users`,
//! `GET|PATCH|DELETE /users/{id}`, `GET /users-by-email`, a user's tenant-wide roles
//! (`GET|POST|DELETE /users/{id}/roles`), organizations, effective permissions, and
//! unlinking an identity. Scopes `read:users`, `create:users`, `update:users`,
//! `delete:users` (plus `read:roles`, `create:role_members`, `delete:role_members`,
//! `read:organizations` where named). Every operation spans the tenant: an
//! organization's credential is refused. Passwords are accepted and never returned.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::users::links::{
    UserOrganizationView, UserPermissionView, UserRoleView,
};
use clavis_core::service::management::users::{UserInput, UserPatch, UserView};
use clavis_types::{ConnectionId, UserId};
use serde::Deserialize;
use utoipa::IntoParams;
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
        .routes(routes!(by_email))
        .routes(routes!(roles, roles_add, roles_remove))
        .routes(routes!(organizations))
        .routes(routes!(permissions))
        .routes(routes!(unlink))
}

list_schema!(UserList, "users", UserView);
list_schema!(UserRoleList, "roles", UserRoleView);
list_schema!(UserOrganizationList, "organizations", UserOrganizationView);
list_schema!(UserPermissionList, "permissions", UserPermissionView);

/// Filters of `GET /users`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct UserFilter {
    /// Only the user with this address (exact, case-insensitive).
    email: Option<String>,
}

/// The query of `GET /users-by-email`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ByEmail {
    /// The address to look up (exact, case-insensitive).
    email: String,
}

/// The body of `POST|DELETE /users/{id}/roles`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    /// Role ids (`rol_…`), 1 to 50.
    roles: Vec<String>,
}

/// `id` from the path, as a user id: 400 naming it when malformed.
fn user_id(raw: &str) -> Result<UserId, ApiError> {
    let id = path_id("id", raw)?;
    UserId::parse(&id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "path `id`: expected a user id starting with `usr_`",
        )
    })
}

/// List the tenant's users (oldest first), or the one with `email`.
#[utoipa::path(get, path = "/users", tag = "users", operation_id = "get_users",
    params(PageQuery, UserFilter),
    responses((status = 200, description = "The users", body = UserList), Errors),
    security(("bearer" = ["read:users"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    caller.require_tenant_wide()?;
    let mut known = PAGE_PARAMS.to_vec();
    known.push("email");
    let p = Params::parse(raw.as_deref(), &known, &[])?;
    let paging = Paging::from_params(&p)?;
    let page = ctx
        .core
        .mgmt_user_list(
            &caller.tenant,
            p.text("email"),
            paging.page(),
            paging.include_totals,
        )
        .await?;
    Ok(paging.respond("users", page.users, page.total))
}

/// Look users up by email address (zero or one user).
#[utoipa::path(get, path = "/users-by-email", tag = "users", operation_id = "get_users_by_email",
    params(ByEmail),
    responses((status = 200, description = "The users with that address", body = Vec<UserView>), Errors),
    security(("bearer" = ["read:users"])))]
async fn by_email(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    caller.require_tenant_wide()?;
    let p = Params::parse(raw.as_deref(), &["email"], &[])?;
    let email = p.text("email").ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "query parameter `email`: required",
        )
    })?;
    let users = ctx.core.mgmt_users_by_email(&caller.tenant, email).await?;
    Ok(Json(users).into_response())
}

/// Create a user with an identity on a database connection (the tenant's default one
/// unless `connection` names another) and, if given, a password.
#[utoipa::path(post, path = "/users", tag = "users", operation_id = "post_users",
    request_body = UserInput,
    responses((status = 201, description = "Created", body = UserView), Errors),
    security(("bearer" = ["create:users"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:users")?;
    caller.require_tenant_wide()?;
    let input: UserInput = json_body(&body)?;
    let user = ctx
        .core
        .mgmt_user_create(&caller.tenant, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// One user.
#[utoipa::path(get, path = "/users/{id}", tag = "users", operation_id = "get_users_by_id",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The user", body = UserView), Errors),
    security(("bearer" = ["read:users"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    let user = ctx.core.mgmt_user_get(&caller.tenant, &id).await?;
    Ok(Json(user).into_response())
}

/// Change a user: profile, email, `email_verified`, password, `blocked` (block or
/// unblock), and metadata (merged at the top level; `null` removes a key, `{}` clears).
#[utoipa::path(patch, path = "/users/{id}", tag = "users", operation_id = "patch_users_by_id",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = UserPatch,
    responses((status = 200, description = "The changed user", body = UserView), Errors),
    security(("bearer" = ["update:users"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:users")?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    let patch: UserPatch = json_body(&body)?;
    let user = ctx
        .core
        .mgmt_user_update(&caller.tenant, &id, patch, &caller.meta)
        .await?;
    Ok(Json(user).into_response())
}

/// Delete a user (soft deletion): their sessions, tokens and permissions stop working at
/// once.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", operation_id = "delete_users_by_id",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:users"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:users")?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    ctx.core
        .mgmt_user_delete(&caller.tenant, &id, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The user's tenant-wide roles.
#[utoipa::path(get, path = "/users/{id}/roles", tag = "users", operation_id = "get_user_roles",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$"), PageQuery),
    responses((status = 200, description = "The roles", body = UserRoleList), Errors),
    security(("bearer" = ["read:users", "read:roles"])))]
async fn roles(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    caller.require("read:roles")?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    let paging = Paging::from_params(&Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?)?;
    let all = ctx.core.mgmt_user_roles(&caller.tenant, &id).await?;
    let (items, total) = paging.page().window(all);
    Ok(paging.respond("roles", items, total))
}

/// Assign tenant-wide roles to the user.
#[utoipa::path(post, path = "/users/{id}/roles", tag = "users", operation_id = "post_user_roles",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = RolesBody,
    responses((status = 204, description = "The roles are assigned"), Errors),
    security(("bearer" = ["create:role_members"])))]
async fn roles_add(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    change_roles(ctx, caller, id, body, true).await
}

/// Remove tenant-wide roles from the user.
#[utoipa::path(delete, path = "/users/{id}/roles", tag = "users", operation_id = "delete_user_roles",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = RolesBody,
    responses((status = 204, description = "The roles are removed"), Errors),
    security(("bearer" = ["delete:role_members"])))]
async fn roles_remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    change_roles(ctx, caller, id, body, false).await
}

async fn change_roles(
    ctx: ApiContext,
    caller: Caller,
    id: String,
    body: axum::body::Bytes,
    assign: bool,
) -> Result<Response, MgmtError> {
    caller.require(if assign {
        "create:role_members"
    } else {
        "delete:role_members"
    })?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    let RolesBody { roles } = json_body(&body)?;
    ctx.core
        .mgmt_user_roles_change(&caller.tenant, &id, &roles, assign, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The organizations the user belongs to.
#[utoipa::path(get, path = "/users/{id}/organizations", tag = "users", operation_id = "get_user_organizations",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$"), PageQuery),
    responses((status = 200, description = "The organizations", body = UserOrganizationList), Errors),
    security(("bearer" = ["read:users", "read:organizations"])))]
async fn organizations(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    caller.require("read:organizations")?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    let paging = Paging::from_params(&Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?)?;
    let all = ctx
        .core
        .mgmt_user_organizations(&caller.tenant, &id)
        .await?;
    let (items, total) = paging.page().window(all);
    Ok(paging.respond("organizations", items, total))
}

/// The permissions the user holds tenant-wide through their roles (with inheritance), on
/// every Api of the tenant; empty for a blocked user.
#[utoipa::path(get, path = "/users/{id}/permissions", tag = "users", operation_id = "get_user_permissions",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$"), PageQuery),
    responses((status = 200, description = "The permissions", body = UserPermissionList), Errors),
    security(("bearer" = ["read:users"])))]
async fn permissions(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:users")?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    let paging = Paging::from_params(&Params::parse(raw.as_deref(), PAGE_PARAMS, &[])?)?;
    let all = ctx.core.mgmt_user_permissions(&caller.tenant, &id).await?;
    let (items, total) = paging.page().window(all);
    Ok(paging.respond("permissions", items, total))
}

/// Unlink one of the user's identities. The primary identity and the last identity
/// cannot be unlinked (409).
#[utoipa::path(delete, path = "/users/{id}/identities/{connection_id}/{subject}", tag = "users",
    operation_id = "delete_user_identity_by_user_id",
    params(
        ("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("connection_id" = String, Path, description = "the identity's connection (`con_…`)", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("subject" = String, Path, description = "the identity's subject at the connection", max_length = 255),
    ),
    responses((status = 204, description = "Unlinked"), Errors),
    security(("bearer" = ["update:users"])))]
async fn unlink(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, connection, subject)): Path<(String, String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("update:users")?;
    caller.require_tenant_wide()?;
    let id = user_id(&id)?;
    let connection =
        ConnectionId::parse(&path_id("connection_id", &connection)?).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "path `connection_id`: expected a connection id starting with `con_`",
            )
        })?;
    if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "path `subject`: expected 1-255 characters without control characters",
        )
        .into());
    }
    ctx.core
        .mgmt_user_identity_unlink(&caller.tenant, &id, &connection, &subject, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
