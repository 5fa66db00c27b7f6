//! `GET|POST /organizations/{id}/invitations` and
//! `GET|DELETE /organizations/{id}/invitations/{invitation_id}`. The invitation link
//! (`{issuer}/login/invitation?invitation={ticket}&organization={org_id}`) is returned
//! once, in the answer to the creation; only a keyed digest of its ticket is stored.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::management::organizations::{InvitationInput, InvitationView};
use clavis_types::InvitationId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::doc::{Errors, PageQuery, list_schema};
use super::super::logs::json_body;
use super::super::parse_path;
use super::super::{Caller, MgmtError};
use super::{org_of, paging};
use crate::ApiContext;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, remove))
}

list_schema!(OrgInvitationList, "invitations", InvitationView);

/// List an organization's invitations, newest first (expired ones included).
#[utoipa::path(get, path = "/organizations/{id}/invitations", tag = "organizations", operation_id = "get_invitations",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"), PageQuery),
    responses((status = 200, description = "The invitations", body = OrgInvitationList), Errors),
    security(("bearer" = ["read:organization_invitations"])))]
async fn list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:organization_invitations")?;
    let id = org_of(&caller, &id)?;
    let paging = paging(raw.as_deref())?;
    let l = ctx
        .core
        .org_invitation_list(&caller.tenant, &id, paging.page())
        .await?;
    let items: Vec<InvitationView> = l.items.iter().map(InvitationView::from).collect();
    Ok(paging.respond("invitations", items, l.total))
}

/// Invite someone to the organization. The answer's `invitation_url` is shown only
/// here; Clavis does not email it (`send_invitation_email` must be false or absent).
#[utoipa::path(post, path = "/organizations/{id}/invitations", tag = "organizations", operation_id = "post_invitations",
    params(("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = InvitationInput,
    responses((status = 201, description = "Created, with its `invitation_url`", body = InvitationView), Errors),
    security(("bearer" = ["create:organization_invitations"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:organization_invitations")?;
    let id = org_of(&caller, &id)?;
    let input: InvitationInput = json_body(&body)?;
    super::org_assignable(&ctx, &caller, &input.roles).await?;
    let created = ctx
        .core
        .org_invitation_create(&caller.tenant, &id, input, &caller.meta)
        .await?;
    let mut view = InvitationView::from(&created.invitation);
    view.invitation_url = Some(format!(
        "{}/login/invitation?invitation={}&organization={}",
        ctx.issuer(caller.tenant.slug.as_str()),
        created.ticket,
        created.invitation.org_id
    ));
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// One invitation of the organization (without its link).
#[utoipa::path(get, path = "/organizations/{id}/invitations/{invitation_id}", tag = "organizations", operation_id = "get_invitations_by_invitation_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("invitation_id" = String, Path, description = "the invitation's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The invitation", body = InvitationView), Errors),
    security(("bearer" = ["read:organization_invitations"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, inv)): Path<(String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:organization_invitations")?;
    let id = org_of(&caller, &id)?;
    let inv = parse_path("invitation_id", &inv, InvitationId::parse)?;
    let i = ctx
        .core
        .org_invitation_get(&caller.tenant, &id, &inv)
        .await?;
    Ok(Json(InvitationView::from(&i)).into_response())
}

/// Delete an invitation; its link stops working.
#[utoipa::path(delete, path = "/organizations/{id}/invitations/{invitation_id}", tag = "organizations", operation_id = "delete_invitations_by_invitation_id",
    params(
        ("id" = String, Path, description = "the organization's id", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ("invitation_id" = String, Path, description = "the invitation's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:organization_invitations"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id, inv)): Path<(String, String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:organization_invitations")?;
    let id = org_of(&caller, &id)?;
    let inv = parse_path("invitation_id", &inv, InvitationId::parse)?;
    ctx.core
        .org_invitation_delete(&caller.tenant, &id, &inv, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
