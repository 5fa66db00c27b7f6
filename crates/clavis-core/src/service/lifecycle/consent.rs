//! Consent: what a user agreed a third-party application may do, and the `post-login`
//! extension point that runs before a code is issued.
//!
//! First-party applications never ask. For a third-party application the user is asked
//! about the requested scopes they have not agreed to yet (`openid` alone never asks);
//! `prompt=consent` asks again about everything requested. OpenID Connect scopes are
//! recorded under the audience `""` and an Api's permissions under the Api's identifier,
//! so agreeing to `profile` once covers every later request of that application.

use serde_json::{Map, json};
use std::collections::BTreeSet;

use super::{LoginContext, PostLoginDecision};
use crate::CoreError;
use crate::model::{AuditActor, AuditOrganization, Consent, Tenant, User};
use crate::oauth::ValidAuthorize;
use crate::oauth::scopes::OIDC_SCOPES;
use crate::service::{Core, RequestMeta};

/// Words for a scope on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeWords {
    /// A message catalogue key (OpenID Connect scopes).
    Key(&'static str),
    /// Text to show as is (escaped): an Api permission's description, or its value.
    Text(String),
}

/// The audience a scope's consent is recorded under: `""` for OpenID Connect scopes, else
/// the request's Api identifier.
fn audience_of<'a>(v: &'a ValidAuthorize, scope: &str) -> &'a str {
    if OIDC_SCOPES.contains(&scope) {
        ""
    } else {
        v.api.as_ref().map_or("", |a| a.identifier.as_str())
    }
}

/// The audiences a request's scopes fall under (`""` first).
fn audiences(v: &ValidAuthorize) -> Vec<&str> {
    let set: BTreeSet<&str> = v.scopes.iter().map(|s| audience_of(v, s)).collect();
    set.into_iter().collect()
}

impl Core {
    /// Scopes the user has not yet agreed to for this request, or `None` when no consent
    /// page is needed (first-party application, or everything already agreed). OIDC
    /// scopes count (`openid` alone never needs consent); `prompt=consent` (v.prompt_consent)
    /// asks again for everything requested.
    pub async fn consent_needed(
        &self,
        tenant: &Tenant,
        v: &ValidAuthorize,
        user: &User,
    ) -> Result<Option<Vec<String>>, CoreError> {
        if v.app.is_first_party {
            return Ok(None);
        }
        if v.prompt_consent {
            return Ok(Some(v.scopes.clone()));
        }
        let mut tx = self.store.read().await?;
        let mut granted: BTreeSet<(String, String)> = BTreeSet::new();
        for aud in audiences(v) {
            if let Some(c) = tx
                .consent_get(&tenant.id, &user.id, &v.app.client_id, aud)
                .await?
            {
                granted.extend(c.scopes.into_iter().map(|s| (aud.to_owned(), s)));
            }
        }
        let needed: Vec<String> = v
            .scopes
            .iter()
            .filter(|s| s.as_str() != "openid")
            .filter(|s| !granted.contains(&(audience_of(v, s).to_owned(), (*s).clone())))
            .cloned()
            .collect();
        Ok((!needed.is_empty()).then_some(needed))
    }

    /// Record agreement to the request's scopes (merged with earlier ones); audit
    /// `user.consent.granted`.
    pub async fn grant_consent(
        &self,
        tenant: &Tenant,
        v: &ValidAuthorize,
        user: &User,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        for aud in audiences(v) {
            let requested = v.scopes.iter().filter(|s| audience_of(v, s) == aud);
            let existing = tx
                .consent_get(&tenant.id, &user.id, &v.app.client_id, aud)
                .await?;
            let created_at = existing.as_ref().map_or(now, |c| c.created_at);
            let mut scopes: BTreeSet<String> = existing
                .map(|c| c.scopes)
                .unwrap_or_default()
                .into_iter()
                .collect();
            scopes.extend(requested.cloned());
            tx.consent_upsert(&Consent {
                tenant_id: tenant.id.clone(),
                user_id: user.id.clone(),
                client_id: v.app.client_id.clone(),
                audience: aud.to_owned(),
                scopes: scopes.into_iter().collect(),
                created_at,
                updated_at: now,
            })
            .await?;
        }
        let event = self.audit_event(
            &tenant.id,
            "user.consent.granted",
            AuditActor {
                user_id: Some(user.id.to_string()),
                client_id: Some(v.app.client_id.to_string()),
                ..AuditActor::default()
            },
            v.org.as_ref().map(|o| AuditOrganization {
                org_id: o.id.to_string(),
                name: Some(o.display_name.clone()),
            }),
            Map::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("client_id".to_owned(), json!(v.app.client_id.as_str())),
                ("scope".to_owned(), json!(v.scopes.join(" "))),
                (
                    "audience".to_owned(),
                    json!(v.api.as_ref().map(|a| a.identifier.as_str())),
                ),
            ]),
            meta,
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Run the `post_login` hook for a completed login. A refusal is audited
    /// (`user.login.denied`).
    pub async fn run_post_login(
        &self,
        tenant: &Tenant,
        v: &ValidAuthorize,
        user: &User,
        meta: &RequestMeta,
    ) -> Result<PostLoginDecision, CoreError> {
        let login = LoginContext {
            tenant,
            user,
            application: &v.app,
            organization: v.org.as_ref(),
            scopes: &v.scopes,
            ip_address: meta.ip_address.as_deref(),
        };
        let decision = self.hooks.post_login(&login).await?;
        if let PostLoginDecision::Deny { reason } = &decision {
            let event = self.audit_event(
                &tenant.id,
                "user.login.denied",
                AuditActor {
                    user_id: Some(user.id.to_string()),
                    client_id: Some(v.app.client_id.to_string()),
                    ..AuditActor::default()
                },
                None,
                Map::from_iter([
                    ("user_id".to_owned(), json!(user.id.as_str())),
                    ("reason".to_owned(), json!(reason)),
                    ("hook".to_owned(), json!("post-login")),
                ]),
                meta,
            );
            self.audit_now(event).await?;
        }
        Ok(decision)
    }

    /// Words for a scope, for the consent page: OIDC scopes get message keys
    /// ("scope.openid", "scope.profile", "scope.email", "scope.offline_access"); Api
    /// permissions their description (or their value).
    pub fn describe_scope(v: &ValidAuthorize, scope: &str) -> ScopeWords {
        match scope {
            "openid" => return ScopeWords::Key("scope.openid"),
            "profile" => return ScopeWords::Key("scope.profile"),
            "email" => return ScopeWords::Key("scope.email"),
            "offline_access" => return ScopeWords::Key("scope.offline_access"),
            _ => {}
        }
        let described = v.api.as_ref().and_then(|a| {
            a.permissions
                .iter()
                .find(|p| p.value == scope)
                .map(|p| p.description.trim())
                .filter(|d| !d.is_empty())
        });
        ScopeWords::Text(described.unwrap_or(scope).to_owned())
    }
}
