//! Applications (OAuth clients) through the Management API, shaped after Auth0's
//! `clients`: create, read, list, change and delete them, rotate their secret; and their
//! client grants (`grants`: `client_grant_*`).
//!
//! Rules enforced here:
//! - an application is checked with the rules of declarative configuration
//!   ([`crate::declarative`]: name, redirect and logout URLs, origins, grant types per
//!   type, the authentication method per type, lifetimes) plus the tenant's
//!   `max_token_lifetime`; `private_key_jwt` (which files cannot configure) also needs a
//!   confidential type and a `jwks` of valid public keys;
//! - a confidential application that authenticates with a secret gets one when it is
//!   created (or starts needing one), returned once in that response; only its keyed
//!   digest is stored, and no view or audit event ever holds it;
//! - every change and its audit event (`client.created|updated|deleted`,
//!   `client.secret.rotated`) are written in one transaction;
//! - a change takes effect at once on this node (the application and grant caches are
//!   cleared after the commit) and within
//!   [`CONFIG_CACHE_SECS`](crate::service::CONFIG_CACHE_SECS) on every other node: a
//!   rotated secret or a deleted application stops authenticating by then.

mod grants;
mod input;

pub use grants::{ClientGrantInput, ClientGrantPatch, ClientGrantView};
pub use input::{
    ClientInput, ClientPatch, JwtConfiguration, JwtConfigurationView, RefreshTokenConfig,
    RefreshTokenView,
};

use clavis_crypto::{JwkSet, b64url};
use clavis_types::{AppType, ClientId, OrganizationUsage};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::declarative::{
    DEFAULT_ID_TOKEN_LIFETIME, Secret, default_auth_method, default_grant_types,
};
use crate::model::{Application, AuditActor, JsonMap, Page, RefreshPolicy, Tenant};
use crate::ports::Tx;
use crate::service::RequestMeta;
use crate::{Core, CoreError};

/// An application as the API shows it. The secret appears only in the response that
/// created or rotated it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    /// `spa`, `native`, `web` or `m2m` (Auth0's `regular_web` and `non_interactive` are
    /// accepted on input as `web` and `m2m`).
    pub app_type: String,
    /// Redirect URIs of the authorization-code flow, compared exactly.
    pub callbacks: Vec<String>,
    /// Where the application may ask to be sent after logout.
    pub allowed_logout_urls: Vec<String>,
    /// Origins allowed for cross-origin requests (`scheme://host[:port]`).
    pub web_origins: Vec<String>,
    pub grant_types: Vec<String>,
    /// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    pub jwt_configuration: JwtConfigurationView,
    pub refresh_token: RefreshTokenView,
    /// `deny`, `allow` or `require`.
    pub organization_usage: String,
    /// Require PKCE (S256); always in effect for public applications.
    pub pkce_required: bool,
    /// First-party applications skip the consent page.
    pub is_first_party: bool,
    /// The application's public keys for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<JwkSet>,
    pub created_at: String,
    pub updated_at: String,
    /// The new client secret: only in the response of its creation or rotation. Store it
    /// now; it cannot be read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<Secret>,
}

impl From<&Application> for ClientView {
    fn from(a: &Application) -> Self {
        Self {
            client_id: a.client_id.to_string(),
            name: a.name.clone(),
            app_type: a.app_type.as_str().to_owned(),
            callbacks: a.callbacks.clone(),
            allowed_logout_urls: a.logout_urls.clone(),
            web_origins: a.web_origins.clone(),
            grant_types: a.grant_types.clone(),
            token_endpoint_auth_method: a.token_endpoint_auth_method.clone(),
            jwt_configuration: JwtConfigurationView {
                lifetime_in_seconds: a.id_token_lifetime,
            },
            refresh_token: RefreshTokenView::from(&a.refresh),
            organization_usage: a.organization_usage.as_str().to_owned(),
            pkce_required: a.pkce_required,
            is_first_party: a.is_first_party,
            jwks: a.client_jwks.clone(),
            created_at: a.created_at.to_rfc3339(),
            updated_at: a.updated_at.to_rfc3339(),
            client_secret: None,
        }
    }
}

impl ClientView {
    fn with_secret(a: &Application, secret: Option<Secret>) -> Self {
        let mut v = Self::from(a);
        v.client_secret = secret;
        v
    }
}

/// Whether the application authenticates with a client secret.
fn uses_secret(a: &Application) -> bool {
    a.app_type.is_confidential()
        && matches!(
            a.token_endpoint_auth_method.as_str(),
            "client_secret_basic" | "client_secret_post"
        )
}

impl Core {
    /// Create an application; a confidential one authenticating with a secret gets it in
    /// the returned view (the only time it is shown).
    pub async fn client_create(
        &self,
        tenant: &Tenant,
        input: ClientInput,
        meta: &RequestMeta,
    ) -> Result<ClientView, CoreError> {
        let now = self.now();
        let app_type = input::parse_app_type(&input.app_type)?;
        let mut app = Application {
            tenant_id: tenant.id.clone(),
            client_id: ClientId::generate(&*self.rng),
            name: String::new(),
            app_type,
            client_secret_digest: None,
            token_endpoint_auth_method: default_auth_method(app_type).to_owned(),
            callbacks: Vec::new(),
            logout_urls: Vec::new(),
            web_origins: Vec::new(),
            grant_types: default_grant_types(app_type),
            id_token_lifetime: DEFAULT_ID_TOKEN_LIFETIME.min(tenant.settings.max_token_lifetime),
            refresh: RefreshPolicy::default(),
            organization_usage: OrganizationUsage::Deny,
            pkce_required: true,
            is_first_party: true,
            client_jwks: None,
            created_at: now,
            updated_at: now,
        };
        input::apply(&mut app, input.into_patch())?;
        input::check(tenant, &app)?;
        let mut tx = self.store.begin().await?;
        let secret = if uses_secret(&app) {
            let (secret, digest) = self.new_client_secret(&mut *tx, tenant).await?;
            app.client_secret_digest = Some(digest);
            Some(secret)
        } else {
            None
        };
        tx.app_insert(&app).await?;
        let mut context = client_context(&app);
        context.insert("settings".to_owned(), settings(&app));
        let event = self.client_event(tenant, "client.created", context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(ClientView::with_secret(&app, secret))
    }

    /// One application.
    pub async fn client_get(
        &self,
        tenant: &Tenant,
        client_id: &ClientId,
    ) -> Result<Application, CoreError> {
        let mut tx = self.store.read().await?;
        tx.app_get(&tenant.id, client_id)
            .await?
            .ok_or(CoreError::NotFound("client"))
    }

    /// A page of the tenant's applications (oldest first) and their total number.
    pub async fn client_list(
        &self,
        tenant: &Tenant,
        page: Page,
        with_total: bool,
    ) -> Result<(Vec<Application>, i64), CoreError> {
        let mut tx = self.store.read().await?;
        let apps = tx.app_list(&tenant.id, page).await?;
        let total = if with_total {
            tx.app_count(&tenant.id).await?
        } else {
            0
        };
        Ok((apps, total))
    }

    /// Change an application. Switching to a type or method that authenticates with a
    /// secret issues one (returned in the view); switching away drops it.
    pub async fn client_update(
        &self,
        tenant: &Tenant,
        client_id: &ClientId,
        patch: ClientPatch,
        meta: &RequestMeta,
    ) -> Result<ClientView, CoreError> {
        let mut tx = self.store.begin().await?;
        let old = load(&mut *tx, tenant, client_id).await?;
        let mut app = old.clone();
        if let Some(t) = &patch.app_type {
            let t = input::parse_app_type(t)?;
            if t.is_confidential() != app.app_type.is_confidential() {
                // Public <-> confidential: what the patch leaves out follows the type,
                // as `apply` does.
                app.token_endpoint_auth_method = default_auth_method(t).to_owned();
                app.grant_types = default_grant_types(t);
            }
            if old.app_type == AppType::M2m
                && t != AppType::M2m
                && tx
                    .client_grant_count(&tenant.id, Some(client_id), None)
                    .await?
                    > 0
            {
                return Err(CoreError::Conflict(
                    "app_type: only m2m applications hold client grants; delete this \
                     application's client grants first"
                        .to_owned(),
                ));
            }
            app.app_type = t;
        }
        input::apply(&mut app, patch)?;
        input::check(tenant, &app)?;
        let mut secret = None;
        if !uses_secret(&app) {
            app.client_secret_digest = None;
        } else if app.client_secret_digest.is_none() {
            let (s, digest) = self.new_client_secret(&mut *tx, tenant).await?;
            app.client_secret_digest = Some(digest);
            secret = Some(s);
        }
        if app == old {
            return Ok(ClientView::from(&old));
        }
        let mut changed = changes(&old, &app);
        if old.client_jwks != app.client_jwks && !changed.contains_key("jwks") {
            // Same `kid`s, different keys.
            changed.insert("jwks".to_owned(), json!("keys replaced"));
        }
        app.updated_at = self.now();
        if !tx.app_update(&app).await? {
            return Err(CoreError::NotFound("client"));
        }
        let mut context = client_context(&app);
        context.insert("changes".to_owned(), serde_json::Value::Object(changed));
        if secret.is_some() {
            context.insert("secret_issued".to_owned(), json!(true));
        }
        if old.client_secret_digest.is_some() && app.client_secret_digest.is_none() {
            context.insert("secret_removed".to_owned(), json!(true));
        }
        let event = self.client_event(tenant, "client.updated", context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        self.forget_client(tenant, &app.client_id);
        Ok(ClientView::with_secret(&app, secret))
    }

    /// Delete an application with its grants, sessions' token families and codes; its
    /// tokens stop being accepted by the Management API and introspection at once.
    pub async fn client_delete(
        &self,
        tenant: &Tenant,
        client_id: &ClientId,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let app = load(&mut *tx, tenant, client_id).await?;
        let grants = tx.client_grant_list(&tenant.id, client_id).await?;
        if !tx.app_delete(&tenant.id, client_id).await? {
            return Err(CoreError::NotFound("client"));
        }
        let mut context = client_context(&app);
        context.insert(
            "client_grants".to_owned(),
            json!(grants.iter().map(|g| g.id.as_str()).collect::<Vec<_>>()),
        );
        let event = self.client_event(tenant, "client.deleted", context, meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        self.forget_client(tenant, client_id);
        for g in grants {
            self.caches
                .grants
                .remove(&(tenant.id.clone(), client_id.clone(), g.api_id));
        }
        Ok(())
    }

    /// Issue a new client secret; the old one stops working at once on this node and
    /// within [`CONFIG_CACHE_SECS`](crate::service::CONFIG_CACHE_SECS) on the others.
    pub async fn client_rotate_secret(
        &self,
        tenant: &Tenant,
        client_id: &ClientId,
        meta: &RequestMeta,
    ) -> Result<ClientView, CoreError> {
        let mut tx = self.store.begin().await?;
        let mut app = load(&mut *tx, tenant, client_id).await?;
        if !uses_secret(&app) {
            return Err(CoreError::invalid(
                "client",
                format!(
                    "a `{}` application authenticating with `{}` has no client secret",
                    app.app_type, app.token_endpoint_auth_method
                ),
            ));
        }
        let (secret, digest) = self.new_client_secret(&mut *tx, tenant).await?;
        app.client_secret_digest = Some(digest);
        app.updated_at = self.now();
        if !tx.app_update(&app).await? {
            return Err(CoreError::NotFound("client"));
        }
        let event = self.client_event(tenant, "client.secret.rotated", client_context(&app), meta);
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        self.forget_client(tenant, client_id);
        Ok(ClientView::with_secret(&app, Some(secret)))
    }

    /// 32 random bytes, base64url, and its keyed digest (the only thing stored), exactly
    /// as `apply` issues secrets.
    async fn new_client_secret(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
    ) -> Result<(Secret, Vec<u8>), CoreError> {
        let dk = self.keyring.data_key(tx, &tenant.id).await?;
        let mut raw = Zeroizing::new([0u8; 32]);
        self.rng.fill(raw.as_mut_slice());
        let secret = Secret::new(b64url(raw.as_slice()));
        let digest = dk.secret_digest(secret.expose().as_bytes()).to_vec();
        Ok((secret, digest))
    }

    /// Drop this node's cached copy of the application, so the next token request reads
    /// the change.
    fn forget_client(&self, tenant: &Tenant, client_id: &ClientId) {
        self.caches
            .apps
            .remove(&(tenant.id.clone(), client_id.clone()));
    }

    fn client_event(
        &self,
        tenant: &Tenant,
        event_type: &str,
        context: JsonMap,
        meta: &RequestMeta,
    ) -> crate::model::AuditEvent {
        self.audit_event(
            &tenant.id,
            event_type,
            AuditActor::default(),
            None,
            context,
            meta,
        )
    }
}

async fn load(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    client_id: &ClientId,
) -> Result<Application, CoreError> {
    tx.app_get(&tenant.id, client_id)
        .await?
        .ok_or(CoreError::NotFound("client"))
}

/// What every event about an application says: never the secret or its digest.
fn client_context(a: &Application) -> JsonMap {
    JsonMap::from_iter([
        ("client_id".to_owned(), json!(a.client_id.as_str())),
        ("name".to_owned(), json!(a.name)),
        ("app_type".to_owned(), json!(a.app_type.as_str())),
    ])
}

/// The settings of an application for its audit events (the `kid`s of its keys only).
fn settings(a: &Application) -> serde_json::Value {
    json!({
        "name": a.name,
        "app_type": a.app_type.as_str(),
        "callbacks": a.callbacks,
        "allowed_logout_urls": a.logout_urls,
        "web_origins": a.web_origins,
        "grant_types": a.grant_types,
        "token_endpoint_auth_method": a.token_endpoint_auth_method,
        "id_token_lifetime": a.id_token_lifetime,
        "refresh_token": RefreshTokenView::from(&a.refresh),
        "organization_usage": a.organization_usage.as_str(),
        "pkce_required": a.pkce_required,
        "jwks": a.client_jwks.as_ref().map(|k| k.keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>()),
    })
}

/// The settings that differ, each as `{"from": …, "to": …}`.
fn changes(old: &Application, new: &Application) -> JsonMap {
    let (before, after) = (settings(old), settings(new));
    let mut out = JsonMap::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, v) in a {
            let was = b.get(k).cloned().unwrap_or(serde_json::Value::Null);
            if &was != v {
                out.insert(k.clone(), json!({ "from": was, "to": v }));
            }
        }
    }
    out
}
