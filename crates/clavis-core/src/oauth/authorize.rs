//! The authorization endpoint's decisions: validate the request (client, exact redirect
//! URI, response type, PKCE, scope, audience, organization), and issue the code once the
//! user is authenticated. Errors before the redirect URI is validated are shown, never
//! redirected.

use clavis_crypto::{b64url, sha256};
use clavis_types::{AppType, ClientId, OrganizationUsage};
use serde_json::{Map, json};

use super::user_grants::{find_org, new_family_id};
use super::{ErrorCode, OAuthError, scopes::OIDC_SCOPES};
use crate::Core;
use crate::model::{
    Api, Application, AuditActor, AuditOrganization, AuthorizationCode, Organization, Session,
    Tenant, User,
};
use crate::service::RequestMeta;

/// Seconds an authorization code stays valid.
pub const CODE_LIFETIME_SECS: i64 = 60;

/// The query parameters of an authorization request.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub organization: Option<String>,
    pub audience: Option<String>,
    pub response_mode: Option<String>,
    pub login_hint: Option<String>,
    /// Preferred languages of the hosted pages, space-separated (OIDC Core §3.1.2.1).
    pub ui_locales: Option<String>,
    /// Request objects (JAR) are not supported; their presence is refused, not ignored.
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// A validated request.
#[derive(Debug, Clone)]
pub struct ValidAuthorize {
    pub app: Application,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub api: Option<Api>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt_none: bool,
    pub prompt_login: bool,
    /// `prompt=consent`: ask the user again for every requested scope.
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    pub org: Option<Organization>,
    pub login_hint: Option<String>,
    /// `ui_locales` as sent (the hosted pages pick the first language they offer).
    pub ui_locales: Option<String>,
}

/// Why an authorization request failed, and where the error goes.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page.
    Page(OAuthError),
    /// Send the error to the validated redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

impl AuthorizeError {
    fn redirect(v: &ValidAuthorize, error: OAuthError) -> Self {
        Self::Redirect {
            redirect_uri: v.redirect_uri.clone(),
            state: v.state.clone(),
            error,
        }
    }
}

impl From<OAuthError> for AuthorizeError {
    fn from(e: OAuthError) -> Self {
        Self::Page(e)
    }
}

/// `redirect_uri` with `params` added to its query (RFC 6749 §4.1.2).
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

impl Core {
    /// Validate an authorization request.
    pub async fn validate_authorize(
        &self,
        tenant: &Tenant,
        p: &AuthorizeParams,
    ) -> Result<ValidAuthorize, AuthorizeError> {
        let page = |d: &str| AuthorizeError::Page(OAuthError::invalid_request(d));
        let client_id = p
            .client_id
            .as_deref()
            .and_then(|c| ClientId::parse(c).ok())
            .ok_or_else(|| page("client_id is missing or malformed"))?;
        let mut tx = self.store.read().await.map_err(OAuthError::from)?;
        let app = tx
            .app_get(&tenant.id, &client_id)
            .await
            .map_err(OAuthError::from)?
            .ok_or_else(|| page("unknown client_id"))?;
        let redirect_uri = p
            .redirect_uri
            .clone()
            .ok_or_else(|| page("redirect_uri is required"))?;
        // Exact string match against the registered callbacks; nothing else is ever redirected to.
        if !app.callbacks.iter().any(|c| c == &redirect_uri) {
            return Err(page("redirect_uri is not registered for this client"));
        }
        let mut v = ValidAuthorize {
            app: app.clone(),
            redirect_uri,
            state: p.state.clone(),
            scopes: Vec::new(),
            api: None,
            nonce: p.nonce.clone(),
            code_challenge: None,
            prompt_none: false,
            prompt_login: false,
            prompt_consent: false,
            max_age: None,
            org: None,
            login_hint: p.login_hint.clone(),
            ui_locales: p
                .ui_locales
                .clone()
                .filter(|l| l.len() <= 256 && !l.chars().any(char::is_control)),
        };
        let bad = |v: &ValidAuthorize, code: ErrorCode, d: &str| {
            AuthorizeError::redirect(v, OAuthError::new(code, d))
        };
        if p.response_type.as_deref() != Some("code") {
            return Err(bad(
                &v,
                ErrorCode::UnsupportedResponseType,
                "response_type must be code",
            ));
        }
        if p.response_mode.as_deref().is_some_and(|m| m != "query") {
            return Err(bad(
                &v,
                ErrorCode::InvalidRequest,
                "response_mode must be query",
            ));
        }
        if app.app_type == AppType::M2m
            || !app.grant_types.iter().any(|g| g == "authorization_code")
        {
            return Err(bad(
                &v,
                ErrorCode::UnauthorizedClient,
                "this client may not use the authorization code flow",
            ));
        }
        match (
            p.code_challenge.as_deref(),
            p.code_challenge_method.as_deref(),
        ) {
            (Some(c), Some("S256"))
                if c.len() == 43
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                v.code_challenge = Some(c.to_owned());
            }
            (Some(_), Some("S256")) => {
                return Err(bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "code_challenge must be a base64url SHA-256 (43 characters)",
                ));
            }
            (Some(_), _) => {
                return Err(bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "code_challenge_method must be S256",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "code_challenge_method without code_challenge",
                ));
            }
            (None, None) if app.pkce_required || !app.app_type.is_confidential() => {
                return Err(bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ));
            }
            (None, None) => {}
        }
        if p.request.is_some() || p.request_uri.is_some() {
            return Err(AuthorizeError::redirect(
                &v,
                OAuthError::new(
                    ErrorCode::RequestNotSupported,
                    "request objects are not supported",
                ),
            ));
        }
        for prompt in p.prompt.as_deref().unwrap_or("").split_whitespace() {
            match prompt {
                "none" => v.prompt_none = true,
                "login" => v.prompt_login = true,
                "consent" => v.prompt_consent = true,
                "select_account" => {}
                other => {
                    return Err(bad(
                        &v,
                        ErrorCode::InvalidRequest,
                        &format!("unsupported prompt value `{other}`"),
                    ));
                }
            }
        }
        let prompts = p.prompt.as_deref().unwrap_or("").split_whitespace().count();
        if v.prompt_none && prompts > 1 {
            return Err(bad(
                &v,
                ErrorCode::InvalidRequest,
                "prompt=none cannot be combined with other values",
            ));
        }
        if let Some(m) = p.max_age.as_deref() {
            v.max_age = Some(m.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
                bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                )
            })?);
        }
        if let Some(aud) = p.audience.as_deref().filter(|a| !a.is_empty()) {
            let api = tx
                .api_get_by_identifier(&tenant.id, aud)
                .await
                .map_err(OAuthError::from)?;
            v.api = Some(api.ok_or_else(|| {
                bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "audience is not the identifier of an Api of this tenant",
                )
            })?);
        }
        let requested = p.scope.as_deref().unwrap_or("");
        for s in requested.split_whitespace() {
            let known = OIDC_SCOPES.contains(&s)
                || v.api
                    .as_ref()
                    .is_some_and(|a| a.permissions.iter().any(|perm| perm.value == s));
            if known && !v.scopes.iter().any(|x| x == s) {
                v.scopes.push(s.to_owned());
            }
        }
        match (
            app.organization_usage,
            p.organization.as_deref().filter(|o| !o.is_empty()),
        ) {
            (OrganizationUsage::Deny, Some(_)) => {
                return Err(bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "this client does not log in to organizations",
                ));
            }
            (OrganizationUsage::Require, None) => {
                return Err(bad(
                    &v,
                    ErrorCode::InvalidRequest,
                    "this client requires the organization parameter",
                ));
            }
            (_, Some(o)) => {
                let org = find_org(&mut *tx, tenant, o)
                    .await
                    .map_err(AuthorizeError::Page)?;
                v.org =
                    Some(org.ok_or_else(|| {
                        bad(&v, ErrorCode::InvalidRequest, "unknown organization")
                    })?);
            }
            (_, None) => {}
        }
        Ok(v)
    }

    /// Whether the session satisfies the request without a new login (`max_age`).
    pub fn session_fresh_enough(&self, v: &ValidAuthorize, session: &Session) -> bool {
        v.max_age
            .is_none_or(|m| self.now().as_secs() - session.auth_time.as_secs() <= m)
    }

    /// The user is authenticated: check organization membership and issue the code.
    /// Returns the URL to redirect the browser to.
    pub async fn issue_code(
        &self,
        tenant: &Tenant,
        issuer: &str,
        v: &ValidAuthorize,
        session: &Session,
        user: &User,
        meta: &RequestMeta,
    ) -> Result<String, AuthorizeError> {
        if let Some(org) = &v.org {
            let mut tx = self.store.read().await.map_err(OAuthError::from)?;
            let member = tx
                .member_orgs(&tenant.id, &user.id)
                .await
                .map_err(OAuthError::from)?
                .contains(&org.id);
            drop(tx);
            if !member {
                self.join_on_login(tenant, org, &user.id, &session.amr, meta)
                    .await
                    .map_err(OAuthError::from)?;
            }
        }
        let mut tx = self.store.begin().await.map_err(OAuthError::from)?;
        if let Some(org) = &v.org {
            let member = tx
                .member_orgs(&tenant.id, &user.id)
                .await
                .map_err(OAuthError::from)?
                .contains(&org.id);
            if !member {
                return Err(AuthorizeError::redirect(
                    v,
                    OAuthError::new(
                        ErrorCode::AccessDenied,
                        "the user is not a member of this organization",
                    ),
                ));
            }
        }
        // With RBAC, an Api scope is granted only if the user holds that permission.
        let mut scopes = v.scopes.clone();
        if let Some(api) = v.api.as_ref().filter(|a| a.rbac_enabled) {
            let held = self
                .token_permissions(
                    &mut *tx,
                    &tenant.id,
                    &user.id,
                    v.org.as_ref().map(|o| &o.id),
                    &api.id,
                )
                .await
                .map_err(OAuthError::from)?;
            scopes.retain(|s| OIDC_SCOPES.contains(&s.as_str()) || held.contains(s));
        }
        let mut raw = [0u8; 32];
        self.rng.fill(&mut raw);
        let code = b64url(&raw);
        let now = self.now();
        tx.code_insert(&AuthorizationCode {
            tenant_id: tenant.id.clone(),
            code_digest: sha256(code.as_bytes()).to_vec(),
            client_id: v.app.client_id.clone(),
            user_id: user.id.clone(),
            session_id: session.id.clone(),
            org_id: v.org.as_ref().map(|o| o.id.clone()),
            redirect_uri: v.redirect_uri.clone(),
            scope: scopes.join(" "),
            audience: v.api.as_ref().map(|a| a.identifier.clone()),
            nonce: v.nonce.clone(),
            code_challenge: v.code_challenge.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            family_id: new_family_id(self),
            created_at: now,
            expires_at: now.plus_secs(CODE_LIFETIME_SECS),
            consumed_at: None,
        })
        .await
        .map_err(OAuthError::from)?;
        let event = self.audit_event(
            &tenant.id,
            "authorization.code_issued",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: user.email.as_ref().map(|e| e.to_string()),
                client_id: Some(v.app.client_id.to_string()),
                ..AuditActor::default()
            },
            v.org.as_ref().map(|o| AuditOrganization {
                org_id: o.id.to_string(),
                name: Some(o.display_name.clone()),
            }),
            Map::from_iter([("scope".to_owned(), json!(scopes.join(" ")))]),
            meta,
        );
        self.audit_in(&mut *tx, event)
            .await
            .map_err(OAuthError::from)?;
        tx.commit().await.map_err(OAuthError::from)?;
        let mut params = vec![("code", code.as_str())];
        if let Some(s) = &v.state {
            params.push(("state", s));
        }
        params.push(("iss", issuer));
        Ok(redirect_with(&v.redirect_uri, &params))
    }
}
