//! First start of an install: the `default` tenant, and a one-time link that lets the
//! first administrator create their account. The link's token is stored only as a
//! SHA-256 digest, expires, and is consumed by its single use. Creating the administrator
//! records `admin.created` in the same transaction.

use clavis_crypto::{b64url, hash_password, sha256};
use clavis_types::{Email, Slug, UserId};

use serde_json::json;

use super::{Core, DEFAULT_CONNECTION, DEFAULT_TENANT, RequestMeta};
use crate::model::{AuditActor, Identity, JsonMap, TenantSettings, User, UserProfile};
use crate::{CoreError, StoreError};

/// How long a bootstrap link stays valid.
pub const BOOTSTRAP_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// The first administrator, as entered on the bootstrap page.
pub struct BootstrapAdmin {
    pub email: Email,
    pub password: String,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAdmin")
            .field("email", &self.email)
            .field("password", &"**redacted**")
            .finish()
    }
}

impl Core {
    /// Create the `default` tenant if it does not exist. Returns true when created.
    pub async fn ensure_default_tenant(&self) -> Result<bool, CoreError> {
        let slug = Slug::parse(DEFAULT_TENANT)?;
        let mut tx = self.store.begin().await?;
        if tx.tenant_get_by_slug(&slug).await?.is_some() {
            return Ok(false);
        }
        let created = match self
            .create_tenant(&mut *tx, &slug, "Default", TenantSettings::default())
            .await
        {
            Ok(_) => tx.commit().await.map_err(CoreError::from),
            Err(e) => Err(e),
        };
        match created {
            Ok(()) => Ok(true),
            // Another node sharing the database created it first.
            Err(CoreError::Conflict(_) | CoreError::Store(StoreError::Conflict(_))) => {
                let mut tx = self.store.read().await?;
                match tx.tenant_get_by_slug(&slug).await? {
                    Some(_) => Ok(false),
                    None => Err(CoreError::Conflict(
                        "could not create the default tenant".to_owned(),
                    )),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// When no administrator exists yet, issue a fresh one-time bootstrap token and return
    /// it; otherwise `None`. Tokens printed earlier (or by other nodes) stay valid until
    /// they expire or one of them is used.
    pub async fn issue_bootstrap_token(&self) -> Result<Option<String>, CoreError> {
        let mut tx = self.store.begin().await?;
        if tx.admin_exists().await? {
            return Ok(None);
        }
        let mut raw = [0u8; 32];
        self.rng.fill(&mut raw);
        let token = b64url(&raw);
        let now = self.now();
        tx.bootstrap_token_insert(
            &sha256(token.as_bytes()),
            now,
            now.plus_secs(BOOTSTRAP_TOKEN_LIFETIME_SECS),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(token))
    }

    /// True when `token` is a valid, unused bootstrap token.
    pub async fn bootstrap_token_valid(&self, token: &str) -> Result<bool, CoreError> {
        let mut tx = self.store.read().await?;
        Ok(tx
            .bootstrap_token_valid(&sha256(token.as_bytes()), self.now())
            .await?)
    }

    /// Consume the token and create the first administrator in the `default` tenant.
    pub async fn complete_bootstrap(
        &self,
        token: &str,
        admin: BootstrapAdmin,
    ) -> Result<User, CoreError> {
        if admin.password.chars().count() < 12 {
            return Err(CoreError::invalid(
                "password",
                "must be at least 12 characters",
            ));
        }
        let hash = hash_password(&admin.password, &*self.rng)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if !tx
            .bootstrap_token_consume(&sha256(token.as_bytes()), now)
            .await?
            || tx.admin_exists().await?
        {
            return Err(CoreError::invalid(
                "token",
                "this bootstrap link has been used or has expired; restart Clavis to print a new one",
            ));
        }
        let tenant = tx
            .tenant_get_by_slug(&Slug::parse(DEFAULT_TENANT)?)
            .await?
            .ok_or(CoreError::NotFound("tenant"))?;
        let connection = tx
            .connection_get_by_name(&tenant.id, DEFAULT_CONNECTION)
            .await?
            .ok_or(CoreError::NotFound("connection"))?;
        let user = User {
            tenant_id: tenant.id.clone(),
            id: UserId::generate(now, &*self.rng),
            email: Some(admin.email),
            email_verified: true,
            profile: UserProfile::default(),
            user_metadata: JsonMap::new(),
            app_metadata: JsonMap::new(),
            blocked: false,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deleted_at: None,
        };
        tx.user_insert(&user).await?;
        tx.password_set(&tenant.id, &user.id, &hash, now).await?;
        tx.identity_insert(&Identity {
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            connection_id: connection.id.clone(),
            subject: user.id.to_string(),
            profile_data: JsonMap::new(),
            created_at: now,
        })
        .await?;
        tx.admin_add(&tenant.id, &user.id, now).await?;
        let event = self.audit_event(
            &tenant.id,
            "admin.created",
            AuditActor {
                user_id: Some(user.id.to_string()),
                email: user.email.as_ref().map(|e| e.to_string()),
                ..AuditActor::default()
            },
            None,
            JsonMap::from_iter([
                ("user_id".to_owned(), json!(user.id.as_str())),
                ("via".to_owned(), json!("bootstrap")),
            ]),
            &RequestMeta::default(),
        );
        self.audit_in(&mut *tx, event).await?;
        tx.commit().await?;
        Ok(user)
    }
}

impl Core {
    /// Refuse to run with a master key other than the one the database was created with:
    /// every tenant's data key must unwrap.
    pub async fn check_master_key(&self) -> Result<(), CoreError> {
        let mut tx = self.store.read().await?;
        let mut page = crate::model::Page::first();
        loop {
            let tenants = tx.tenant_list(page).await?;
            for t in &tenants {
                self.keyring.data_key(&mut *tx, &t.id).await?;
            }
            if tenants.len() < page.limit() as usize {
                return Ok(());
            }
            page = page.next();
        }
    }
}
