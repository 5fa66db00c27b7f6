//! Grants on behalf of a user: authorization code + PKCE, and refresh tokens with rotation
//! and reuse detection. All tokens issued from one code belong to one family; replaying the
//! code or reusing a rotated refresh token revokes the whole family.

use clavis_crypto::{b64url, constant_time_eq, sha256};
use clavis_types::{FamilyId, Slug, Timestamp};
use serde_json::{Map, Value, json};

use super::grants::{TokenRequest, TokenResponse};
use super::mint::{AccessTokenClaims, OrgContext};
use super::{OAuthError, scopes};
use crate::Core;
use crate::model::{
    Application, AuditActor, AuditOrganization, RefreshToken, Tenant, TokenFamily, User,
};
use crate::ports::Tx;
use crate::service::{RequestMeta, Throttle};

impl Core {
    pub(super) async fn exchange_code(
        &self,
        tenant: &Tenant,
        issuer: &str,
        app: &Application,
        req: &TokenRequest,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, OAuthError> {
        let code = req
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 256)
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let now = self.now();
        let signer = self.signer(tenant).await?;
        let mut tx = self.store.begin().await?;
        let Some((stored, first_use)) = tx
            .code_consume(&tenant.id, &sha256(code.as_bytes()), now)
            .await?
        else {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ));
        };
        if stored.client_id != app.client_id {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if !first_use {
            // A replayed code: revoke everything issued from it.
            tx.family_revoke(
                &tenant.id,
                &stored.family_id,
                now,
                "authorization code replayed",
            )
            .await?;
            let event = self.audit_event(
                &tenant.id,
                "token.code_replayed",
                actor(&stored.user_id.to_string(), app),
                None,
                Map::from_iter([("family_id".to_owned(), json!(stored.family_id.as_str()))]),
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
            tx.commit().await?;
            return Err(OAuthError::invalid_grant(
                "the authorization code has already been used; tokens issued from it are revoked",
            ));
        }
        if stored.expires_at <= now {
            return Err(OAuthError::invalid_grant(
                "the authorization code has expired",
            ));
        }
        if req.redirect_uri.as_deref() != Some(stored.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the one of the authorization request",
            ));
        }
        match (&stored.code_challenge, req.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) => {
                let valid_form = (43..=128).contains(&verifier.len())
                    && verifier
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
                let computed = b64url(&sha256(verifier.as_bytes()));
                if !valid_form || !constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                    return Err(OAuthError::invalid_grant(
                        "code_verifier does not match the code_challenge",
                    ));
                }
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier sent, but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        let user = live_user(&mut *tx, tenant, &stored.user_id).await?;
        let family = TokenFamily {
            tenant_id: tenant.id.clone(),
            id: stored.family_id.clone(),
            client_id: app.client_id.clone(),
            user_id: user.id.clone(),
            org_id: stored.org_id.clone(),
            session_id: Some(stored.session_id.clone()),
            scope: stored.scope.clone(),
            audience: stored.audience.clone(),
            auth_time: stored.auth_time,
            amr: stored.amr.clone(),
            created_at: now,
            absolute_expires_at: now.plus_secs(app.refresh.absolute_lifetime),
            revoked_at: None,
            revoked_reason: None,
        };
        tx.family_insert(&family).await?;
        let resp = self
            .issue_for_family(
                &mut *tx,
                &signer,
                tenant,
                issuer,
                app,
                &family,
                &user,
                Issue {
                    nonce: stored.nonce.as_deref(),
                    narrowed_scope: None,
                    new_refresh_token: true,
                },
                meta,
            )
            .await?;
        tx.commit().await?;
        Ok(resp)
    }

    pub(super) async fn refresh(
        &self,
        tenant: &Tenant,
        issuer: &str,
        app: &Application,
        req: &TokenRequest,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, OAuthError> {
        let token = req
            .refresh_token
            .as_deref()
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let digest = sha256(token.as_bytes());
        self.refresh_throttle(tenant, app, &digest).await?;
        let now = self.now();
        let signer = self.signer(tenant).await?;
        let mut tx = self.store.begin().await?;
        let invalid =
            || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        let stored = tx
            .refresh_get(&tenant.id, &digest)
            .await?
            .ok_or_else(invalid)?;
        let family = tx
            .family_get(&tenant.id, &stored.family_id)
            .await?
            .ok_or_else(invalid)?;
        if family.client_id != app.client_id {
            return Err(invalid());
        }
        if family.revoked_at.is_some() {
            return Err(invalid());
        }
        if let Some(org) = req.organization.as_deref() {
            // By id or by slug, as at the authorization endpoint.
            let named = find_org(&mut *tx, tenant, org).await?;
            let same = named.is_some_and(|n| family.org_id.as_ref() == Some(&n.id));
            if !same {
                return Err(OAuthError::invalid_grant(
                    "the refresh token was not issued for this organization",
                ));
            }
        }
        let reused = stored.used_at.is_some()
            || (app.refresh.rotation && !tx.refresh_mark_used(&tenant.id, &digest, now).await?);
        if reused {
            tx.family_revoke(&tenant.id, &family.id, now, "refresh token reused")
                .await?;
            let event = self.audit_event(
                &tenant.id,
                "token.refresh_reuse_detected",
                actor(&family.user_id.to_string(), app),
                family.org_id.as_ref().map(|o| AuditOrganization {
                    org_id: o.to_string(),
                    name: None,
                }),
                Map::from_iter([("family_id".to_owned(), json!(family.id.as_str()))]),
                meta,
            );
            self.audit_in(&mut *tx, event).await?;
            tx.commit().await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; its token family is revoked",
            ));
        }
        if stored.idle_expires_at <= now || family.absolute_expires_at <= now {
            return Err(invalid());
        }
        let scope = match req.scope.as_deref() {
            Some(s) => {
                let granted: Vec<&str> = family.scope.split_whitespace().collect();
                if let Some(bad) = s.split_whitespace().find(|x| !granted.contains(x)) {
                    return Err(OAuthError::new(
                        super::ErrorCode::InvalidScope,
                        format!("scope `{bad}` was not granted"),
                    ));
                }
                Some(s.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            None => None,
        };
        let user = live_user(&mut *tx, tenant, &family.user_id).await?;
        // Without rotation the client keeps its refresh token: no new one is stored.
        let keep = (!app.refresh.rotation).then(|| token.to_owned());
        let issue = Issue {
            nonce: None,
            narrowed_scope: scope,
            new_refresh_token: keep.is_none(),
        };
        let mut resp = self
            .issue_for_family(
                &mut *tx, &signer, tenant, issuer, app, &family, &user, issue, meta,
            )
            .await?;
        if let Some(same) = keep {
            resp.refresh_token = Some(same);
        }
        tx.commit().await?;
        Ok(resp)
    }

    /// Count a refresh grant against `refresh_per_user_per_hour` of its user at this
    /// application (one application cannot use up another's allowance), in its own
    /// committed transaction before the grant's (so refused and failing grants count too).
    /// Tokens that name no live family of this client count against no one.
    async fn refresh_throttle(
        &self,
        tenant: &Tenant,
        app: &Application,
        digest: &[u8],
    ) -> Result<(), OAuthError> {
        let user = {
            let mut tx = self.store.read().await?;
            match tx.refresh_get(&tenant.id, digest).await? {
                Some(stored) => tx
                    .family_get(&tenant.id, &stored.family_id)
                    .await?
                    .filter(|f| f.client_id == app.client_id && f.revoked_at.is_none())
                    .map(|f| f.user_id),
                None => None,
            }
        };
        let Some(user) = user else {
            return Ok(());
        };
        match self.throttle_refresh(tenant, &user, &app.client_id).await? {
            Throttle::Allowed => Ok(()),
            Throttle::Limited { retry_after_secs } => Err(OAuthError::too_many_requests(
                format!(
                    "too many token refreshes for this user at this application; retry after {retry_after_secs} seconds"
                ),
                retry_after_secs,
            )),
        }
    }

    /// Access token, ID token (with `openid`) and refresh token (with `offline_access`)
    /// for a family, recorded so that revoking the family revokes them.
    #[allow(clippy::too_many_arguments)]
    async fn issue_for_family(
        &self,
        tx: &mut dyn Tx,
        signer: &clavis_crypto::Signer,
        tenant: &Tenant,
        issuer: &str,
        app: &Application,
        family: &TokenFamily,
        user: &User,
        issue: Issue<'_>,
        meta: &RequestMeta,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.now();
        let nonce = issue.nonce;
        let mut scope = issue.narrowed_scope.unwrap_or_else(|| family.scope.clone());
        let org = match &family.org_id {
            Some(id) => {
                let org = tx.org_get(&tenant.id, id).await?.ok_or_else(|| {
                    OAuthError::invalid_grant("the organization no longer exists")
                })?;
                if tx
                    .member_orgs(&tenant.id, &user.id)
                    .await?
                    .iter()
                    .all(|o| o != id)
                {
                    return Err(OAuthError::invalid_grant(
                        "the user is no longer a member of the organization",
                    ));
                }
                Some(OrgContext {
                    id: org.id.clone(),
                    name: org.slug.to_string(),
                })
            }
            None => None,
        };
        let userinfo = format!("{issuer}/userinfo");
        let (audience, lifetime, permissions, allow_offline) = match &family.audience {
            Some(aud) => {
                let api = tx
                    .api_get_by_identifier(&tenant.id, aud)
                    .await?
                    .ok_or_else(|| OAuthError::invalid_grant("the Api no longer exists"))?;
                let perms = if api.rbac_enabled {
                    // Re-evaluated at every issuance: a permission removed since the
                    // login leaves the scope of refreshed tokens too.
                    let held = self
                        .token_permissions(
                            tx,
                            &tenant.id,
                            &user.id,
                            family.org_id.as_ref(),
                            &api.id,
                        )
                        .await?;
                    scope = scope
                        .split_whitespace()
                        .filter(|s| {
                            super::scopes::OIDC_SCOPES.contains(s) || held.iter().any(|h| h == s)
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    api.permissions_in_token.then_some(held)
                } else {
                    None
                };
                let mut aud = vec![api.identifier.clone()];
                if scope.split_whitespace().any(|s| s == "openid") {
                    aud.push(userinfo.clone());
                }
                (aud, api.token_lifetime, perms, api.allow_offline_access)
            }
            None => (
                vec![userinfo],
                super::DEFAULT_ACCESS_TOKEN_LIFETIME,
                None,
                true,
            ),
        };
        let scopes: Vec<&str> = scope.split_whitespace().collect();
        let claims = AccessTokenClaims {
            sub: user.id.to_string(),
            client_id: app.client_id.to_string(),
            audience,
            scope: scope.clone(),
            permissions,
            org: org.clone(),
            lifetime_secs: lifetime,
            auth_time: Some(family.auth_time),
            extra: Map::new(),
        };
        let minted = self.mint_access_token(signer, issuer, &claims).await?;
        tx.access_token_record(&tenant.id, &minted.jti, &family.id, minted.expires_at)
            .await?;
        let id_token = if scopes.contains(&"openid") {
            let mut c = scopes::user_claims(user, &scopes);
            c.insert("auth_time".into(), json!(family.auth_time.as_secs()));
            c.insert("amr".into(), json!(family.amr));
            if let Some(sid) = &family.session_id {
                c.insert("sid".into(), json!(sid.as_str()));
            }
            if let Some(n) = nonce {
                c.insert("nonce".into(), json!(n));
            }
            if let Some(o) = &org {
                c.insert("org_id".into(), json!(o.id.as_str()));
                c.insert("org_name".into(), json!(o.name));
            }
            Some(
                self.mint_id_token(
                    signer,
                    issuer,
                    app.client_id.as_str(),
                    app.id_token_lifetime,
                    c,
                )
                .await?,
            )
        } else {
            None
        };
        let refresh_token = if issue.new_refresh_token
            && scopes.contains(&"offline_access")
            && allow_offline
            && app.grant_types.iter().any(|g| g == "refresh_token")
        {
            let mut raw = [0u8; 32];
            self.rng.fill(&mut raw);
            let token = b64url(&raw);
            tx.refresh_insert(&RefreshToken {
                tenant_id: tenant.id.clone(),
                token_digest: sha256(token.as_bytes()).to_vec(),
                family_id: family.id.clone(),
                created_at: now,
                idle_expires_at: Timestamp::min(
                    now.plus_secs(app.refresh.idle_lifetime),
                    family.absolute_expires_at,
                ),
                used_at: None,
            })
            .await?;
            Some(token)
        } else {
            None
        };
        let event = self.audit_event(
            &tenant.id,
            "token.issued",
            actor(&user.id.to_string(), app),
            org.as_ref().map(|o| AuditOrganization {
                org_id: o.id.to_string(),
                name: Some(o.name.clone()),
            }),
            Map::from_iter([
                ("audience".to_owned(), json!(claims.audience)),
                ("family_id".to_owned(), json!(family.id.as_str())),
                ("jti".to_owned(), json!(minted.jti)),
                (
                    "refresh_token".to_owned(),
                    Value::Bool(refresh_token.is_some()),
                ),
            ]),
            meta,
        );
        self.audit_in(tx, event).await?;
        Ok(TokenResponse {
            access_token: minted.token,
            token_type: "Bearer",
            expires_in: lifetime,
            refresh_token,
            id_token,
            scope,
        })
    }
}

fn actor(user_id: &str, app: &Application) -> AuditActor {
    AuditActor {
        user_id: Some(user_id.to_owned()),
        client_id: Some(app.client_id.to_string()),
        ..AuditActor::default()
    }
}

/// What `issue_for_family` issues besides the access token.
struct Issue<'a> {
    nonce: Option<&'a str>,
    narrowed_scope: Option<String>,
    new_refresh_token: bool,
}

/// The user, if it still exists, is not deleted and not blocked.
async fn live_user(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    id: &clavis_types::UserId,
) -> Result<User, OAuthError> {
    match tx.user_get(&tenant.id, id).await? {
        Some(u) if u.deleted_at.is_none() && !u.blocked => Ok(u),
        _ => Err(OAuthError::invalid_grant(
            "the user is blocked or no longer exists",
        )),
    }
}

/// Resolve an `organization` parameter: an organization id (`org_…`) or its slug.
pub(super) async fn find_org(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    value: &str,
) -> Result<Option<crate::model::Organization>, OAuthError> {
    if let Ok(id) = clavis_types::OrgId::parse(value) {
        return Ok(tx.org_get(&tenant.id, &id).await?);
    }
    match Slug::parse(value) {
        Ok(slug) => Ok(tx.org_get_by_slug(&tenant.id, &slug).await?),
        Err(_) => Ok(None),
    }
}

/// A new family id (decided when the code is issued).
pub(super) fn new_family_id(core: &Core) -> FamilyId {
    FamilyId::generate(core.now(), &*core.rng)
}
