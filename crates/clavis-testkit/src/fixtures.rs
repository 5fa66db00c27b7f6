//! Resources created directly through core, so protocol tests can start from a known
//! tenant: Apis, applications (with their secret), client grants, users, organizations.

#![allow(clippy::expect_used)]

use clavis_core::Core;
use clavis_core::model::{
    Api, Application, ClientGrant, Identity, JsonMap, OrgMetadata, Organization, Permission,
    RefreshPolicy, Role, RolePermission, Tenant, TenantSettings, User, UserProfile,
};
use clavis_crypto::{JwkSet, b64url};
use clavis_types::{
    ApiId, AppType, ClientGrantId, ClientId, Email, OrgId, OrganizationUsage, RoleId, SigningAlg,
    Slug, UserId,
};

/// A confidential client and its secret.
#[derive(Debug, Clone)]
pub struct Confidential {
    pub client_id: String,
    pub secret: String,
}

/// Builders for one tenant.
#[derive(Debug, Clone)]
pub struct Fixtures {
    core: Core,
    tenant: String,
}

impl Fixtures {
    pub fn new(core: Core, tenant: &str) -> Self {
        Self {
            core,
            tenant: tenant.to_owned(),
        }
    }

    pub async fn tenant(&self) -> Tenant {
        match self.core.tenant_by_slug(&self.tenant).await {
            Ok(t) => (*t).clone(),
            Err(_) => {
                let mut tx = self.core.store.begin().await.expect("begin");
                let t = self
                    .core
                    .create_tenant(
                        &mut *tx,
                        &Slug::parse(&self.tenant).expect("slug"),
                        &self.tenant,
                        TenantSettings::default(),
                    )
                    .await
                    .expect("tenant");
                tx.commit().await.expect("commit");
                t
            }
        }
    }

    /// An Api with permissions; RBAC and permissions-in-token on, offline access allowed.
    pub async fn api(&self, identifier: &str, perms: &[&str]) -> Api {
        let t = self.tenant().await;
        let now = self.core.now();
        let api = Api {
            tenant_id: t.id.clone(),
            id: ApiId::generate(now, &*self.core.rng),
            identifier: identifier.to_owned(),
            name: identifier.to_owned(),
            signing_alg: SigningAlg::Rs256,
            token_lifetime: 3600,
            rbac_enabled: true,
            permissions_in_token: true,
            allow_offline_access: true,
            skip_consent: true,
            permissions: perms
                .iter()
                .map(|p| Permission {
                    value: (*p).to_owned(),
                    description: String::new(),
                })
                .collect(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.core.store.begin().await.expect("begin");
        tx.api_insert(&api).await.expect("api");
        tx.commit().await.expect("commit");
        api
    }

    fn application(&self, t: &Tenant, name: &str, app_type: AppType, auth: &str) -> Application {
        let now = self.core.now();
        Application {
            tenant_id: t.id.clone(),
            client_id: ClientId::generate(&*self.core.rng),
            name: name.to_owned(),
            app_type,
            client_secret_digest: None,
            token_endpoint_auth_method: auth.to_owned(),
            callbacks: vec![],
            logout_urls: vec![],
            web_origins: vec![],
            grant_types: match app_type {
                AppType::M2m => vec!["client_credentials".into()],
                _ => vec!["authorization_code".into(), "refresh_token".into()],
            },
            id_token_lifetime: 36_000,
            refresh: RefreshPolicy::default(),
            organization_usage: OrganizationUsage::Allow,
            pkce_required: true,
            is_first_party: true,
            client_jwks: None,
            created_at: now,
            updated_at: now,
        }
    }

    async fn save(&self, app: &Application) {
        let mut tx = self.core.store.begin().await.expect("begin");
        tx.app_insert(app).await.expect("app");
        tx.commit().await.expect("commit");
    }

    async fn with_secret(&self, t: &Tenant, mut app: Application) -> Confidential {
        let mut raw = [0u8; 32];
        self.core.rng.fill(&mut raw);
        let secret = b64url(&raw);
        let mut tx = self.core.store.begin().await.expect("begin");
        let dk = self
            .core
            .keyring
            .data_key(&mut *tx, &t.id)
            .await
            .expect("data key");
        drop(tx);
        app.client_secret_digest = Some(dk.secret_digest(secret.as_bytes()).to_vec());
        self.save(&app).await;
        Confidential {
            client_id: app.client_id.to_string(),
            secret,
        }
    }

    /// A confidential web application (`client_secret_basic`).
    pub async fn web_app(&self, callbacks: &[&str], logout_urls: &[&str]) -> Confidential {
        let t = self.tenant().await;
        let mut app = self.application(&t, "Web", AppType::Web, "client_secret_basic");
        app.callbacks = callbacks.iter().map(|c| (*c).to_owned()).collect();
        app.logout_urls = logout_urls.iter().map(|c| (*c).to_owned()).collect();
        self.with_secret(&t, app).await
    }

    /// A public single-page application (`none`, PKCE).
    pub async fn spa_app(&self, callbacks: &[&str], usage: OrganizationUsage) -> String {
        let t = self.tenant().await;
        let mut app = self.application(&t, "SPA", AppType::Spa, "none");
        app.callbacks = callbacks.iter().map(|c| (*c).to_owned()).collect();
        app.organization_usage = usage;
        let id = app.client_id.to_string();
        self.save(&app).await;
        id
    }

    /// A machine-to-machine client granted `scopes` of `api`, with the given auth method.
    pub async fn m2m_app(
        &self,
        api: &Api,
        scopes: &[&str],
        auth: &str,
        jwks: Option<JwkSet>,
    ) -> Confidential {
        let t = self.tenant().await;
        let mut app = self.application(&t, "M2M", AppType::M2m, auth);
        app.client_jwks = jwks;
        let creds = if auth == "private_key_jwt" {
            self.save(&app).await;
            Confidential {
                client_id: app.client_id.to_string(),
                secret: String::new(),
            }
        } else {
            self.with_secret(&t, app.clone()).await
        };
        let now = self.core.now();
        let mut tx = self.core.store.begin().await.expect("begin");
        tx.client_grant_upsert(&ClientGrant {
            tenant_id: t.id.clone(),
            id: ClientGrantId::generate(now, &*self.core.rng),
            client_id: ClientId::parse(&creds.client_id).expect("client id"),
            api_id: api.id.clone(),
            scope: scopes.iter().map(|s| (*s).to_owned()).collect(),
            created_at: now,
            updated_at: now,
        })
        .await
        .expect("grant");
        tx.commit().await.expect("commit");
        creds
    }

    /// A user with a password on the default database connection.
    pub async fn user(&self, email: &str, password: &str) -> User {
        let hash = clavis_crypto::hash_password(password, &*self.core.rng).expect("hash");
        self.user_with_stored_hash(email, &hash).await
    }

    /// A user whose stored password hash is `hash` as given (e.g. an imported bcrypt hash).
    pub async fn user_with_stored_hash(&self, email: &str, hash: &str) -> User {
        let t = self.tenant().await;
        let now = self.core.now();
        let user = User {
            tenant_id: t.id.clone(),
            id: UserId::generate(now, &*self.core.rng),
            email: Some(Email::parse(email).expect("email")),
            email_verified: true,
            profile: UserProfile {
                name: Some("Test User".into()),
                ..UserProfile::default()
            },
            user_metadata: JsonMap::new(),
            app_metadata: JsonMap::new(),
            blocked: false,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deleted_at: None,
        };
        self.user_with_hash(&t, user, hash).await
    }

    /// A user whose stored hash is given (e.g. an imported bcrypt hash).
    pub async fn user_with_hash(&self, t: &Tenant, user: User, hash: &str) -> User {
        let mut tx = self.core.store.begin().await.expect("begin");
        tx.user_insert(&user).await.expect("user");
        tx.password_set(&t.id, &user.id, hash, user.created_at)
            .await
            .expect("password");
        let conn = tx
            .connection_get_by_name(&t.id, clavis_core::service::DEFAULT_CONNECTION)
            .await
            .expect("connection")
            .expect("default connection");
        tx.identity_insert(&Identity {
            tenant_id: t.id.clone(),
            user_id: user.id.clone(),
            connection_id: conn.id,
            subject: user.id.to_string(),
            profile_data: JsonMap::new(),
            created_at: user.created_at,
        })
        .await
        .expect("identity");
        tx.commit().await.expect("commit");
        user
    }

    /// Change an application through core (e.g. `pkce_required`, `organization_usage`).
    pub async fn edit_app(&self, client_id: &str, f: impl FnOnce(&mut Application)) {
        let t = self.tenant().await;
        let id = ClientId::parse(client_id).expect("client id");
        let mut tx = self.core.store.begin().await.expect("begin");
        let mut app = tx.app_get(&t.id, &id).await.expect("app").expect("exists");
        f(&mut app);
        assert!(
            tx.app_update(&app).await.expect("update app"),
            "app updated"
        );
        tx.commit().await.expect("commit");
    }

    /// Change a user through core (e.g. `blocked`).
    pub async fn edit_user(&self, user: &User, f: impl FnOnce(&mut User)) {
        let mut tx = self.core.store.begin().await.expect("begin");
        let mut u = tx
            .user_get(&user.tenant_id, &user.id)
            .await
            .expect("user")
            .expect("exists");
        f(&mut u);
        assert!(
            tx.user_update(&u).await.expect("update user"),
            "user updated"
        );
        tx.commit().await.expect("commit");
    }

    /// The stored password hash of a user.
    pub async fn password_hash(&self, user: &User) -> Option<String> {
        let mut tx = self.core.store.read().await.expect("read");
        tx.password_get(&user.tenant_id, &user.id)
            .await
            .expect("password")
    }

    /// An organization, with `members`.
    pub async fn org(&self, slug: &str, members: &[&User]) -> Organization {
        let t = self.tenant().await;
        let now = self.core.now();
        let org = Organization {
            tenant_id: t.id.clone(),
            id: OrgId::generate(now, &*self.core.rng),
            slug: Slug::parse(slug).expect("slug"),
            display_name: slug.to_owned(),
            metadata: OrgMetadata::default(),
            user_limit: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.core.store.begin().await.expect("begin");
        tx.org_insert(&org).await.expect("org");
        for m in members {
            tx.member_add(&t.id, &org.id, &m.id, now)
                .await
                .expect("member");
        }
        tx.commit().await.expect("commit");
        org
    }

    /// A role holding `perms` of `api`, assigned to `user` (inside `org` when given).
    pub async fn role(
        &self,
        name: &str,
        api: &Api,
        perms: &[&str],
        user: &User,
        org: Option<&Organization>,
    ) -> Role {
        let t = self.tenant().await;
        let now = self.core.now();
        let role = Role {
            tenant_id: t.id.clone(),
            id: RoleId::generate(now, &*self.core.rng),
            name: name.to_owned(),
            description: String::new(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.core.store.begin().await.expect("begin");
        tx.role_insert(&role).await.expect("role");
        let rp: Vec<_> = perms
            .iter()
            .map(|p| RolePermission {
                api_id: api.id.clone(),
                permission: (*p).to_owned(),
            })
            .collect();
        tx.role_permissions_set(&t.id, &role.id, &rp)
            .await
            .expect("permissions");
        match org {
            Some(o) => tx
                .member_role_add(&t.id, &o.id, &user.id, &role.id, now)
                .await
                .expect("assign"),
            None => tx
                .user_role_add(&t.id, &user.id, &role.id, now)
                .await
                .expect("assign"),
        };
        tx.commit().await.expect("commit");
        role
    }
}
