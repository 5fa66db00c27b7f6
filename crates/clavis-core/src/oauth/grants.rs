//! The token endpoint: grant dispatch and the client-credentials grant.

use clavis_types::{ApiId, AppType, ClientId};
use serde::Serialize;
use serde_json::{Map, json};
use std::sync::Arc;

use super::client_auth::ClientAuth;
use super::mint::AccessTokenClaims;
use super::{ErrorCode, OAuthError};
use crate::Core;
use crate::model::{Api, AuditActor, ClientGrant, Tenant};
#[allow(unused_imports)] // named in doc links
use crate::service::CONFIG_CACHE_SECS;
use crate::service::RequestMeta;

/// The form fields of a token request.
#[derive(Debug, Default, Clone)]
pub struct TokenRequest {
    pub grant_type: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub organization: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// Where a token request arrived.
#[derive(Debug, Clone)]
pub struct Endpoint<'a> {
    pub issuer: &'a str,
    pub url: &'a str,
}

impl Core {
    /// Handle a token request end to end.
    pub async fn token(
        &self,
        tenant: &Tenant,
        at: Endpoint<'_>,
        auth: &ClientAuth,
        req: &TokenRequest,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = req.grant_type.as_str();
        if !matches!(
            grant,
            "client_credentials" | "authorization_code" | "refresh_token"
        ) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            ));
        }
        let app = self
            .authenticate_client(tenant, at.issuer, at.url, auth)
            .await;
        let app = match app {
            Ok(a) => a,
            Err(e) => {
                let event = self.audit_event(
                    &tenant.id,
                    "client.authentication.failure",
                    AuditActor::default(),
                    None,
                    Map::from_iter([("grant_type".to_owned(), json!(grant))]),
                    meta,
                );
                self.audit_now(event).await?;
                return Err(e);
            }
        };
        if !app.grant_types.iter().any(|g| g == grant) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client may not use the {grant} grant"),
            ));
        }
        match grant {
            "client_credentials" => {
                self.client_credentials(tenant, at.issuer, &app, req, meta)
                    .await
            }
            "authorization_code" => self.exchange_code(tenant, at.issuer, &app, req, meta).await,
            _ => self.refresh(tenant, at.issuer, &app, req, meta).await,
        }
    }

    async fn client_credentials(
        &self,
        tenant: &Tenant,
        issuer: &str,
        app: &crate::model::Application,
        req: &TokenRequest,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, OAuthError> {
        if app.app_type != AppType::M2m {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "only machine-to-machine applications may use client_credentials",
            ));
        }
        let audience = req
            .audience
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                OAuthError::invalid_request("audience is required: the identifier of an Api")
            })?;
        let api = self.cached_api(tenant, audience).await?.ok_or_else(|| {
            OAuthError::invalid_request("audience is not the identifier of an Api of this tenant")
        })?;
        let grant = self
            .cached_grant(tenant, &app.client_id, &api.id)
            .await?
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::AccessDenied,
                    "this client has not been granted access to the Api",
                )
            })?;
        let scope: Vec<String> = match req.scope.as_deref().map(str::split_whitespace) {
            Some(requested) => {
                let requested: Vec<String> = requested.map(str::to_owned).collect();
                if let Some(bad) = requested.iter().find(|s| !grant.scope.contains(s)) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("scope `{bad}` has not been granted to this client"),
                    ));
                }
                requested
            }
            None => grant.scope.clone(),
        };
        let claims = AccessTokenClaims {
            sub: format!("{}@clients", app.client_id),
            client_id: app.client_id.to_string(),
            audience: vec![api.identifier.clone()],
            scope: scope.join(" "),
            permissions: (api.rbac_enabled && api.permissions_in_token).then(|| scope.clone()),
            org: None,
            lifetime_secs: api.token_lifetime,
            auth_time: None,
            extra: Map::from_iter([("gty".to_owned(), json!("client-credentials"))]),
        };
        let signer = self.signer(tenant).await?;
        let minted = self.mint_access_token(&signer, issuer, &claims).await?;
        let event = self.audit_event(
            &tenant.id,
            "token.issued",
            AuditActor {
                client_id: Some(app.client_id.to_string()),
                ..AuditActor::default()
            },
            None,
            Map::from_iter([
                ("grant_type".to_owned(), json!("client_credentials")),
                ("audience".to_owned(), json!(api.identifier)),
                ("jti".to_owned(), json!(minted.jti)),
            ]),
            meta,
        );
        self.audit_now(event).await?;
        Ok(TokenResponse {
            access_token: minted.token,
            token_type: "Bearer",
            expires_in: api.token_lifetime,
            refresh_token: None,
            id_token: None,
            scope: claims.scope,
        })
    }

    /// The scopes `client` is granted *now* on the Api `audience` (`None`: no such Api, no
    /// such client, or no grant), seen by every node within [`CONFIG_CACHE_SECS`]. Used to
    /// cut a still-valid access token down to what its client may still do.
    pub async fn current_client_grant(
        &self,
        tenant: &Tenant,
        client: &ClientId,
        audience: &str,
    ) -> Result<Option<Vec<String>>, OAuthError> {
        let Some(app) = self.cached_app(tenant, client).await? else {
            return Ok(None);
        };
        if app.app_type != AppType::M2m {
            return Ok(None);
        }
        let Some(api) = self.cached_api(tenant, audience).await? else {
            return Ok(None);
        };
        Ok(self
            .cached_grant(tenant, client, &api.id)
            .await?
            .map(|g| g.scope.clone()))
    }

    /// The Api with this identifier (cached for [`CONFIG_CACHE_SECS`]).
    async fn cached_api(
        &self,
        tenant: &Tenant,
        identifier: &str,
    ) -> Result<Option<Arc<Api>>, OAuthError> {
        let key = (tenant.id.clone(), identifier.to_owned());
        if let Some(hit) = self.caches.apis.get(&key, &*self.clock) {
            return Ok(hit);
        }
        let mut tx = self.store.read().await?;
        let api = tx
            .api_get_by_identifier(&tenant.id, identifier)
            .await?
            .map(Arc::new);
        if api.is_some() {
            self.caches.apis.put(key, api.clone(), &*self.clock);
        }
        Ok(api)
    }

    /// The client's grant on the Api (cached for [`CONFIG_CACHE_SECS`]).
    async fn cached_grant(
        &self,
        tenant: &Tenant,
        client: &ClientId,
        api: &ApiId,
    ) -> Result<Option<Arc<ClientGrant>>, OAuthError> {
        let key = (tenant.id.clone(), client.clone(), api.clone());
        if let Some(hit) = self.caches.grants.get(&key, &*self.clock) {
            return Ok(hit);
        }
        let mut tx = self.store.read().await?;
        let grant = tx
            .client_grant_get(&tenant.id, client, api)
            .await?
            .map(Arc::new);
        if grant.is_some() {
            self.caches.grants.put(key, grant.clone(), &*self.clock);
        }
        Ok(grant)
    }
}
