//! OAuth 2.0 / OIDC errors in the RFC 6749 §5.2 shape. The API layer maps them to a JSON
//! body, to a redirect (authorization endpoint, validated `redirect_uri` only) or to a page.

use crate::{CoreError, StoreError};

/// The registered error codes Clavis emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    /// `prompt=none` but the user must act on a page (e.g. verify their email address).
    InteractionRequired,
    /// `prompt=none` but the user has not agreed to the requested scopes.
    ConsentRequired,
    RequestNotSupported,
    InsufficientScope,
    InvalidToken,
    ServerError,
    TemporarilyUnavailable,
    /// Not registered by RFC 6749: a rate limit (HTTP 429 with `Retry-After`), as Auth0
    /// answers it.
    TooManyRequests,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidToken => "invalid_token",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::TooManyRequests => "too_many_requests",
        }
    }

    /// HTTP status when returned as a JSON body.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::AccessDenied | Self::InsufficientScope => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            Self::TooManyRequests => 429,
            _ => 400,
        }
    }
}

/// An OAuth error with a description a developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Seconds the client should wait (`Retry-After`), for `too_many_requests`.
    pub retry_after_secs: Option<i64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after_secs: None,
        }
    }
    /// A rate limit: retry after `retry_after_secs` (at least 1).
    pub fn too_many_requests(d: impl Into<String>, retry_after_secs: i64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(ErrorCode::TooManyRequests, d)
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }
}

impl From<CoreError> for OAuthError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Store(StoreError::Unavailable(m)) => {
                tracing::error!(error = %m, "database unavailable");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the service is temporarily unavailable; retry shortly",
                )
            }
            CoreError::Invalid { field, reason } => {
                Self::invalid_request(format!("{field}: {reason}"))
            }
            other => {
                tracing::error!(error = %other, "internal error in an OAuth request");
                Self::new(
                    ErrorCode::ServerError,
                    "an internal error occurred; it has been logged",
                )
            }
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        CoreError::from(e).into()
    }
}
