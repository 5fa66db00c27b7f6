//! The audit log over HTTP: search, one event, chain verification, checkpoints, export,
//! retention purge, legal holds and erasure of a user's personal data.
//!
//! Scopes: `read:logs` (search, events, verify, checkpoints, export, holds),
//! `create:log_checkpoints`, `delete:logs` (retention purge), `create:legal_holds`,
//! `delete:legal_holds`, `delete:user_audit_data` (erasure).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use clavis_core::model::AuditQuery;
use clavis_core::service::ExportFormat;
use serde::Deserialize;
use serde_json::json;

use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

/// Largest export one request returns; larger ranges are exported with the CLI.
const MAX_EXPORT_BYTES: usize = 64 * 1024 * 1024;

pub(super) fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/t/{tenant}/api/v2/logs", get(search))
        .route("/t/{tenant}/api/v2/logs/verify", get(verify))
        .route("/t/{tenant}/api/v2/logs/export", get(export))
        .route("/t/{tenant}/api/v2/logs/purge", post(purge))
        .route(
            "/t/{tenant}/api/v2/logs/checkpoints",
            get(checkpoints).post(checkpoint_now),
        )
        .route(
            "/t/{tenant}/api/v2/logs/legal-holds",
            get(holds).post(hold_create),
        )
        .route(
            "/t/{tenant}/api/v2/logs/legal-holds/{id}",
            delete(hold_release),
        )
        .route("/t/{tenant}/api/v2/logs/{event_id}", get(one))
        .route(
            "/t/{tenant}/api/v2/users/{user_id}/audit-data",
            delete(erase),
        )
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

/// `GET /logs?from&to&type&user_id&client_id&org_id&ip&email&order&per_page&cursor`
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

/// `GET /logs/{event_id}`
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

/// `GET /logs/verify`: re-walk the chain and report the first broken link.
async fn verify(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    caller.require_tenant_wide()?;
    let _permit = caller.heavy(&ctx)?;
    let report = ctx.core.audit_verify(&caller.tenant.id).await?;
    Ok(no_store(Json(report)))
}

/// `GET /logs/checkpoints`
async fn checkpoints(State(ctx): State<ApiContext>, caller: Caller) -> Result<Response, MgmtError> {
    caller.require("read:logs")?;
    caller.require_tenant_wide()?;
    let list = ctx.core.audit_checkpoints(&caller.tenant, 100).await?;
    Ok(no_store(Json(json!({ "checkpoints": list }))))
}

/// `POST /logs/checkpoints`: sign the current head now.
async fn checkpoint_now(
    State(ctx): State<ApiContext>,
    caller: Caller,
) -> Result<Response, MgmtError> {
    caller.require("create:log_checkpoints")?;
    caller.require_tenant_wide()?;
    let c = ctx.core.audit_checkpoint(&caller.tenant).await?;
    Ok((
        StatusCode::CREATED,
        no_store(Json(
            json!({"seq": c.seq, "hash": c.hash, "kid": c.kid, "jws": c.jws,
            "created_at": c.created_at.to_rfc3339()}),
        )),
    )
        .into_response())
}

/// `GET /logs/export?format=jsonl|csv&…filters`
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

/// `POST /logs/purge`: delete events older than the tenant's retention now.
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

/// `GET /logs/legal-holds?active=true`
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldInput {
    org_id: String,
    reason: String,
}

/// `POST /logs/legal-holds {org_id, reason}`
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

/// `DELETE /logs/legal-holds/{id}`: release a hold.
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

/// `DELETE /users/{user_id}/audit-data`: crypto-shred the user's personal data in the log.
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
            "path `user_id`: expected a user id starting with `usr_`",
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

/// Parse a JSON body, naming what is wrong with it. Control characters other than tab,
/// line feed and carriage return are refused in every string.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("request body: {e}"),
        )
    })?;
    if let Some(path) = control_char_at(&value, String::new()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("request body: `{path}` contains a control character"),
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("request body: {e}"),
        )
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
