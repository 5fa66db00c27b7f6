//! The audit log over HTTP: search, one event, chain verification, checkpoints, export,
//! retention purge, legal holds and erasure of a user's personal data.
//!
//! Scopes: `read:logs` (search, events, verify, checkpoints, export, holds),
//! `create:log_checkpoints`, `delete:logs` (retention purge), `create:legal_holds`,
//! `delete:legal_holds`, `delete:user_audit_data` (erasure).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_core::model::AuditQuery;
use clavis_core::service::ExportFormat;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::Errors;
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

/// Largest export one request returns; larger ranges are exported with the CLI.
const MAX_EXPORT_BYTES: usize = 64 * 1024 * 1024;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(verify))
        .routes(routes!(export))
        .routes(routes!(purge))
        .routes(routes!(checkpoints, checkpoint_now))
        .routes(routes!(holds, hold_create))
        .routes(routes!(hold_release))
        .routes(routes!(one))
        .routes(routes!(erase))
}

/// An audit event as the API shows it (`event_id`, `seq`, `timestamp`, `type`, `actor`,
/// `organization`, `context`, …).
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
struct LogEvent(serde_json::Value);

/// A report or record whose fields are described in the operation's summary.
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
struct Record(serde_json::Value);

/// The body of `GET /logs`.
#[derive(Serialize, ToSchema)]
struct LogPage {
    #[schema(value_type = Vec<Object>)]
    logs: Vec<serde_json::Value>,
    /// The cursor of the next page, or null on the last.
    next: Option<String>,
}

/// Filters of `GET /logs` and `GET /logs/export`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct LogFilters {
    /// Events at or after this time (RFC 3339 or `YYYY-MM-DD`).
    from: Option<String>,
    /// Events before this time (RFC 3339 or `YYYY-MM-DD`).
    to: Option<String>,
    /// Event types (repeatable, or comma-separated), e.g. `user.login.failure`.
    r#type: Option<Vec<String>>,
    /// Events whose actor is this user.
    user_id: Option<String>,
    /// Events whose actor is this client.
    client_id: Option<String>,
    /// Events in this organization.
    org_id: Option<String>,
}

/// Search-only parameters of `GET /logs`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct SearchParams {
    /// Events from this IP address.
    ip: Option<String>,
    /// Events about this email address.
    email: Option<String>,
    /// `desc` (newest first, the default) or `asc`; empty means the default.
    #[param(pattern = "^(asc|desc)?$")]
    order: Option<String>,
    /// Events per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
    /// `next` of the previous page.
    cursor: Option<String>,
}

/// The format of `GET /logs/export`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ExportParams {
    /// `jsonl` (the default) or `csv`; empty means the default.
    #[param(pattern = "^(jsonl|csv)?$")]
    format: Option<String>,
}

/// `GET /logs/legal-holds?active=`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct HoldParams {
    /// Only holds not yet released.
    active: Option<bool>,
}

/// The body of `GET /logs/checkpoints`.
#[derive(Serialize, ToSchema)]
struct CheckpointList {
    #[schema(value_type = Vec<Object>)]
    checkpoints: Vec<serde_json::Value>,
}

/// A signed checkpoint of the chain's head.
#[derive(Serialize, ToSchema)]
struct Checkpoint {
    seq: i64,
    hash: String,
    kid: String,
    /// The checkpoint as a compact JWS signed with the tenant's key.
    jws: String,
    created_at: String,
}

/// The body of `GET /logs/legal-holds`.
#[derive(Serialize, ToSchema)]
struct HoldList {
    #[schema(value_type = Vec<Object>)]
    legal_holds: Vec<serde_json::Value>,
}

const FILTERS: &[&str] = &[
    "from",
    "to",
    "type",
    "user_id",
    "client_id",
    "org_id",
    "ip",
    "email",
];

/// Filters shared by search and export; an organization's token is pinned to its own.
fn query_from(p: &Params, caller: &Caller) -> Result<AuditQuery, MgmtError> {
    let mut q = AuditQuery {
        from: p.time("from")?,
        to: p.time("to")?,
        event_types: p.list("type"),
        actor_user_id: p.text("user_id").map(str::to_owned),
        actor_client_id: p.text("client_id").map(str::to_owned),
        org_id: p.text("org_id").map(str::to_owned),
        ..AuditQuery::default()
    };
    if let Some(own) = &caller.org_id {
        if q.org_id.as_ref().is_some_and(|o| o != own) {
            return Err(MgmtError::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "an organization's token can only read that organization's events",
            )));
        }
        q.org_id = Some(own.clone());
    }
    Ok(q)
}

/// Search the audit log, newest first by default, with a cursor for the next page.
#[utoipa::path(get, path = "/logs", tag = "logs", operation_id = "get_logs",
    params(LogFilters, SearchParams),
    responses((status = 200, description = "One page of events and the next page's cursor", body = LogPage), Errors),
    security(("bearer" = ["read:logs"])))]
async fn search(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    let mut known = FILTERS.to_vec();
    known.extend(["order", "per_page", "cursor"]);
    let p = Params::parse(raw.as_deref(), &known, &["type"])?;
    let mut q = query_from(&p, &caller)?;
    q.newest_first = p.choice("order", &["desc", "asc"], "desc")? == "desc";
    let per_page = p.int("per_page", 1, 100)?.unwrap_or(50);
    let cursor = p.text("cursor");
    let page = ctx
        .core
        .audit_search(
            &caller.tenant,
            &q,
            p.text("ip"),
            p.text("email"),
            cursor,
            u32::try_from(per_page).unwrap_or(50),
        )
        .await?;
    Ok(no_store(Json(json!({
        "logs": page.events,
        "next": page.next_cursor,
    }))))
}

/// One audit event.
#[utoipa::path(get, path = "/logs/{event_id}", tag = "logs", operation_id = "get_logs_by_id",
    params(("event_id" = String, Path, description = "the event's id (`evt_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 200, description = "The event", body = LogEvent), Errors),
    security(("bearer" = ["read:logs"])))]
async fn one(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, event_id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    let event_id = path_id("event_id", &event_id)?;
    let view = ctx
        .core
        .audit_event_view(&caller.tenant, &event_id)
        .await?
        .filter(|v| match &caller.org_id {
            None => true,
            Some(own) => v.organization.as_ref().is_some_and(|o| &o.org_id == own),
        })
        .ok_or_else(|| ApiError::not_found("log event"))?;
    Ok(no_store(Json(view)))
}

/// Re-walk the tenant's hash chain and report the first broken link, if any.
#[utoipa::path(get, path = "/logs/verify", tag = "logs", operation_id = "get_logs_verify",
    responses((status = 200, description = "The verification report", body = Record), Errors),
    security(("bearer" = ["read:logs"])))]
async fn verify(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    caller.require_tenant_wide()?;
    let _permit = caller.heavy(&ctx)?;
    let report = ctx.core.audit_verify(&caller.tenant.id).await?;
    Ok(no_store(Json(report)))
}

/// The latest signed checkpoints of the chain (at most 100).
#[utoipa::path(get, path = "/logs/checkpoints", tag = "logs", operation_id = "get_log_checkpoints",
    responses((status = 200, description = "The checkpoints, newest first", body = CheckpointList), Errors),
    security(("bearer" = ["read:logs"])))]
async fn checkpoints(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    caller.require_tenant_wide()?;
    let list = ctx.core.audit_checkpoints(&caller.tenant, 100).await?;
    Ok(no_store(Json(json!({ "checkpoints": list }))))
}

/// Sign the chain's current head now.
#[utoipa::path(post, path = "/logs/checkpoints", tag = "logs", operation_id = "post_log_checkpoints",
    responses((status = 201, description = "The new checkpoint", body = Checkpoint), Errors),
    security(("bearer" = ["create:log_checkpoints"])))]
async fn checkpoint_now(
    State(ctx): State<ApiContext>,
    caller: Caller,
) -> Result<Response, MgmtError> {
    caller.require("create:log_checkpoints")?;
    caller.require_tenant_wide()?;
    let c = ctx.core.audit_checkpoint(&caller.tenant).await?;
    Ok((
        StatusCode::CREATED,
        no_store(Json(Checkpoint {
            seq: c.seq,
            hash: c.hash,
            kid: c.kid,
            jws: c.jws,
            created_at: c.created_at.to_rfc3339(),
        })),
    )
        .into_response())
}

/// Export events as JSON lines or CSV (at most 64 MiB; larger ranges with
/// `clavis audit export`).
#[utoipa::path(get, path = "/logs/export", tag = "logs", operation_id = "get_logs_export",
    params(LogFilters, ExportParams),
    responses((status = 200, description = "The events, one per line or row", content(
        (String = "application/x-ndjson"),
        (String = "text/csv"),
    )), Errors),
    security(("bearer" = ["read:logs"])))]
async fn export(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    let mut known = FILTERS.to_vec();
    known.push("format");
    let p = Params::parse(raw.as_deref(), &known, &["type"])?;
    if p.text("ip").is_some() || p.text("email").is_some() {
        return Err(MgmtError::Api(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "query parameter `ip`/`email`: exports filter by indexed fields only; search instead",
        )));
    }
    let q = query_from(&p, &caller)?;
    let _permit = caller.heavy(&ctx)?;
    let (format, mime, ext) = match p.choice("format", &["jsonl", "csv"], "jsonl")? {
        "csv" => (ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        _ => (ExportFormat::Jsonl, "application/x-ndjson", "jsonl"),
    };
    let mut out = Capped::default();
    ctx.core
        .audit_export(&caller.tenant, &q, format, &mut out)
        .await
        .map_err(|e| {
            if out.overflow {
                MgmtError::Api(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "export_too_large",
                    "the export exceeds 64 MiB; narrow the time range or use `clavis audit export`",
                ))
            } else {
                e.into()
            }
        })?;
    let mut resp = out.buf.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-{}.{ext}\"",
        caller.tenant.slug
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A writer that refuses to grow past [`MAX_EXPORT_BYTES`].
#[derive(Default)]
struct Capped {
    buf: Vec<u8>,
    overflow: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_EXPORT_BYTES {
            self.overflow = true;
            return Err(std::io::Error::other("export too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Delete events older than the tenant's retention now (legal holds are respected).
#[utoipa::path(post, path = "/logs/purge", tag = "logs", operation_id = "post_logs_purge",
    responses((status = 200, description = "What the purge did", body = Record), Errors),
    security(("bearer" = ["delete:logs"])))]
async fn purge(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("delete:logs")?;
    caller.require_tenant_wide()?;
    let _permit = caller.heavy(&ctx)?;
    let report = ctx
        .core
        .audit_purge_expired(&caller.tenant, &caller.meta)
        .await?;
    Ok(no_store(Json(report)))
}

/// Legal holds on organizations' events.
#[utoipa::path(get, path = "/logs/legal-holds", tag = "logs", operation_id = "get_legal_holds",
    params(HoldParams),
    responses((status = 200, description = "The holds", body = HoldList), Errors),
    security(("bearer" = ["read:logs"])))]
async fn holds(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    caller.require_tenant_wide()?;
    let p = Params::parse(raw.as_deref(), &["active"], &[])?;
    let active = p.choice("active", &["true", "false"], "false")? == "true";
    let list = ctx.core.audit_holds(&caller.tenant, active).await?;
    Ok(no_store(Json(json!({ "legal_holds": list }))))
}

/// A new legal hold.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HoldInput {
    /// The organization whose events must be kept.
    org_id: String,
    /// Why (a case number, …).
    reason: String,
}

/// Place a legal hold on an organization's events: retention purge keeps them.
#[utoipa::path(post, path = "/logs/legal-holds", tag = "logs", operation_id = "post_legal_holds",
    request_body = HoldInput,
    responses((status = 201, description = "The hold", body = Record), Errors),
    security(("bearer" = ["create:legal_holds"])))]
async fn hold_create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("create:legal_holds")?;
    caller.require_tenant_wide()?;
    let input: HoldInput = json_body(&body)?;
    let hold = ctx
        .core
        .audit_hold_create(&caller.tenant, &input.org_id, &input.reason, &caller.meta)
        .await?;
    Ok((StatusCode::CREATED, no_store(Json(hold))).into_response())
}

/// Release a legal hold.
#[utoipa::path(delete, path = "/logs/legal-holds/{id}", tag = "logs", operation_id = "delete_legal_holds_by_id",
    params(("id" = String, Path, description = "the hold's id", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Released"), Errors),
    security(("bearer" = ["delete:legal_holds"])))]
async fn hold_release(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:legal_holds")?;
    caller.require_tenant_wide()?;
    let id = path_id("id", &id)?;
    if ctx
        .core
        .audit_hold_release(&caller.tenant, &id, &caller.meta)
        .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("active legal hold").into())
    }
}

/// Erase a user's personal data from the audit log (crypto-shredding): the events stay,
/// their personal fields become unreadable.
#[utoipa::path(delete, path = "/users/{id}/audit-data", tag = "logs", operation_id = "delete_user_audit_data",
    params(("id" = String, Path, description = "the user's id (`usr_…`)", pattern = "^[A-Za-z0-9_]{1,64}$")),
    responses((status = 204, description = "Erased"), Errors),
    security(("bearer" = ["delete:user_audit_data"])))]
async fn erase(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Response, MgmtError> {
    caller.require("delete:user_audit_data")?;
    caller.require_tenant_wide()?;
    if clavis_types::UserId::parse(&user_id).is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "path `id`: expected a user id starting with `usr_`",
        )
        .into());
    }
    ctx.core
        .audit_erase_subject(&caller.tenant, &user_id, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An identifier from the path: letters, digits and `_`, at most 64 characters.
pub(super) fn path_id(name: &str, value: &str) -> Result<String, ApiError> {
    if (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(value.to_owned())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("path `{name}`: expected an identifier (letters, digits, `_`)"),
        ))
    }
}

/// Parse a JSON object body, naming what is wrong with it (with the path of a wrongly
/// typed field). Control characters other than tab, line feed and carriage return are
/// refused in every string.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("request body: {e}"),
        )
    })?;
    // serde would also read a struct from an array of its fields in order; every body of
    // this API is an object.
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "request body: expected a JSON object",
        ));
    }
    if let Some(path) = control_char_at(&value, String::new()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("request body: `{path}` contains a control character"),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let why = e.into_inner();
        let description = if path == "." || path.is_empty() {
            format!("request body: {why}")
        } else {
            format!("request body: `{path}`: {why}")
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    })
}

/// The path of the first string (or key) holding a control character other than
/// tab, line feed or carriage return.
fn control_char_at(v: &serde_json::Value, at: String) -> Option<String> {
    let bad = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    };
    match v {
        serde_json::Value::String(s) => bad(s).then_some(at),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| control_char_at(x, format!("{at}[{i}]"))),
        serde_json::Value::Object(m) => m.iter().find_map(|(k, x)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if bad(k) {
                Some(here)
            } else {
                control_char_at(x, here)
            }
        }),
        _ => None,
    }
}

fn no_store(r: impl IntoResponse) -> Response {
    let mut resp = r.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
