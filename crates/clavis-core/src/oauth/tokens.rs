//! Using issued tokens: verifying Clavis access tokens (algorithm pinned by the key, never
//! the header), userinfo, introspection (RFC 7662) and revocation (RFC 7009).

use clavis_crypto::{peek_jws_header, sha256};
use clavis_types::{Timestamp, UserId};
use serde_json::{Map, Value, json};

use super::client_auth::ClientAuth;
use super::grants::Endpoint;
use super::{ErrorCode, OAuthError, scopes};
use crate::Core;
use crate::model::{AuditActor, Tenant};
use crate::service::RequestMeta;

impl Core {
    /// Verify an access token issued by this tenant: known `kid`, the key's own algorithm,
    /// `typ: at+jwt`, issuer (the request's, the canonical one or one of the tenant's ready
    /// custom domains: [`Core::accepts_issuer`]), expiry, and not revoked. Returns its claims.
    pub async fn verify_access_token(
        &self,
        tenant: &Tenant,
        issuer: &str,
        token: &str,
    ) -> Result<Map<String, Value>, OAuthError> {
        let bad = || OAuthError::invalid_token("the access token is invalid, expired or revoked");
        let header = peek_jws_header(token).map_err(|_| bad())?;
        if header
            .get("typ")
            .and_then(Value::as_str)
            .is_none_or(|t| !t.eq_ignore_ascii_case("at+jwt"))
        {
            return Err(bad());
        }
        let kid = header.get("kid").and_then(Value::as_str).ok_or_else(bad)?;
        let verifiers = self.verifiers(tenant).await?;
        let verifier = verifiers.get(kid).ok_or_else(bad)?;
        let Value::Object(claims) = verifier.verify_jws(token).map_err(|_| bad())? else {
            return Err(bad());
        };
        let now = self.now().as_secs();
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(bad)?;
        let iss = claims.get("iss").and_then(Value::as_str).ok_or_else(bad)?;
        if exp <= now || !self.accepts_issuer(tenant, issuer, iss).await? {
            return Err(bad());
        }
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            let mut tx = self.store.read().await?;
            if let Some(fam) = tx.access_token_family(&tenant.id, jti).await? {
                let revoked = tx
                    .family_get(&tenant.id, &fam)
                    .await?
                    .is_none_or(|f| f.revoked_at.is_some());
                if revoked {
                    return Err(bad());
                }
            }
        }
        Ok(claims)
    }

    /// OIDC userinfo for a bearer access token carrying the `openid` scope.
    pub async fn userinfo(
        &self,
        tenant: &Tenant,
        issuer: &str,
        token: &str,
    ) -> Result<Map<String, Value>, OAuthError> {
        let claims = self.verify_access_token(tenant, issuer, token).await?;
        let scope: Vec<&str> = claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if !scope.contains(&"openid") {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token was not issued with the openid scope",
            ));
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|s| UserId::parse(s).ok())
            .ok_or_else(|| OAuthError::invalid_token("the access token has no user"))?;
        let mut tx = self.store.read().await?;
        let user = tx
            .user_get(&tenant.id, &sub)
            .await?
            .filter(|u| u.deleted_at.is_none() && !u.blocked)
            .ok_or_else(|| OAuthError::invalid_token("the user is blocked or no longer exists"))?;
        let mut out = scopes::user_claims(&user, &scope);
        if let Some(org) = claims.get("org_id") {
            out.insert("org_id".into(), org.clone());
        }
        Ok(out)
    }

    /// RFC 7662 introspection by an authenticated client of this tenant.
    pub async fn introspect(
        &self,
        tenant: &Tenant,
        at: Endpoint<'_>,
        auth: &ClientAuth,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<Value, OAuthError> {
        let _ = meta;
        let client = self
            .authenticate_client(tenant, at.issuer, at.url, auth)
            .await?;
        if !client.app_type.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "only confidential clients may introspect tokens",
            ));
        }
        // Verification opens (and closes) its own read transaction: never nest two.
        let verified = self
            .verify_access_token(tenant, at.issuer, token)
            .await
            .ok();
        let mut tx = self.store.read().await?;
        if let Some(claims) = verified {
            // RFC 7662 §4: only the token's own client, or a client granted on its
            // audience (a resource server), may learn about it.
            let own =
                claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str());
            let mut granted = false;
            if !own {
                let auds: Vec<String> = match claims.get("aud") {
                    Some(Value::String(a)) => vec![a.clone()],
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                for aud in auds {
                    if let Some(api) = tx.api_get_by_identifier(&tenant.id, &aud).await?
                        && tx
                            .client_grant_get(&tenant.id, &client.client_id, &api.id)
                            .await?
                            .is_some()
                    {
                        granted = true;
                        break;
                    }
                }
            }
            // A blocked or deleted user's tokens are no longer active.
            let user_live = match claims
                .get("sub")
                .and_then(Value::as_str)
                .and_then(|s| UserId::parse(s).ok())
            {
                Some(uid) => tx
                    .user_get(&tenant.id, &uid)
                    .await?
                    .is_some_and(|u| !u.blocked && u.deleted_at.is_none()),
                None => true,
            };
            if !(own || granted) || !user_live {
                return Ok(json!({ "active": false }));
            }
            let mut out = Map::new();
            out.insert("active".into(), json!(true));
            out.insert("token_type".into(), json!("Bearer"));
            for k in [
                "scope",
                "client_id",
                "sub",
                "exp",
                "iat",
                "iss",
                "aud",
                "jti",
                "org_id",
                "permissions",
            ] {
                if let Some(v) = claims.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            return Ok(Value::Object(out));
        }
        // A refresh token: only its own client may learn anything about it.
        if let Some(r) = tx
            .refresh_get(&tenant.id, &sha256(token.as_bytes()))
            .await?
            && let Some(f) = tx.family_get(&tenant.id, &r.family_id).await?
        {
            let now = self.now();
            let active = f.client_id == client.client_id
                && f.revoked_at.is_none()
                && r.used_at.is_none()
                && r.idle_expires_at > now
                && f.absolute_expires_at > now;
            if active {
                return Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "client_id": f.client_id.as_str(),
                    "sub": f.user_id.as_str(),
                    "scope": f.scope,
                    "exp": Timestamp::min(r.idle_expires_at, f.absolute_expires_at).as_secs(),
                    "iss": at.issuer,
                }));
            }
        }
        Ok(json!({ "active": false }))
    }

    /// RFC 7009 revocation. Refresh tokens, and access tokens issued from a user grant,
    /// revoke their whole family. Unknown tokens are not an error (§2.2).
    pub async fn revoke(
        &self,
        tenant: &Tenant,
        at: Endpoint<'_>,
        auth: &ClientAuth,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<(), OAuthError> {
        // Authenticate on a read transaction first: client authentication may write (an
        // assertion's jti) in a transaction of its own.
        let client = self
            .authenticate_client(tenant, at.issuer, at.url, auth)
            .await?;
        // Verify before the write transaction opens: never hold two pool connections.
        let verified = self.verify_access_token(tenant, at.issuer, token).await;
        let mut tx = self.store.begin().await?;
        let family = match tx
            .refresh_get(&tenant.id, &sha256(token.as_bytes()))
            .await?
        {
            Some(r) => Some(r.family_id),
            None => match verified {
                Ok(claims) => {
                    let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
                    match tx.access_token_family(&tenant.id, jti).await? {
                        Some(f) => Some(f),
                        None if claims.get("client_id").and_then(Value::as_str)
                            == Some(client.client_id.as_str()) =>
                        {
                            return Err(OAuthError::new(
                                ErrorCode::UnsupportedTokenType,
                                "client-credentials access tokens are self-contained and expire on their own",
                            ));
                        }
                        None => None,
                    }
                }
                Err(_) => None,
            },
        };
        if let Some(fid) = family
            && let Some(f) = tx.family_get(&tenant.id, &fid).await?
            && f.client_id == client.client_id
            && tx
                .family_revoke(&tenant.id, &fid, self.now(), "revoked by the client")
                .await?
        {
            let event = self.audit_event(
                &tenant.id,
                "token.revoked",
                AuditActor {
                    user_id: Some(f.user_id.to_string()),
                    client_id: Some(client.client_id.to_string()),
                    ..AuditActor::default()
                },
                None,
                Map::from_iter([("family_id".to_owned(), json!(fid.as_str()))]),
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Core {
    /// Verify an `id_token_hint` issued by this tenant (expiry is not checked, as OIDC
    /// RP-Initiated Logout allows expired hints). Returns its claims.
    pub async fn verify_id_token_hint(
        &self,
        tenant: &Tenant,
        issuer: &str,
        token: &str,
    ) -> Result<Map<String, Value>, OAuthError> {
        let bad = || {
            OAuthError::invalid_request("id_token_hint is not an ID token issued by this tenant")
        };
        let header = peek_jws_header(token).map_err(|_| bad())?;
        let kid = header.get("kid").and_then(Value::as_str).ok_or_else(bad)?;
        let verifiers = self.verifiers(tenant).await?;
        let Value::Object(claims) = verifiers
            .get(kid)
            .ok_or_else(bad)?
            .verify_jws(token)
            .map_err(|_| bad())?
        else {
            return Err(bad());
        };
        let iss = claims.get("iss").and_then(Value::as_str).ok_or_else(bad)?;
        if claims.get("nonce").is_none() && claims.get("sid").is_none()
            || !self.accepts_issuer(tenant, issuer, iss).await?
        {
            return Err(bad());
        }
        Ok(claims)
    }
}
