//! Audit log streaming destinations, shaped after Auth0's `log-streams`:
//! `GET|POST {issuer}/api/v2/log-streams`, `GET|PATCH|DELETE …/log-streams/{id}`.
//! Scopes `read:log_streams`, `create:log_streams`, `update:log_streams`,
//! `delete:log_streams`. Secrets are accepted, sealed, and never returned.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clavis_core::service::audit_sinks::{SinkInput, SinkPatch, SinkView};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::Errors;
use super::logs::json_body;
use super::{Caller, MgmtError};
use crate::ApiContext;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
}

/// The body of `GET /log-streams`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct SinkList {
    log_streams: Vec<SinkView>,
}

/// List the tenant's streaming destinations.
#[utoipa::path(get, path = "/log-streams", tag = "log-streams", operation_id = "get_log_streams",
    responses((status = 200, description = "The streams", body = SinkList), Errors),
    security(("bearer" = ["read:log_streams"])))]
async fn list(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("read:log_streams")?;
    caller.require_tenant_wide()?;
    let sinks = ctx.core.audit_sink_list(&caller.tenant).await?;
    let views: Vec<SinkView> = sinks.iter().map(SinkView::from).collect();
    Ok(Json(json!({ "log_streams": views })).into_response())
}

/// One streaming destination.
#[utoipa::path(get, path = "/log-streams/{id}", tag = "log-streams", operation_id = "get_log_stream",
    params(("id" = String, Path, description = "the stream's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The stream", body = SinkView), Errors),
    security(("bearer" = ["read:log_streams"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:log_streams")?;
    caller.require_tenant_wide()?;
    let id = super::logs::path_id("id", &id)?;
    let sink = ctx.core.audit_sink_get(&caller.tenant, &id).await?;
    Ok(Json(SinkView::from(&sink)).into_response())
}

/// Create a streaming destination; delivery starts at once unless `enabled` is false.
#[utoipa::path(post, path = "/log-streams", tag = "log-streams", operation_id = "post_log_streams",
    request_body = SinkInput,
    responses((status = 201, description = "Created", body = SinkView), Errors),
    security(("bearer" = ["create:log_streams"])))]
async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:log_streams")?;
    caller.require_tenant_wide()?;
    let input: SinkInput = json_body(&body)?;
    let sink = ctx
        .core
        .audit_sink_create(&caller.tenant, input, caller.actor.clone(), &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, Json(SinkView::from(&sink))).into_response())
}

/// A patch plus `enabled` (pause / resume).
#[derive(Deserialize, utoipa::ToSchema)]
struct PatchBody {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(flatten)]
    #[schema(value_type = SinkPatch)]
    patch: serde_json::Map<String, serde_json::Value>,
}

/// Change a streaming destination, pause it (`enabled: false`) or resume it.
#[utoipa::path(patch, path = "/log-streams/{id}", tag = "log-streams", operation_id = "patch_log_stream",
    params(("id" = String, Path, description = "the stream's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    request_body = PatchBody,
    responses((status = 200, description = "The changed stream", body = SinkView), Errors),
    security(("bearer" = ["update:log_streams"])))]
async fn update(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("update:log_streams")?;
    caller.require_tenant_wide()?;
    let id = super::logs::path_id("id", &id)?;
    let PatchBody { enabled, patch } = json_body(&body)?;
    let patch: SinkPatch =
        serde_json::from_value(serde_json::Value::Object(patch)).map_err(|e| {
            crate::ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("request body: {e}"),
            )
        })?;
    let (t, actor, meta) = (&caller.tenant, &caller.actor, &caller.meta);
    let mut sink = ctx
        .core
        .audit_sink_update(t, &id, patch, actor.clone(), meta)
        .await?;
    sink = match enabled {
        Some(true) if !sink.enabled => {
            ctx.core
                .audit_sink_resume(t, &id, actor.clone(), meta)
                .await?
        }
        Some(false) if sink.enabled => {
            ctx.core
                .audit_sink_pause(t, &id, actor.clone(), meta)
                .await?
        }
        _ => sink,
    };
    Ok(Json(SinkView::from(&sink)).into_response())
}

/// Delete a streaming destination.
#[utoipa::path(delete, path = "/log-streams/{id}", tag = "log-streams", operation_id = "delete_log_stream",
    params(("id" = String, Path, description = "the stream's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Deleted"), Errors),
    security(("bearer" = ["delete:log_streams"])))]
async fn remove(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:log_streams")?;
    caller.require_tenant_wide()?;
    let id = super::logs::path_id("id", &id)?;
    ctx.core
        .audit_sink_delete(&caller.tenant, &id, caller.actor.clone(), &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
