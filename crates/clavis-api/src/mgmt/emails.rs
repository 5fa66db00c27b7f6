//! The email outbox and email templates: `GET /emails/outbox[?to=]`,
//! `GET /emails/outbox/{id}` (scope `read:email_outbox`) and
//! `GET|PUT|PATCH|DELETE /email-templates/{name}` (`read:email_templates`,
//! `update:email_templates`). Tenant-wide.
//!
//! Messages not yet sent hold one-time links (verification, password reset, unlock):
//! `read:email_outbox` is as sensitive as resetting any user's password, and meant for
//! development set-ups without an SMTP server and for tests.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::lifecycle::EmailKind;
use clavis_core::service::management::email_admin::{
    EmailTemplateInput, EmailTemplatePatch, EmailTemplateView, OutboxEmailView, template_name,
};
use clavis_types::EmailId;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Errors, PAGE_PARAMS, PageQuery, Paging, list_schema};
use super::logs::json_body;
use super::{Caller, MgmtError, Params, parse_path};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(outbox_list))
        .routes(routes!(outbox_one))
        .routes(routes!(
            template_get,
            template_put,
            template_patch,
            template_delete
        ))
}

list_schema!(OutboxList, "emails", OutboxEmailView);

/// Filters of `GET /emails/outbox`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct OutboxFilter {
    /// Only messages to this address (exact, case-insensitive).
    to: Option<String>,
}

/// `name` from the path: one of the emails Clavis sends.
fn template(raw: &str) -> Result<EmailKind, ApiError> {
    template_name(raw).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "path `name`: expected one of: {}",
                EmailKind::ALL.map(EmailKind::as_str).join(", ")
            ),
        )
    })
}

/// The outbox, newest first; optionally only the messages to one address.
#[utoipa::path(get, path = "/emails/outbox", tag = "emails", operation_id = "get_email_outbox",
    params(PageQuery, OutboxFilter),
    responses((status = 200, description = "The messages", body = OutboxList), Errors),
    security(("bearer" = ["read:email_outbox"])))]
async fn outbox_list(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:email_outbox")?;
    caller.require_tenant_wide()?;
    let mut known = PAGE_PARAMS.to_vec();
    known.push("to");
    let p = Params::parse(raw.as_deref(), &known, &[])?;
    let paging = Paging::from_params(&p)?;
    let (list, total) = ctx
        .core
        .mgmt_outbox_list(
            &caller.tenant,
            p.text("to"),
            paging.page(),
            paging.include_totals,
        )
        .await?;
    let views: Vec<OutboxEmailView> = list.iter().map(OutboxEmailView::from).collect();
    Ok(paging.respond("emails", views, total))
}

/// One message of the outbox.
#[utoipa::path(get, path = "/emails/outbox/{id}", tag = "emails", operation_id = "get_email_outbox_by_id",
    params(("id" = String, Path, description = "the message's id (`msg_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The message", body = OutboxEmailView), Errors),
    security(("bearer" = ["read:email_outbox"])))]
async fn outbox_one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:email_outbox")?;
    caller.require_tenant_wide()?;
    let id = parse_path("id", &id, EmailId::parse)?;
    let e = ctx.core.mgmt_outbox_get(&caller.tenant, &id).await?;
    Ok(Json(OutboxEmailView::from(&e)).into_response())
}

/// The tenant's version of one email (404 when the built-in one is used).
#[utoipa::path(get, path = "/email-templates/{name}", tag = "emails", operation_id = "get_email_templates_by_name",
    params(("name" = String, Path, description = "`verify_email`, `reset_email`, `blocked_account`, `password_changed`, `new_device`, `already_registered` or `login_code`", pattern = "^(verify_email|reset_email|blocked_account|password_changed|new_device|already_registered|login_code)$")),
    responses((status = 200, description = "The template", body = EmailTemplateView), Errors),
    security(("bearer" = ["read:email_templates"])))]
async fn template_get(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:email_templates")?;
    caller.require_tenant_wide()?;
    let kind = template(&name)?;
    let t = ctx
        .core
        .mgmt_email_template_get(&caller.tenant, kind)
        .await?;
    Ok(Json(EmailTemplateView::from(&t)).into_response())
}

/// Create or replace the tenant's version of one email. It is rendered once with sample
/// values and refused if it does not render (minijinja; the HTML body is autoescaped).
#[utoipa::path(put, path = "/email-templates/{name}", tag = "emails", operation_id = "put_email_templates_by_name",
    params(("name" = String, Path, description = "`verify_email`, `reset_email`, `blocked_account`, `password_changed`, `new_device`, `already_registered` or `login_code`", pattern = "^(verify_email|reset_email|blocked_account|password_changed|new_device|already_registered|login_code)$")),
    request_body = EmailTemplateInput,
    responses((status = 200, description = "The template", body = EmailTemplateView), Errors),
    security(("bearer" = ["update:email_templates"])))]
async fn template_put(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:email_templates")?;
    caller.require_tenant_wide()?;
    let kind = template(&name)?;
    let input: EmailTemplateInput = json_body(&body)?;
    let t = ctx
        .core
        .mgmt_email_template_put(&caller.tenant, kind, input, &caller.meta)
        .await?;
    Ok(Json(EmailTemplateView::from(&t)).into_response())
}

/// Change parts of the tenant's version of one email (404 when there is none).
#[utoipa::path(patch, path = "/email-templates/{name}", tag = "emails", operation_id = "patch_email_templates_by_name",
    params(("name" = String, Path, description = "`verify_email`, `reset_email`, `blocked_account`, `password_changed`, `new_device`, `already_registered` or `login_code`", pattern = "^(verify_email|reset_email|blocked_account|password_changed|new_device|already_registered|login_code)$")),
    request_body = EmailTemplatePatch,
    responses((status = 200, description = "The template", body = EmailTemplateView), Errors),
    security(("bearer" = ["update:email_templates"])))]
async fn template_patch(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:email_templates")?;
    caller.require_tenant_wide()?;
    let kind = template(&name)?;
    let patch: EmailTemplatePatch = json_body(&body)?;
    let t = ctx
        .core
        .mgmt_email_template_update(&caller.tenant, kind, patch, &caller.meta)
        .await?;
    Ok(Json(EmailTemplateView::from(&t)).into_response())
}

/// Remove the tenant's version of one email: the built-in one is sent again.
#[utoipa::path(delete, path = "/email-templates/{name}", tag = "emails", operation_id = "delete_email_templates_by_name",
    params(("name" = String, Path, description = "`verify_email`, `reset_email`, `blocked_account`, `password_changed`, `new_device`, `already_registered` or `login_code`", pattern = "^(verify_email|reset_email|blocked_account|password_changed|new_device|already_registered|login_code)$")),
    responses((status = 204, description = "Removed"), Errors),
    security(("bearer" = ["update:email_templates"])))]
async fn template_delete(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("update:email_templates")?;
    caller.require_tenant_wide()?;
    let kind = template(&name)?;
    ctx.core
        .mgmt_email_template_delete(&caller.tenant, kind, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
