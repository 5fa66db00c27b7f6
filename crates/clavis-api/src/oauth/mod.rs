//! The OpenID Provider's HTTP endpoints under each tenant's issuer `{public_url}/t/{tenant}`.
//! One protocol step per file; each handler parses, calls one core method, maps the result.

mod authorize;
mod endpoints;
mod logout;
mod token;

pub use authorize::{authorize_params, error_redirect};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clavis_core::oauth::OAuthError;
use clavis_core::service::RequestMeta;
use std::net::SocketAddr;

use crate::{ApiContext, TrustedProxies};

pub(crate) fn routes() -> Router<ApiContext> {
    Router::new()
        .route(
            "/t/{tenant}/.well-known/openid-configuration",
            get(endpoints::discovery),
        )
        .route(
            "/t/{tenant}/authorize",
            get(authorize::authorize).post(authorize::authorize_post),
        )
        .route("/t/{tenant}/oauth/token", post(token::token))
        .route("/t/{tenant}/oauth/introspect", post(token::introspect))
        .route("/t/{tenant}/oauth/revoke", post(token::revoke))
        .route(
            "/t/{tenant}/userinfo",
            get(endpoints::userinfo).post(endpoints::userinfo),
        )
        .route(
            "/t/{tenant}/oidc/logout",
            get(logout::start).post(logout::confirm),
        )
}

/// An OAuth error as a JSON response (RFC 6749 §5.2), never cached.
pub(crate) struct OAuthJson {
    error: OAuthError,
    /// An HTTP status other than the error code's own (413 for an oversized body).
    status: Option<StatusCode>,
}

impl OAuthJson {
    pub(crate) fn with_status(error: OAuthError, status: StatusCode) -> Self {
        Self {
            error,
            status: Some(status),
        }
    }
}

impl IntoResponse for OAuthJson {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.error.code.status()).unwrap_or(StatusCode::BAD_REQUEST)
        });
        let body = serde_json::json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description,
        });
        let mut resp = (status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match self.error.code {
                clavis_core::oauth::ErrorCode::InvalidToken => "Bearer error=\"invalid_token\"",
                _ => "Basic realm=\"clavis\"",
            };
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

impl From<OAuthError> for OAuthJson {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            status: None,
        }
    }
}

/// Client address and user agent of a request, for audit events.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(parts)))
    }
}

/// Client address and user agent of a request. The client address is the socket peer's,
/// or, when the peer is one of the trusted reverse proxies (put into the extensions by the
/// middleware), the right-most `X-Forwarded-For` hop that is not one.
pub fn request_meta(parts: &Parts) -> RequestMeta {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| match parts.extensions.get::<TrustedProxies>() {
            Some(trusted) => trusted.client_ip(c.0.ip(), &parts.headers),
            None => c.0.ip(),
        })
        .map(|ip| ip.to_string());
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    RequestMeta {
        ip_address: ip,
        user_agent: ua,
        caller: None,
    }
}

/// Form parameters, refusing any parameter sent twice (RFC 6749 §3.1).
pub(crate) fn single_params(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<std::collections::HashMap<String, String>, OAuthError> {
    use std::collections::hash_map::Entry;
    let mut out = std::collections::HashMap::new();
    for (k, v) in pairs {
        match out.entry(k) {
            Entry::Occupied(seen) => {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{}` is repeated",
                    seen.key()
                )));
            }
            Entry::Vacant(slot) => {
                slot.insert(v);
            }
        }
    }
    Ok(out)
}

/// The value of a named cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Name of the session cookie (scoped by path to the tenant).
pub const SESSION_COOKIE: &str = "clavis_session";

/// The `Set-Cookie` value carrying a new session of tenant `slug` (`HttpOnly`,
/// `SameSite=Lax` so the redirect back from a client keeps it, `Secure` over https).
pub fn session_cookie(secure: bool, slug: &str, value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/t/{slug}/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        clavis_core::oauth::SESSION_ABSOLUTE_SECS,
        if secure { "; Secure" } else { "" }
    ))
    .ok()
}

/// Only a path back into this tenant's authorization endpoint is accepted as `return_to`
/// (the hosted pages return there after a login, signup, verification or consent).
pub fn safe_return_to(tenant: &str, r: &str) -> bool {
    let prefix = format!("/t/{tenant}/authorize?");
    r.starts_with(&prefix)
        && !r.contains('\\')
        && !r.chars().any(|c| c.is_control())
        && r.len() <= 4096
}
