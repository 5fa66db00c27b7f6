//! The OpenID Provider: authorization code + PKCE, refresh-token rotation with reuse
//! detection, client credentials, ID and access tokens, userinfo, introspection,
//! revocation, discovery, password login and sessions. HTTP lives in the API crate; this
//! module decides.

mod authorize;
mod client_auth;
mod discovery;
mod error;
mod grants;
mod login;
mod mint;
mod rbac;
pub mod scopes;
mod tokens;
mod user_grants;

pub use authorize::{
    AuthorizeError, AuthorizeParams, CODE_LIFETIME_SECS, ValidAuthorize, redirect_with,
};
pub use client_auth::{ClientAuth, JWT_BEARER_ASSERTION};
pub use error::{ErrorCode, OAuthError};
pub use grants::{Endpoint, TokenRequest, TokenResponse};
pub use login::{LoginError, SESSION_ABSOLUTE_SECS, SESSION_IDLE_SECS, secs_until};
pub use mint::{AccessTokenClaims, KEY_CACHE_SECS, KeyCache, Minted, OrgContext};

/// Lifetime of access tokens not bound to an Api (audience = userinfo), seed 004.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: i64 = 3600;
