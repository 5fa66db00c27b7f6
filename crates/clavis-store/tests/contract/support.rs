//! Fixtures shared by the contract tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::model::*;
use clavis_core::ports::StoreResult;
use clavis_core::{Core, StoreError};
use clavis_store::testing::TestDb;
use clavis_types::*;

pub async fn two_tenants(core: &Core) -> (Tenant, Tenant) {
    let mut tx = core.store.begin().await.unwrap();
    let a = core
        .create_tenant(
            &mut *tx,
            &Slug::parse("tenant-a").unwrap(),
            "A",
            TenantSettings::default(),
        )
        .await
        .unwrap();
    let b = core
        .create_tenant(
            &mut *tx,
            &Slug::parse("tenant-b").unwrap(),
            "B",
            TenantSettings::default(),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (a, b)
}

pub fn org(core: &Core, t: &Tenant, slug: &str) -> Organization {
    let now = core.now();
    Organization {
        tenant_id: t.id.clone(),
        id: OrgId::generate(now, &*core.rng),
        slug: Slug::parse(slug).unwrap(),
        display_name: format!("{slug} corp"),
        metadata: OrgMetadata {
            subscription_tier: Some("enterprise".into()),
            compliance_requirements: vec!["soc2".into()],
            data_residency: Some("eu".into()),
            ..OrgMetadata::default()
        },
        user_limit: Some(50),
        created_at: now,
        updated_at: now,
    }
}

pub fn user(core: &Core, t: &Tenant, email: &str) -> User {
    let now = core.now();
    User {
        tenant_id: t.id.clone(),
        id: UserId::generate(now, &*core.rng),
        email: Some(Email::parse(email).unwrap()),
        email_verified: false,
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
    }
}

pub fn application(core: &Core, t: &Tenant, name: &str) -> Application {
    let now = core.now();
    Application {
        tenant_id: t.id.clone(),
        client_id: ClientId::generate(&*core.rng),
        name: name.into(),
        app_type: AppType::Web,
        client_secret_digest: Some(vec![1, 2, 3]),
        token_endpoint_auth_method: "client_secret_basic".into(),
        callbacks: vec!["https://app.test/callback".into()],
        logout_urls: vec![],
        web_origins: vec![],
        grant_types: vec!["authorization_code".into()],
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

pub fn perm(v: &str) -> Permission {
    Permission {
        value: v.into(),
        description: format!("can {v}"),
    }
}

pub fn api(core: &Core, t: &Tenant, identifier: &str, perms: &[&str]) -> Api {
    let now = core.now();
    let mut permissions: Vec<_> = perms.iter().map(|p| perm(p)).collect();
    permissions.sort();
    Api {
        tenant_id: t.id.clone(),
        id: ApiId::generate(now, &*core.rng),
        identifier: identifier.into(),
        name: "API".into(),
        signing_alg: SigningAlg::Rs256,
        token_lifetime: 3600,
        rbac_enabled: true,
        permissions_in_token: true,
        allow_offline_access: false,
        skip_consent: true,
        permissions,
        created_at: now,
        updated_at: now,
    }
}

pub fn role(core: &Core, t: &Tenant, name: &str) -> Role {
    let now = core.now();
    Role {
        tenant_id: t.id.clone(),
        id: RoleId::generate(now, &*core.rng),
        name: name.into(),
        description: String::new(),
        created_at: now,
        updated_at: now,
    }
}

/// A new read-write transaction.
pub async fn begin(core: &Core) -> Box<dyn clavis_core::ports::Tx> {
    core.store.begin().await.unwrap()
}

pub fn assert_conflict<T: std::fmt::Debug>(r: StoreResult<T>) {
    match r {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Execute raw SQL on the test database outside the ports (to simulate tampering).
pub async fn raw_exec(db: &TestDb, sql: &'static str) {
    match &db.store {
        clavis_store::AnyStore::Sqlite(_) => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        clavis_store::AnyStore::Postgres(_) => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}
