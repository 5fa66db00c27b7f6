//! The Management API under `{issuer}/api/v2/`: who may call it, and the shared pieces of
//! its handlers (query parameters, errors). Callers present a bearer access token issued by
//! the tenant for the audience `{issuer}/api/v2/` with the scope each endpoint names;
//! only client-credentials tokens of m2m applications are accepted, and their scopes are
//! cut down to the client's current grant on every call. A token issued in an
//! organization's context (`org_id`) would only ever see that organization.
//!
//! An API key (`clv_…`, see `api_keys`) is accepted as a bearer token too: it is looked up
//! by its keyed digest on every request (revocation is immediate on every node), carries
//! its own scopes, and an organization administrator's key acts for its organization only.

mod api_keys;
mod authz;
mod branding;
mod client_grants;
mod clients;
mod connections;
mod custom_domains;
pub(crate) mod doc;
mod domains;
mod emails;
mod logs;
mod organizations;
mod params;
mod reports;
mod resource_servers;
mod roles;
mod signing_keys;
mod streams;
mod teams;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clavis_core::model::{AuditActor, Tenant};
use clavis_core::service::RequestMeta;
use clavis_core::service::management::api_keys::API_KEY_PREFIX;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use crate::{ApiContext, ApiError};

pub(crate) use params::Params;

/// Where every tenant's Management API is mounted.
const PREFIX: &str = "/t/{tenant}/api/v2";

/// Every operation described in the spec, with paths relative to `{issuer}/api/v2`.
fn documented() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(streams::routes())
        .merge(api_keys::routes())
        .merge(client_grants::routes())
        .merge(clients::routes())
        .merge(connections::routes())
        .merge(organizations::routes())
        .merge(resource_servers::routes())
        .merge(roles::routes())
        .merge(signing_keys::routes())
        .merge(teams::routes())
        .merge(users::routes())
        .merge(logs::routes())
        .merge(reports::routes())
        .merge(authz::routes())
        .merge(branding::routes())
        .merge(emails::routes())
        .merge(domains::routes())
        .merge(custom_domains::routes())
}

pub(crate) fn routes() -> Router<ApiContext> {
    let (documented, spec) = documented().split_for_parts();
    let rules = Arc::new(doc::QueryRules::from_spec(&spec));
    let documented = documented
        .route_layer(axum::middleware::from_fn_with_state(
            rules,
            doc::strict_query,
        ))
        .route_layer(axum::middleware::map_response(json_too_large));
    Router::new()
        .nest(PREFIX, documented)
        .route("/t/{tenant}/api/v2/openapi.json", get(serve_openapi))
}

/// A body over the limit is refused by the extractor before the handler runs, with a
/// plain-text 413; answer it in the documented JSON error shape like every other error.
async fn json_too_large(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!(
                "the request body is larger than allowed ({} KiB)",
                crate::MAX_BODY_BYTES / 1024
            ),
        )
        .into_response();
    }
    resp
}

/// The OpenAPI 3.1 description of the Management API; `server` is the tenant's
/// `{issuer}/api/v2` when served, and a `{tenant}` template in the committed copy.
pub fn openapi(server: Option<&str>) -> utoipa::openapi::OpenApi {
    // Built once per process: the operations are fixed at compile time.
    static SPEC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    let spec = SPEC
        .get_or_init(|| documented().split_for_parts().1)
        .clone();
    doc::finish(spec, server)
}

/// `GET {issuer}/api/v2/openapi.json`: public, like the discovery document.
async fn serve_openapi(
    axum::extract::State(ctx): axum::extract::State<ApiContext>,
    axum::extract::Path(slug): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let tenant = ctx
        .core
        .tenant_by_slug(&slug)
        .await
        .map_err(|_| ApiError::not_found("tenant"))?;
    let server = format!("{}/api/v2", ctx.issuer(tenant.slug.as_str()));
    Ok(axum::Json(openapi(Some(&server))).into_response())
}

/// A path parameter parsed into its id type; 400 naming the parameter otherwise.
pub(crate) fn parse_path<T>(
    name: &str,
    raw: &str,
    parse: impl Fn(&str) -> Result<T, clavis_types::ParseError>,
) -> Result<T, ApiError> {
    let raw = logs::path_id(name, raw)?;
    parse(&raw).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("path `{name}`: {}", e.reason),
        )
    })
}

/// The audience of the Management API of the tenant at `issuer`.
pub(crate) fn audience(issuer: &str) -> String {
    format!("{issuer}/api/v2/")
}

/// An authenticated Management API caller.
pub(crate) struct Caller {
    pub tenant: Arc<Tenant>,
    pub scopes: Vec<String>,
    /// Set when the token was issued in an organization's context.
    pub org_id: Option<String>,
    /// When the credential stops working, for an expiring API key (what it makes or
    /// changes cannot outlive it).
    pub not_after: Option<clavis_types::Timestamp>,
    pub actor: AuditActor,
    pub meta: RequestMeta,
}

impl Caller {
    /// 403 `insufficient_scope` unless the token carries `scope`.
    pub fn require(&self, scope: &'static str) -> Result<(), MgmtError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(MgmtError::InsufficientScope(scope))
        }
    }

    /// A permit for a request that walks a whole chain; 503 with `Retry-After` when the
    /// node already runs [`crate::HEAVY_REQUESTS`] of them.
    pub fn heavy<'a>(
        &self,
        ctx: &'a crate::Context,
    ) -> Result<tokio::sync::SemaphorePermit<'a>, MgmtError> {
        ctx.heavy.try_acquire().map_err(|_| MgmtError::Busy)
    }

    /// 403 unless the caller may act on organization `org`: a tenant-wide caller may act
    /// on any; an organization's token or API key only on its own.
    pub fn require_org(&self, org: &str) -> Result<(), MgmtError> {
        match &self.org_id {
            Some(own) if own != org => Err(MgmtError::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "this credential acts for another organization",
            ))),
            _ => Ok(()),
        }
    }

    /// 403 unless the caller acts for the whole tenant (not one organization).
    pub fn require_tenant_wide(&self) -> Result<(), MgmtError> {
        match self.org_id {
            None => Ok(()),
            Some(_) => Err(MgmtError::Api(ApiError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "this operation spans the whole tenant; an organization's token cannot use it",
            ))),
        }
    }
}

/// Errors of the Management API: bearer-token failures carry their `WWW-Authenticate`
/// challenge (RFC 6750 §3); everything else is an [`ApiError`].
pub(crate) enum MgmtError {
    InvalidToken(&'static str),
    InsufficientScope(&'static str),
    /// Too many chain-walking requests at once on this node.
    Busy,
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for MgmtError {
    fn from(e: E) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for MgmtError {
    fn into_response(self) -> Response {
        match self {
            Self::InvalidToken(why) => {
                let mut r =
                    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", why).into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                r
            }
            Self::InsufficientScope(scope) => {
                let mut r = ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!("this operation requires the `{scope}` scope"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
                )) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            Self::Busy => {
                let mut r = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "too many audit verifications, exports or reports are running; retry shortly",
                )
                .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
            Self::Api(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<ApiContext> for Caller {
    type Rejection = MgmtError;

    async fn from_request_parts(
        parts: &mut Parts,
        ctx: &ApiContext,
    ) -> Result<Self, Self::Rejection> {
        // Nested routers see the path below their prefix; the tenant is in the original.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.0.path().to_owned());
        let slug = path
            .strip_prefix("/t/")
            .and_then(|p| p.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned())
            .ok_or(MgmtError::InvalidToken(
                "a bearer access token for the Management API is required",
            ))?;
        let tenant = ctx
            .core
            .tenant_by_slug(&slug)
            .await
            .map_err(|_| MgmtError::Api(ApiError::not_found("tenant")))?;
        if token.starts_with(API_KEY_PREFIX) {
            return api_key_caller(parts, ctx, tenant, &token).await;
        }
        let issuer = ctx.issuer(tenant.slug.as_str());
        let claims = ctx
            .core
            .verify_access_token(&tenant, &issuer, &token)
            .await
            .map_err(|_| {
                MgmtError::InvalidToken("the access token is invalid, expired or revoked")
            })?;
        let aud = audience(&issuer);
        let for_us = match claims.get("aud") {
            Some(Value::String(a)) => *a == aud,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud.as_str())),
            _ => false,
        };
        if !for_us {
            return Err(MgmtError::InvalidToken(
                "the access token was not issued for the Management API",
            ));
        }
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        // Only machine-to-machine clients, through their client grant, may call the
        // Management API: a user's token for this audience is refused whatever scopes an
        // Api configuration let it carry.
        if text("gty").as_deref() != Some("client-credentials") {
            return Err(MgmtError::InvalidToken(
                "the Management API accepts only client-credentials tokens of an m2m application",
            ));
        }
        let client = text("client_id")
            .and_then(|c| clavis_types::ClientId::parse(&c).ok())
            .ok_or(MgmtError::InvalidToken("the access token names no client"))?;
        // The token's scopes, cut down to what the client is granted now: a deleted
        // application or a narrowed or removed grant takes effect at once.
        let granted = ctx
            .core
            .current_client_grant(&tenant, &client, &aud)
            .await
            .map_err(|_| {
                MgmtError::Api(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the database is unavailable; retry shortly",
                ))
            })?
            .ok_or(MgmtError::InvalidToken(
                "the client of this token is no longer granted access to the Management API",
            ))?;
        let scopes = text("scope")
            .unwrap_or_default()
            .split_whitespace()
            .filter(|s| granted.iter().any(|g| g == s))
            .map(str::to_owned)
            .collect();
        let client_id = text("client_id");
        let sub = text("sub");
        let user_id = sub.filter(|s| Some(s) != client_id.as_ref() && s.starts_with("usr_"));
        let actor = AuditActor {
            user_id,
            client_id,
            ..AuditActor::default()
        };
        let mut meta = crate::oauth::request_meta(parts);
        meta.caller = Some(actor.clone());
        Ok(Caller {
            tenant,
            scopes,
            org_id: text("org_id"),
            not_after: None,
            actor,
            meta,
        })
    }
}

/// A caller presenting an API key (`clv_…`): looked up by its keyed digest on every
/// request, so a revoked key is refused at once on every node. The key's id stands in the
/// audit actor's `client_id` (`akey_…`).
async fn api_key_caller(
    parts: &Parts,
    ctx: &ApiContext,
    tenant: Arc<Tenant>,
    token: &str,
) -> Result<Caller, MgmtError> {
    let key = ctx
        .core
        .api_key_authenticate(&tenant, token)
        .await
        .map_err(|_| {
            MgmtError::Api(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the database is unavailable; retry shortly",
            ))
        })?
        .ok_or(MgmtError::InvalidToken(
            "the API key is invalid, expired or revoked",
        ))?;
    let actor = AuditActor {
        client_id: Some(key.id.to_string()),
        ..AuditActor::default()
    };
    let mut meta = crate::oauth::request_meta(parts);
    meta.caller = Some(actor.clone());
    Ok(Caller {
        tenant,
        scopes: key.scopes,
        org_id: key.org_id.map(|o| o.to_string()),
        not_after: key.expires_at,
        actor,
        meta,
    })
}
