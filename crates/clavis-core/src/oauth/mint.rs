//! Minting signed tokens: RFC 9068 access tokens (`typ: at+jwt`) and OIDC ID tokens, with
//! the tenant's active key. Signers and verifiers are cached per tenant for a short time;
//! that is safe because a key is published long before it signs and kept long after.

use clavis_crypto::{JwkSet, Signer, Verifier};
use clavis_types::{KeyState, OrgId, TenantId, Timestamp};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::OAuthError;
use crate::Core;
use crate::model::Tenant;

/// How long a node keeps using a cached signer or key set before re-reading the store.
pub const KEY_CACHE_SECS: i64 = 30;

/// A tenant's verifiers by `kid`.
pub type Verifiers = Arc<HashMap<String, Verifier>>;

#[derive(Default)]
pub struct KeyCache {
    signers: RwLock<HashMap<TenantId, (Arc<Signer>, Timestamp)>>,
    verifiers: RwLock<HashMap<TenantId, (Verifiers, Timestamp)>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

impl KeyCache {
    /// Forget a tenant's cached keys (after a rotation on this node).
    pub fn invalidate(&self, tenant: &TenantId) {
        if let Ok(mut s) = self.signers.write() {
            s.remove(tenant);
        }
        if let Ok(mut v) = self.verifiers.write() {
            v.remove(tenant);
        }
    }
}

/// An organization context of a token.
#[derive(Debug, Clone)]
pub struct OrgContext {
    pub id: OrgId,
    pub name: String,
}

/// What goes into an access token.
#[derive(Debug, Clone)]
pub struct AccessTokenClaims {
    pub sub: String,
    pub client_id: String,
    pub audience: Vec<String>,
    pub scope: String,
    pub permissions: Option<Vec<String>>,
    pub org: Option<OrgContext>,
    pub lifetime_secs: i64,
    pub auth_time: Option<Timestamp>,
    /// Extra claims such as Auth0's `gty`.
    pub extra: Map<String, Value>,
}

/// The JSON payload of an access token, serialised without building a map per request.
#[derive(serde::Serialize)]
struct AtPayload<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Audience<'a>,
    exp: i64,
    iat: i64,
    jti: &'a str,
    client_id: &'a str,
    azp: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_name: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

/// A minted token.
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    pub jti: String,
    pub expires_at: Timestamp,
}

impl Core {
    /// The tenant's active signer (cached for [`KEY_CACHE_SECS`]).
    pub async fn signer(&self, tenant: &Tenant) -> Result<Arc<Signer>, OAuthError> {
        let now = self.now();
        if let Some((s, at)) = self
            .keys
            .signers
            .read()
            .ok()
            .and_then(|m| m.get(&tenant.id).cloned())
            && now.as_millis() - at.as_millis() < KEY_CACHE_SECS * 1000
        {
            return Ok(s);
        }
        let mut tx = self.store.read().await?;
        let signer = Arc::new(self.active_signer(&mut *tx, tenant).await?);
        if let Ok(mut m) = self.keys.signers.write() {
            m.insert(tenant.id.clone(), (signer.clone(), now));
        }
        Ok(signer)
    }

    /// Verifiers for every key of the tenant's JWKS, by `kid` (cached).
    pub async fn verifiers(&self, tenant: &Tenant) -> Result<Verifiers, OAuthError> {
        let now = self.now();
        if let Some((v, at)) = self
            .keys
            .verifiers
            .read()
            .ok()
            .and_then(|m| m.get(&tenant.id).cloned())
            && now.as_millis() - at.as_millis() < KEY_CACHE_SECS * 1000
        {
            return Ok(v);
        }
        let set: JwkSet = self.jwks(tenant).await?;
        let map: HashMap<String, Verifier> = set
            .keys
            .iter()
            .filter_map(|k| Verifier::from_jwk(k).ok().map(|v| (k.kid.clone(), v)))
            .collect();
        let map = Arc::new(map);
        if let Ok(mut m) = self.keys.verifiers.write() {
            m.insert(tenant.id.clone(), (map.clone(), now));
        }
        Ok(map)
    }

    /// The algorithms the tenant signs with now or next (for discovery).
    pub async fn signing_algs(&self, tenant: &Tenant) -> Result<Vec<String>, OAuthError> {
        let mut tx = self.store.read().await?;
        let mut algs: Vec<String> = tx
            .key_list(&tenant.id)
            .await?
            .into_iter()
            .filter(|k| matches!(k.state, KeyState::Active | KeyState::Next))
            .map(|k| k.alg.as_str().to_owned())
            .collect();
        algs.sort();
        algs.dedup();
        Ok(algs)
    }

    fn new_jti(&self) -> String {
        clavis_types::random_base32(&*self.rng, 26)
    }

    /// Sign an RFC 9068 access token with `signer` (fetched with [`Core::signer`] before
    /// any transaction is opened, so no request ever holds two pool connections).
    pub async fn mint_access_token(
        &self,
        signer: &Signer,
        issuer: &str,
        c: &AccessTokenClaims,
    ) -> Result<Minted, OAuthError> {
        let now = self.now();
        let exp = now.plus_secs(c.lifetime_secs);
        let jti = self.new_jti();
        let claims = AtPayload {
            iss: issuer,
            sub: &c.sub,
            aud: match c.audience.as_slice() {
                [one] => Audience::One(one),
                many => Audience::Many(many),
            },
            exp: exp.as_secs(),
            iat: now.as_secs(),
            jti: &jti,
            client_id: &c.client_id,
            azp: &c.client_id,
            scope: &c.scope,
            auth_time: c.auth_time.map(Timestamp::as_secs),
            permissions: c.permissions.as_deref(),
            org_id: c.org.as_ref().map(|o| o.id.as_str()),
            org_name: c.org.as_ref().map(|o| o.name.as_str()),
            extra: &c.extra,
        };
        let token = signer
            .sign_typed("at+jwt", &claims, &*self.rng)
            .map_err(crate::CoreError::from)?;
        Ok(Minted {
            token,
            jti,
            expires_at: exp,
        })
    }

    /// Sign an ID token with the given claims (iss, aud, exp, iat are added here).
    pub async fn mint_id_token(
        &self,
        signer: &Signer,
        issuer: &str,
        client_id: &str,
        lifetime_secs: i64,
        mut claims: Map<String, Value>,
    ) -> Result<String, OAuthError> {
        let now = self.now();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!(client_id));
        claims.insert("azp".into(), json!(client_id));
        claims.insert("exp".into(), json!(now.plus_secs(lifetime_secs).as_secs()));
        claims.insert("iat".into(), json!(now.as_secs()));
        let mut header = Map::new();
        header.insert("typ".into(), json!("JWT"));
        Ok(signer
            .sign_jws(&header, &Value::Object(claims), &*self.rng)
            .map_err(crate::CoreError::from)?)
    }
}
