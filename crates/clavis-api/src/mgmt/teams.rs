//! Teams, a Clavis extension nested under organizations:
//! `GET|POST /organizations/{id}/teams`, `GET|PATCH|DELETE …/teams/{team_id}`,
//! `GET|POST|DELETE …/teams/{team_id}/members` and `GET|POST|DELETE …/teams/{team_id}/roles`.
//! Scopes `read:teams`, `create:teams`, `update:teams` (also members and roles),
//! `delete:teams`. An organization's administrator manages its own organization's teams.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::organizations::{OrgMembersBody, OrgRolesBody};
use clavis_core::service::management::teams::{TeamInput, TeamPatch, TeamView};
use clavis_types::{OrgId, TeamId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PageQuery, list_schema};
use super::logs::json_body;
use super::organizations::{OrgMemberList, OrgRoleRefList, org_of, paging};
use super::parse_path;
use super::{Caller, MgmtError};
use crate::ApiContext;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
        .routes(routes!(members, members_add, members_remove))
        .routes(routes!(roles, roles_add, roles_remove))
}

list_schema!(OrgTeamList, "teams", TeamView);

/// The organization and team of the path.
fn target(caller: &Caller, id: &str, team: &str) -> Result<(OrgId, TeamId), MgmtError> {
    let id = org_of(caller, id)?;
    let team = parse_path("team_id", team, TeamId::parse)?;
    Ok((id, team))
}

/// List an organization's teams, by id.
#[utoipa::path(get, path = "/organizations/{id}/teams", tag = "teams", operation_id = "get_organization_teams",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"), PageQuery),
    responses((status = 200, description = "The teams", body = OrgTeamList), Errors),
    security(("bearer" = ["read:teams"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:teams")?;
    let id = org_of(&caller, &id)?;
    let paging = paging(raw.as_deref())?;
    let l = ctx
        .core
        .team_list(&caller.tenant, &id, paging.page())
        .await?;
    let items: Vec<TeamView> = l.items.iter().map(TeamView::from).collect();
    Ok(paging.respond("teams", items, l.total))
}

/// Create a team in an organization.
#[utoipa::path(post, path = "/organizations/{id}/teams", tag = "teams", operation_id = "post_organization_teams",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = TeamInput,
    responses((status = 201, description = "Created", body = TeamView), Errors),
    security(("bearer" = ["create:teams"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:teams")?;
    let id = org_of(&caller, &id)?;
    let input: TeamInput = json_body(&body)?;
    let team = ctx
        .core
        .team_create(&caller.tenant, &id, input, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(TeamView::from(&team))).into_response())
}

/// One team of an organization.
#[utoipa::path(get, path = "/organizations/{id}/teams/{team_id}", tag = "teams", operation_id = "get_organization_teams_by_team_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The team", body = TeamView), Errors),
    security(("bearer" = ["read:teams"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let team = ctx.core.team_get(&caller.tenant, &id, &team).await?;
    Ok(Json(TeamView::from(&team)).into_response())
}

/// Change a team.
#[utoipa::path(patch, path = "/organizations/{id}/teams/{team_id}", tag = "teams", operation_id = "patch_organization_teams_by_team_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = TeamPatch,
    responses((status = 200, description = "The changed team", body = TeamView), Errors),
    security(("bearer" = ["update:teams"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let patch: TeamPatch = json_body(&body)?;
    let team = ctx
        .core
        .team_update(&caller.tenant, &id, &team, patch, &caller.meta)
        .await?;
    Ok(Json(TeamView::from(&team)).into_response())
}

/// Delete a team with its memberships and roles.
#[utoipa::path(delete, path = "/organizations/{id}/teams/{team_id}", tag = "teams", operation_id = "delete_organization_teams_by_team_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:teams"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    ctx.core
        .team_delete(&caller.tenant, &id, &team, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List a team's members, by user id.
#[utoipa::path(get, path = "/organizations/{id}/teams/{team_id}/members", tag = "teams", operation_id = "get_organization_team_members",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        PageQuery),
    responses((status = 200, description = "The team's members", body = OrgMemberList), Errors),
    security(("bearer" = ["read:teams"])))]
async fn members(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let paging = paging(raw.as_deref())?;
    let l = ctx
        .core
        .team_member_list(&caller.tenant, &id, &team, paging.page())
        .await?;
    Ok(paging.respond("members", l.items, l.total))
}

/// Add members of the organization to a team; 409 for a user who is not one.
#[utoipa::path(post, path = "/organizations/{id}/teams/{team_id}/members", tag = "teams", operation_id = "post_organization_team_members",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgMembersBody,
    responses((status = 204, description = "The users are in the team"), Errors),
    security(("bearer" = ["update:teams"])))]
async fn members_add(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let body: OrgMembersBody = json_body(&body)?;
    ctx.core
        .team_members_add(&caller.tenant, &id, &team, body, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Remove members from a team (users not in it are ignored).
#[utoipa::path(delete, path = "/organizations/{id}/teams/{team_id}/members", tag = "teams", operation_id = "delete_organization_team_members",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgMembersBody,
    responses((status = 204, description = "The users are no longer in the team"), Errors),
    security(("bearer" = ["update:teams"])))]
async fn members_remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let body: OrgMembersBody = json_body(&body)?;
    ctx.core
        .team_members_remove(&caller.tenant, &id, &team, body, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The roles a team holds, by name; they apply to its members inside the organization.
#[utoipa::path(get, path = "/organizations/{id}/teams/{team_id}/roles", tag = "teams", operation_id = "get_organization_team_roles",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        PageQuery),
    responses((status = 200, description = "The team's roles", body = OrgRoleRefList), Errors),
    security(("bearer" = ["read:teams"])))]
async fn roles(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let paging = paging(raw.as_deref())?;
    let l = ctx
        .core
        .team_role_list(&caller.tenant, &id, &team, paging.page())
        .await?;
    Ok(paging.respond("roles", l.items, l.total))
}

/// Assign roles to a team.
#[utoipa::path(post, path = "/organizations/{id}/teams/{team_id}/roles", tag = "teams", operation_id = "post_organization_team_roles",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgRolesBody,
    responses((status = 204, description = "The roles are assigned"), Errors),
    security(("bearer" = ["update:teams"])))]
async fn roles_add(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let body: OrgRolesBody = json_body(&body)?;
    super::organizations::org_assignable(&ctx, &caller, &body.roles).await?;
    ctx.core
        .team_roles_change(&caller.tenant, &id, &team, body, true, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Remove roles from a team (roles it does not hold are ignored).
#[utoipa::path(delete, path = "/organizations/{id}/teams/{team_id}/roles", tag = "teams", operation_id = "delete_organization_team_roles",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("team_id" = String, Path, description = "the team's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = OrgRolesBody,
    responses((status = 204, description = "The roles are removed"), Errors),
    security(("bearer" = ["update:teams"])))]
async fn roles_remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, team)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:teams")?;
    let (id, team) = target(&caller, &id, &team)?;
    let body: OrgRolesBody = json_body(&body)?;
    super::organizations::org_assignable(&ctx, &caller, &body.roles).await?;
    ctx.core
        .team_roles_change(&caller.tenant, &id, &team, body, false, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
