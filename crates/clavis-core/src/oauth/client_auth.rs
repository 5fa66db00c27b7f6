//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` and `none` (public
//! clients). The method an application registered is the only one it may use.

use clavis_crypto::{Verifier, peek_jws_header};
use clavis_types::{ClientId, Timestamp};
use std::sync::Arc;

use super::{ErrorCode, OAuthError};
use crate::Core;
use crate::model::{Application, Tenant};

/// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credentials a request presented.
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    Basic { client_id: String, secret: String },
    /// Form fields `client_id` + `client_secret` (`client_secret_post`).
    Post { client_id: String, secret: String },
    /// A signed JWT (`private_key_jwt`).
    Assertion {
        assertion: String,
        client_id: Option<String>,
    },
    /// Only a `client_id` (public clients).
    None { client_id: String },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { client_id, .. } => write!(f, "Basic({client_id}, **redacted**)"),
            Self::Post { client_id, .. } => write!(f, "Post({client_id}, **redacted**)"),
            Self::Assertion { client_id, .. } => write!(f, "Assertion({client_id:?})"),
            Self::None { client_id } => write!(f, "None({client_id})"),
        }
    }
}

impl ClientAuth {
    fn method(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "client_secret_basic",
            Self::Post { .. } => "client_secret_post",
            Self::Assertion { .. } => "private_key_jwt",
            Self::None { .. } => "none",
        }
    }
}

fn bad_client() -> OAuthError {
    // One message for unknown clients and wrong secrets alike.
    OAuthError::invalid_client("client authentication failed")
}

impl Core {
    /// Authenticate the client of a request at `endpoint_url` (the URL the assertion's
    /// `aud` must name). Returns the application. `tx` is only read; the `jti` of a client
    /// assertion is recorded in a write transaction of its own, so callers must not hold a
    /// write transaction here (SQLite has a single writer).
    pub async fn authenticate_client(
        &self,
        tenant: &Tenant,
        issuer: &str,
        endpoint_url: &str,
        auth: &ClientAuth,
    ) -> Result<Arc<Application>, OAuthError> {
        let claimed = match auth {
            ClientAuth::Basic { client_id, .. }
            | ClientAuth::Post { client_id, .. }
            | ClientAuth::None { client_id } => Some(client_id.clone()),
            ClientAuth::Assertion {
                assertion,
                client_id,
            } => match client_id {
                Some(c) => Some(c.clone()),
                None => assertion_subject(assertion),
            },
        };
        let client_id = claimed
            .and_then(|c| ClientId::parse(&c).ok())
            .ok_or_else(bad_client)?;
        let app = self
            .cached_app(tenant, &client_id)
            .await?
            .ok_or_else(bad_client)?;
        if app.token_endpoint_auth_method != auth.method() {
            // The same answer as for an unknown client: nothing about the client leaks.
            return Err(bad_client());
        }
        match auth {
            ClientAuth::Basic { secret, .. } | ClientAuth::Post { secret, .. } => {
                let dk = self.tenant_data_key(tenant).await?;
                let ok = app
                    .client_secret_digest
                    .as_deref()
                    .is_some_and(|d| dk.verify_secret(secret.as_bytes(), d));
                if !ok {
                    return Err(bad_client());
                }
            }
            ClientAuth::Assertion { assertion, .. } => {
                self.verify_client_assertion(tenant, issuer, endpoint_url, &app, assertion)
                    .await?;
            }
            ClientAuth::None { .. } => {
                if app.app_type.is_confidential() {
                    return Err(bad_client());
                }
            }
        }
        Ok(app)
    }

    /// The application (cached for [`CONFIG_CACHE_SECS`](crate::service::CONFIG_CACHE_SECS):
    /// a changed secret or client configuration is seen by every node within that time).
    pub async fn cached_app(
        &self,
        tenant: &Tenant,
        client_id: &ClientId,
    ) -> Result<Option<Arc<Application>>, OAuthError> {
        let key = (tenant.id.clone(), client_id.clone());
        if let Some(hit) = self.caches.apps.get(&key, &*self.clock) {
            return Ok(hit);
        }
        let mut tx = self.store.read().await?;
        let app = tx.app_get(&tenant.id, client_id).await?.map(Arc::new);
        // Only hits are cached: made-up client ids cannot fill (and so flush) the cache.
        if app.is_some() {
            self.caches.apps.put(key, app.clone(), &*self.clock);
        }
        Ok(app)
    }

    async fn verify_client_assertion(
        &self,
        tenant: &Tenant,
        issuer: &str,
        endpoint_url: &str,
        app: &Application,
        assertion: &str,
    ) -> Result<(), OAuthError> {
        let keys = app.client_jwks.as_ref().ok_or_else(bad_client)?;
        let header = peek_jws_header(assertion).map_err(|_| bad_client())?;
        let jwk = match header.get("kid").and_then(|k| k.as_str()) {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }
        .ok_or_else(bad_client)?;
        let claims = Verifier::from_jwk(jwk)
            .and_then(|v| v.verify_jws(assertion))
            .map_err(|_| bad_client())?;
        let now = self.now();
        let s = |k: &str| claims.get(k).and_then(|v| v.as_str());
        let client = app.client_id.as_str();
        let aud_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => a == endpoint_url || a == issuer,
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .any(|x| x.as_str().is_some_and(|x| x == endpoint_url || x == issuer)),
            _ => false,
        };
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64);
        let fresh = exp.is_some_and(|e| e > now.as_secs() && e <= now.as_secs() + 600);
        let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= 256);
        if s("iss") != Some(client) || s("sub") != Some(client) || !aud_ok || !fresh {
            return Err(OAuthError::invalid_client(
                "client assertion must have iss = sub = client_id, aud = this endpoint, and exp within 10 minutes",
            ));
        }
        let jti = jti.ok_or_else(|| OAuthError::invalid_client("client assertion needs a jti"))?;
        let expires = Timestamp::from_millis(exp.unwrap_or(0).saturating_mul(1000));
        // Committed at once, whatever becomes of the request: the caller's transaction is a
        // read-only one, and a `jti` may be used once only (RFC 7523 §3).
        let mut w = self.store.begin().await?;
        let first_use = w
            .assertion_jti_use(&tenant.id, &app.client_id, jti, expires, now)
            .await?;
        w.commit().await?;
        if !first_use {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "client assertion replayed",
            ));
        }
        Ok(())
    }
}

/// The `sub` of an assertion, read without verification only to find the client.
fn assertion_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = clavis_crypto::b64url_decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("sub")?.as_str().map(str::to_owned)
}
