//! The Management API under `{issuer}/api/v2/`: who may call it, and the shared pieces of
//! its handlers (query parameters, errors). Callers present a bearer access token issued by
//! the tenant for the audience `{issuer}/api/v2/` with the scope each endpoint names;
//! a token issued in an organization's context (`org_id`) only ever sees that organization.

mod logs;
mod params;
mod reports;
mod streams;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_core::model::{AuditActor, Tenant};
use clavis_core::service::RequestMeta;
use serde_json::Value;

use crate::{ApiContext, ApiError};

pub(crate) use params::Params;

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new()
        .merge(logs::routes())
        .merge(reports::routes())
        .merge(streams::routes())
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
        let slug = parts
            .uri
            .path()
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
        let scopes = text("scope")
            .unwrap_or_default()
            .split_whitespace()
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
            actor,
            meta,
        })
    }
}
