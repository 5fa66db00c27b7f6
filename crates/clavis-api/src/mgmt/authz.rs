//! The authorization decision API: `POST /authorize/check` answers whether a user or a
//! machine-to-machine client may use one permission of one Api (optionally inside an
//! organization, on a resource, with context), and `POST /authorize/check-batch` answers
//! up to [`MAX_BATCH`] such checks in one call, in order.
//!
//! This module only turns JSON into [`CheckRequest`]s and decisions back into JSON; the
//! decision itself is [`clavis_core::Core::authz_check`] — the one implementation that
//! token issuance, the SDK and the policy engine share. It must not decide anything.
//!
//! Scope: `read:authz`. A token issued in an organization's context only asks about that
//! organization. `?explain=true` (or `"explain": true` in a check or a batch) adds which
//! role or assignment granted the permission, or why it was denied; without it the answer
//! carries no `explanation` at all.
//!
//! Input is parsed strictly: unknown fields are refused, and every error names the field
//! (`checks[3].subject.user_id: …`), so a malformed body is a 400, never a 500.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_core::authz::{CheckRequest, Decision, MAX_BATCH, Subject};
use clavis_core::model::JsonMap;
use clavis_types::{ClientId, OrgId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::Errors;
use super::logs::json_body;
use super::{Caller, MgmtError, Params};
use crate::{ApiContext, ApiError};

/// Longest Api identifier (as for Apis themselves).
const MAX_API: usize = 600;
/// Longest permission value (as for Api permissions).
const MAX_PERMISSION: usize = 280;
/// Longest resource name.
const MAX_RESOURCE: usize = 1024;
/// Largest `context` object of one check, serialized.
const MAX_CONTEXT_BYTES: usize = 8 * 1024;

pub(super) fn routes() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(check_batch))
}

/// `?explain=`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ExplainParam {
    /// Add which role or assignment granted the permission, or why it was denied.
    explain: Option<bool>,
}

/// Who is asking: exactly one of the two.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CheckSubject {
    /// A user (`usr_…`).
    user_id: Option<String>,
    /// A machine-to-machine client.
    client_id: Option<String>,
}

/// One authorization check.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CheckBody {
    subject: CheckSubject,
    /// Inside this organization (`org_…`).
    organization: Option<String>,
    /// The Api's identifier (its audience).
    api: String,
    /// One permission of that Api.
    permission: String,
    /// The resource acted on, for policies.
    resource: Option<String>,
    /// Facts for policies (at most 8 KiB of JSON).
    #[schema(value_type = Option<Object>)]
    context: Option<serde_json::Value>,
    /// As `?explain=true`.
    explain: Option<bool>,
}

/// Up to 100 checks, answered in order.
#[derive(ToSchema)]
#[allow(dead_code)]
struct BatchBody {
    checks: Vec<CheckBody>,
    /// As `?explain=true`, for every check.
    explain: Option<bool>,
}

/// A decision: `allowed`, and `explanation` when it was asked for.
#[derive(ToSchema)]
#[allow(dead_code)]
struct DecisionBody {
    allowed: bool,
    #[schema(value_type = Option<Object>)]
    explanation: Option<serde_json::Value>,
}

/// The decisions of a batch, in the order of its checks.
#[derive(ToSchema)]
#[allow(dead_code)]
struct BatchDecisions {
    results: Vec<DecisionBody>,
}

/// One check as sent. Fields are kept as JSON values so that a value of the wrong type
/// is reported with its path rather than serde's position-only message; serde still
/// reports unknown and missing fields by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInput {
    subject: Value,
    #[serde(default)]
    organization: Option<Value>,
    api: Value,
    permission: Value,
    #[serde(default)]
    resource: Option<Value>,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    explain: Option<Value>,
}

/// `subject`: exactly one of the two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectInput {
    #[serde(default)]
    user_id: Option<Value>,
    #[serde(default)]
    client_id: Option<Value>,
}

/// A batch as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchInput {
    checks: Value,
    #[serde(default)]
    explain: Option<Value>,
}

/// May this user or client use this permission of this Api (in this organization, on
/// this resource)?
#[utoipa::path(post, path = "/authorize/check", tag = "authorize", operation_id = "post_authorize_check",
    params(ExplainParam),
    request_body = CheckBody,
    responses((status = 200, description = "The decision", body = DecisionBody), Errors),
    security(("bearer" = ["read:authz"])))]
async fn check(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("read:authz")?;
    let explain = explain_param(raw.as_deref())?;
    let input: CheckInput = json_body(&body)?;
    let req = parse_check(input, "", explain, &caller)?;
    let decision = ctx.core.authz_check(&caller.tenant, &req).await?;
    Ok(no_store(Json(decision_json(&decision, req.explain))))
}

/// Answer up to 100 authorization checks at once, in order.
#[utoipa::path(post, path = "/authorize/check-batch", tag = "authorize", operation_id = "post_authorize_check_batch",
    params(ExplainParam),
    request_body = BatchBody,
    responses((status = 200, description = "The decisions, in the order of the checks", body = BatchDecisions), Errors),
    security(("bearer" = ["read:authz"])))]
async fn check_batch(
    State(ctx): State<ApiContext>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, MgmtError> {
    caller.require("read:authz")?;
    let explain = explain_param(raw.as_deref())?;
    let input: BatchInput = json_body(&body)?;
    let asked = flag(input.explain.as_ref(), "explain")?;
    let explain = explain || asked;
    let Value::Array(items) = input.checks else {
        return Err(bad("checks", "expected an array of checks").into());
    };
    if items.len() > MAX_BATCH {
        return Err(bad(
            "checks",
            format!(
                "at most {MAX_BATCH} checks per request, {} given",
                items.len()
            ),
        )
        .into());
    }
    let mut reqs = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("checks[{i}].");
        if !item.is_object() {
            return Err(bad(&format!("checks[{i}]"), "expected an object").into());
        }
        let input: CheckInput = serde_json::from_value(item)
            .map_err(|e| bad(&format!("checks[{i}]"), e.to_string()))?;
        reqs.push(parse_check(input, &at, explain, &caller)?);
    }
    let decisions = ctx.core.authz_check_batch(&caller.tenant, &reqs).await?;
    if decisions.len() != reqs.len() {
        tracing::error!(
            checks = reqs.len(),
            decisions = decisions.len(),
            "authz_check_batch answered a different number of decisions"
        );
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "an internal error occurred; it has been logged",
        )
        .into());
    }
    let results: Vec<Value> = reqs
        .iter()
        .zip(&decisions)
        .map(|(r, d)| decision_json(d, r.explain))
        .collect();
    Ok(no_store(Json(json!({ "results": results }))))
}

/// `?explain=true|false`; no other query parameter is accepted.
fn explain_param(raw: Option<&str>) -> Result<bool, ApiError> {
    let p = Params::parse(raw, &["explain"], &[])?;
    Ok(p.choice("explain", &["true", "false"], "false")? == "true")
}

/// A decision as answered: `allowed`, and `explanation` only when it was asked for.
fn decision_json(d: &Decision, explain: bool) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or_else(|_| json!({ "allowed": d.allowed }));
    if let Value::Object(m) = &mut v
        && (!explain || m.get("explanation").is_some_and(Value::is_null))
    {
        m.remove("explanation");
    }
    v
}

/// Turn one parsed check into a core request; `at` prefixes field names (`checks[3].`).
fn parse_check(
    input: CheckInput,
    at: &str,
    explain: bool,
    caller: &Caller,
) -> Result<CheckRequest, ApiError> {
    let field = |name: &str| format!("{at}{name}");
    let subject = parse_subject(input.subject, &field("subject"))?;
    let organization = match nonnull(input.organization) {
        None => None,
        Some(v) => {
            let name = field("organization");
            let s = string(&v, &name)?;
            Some(
                OrgId::parse(s)
                    .map_err(|_| bad(&name, "expected an organization id starting with `org_`"))?,
            )
        }
    };
    // An organization's token asks about its own organization only.
    let organization = match (&caller.org_id, organization) {
        (None, o) => o,
        (Some(own), Some(o)) if o.as_str() == own => Some(o),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!(
                    "{}: an organization's token can only ask about its own organization",
                    field("organization")
                ),
            ));
        }
        (Some(own), None) => Some(OrgId::parse(own).map_err(|_| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "the token's organization is not a valid organization id",
            )
        })?),
    };
    let api = text(&input.api, &field("api"), MAX_API)?;
    let permission = text(&input.permission, &field("permission"), MAX_PERMISSION)?;
    if permission.chars().any(char::is_whitespace) {
        return Err(bad(&field("permission"), "one permission, without spaces"));
    }
    let resource = match nonnull(input.resource) {
        None => None,
        Some(v) => Some(text(&v, &field("resource"), MAX_RESOURCE)?),
    };
    let context = match nonnull(input.context) {
        None => JsonMap::new(),
        Some(Value::Object(m)) => {
            if serde_json::to_string(&m).map_or(usize::MAX, |s| s.len()) > MAX_CONTEXT_BYTES {
                return Err(bad(
                    &field("context"),
                    format!("at most {MAX_CONTEXT_BYTES} bytes of JSON"),
                ));
            }
            m
        }
        Some(_) => return Err(bad(&field("context"), "expected a JSON object")),
    };
    let asked = flag(input.explain.as_ref(), &field("explain"))?;
    let explain = explain || asked;
    Ok(CheckRequest {
        subject,
        organization,
        api,
        permission,
        resource,
        context,
        explain,
    })
}

/// `{"user_id": "usr_…"}` or `{"client_id": "…"}`.
fn parse_subject(v: Value, name: &str) -> Result<Subject, ApiError> {
    if !v.is_object() {
        return Err(bad(
            name,
            "expected an object with `user_id` or `client_id`",
        ));
    }
    let s: SubjectInput = serde_json::from_value(v).map_err(|e| bad(name, e.to_string()))?;
    match (nonnull(s.user_id), nonnull(s.client_id)) {
        (Some(u), None) => {
            let n = format!("{name}.user_id");
            let id = string(&u, &n)?;
            UserId::parse(id)
                .map(Subject::User)
                .map_err(|_| bad(&n, "expected a user id starting with `usr_`"))
        }
        (None, Some(c)) => {
            let n = format!("{name}.client_id");
            let id = string(&c, &n)?;
            ClientId::parse(id)
                .map(Subject::Client)
                .map_err(|_| bad(&n, "expected a client id"))
        }
        _ => Err(bad(name, "give exactly one of `user_id` or `client_id`")),
    }
}

/// `None` for an absent or `null` value.
fn nonnull(v: Option<Value>) -> Option<Value> {
    v.filter(|v| !v.is_null())
}

fn string<'a>(v: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    v.as_str().ok_or_else(|| bad(name, "expected a string"))
}

/// A non-empty string of at most `max` characters.
fn text(v: &Value, name: &str, max: usize) -> Result<String, ApiError> {
    let s = string(v, name)?;
    if s.trim().is_empty() {
        return Err(bad(name, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(bad(name, format!("must be at most {max} characters")));
    }
    Ok(s.to_owned())
}

/// An optional boolean.
fn flag(v: Option<&Value>, name: &str) -> Result<bool, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(name, "expected true or false")),
    }
}

fn bad(name: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("request body: `{name}`: {reason}"),
    )
}

fn no_store(r: impl IntoResponse) -> Response {
    let mut resp = r.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
