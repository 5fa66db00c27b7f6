//! Compliance reports over HTTP: `GET {issuer}/api/v2/reports/{soc2|hipaa|gdpr}` with
//! `from`, `to` (default: the last 30 days), `org_id` and `format=json|html`. Scope
//! `read:reports`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_core::service::ReportKind;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::Errors;
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(report))
}

/// Parameters of a report.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ReportParams {
    /// Start of the period (RFC 3339 or `YYYY-MM-DD`; default: 30 days before `to`).
    from: Option<String>,
    /// End of the period (RFC 3339 or `YYYY-MM-DD`; default: now).
    to: Option<String>,
    /// Report on one organization only.
    org_id: Option<String>,
    /// `json` (the default) or `html`; empty means the default.
    #[param(pattern = "^(json|html)?$")]
    format: Option<String>,
}

/// A compliance report: sections of figures, series and tables.
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
struct Report(serde_json::Value);

/// A compliance report (SOC 2, HIPAA or GDPR evidence) over a period, as JSON or HTML.
#[utoipa::path(get, path = "/reports/{kind}", tag = "reports", operation_id = "get_reports_by_kind",
    params(
        ("kind" = String, Path, description = "`soc2`, `hipaa` or `gdpr`", pattern = "^[A-Za-z0-9_]{1,64}$"),
        ReportParams,
    ),
    responses((status = 200, description = "The report", content(
        (Report = "application/json"),
        (String = "text/html"),
    )), Errors),
    security(("bearer" = ["read:reports"])))]
async fn report(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((_, kind)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, MgmtError> {
    caller.require("read:reports")?;
    // Reports include tenant-wide sections (chain status, keys, sinks).
    caller.require_tenant_wide()?;
    let kind = match kind.as_str() {
        "soc2" => ReportKind::Soc2,
        "hipaa" => ReportKind::Hipaa,
        "gdpr" => ReportKind::Gdpr,
        _ => return Err(ApiError::not_found("report (expected soc2, hipaa or gdpr)").into()),
    };
    let p = Params::parse(raw.as_deref(), &["from", "to", "org_id", "format"], &[])?;
    let to = p.time("to")?.unwrap_or_else(|| ctx.core.now());
    let from = p.time("from")?.unwrap_or(to.plus_secs(-30 * 86_400));
    if from >= to {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "query parameter `from`: must be before `to`",
        )
        .into());
    }
    let org = match (&caller.org_id, p.text("org_id")) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "an organization's token can only report on that organization",
            )
            .into());
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked.map(str::to_owned),
    };
    let format = p.choice("format", &["json", "html"], "json")?;
    let _permit = caller.heavy(&ctx)?;
    let report = ctx
        .core
        .compliance_report(&caller.tenant, kind, from, to, org.as_deref())
        .await?;
    let mut resp = if format == "html" {
        let mut r = crate::report_html::render_report(&report).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    } else {
        Json(report).into_response()
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
