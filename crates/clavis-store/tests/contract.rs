//! The store contract suite: every test runs on SQLite and on PostgreSQL, each on its own
//! fresh database. For every resource, a tenant-isolation test proves nothing of tenant A
//! can be read, changed, deleted or listed through tenant B.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use clavis_core::StoreError;
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;
use support::*;

clavis_store::on_both_backends!(
    tenants_round_trip,
    organization_isolation,
    membership_isolation,
    team_isolation,
    user_isolation,
    identity_and_password_isolation,
    connection_isolation,
    application_isolation,
    api_isolation,
    role_isolation,
    role_assignment_isolation,
    signing_key_isolation,
    soft_deleted_users_free_their_email,
    uniqueness_is_per_tenant,
    key_rotation_publishes_before_signing,
    newer_schema_is_refused,
    edited_migration_is_refused,
    rollback_leaves_nothing,
    a_failed_statement_aborts_the_transaction,
);

async fn tenants_round_trip(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.read().await.unwrap();
    assert_eq!(tx.tenant_get(&a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(
        tx.tenant_get_by_slug(&b.slug).await.unwrap().as_ref(),
        Some(&b)
    );
    let all = tx.tenant_list(Page::first()).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(tx.tenant_wrapped_key(&a.id).await.unwrap().is_some());
    drop(tx);
    let mut tx = core.store.begin().await.unwrap();
    let mut a2 = a.clone();
    a2.display_name = "Renamed".into();
    a2.settings.signing_alg = SigningAlg::Es256;
    assert!(tx.tenant_update(&a2).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = core.store.read().await.unwrap();
    assert_eq!(tx.tenant_get(&a.id).await.unwrap(), Some(a2));
}

async fn organization_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let org = org(&core, &a, "acme");
    tx.org_insert(&org).await.unwrap();
    // read
    assert!(tx.org_get(&b.id, &org.id).await.unwrap().is_none());
    assert!(
        tx.org_get_by_slug(&b.id, &org.slug)
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.org_list(&b.id, Page::first()).await.unwrap().is_empty());
    // change
    let mut forged = org.clone();
    forged.tenant_id = b.id.clone();
    forged.display_name = "Hijacked".into();
    assert!(!tx.org_update(&forged).await.unwrap());
    assert!(!tx.org_delete(&b.id, &org.id).await.unwrap());
    // A still sees it, unchanged
    assert_eq!(tx.org_get(&a.id, &org.id).await.unwrap(), Some(org.clone()));
    assert_eq!(
        tx.org_list(&a.id, Page::first()).await.unwrap(),
        vec![org.clone()]
    );
    let mut renamed = org.clone();
    renamed.display_name = "Acme Inc".into();
    renamed.metadata.feature_flags.insert("sso".into(), true);
    assert!(tx.org_update(&renamed).await.unwrap());
    assert_eq!(tx.org_get(&a.id, &org.id).await.unwrap(), Some(renamed));
    assert!(tx.org_delete(&a.id, &org.id).await.unwrap());
    assert!(tx.org_get(&a.id, &org.id).await.unwrap().is_none());
}

async fn membership_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let org_a = org(&core, &a, "acme");
    let org_b = org(&core, &b, "acme");
    let user_a = user(&core, &a, "alice@acme.test");
    let user_b = user(&core, &b, "bob@acme.test");
    tx.org_insert(&org_a).await.unwrap();
    tx.org_insert(&org_b).await.unwrap();
    tx.user_insert(&user_a).await.unwrap();
    tx.user_insert(&user_b).await.unwrap();
    let now = core.now();
    assert!(
        tx.member_add(&a.id, &org_a.id, &user_a.id, now)
            .await
            .unwrap()
    );
    assert!(
        !tx.member_add(&a.id, &org_a.id, &user_a.id, now)
            .await
            .unwrap(),
        "idempotent"
    );
    // B cannot list, count, or remove A's members, nor see A's user's orgs
    assert!(
        tx.member_list(&b.id, &org_a.id, Page::first())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(tx.member_count(&b.id, &org_a.id).await.unwrap(), 0);
    assert!(tx.member_orgs(&b.id, &user_a.id).await.unwrap().is_empty());
    assert!(
        !tx.member_remove(&b.id, &org_a.id, &user_a.id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    // cross-tenant references are refused by the schema
    assert_conflict(
        begin(&core)
            .await
            .member_add(&b.id, &org_b.id, &user_a.id, now)
            .await,
    );
    assert_conflict(
        begin(&core)
            .await
            .member_add(&a.id, &org_b.id, &user_a.id, now)
            .await,
    );
    let mut tx = begin(&core).await;
    assert_eq!(
        tx.member_list(&a.id, &org_a.id, Page::first())
            .await
            .unwrap(),
        vec![user_a.id.clone()]
    );
    assert_eq!(tx.member_count(&a.id, &org_a.id).await.unwrap(), 1);
    assert_eq!(
        tx.member_orgs(&a.id, &user_a.id).await.unwrap(),
        vec![org_a.id.clone()]
    );
}

async fn team_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let org_a = org(&core, &a, "acme");
    let org_a2 = org(&core, &a, "other");
    let u = user(&core, &a, "alice@acme.test");
    tx.org_insert(&org_a).await.unwrap();
    tx.org_insert(&org_a2).await.unwrap();
    tx.user_insert(&u).await.unwrap();
    let now = core.now();
    let team = Team {
        tenant_id: a.id.clone(),
        org_id: org_a.id.clone(),
        id: TeamId::generate(now, &*core.rng),
        slug: Slug::parse("platform").unwrap(),
        display_name: "Platform".into(),
        description: String::new(),
        created_at: now,
        updated_at: now,
    };
    tx.team_insert(&team).await.unwrap();
    assert!(tx.team_get(&b.id, &team.id).await.unwrap().is_none());
    assert!(
        tx.team_get_by_slug(&b.id, &org_a.id, &team.slug)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.team_list(&b.id, &org_a.id, Page::first())
            .await
            .unwrap()
            .is_empty()
    );
    let mut forged = team.clone();
    forged.tenant_id = b.id.clone();
    assert!(!tx.team_update(&forged).await.unwrap());
    assert!(!tx.team_delete(&b.id, &team.id).await.unwrap());
    tx.member_add(&a.id, &org_a2.id, &u.id, now).await.unwrap();
    tx.commit().await.unwrap();
    // a team member must belong to the team's organization
    assert_conflict(
        begin(&core)
            .await
            .team_member_add(&a.id, &team.id, &u.id, now)
            .await,
    );
    let mut tx = begin(&core).await;
    tx.member_add(&a.id, &org_a.id, &u.id, now).await.unwrap();
    assert!(
        !tx.team_member_add(&b.id, &team.id, &u.id, now)
            .await
            .unwrap()
    );
    assert!(
        tx.team_member_add(&a.id, &team.id, &u.id, now)
            .await
            .unwrap()
    );
    assert!(
        tx.team_member_list(&b.id, &team.id, Page::first())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!tx.team_member_remove(&b.id, &team.id, &u.id).await.unwrap());
    assert_eq!(
        tx.team_member_list(&a.id, &team.id, Page::first())
            .await
            .unwrap(),
        vec![u.id.clone()]
    );
    // leaving the organization removes the team membership
    assert!(tx.member_remove(&a.id, &org_a.id, &u.id).await.unwrap());
    assert!(
        tx.team_member_list(&a.id, &team.id, Page::first())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(tx.team_get(&a.id, &team.id).await.unwrap(), Some(team));
}

async fn user_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let mut u = user(&core, &a, "alice@acme.test");
    u.user_metadata.insert("theme".into(), "dark".into());
    u.app_metadata
        .insert("plan".into(), serde_json::json!({"seats": 3}));
    tx.user_insert(&u).await.unwrap();
    assert!(tx.user_get(&b.id, &u.id).await.unwrap().is_none());
    assert!(
        tx.user_get_by_email(&b.id, u.email.as_ref().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.user_list(&b.id, Page::first()).await.unwrap().is_empty());
    let mut forged = u.clone();
    forged.tenant_id = b.id.clone();
    forged.blocked = true;
    assert!(!tx.user_update(&forged).await.unwrap());
    assert!(!tx.user_soft_delete(&b.id, &u.id, core.now()).await.unwrap());
    assert_eq!(tx.user_get(&a.id, &u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(
        tx.user_list(&a.id, Page::first()).await.unwrap(),
        vec![u.clone()]
    );
    let mut blocked = u.clone();
    blocked.blocked = true;
    blocked.email_verified = true;
    assert!(tx.user_update(&blocked).await.unwrap());
    assert_eq!(tx.user_get(&a.id, &u.id).await.unwrap(), Some(blocked));
}

async fn identity_and_password_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let u = user(&core, &a, "alice@acme.test");
    tx.user_insert(&u).await.unwrap();
    let conn_a = tx
        .connection_get_by_name(&a.id, clavis_core::service::DEFAULT_CONNECTION)
        .await
        .unwrap()
        .unwrap();
    let conn_b = tx
        .connection_get_by_name(&b.id, clavis_core::service::DEFAULT_CONNECTION)
        .await
        .unwrap()
        .unwrap();
    let ident = Identity {
        tenant_id: a.id.clone(),
        user_id: u.id.clone(),
        connection_id: conn_a.id.clone(),
        subject: u.id.to_string(),
        profile_data: JsonMap::new(),
        created_at: core.now(),
    };
    tx.identity_insert(&ident).await.unwrap();
    tx.commit().await.unwrap();
    let mut cross = ident.clone();
    cross.connection_id = conn_b.id.clone();
    assert_conflict(begin(&core).await.identity_insert(&cross).await);
    let mut tx = begin(&core).await;
    assert!(tx.identity_list(&b.id, &u.id).await.unwrap().is_empty());
    assert!(
        !tx.identity_delete(&b.id, &conn_a.id, &ident.subject)
            .await
            .unwrap()
    );
    assert_eq!(
        tx.identity_list(&a.id, &u.id).await.unwrap(),
        vec![ident.clone()]
    );
    tx.password_set(
        &a.id,
        &u.id,
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        core.now(),
    )
    .await
    .unwrap();
    assert!(tx.password_get(&b.id, &u.id).await.unwrap().is_none());
    tx.commit().await.unwrap();
    assert_conflict(
        begin(&core)
            .await
            .password_set(&b.id, &u.id, "x", core.now())
            .await,
    );
    let mut tx = begin(&core).await;
    assert!(tx.password_get(&a.id, &u.id).await.unwrap().is_some());
    assert!(
        tx.identity_delete(&a.id, &conn_a.id, &ident.subject)
            .await
            .unwrap()
    );
}

async fn connection_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let now = core.now();
    let c = Connection {
        tenant_id: a.id.clone(),
        id: ConnectionId::generate(now, &*core.rng),
        name: "acme-db".into(),
        strategy: ConnectionStrategy::Database,
        options: serde_json::json!({"requires_username": false})
            .as_object()
            .unwrap()
            .clone(),
        created_at: now,
        updated_at: now,
    };
    tx.connection_insert(&c).await.unwrap();
    assert!(tx.connection_get(&b.id, &c.id).await.unwrap().is_none());
    assert!(
        tx.connection_get_by_name(&b.id, "acme-db")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !tx.connection_list(&b.id, Page::first())
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == c.id)
    );
    let mut forged = c.clone();
    forged.tenant_id = b.id.clone();
    assert!(!tx.connection_update(&forged).await.unwrap());
    assert!(!tx.connection_delete(&b.id, &c.id).await.unwrap());
    assert_eq!(
        tx.connection_get(&a.id, &c.id).await.unwrap(),
        Some(c.clone())
    );
    assert!(tx.connection_delete(&a.id, &c.id).await.unwrap());
}

async fn application_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let app = application(&core, &a, "Web");
    tx.app_insert(&app).await.unwrap();
    assert!(tx.app_get(&b.id, &app.client_id).await.unwrap().is_none());
    assert!(tx.app_list(&b.id, Page::first()).await.unwrap().is_empty());
    let mut forged = app.clone();
    forged.tenant_id = b.id.clone();
    forged.callbacks.push("https://evil.test/cb".into());
    assert!(!tx.app_update(&forged).await.unwrap());
    assert!(!tx.app_delete(&b.id, &app.client_id).await.unwrap());
    assert_eq!(
        tx.app_get(&a.id, &app.client_id).await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(
        tx.app_list(&a.id, Page::first()).await.unwrap(),
        vec![app.clone()]
    );
    assert!(tx.app_delete(&a.id, &app.client_id).await.unwrap());
}

async fn api_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let api = api(
        &core,
        &a,
        "https://api.acme.test",
        &["read:docs", "write:docs"],
    );
    tx.api_insert(&api).await.unwrap();
    assert!(tx.api_get(&b.id, &api.id).await.unwrap().is_none());
    assert!(
        tx.api_get_by_identifier(&b.id, &api.identifier)
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.api_list(&b.id, Page::first()).await.unwrap().is_empty());
    let mut forged = api.clone();
    forged.tenant_id = b.id.clone();
    assert!(!tx.api_update(&forged).await.unwrap());
    assert!(!tx.api_delete(&b.id, &api.id).await.unwrap());
    tx.api_permissions_set(&b.id, &api.id, &[perm("evil:all")])
        .await
        .unwrap();
    assert_eq!(tx.api_get(&a.id, &api.id).await.unwrap(), Some(api.clone()));
    tx.api_permissions_set(&a.id, &api.id, &[perm("read:docs"), perm("admin:docs")])
        .await
        .unwrap();
    let got = tx.api_get(&a.id, &api.id).await.unwrap().unwrap();
    let values: Vec<_> = got.permissions.iter().map(|p| p.value.as_str()).collect();
    assert_eq!(values, ["admin:docs", "read:docs"]);
}

async fn role_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let api_a = api(&core, &a, "https://api.acme.test", &["read:docs"]);
    let api_b = api(&core, &b, "https://api.acme.test", &["read:docs"]);
    tx.api_insert(&api_a).await.unwrap();
    tx.api_insert(&api_b).await.unwrap();
    let viewer = role(&core, &a, "viewer");
    let editor = role(&core, &a, "editor");
    let other = role(&core, &b, "viewer");
    for r in [&viewer, &editor, &other] {
        tx.role_insert(r).await.unwrap();
    }
    assert!(tx.role_get(&b.id, &viewer.id).await.unwrap().is_none());
    assert_eq!(
        tx.role_get_by_name(&b.id, "viewer").await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(
        tx.role_list(&b.id, Page::first()).await.unwrap(),
        vec![other.clone()]
    );
    let mut forged = viewer.clone();
    forged.tenant_id = b.id.clone();
    assert!(!tx.role_update(&forged).await.unwrap());
    assert!(!tx.role_delete(&b.id, &viewer.id).await.unwrap());
    let rp = RolePermission {
        api_id: api_a.id.clone(),
        permission: "read:docs".into(),
    };
    tx.commit().await.unwrap();
    // a role of B cannot hold A's permission; A's role cannot be given perms through B
    assert_conflict(
        begin(&core)
            .await
            .role_permissions_set(&b.id, &other.id, std::slice::from_ref(&rp))
            .await,
    );
    assert_conflict(
        begin(&core)
            .await
            .role_permissions_set(&b.id, &viewer.id, std::slice::from_ref(&rp))
            .await,
    );
    // inheritance cannot cross tenants
    assert_conflict(
        begin(&core)
            .await
            .role_inherits_set(&a.id, &editor.id, std::slice::from_ref(&other.id))
            .await,
    );
    let mut tx = begin(&core).await;
    tx.role_permissions_set(&a.id, &viewer.id, std::slice::from_ref(&rp))
        .await
        .unwrap();
    assert!(
        tx.role_permissions(&b.id, &viewer.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.role_permissions(&a.id, &viewer.id).await.unwrap(),
        vec![rp]
    );
    tx.role_inherits_set(&a.id, &editor.id, std::slice::from_ref(&viewer.id))
        .await
        .unwrap();
    assert!(
        tx.role_inherits(&b.id, &editor.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.role_inherits(&a.id, &editor.id).await.unwrap(),
        vec![viewer.id.clone()]
    );
    // removing a permission from the Api removes it from roles
    tx.api_permissions_set(&a.id, &api_a.id, &[]).await.unwrap();
    assert!(
        tx.role_permissions(&a.id, &viewer.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn role_assignment_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let now = core.now();
    let u = user(&core, &a, "alice@acme.test");
    let ub = user(&core, &b, "bob@acme.test");
    let r = role(&core, &a, "viewer");
    let rb = role(&core, &b, "viewer");
    let o = org(&core, &a, "acme");
    tx.user_insert(&u).await.unwrap();
    tx.user_insert(&ub).await.unwrap();
    tx.role_insert(&r).await.unwrap();
    tx.role_insert(&rb).await.unwrap();
    tx.org_insert(&o).await.unwrap();
    tx.commit().await.unwrap();
    // tenant-wide
    assert_conflict(
        begin(&core)
            .await
            .user_role_add(&b.id, &u.id, &rb.id, now)
            .await,
    );
    assert_conflict(
        begin(&core)
            .await
            .user_role_add(&a.id, &u.id, &rb.id, now)
            .await,
    );
    // inside an organization: membership required
    assert_conflict(
        begin(&core)
            .await
            .member_role_add(&a.id, &o.id, &u.id, &r.id, now)
            .await,
    );
    let mut tx = begin(&core).await;
    assert!(tx.user_role_add(&a.id, &u.id, &r.id, now).await.unwrap());
    assert!(tx.user_roles(&b.id, &u.id).await.unwrap().is_empty());
    assert!(!tx.user_role_remove(&b.id, &u.id, &r.id).await.unwrap());
    assert_eq!(
        tx.user_roles(&a.id, &u.id).await.unwrap(),
        vec![r.id.clone()]
    );
    tx.member_add(&a.id, &o.id, &u.id, now).await.unwrap();
    tx.commit().await.unwrap();
    assert_conflict(
        begin(&core)
            .await
            .member_role_add(&a.id, &o.id, &u.id, &rb.id, now)
            .await,
    );
    let mut tx = begin(&core).await;
    assert!(
        tx.member_role_add(&a.id, &o.id, &u.id, &r.id, now)
            .await
            .unwrap()
    );
    assert!(
        tx.member_roles(&b.id, &o.id, &u.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !tx.member_role_remove(&b.id, &o.id, &u.id, &r.id)
            .await
            .unwrap()
    );
    assert_eq!(
        tx.member_roles(&a.id, &o.id, &u.id).await.unwrap(),
        vec![r.id.clone()]
    );
    // teams
    let team = Team {
        tenant_id: a.id.clone(),
        org_id: o.id.clone(),
        id: TeamId::generate(now, &*core.rng),
        slug: Slug::parse("t").unwrap(),
        display_name: "T".into(),
        description: String::new(),
        created_at: now,
        updated_at: now,
    };
    tx.team_insert(&team).await.unwrap();
    tx.commit().await.unwrap();
    assert_conflict(
        begin(&core)
            .await
            .team_role_add(&a.id, &team.id, &rb.id, now)
            .await,
    );
    assert_conflict(
        begin(&core)
            .await
            .team_role_add(&b.id, &team.id, &rb.id, now)
            .await,
    );
    let mut tx = begin(&core).await;
    assert!(tx.team_role_add(&a.id, &team.id, &r.id, now).await.unwrap());
    assert!(tx.team_roles(&b.id, &team.id).await.unwrap().is_empty());
    assert!(!tx.team_role_remove(&b.id, &team.id, &r.id).await.unwrap());
    assert_eq!(
        tx.team_roles(&a.id, &team.id).await.unwrap(),
        vec![r.id.clone()]
    );
}

async fn signing_key_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let keys_a = tx.key_list(&a.id).await.unwrap();
    let keys_b = tx.key_list(&b.id).await.unwrap();
    assert_eq!(keys_a.len(), 2);
    assert!(keys_b.iter().all(|k| k.tenant_id == b.id));
    assert!(
        keys_a
            .iter()
            .all(|k| !keys_b.iter().any(|kb| kb.kid == k.kid))
    );
    let mut forged = keys_a[0].clone();
    forged.tenant_id = b.id.clone();
    forged.state = KeyState::Revoked;
    assert!(!tx.key_update(&forged).await.unwrap());
    assert!(!tx.key_delete(&b.id, &keys_a[0].kid).await.unwrap());
    assert_eq!(tx.key_list(&a.id).await.unwrap(), keys_a);
    tx.commit().await.unwrap();
    let jwks_b = core.jwks(&b).await.unwrap();
    assert!(keys_a.iter().all(|k| jwks_b.find(k.kid.as_str()).is_none()));
    // a sealed private key moved to another tenant cannot be opened there
    let mut tx = core.store.begin().await.unwrap();
    let mut stolen = keys_a
        .iter()
        .find(|k| k.state == KeyState::Active)
        .unwrap()
        .clone();
    stolen.tenant_id = b.id.clone();
    for k in tx.key_list(&b.id).await.unwrap() {
        tx.key_delete(&b.id, &k.kid).await.unwrap();
    }
    tx.key_insert(&stolen).await.unwrap();
    assert!(core.active_signer(&mut *tx, &b).await.is_err());
    assert!(core.active_signer(&mut *tx, &a).await.is_ok());
}

async fn soft_deleted_users_free_their_email(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let u = user(&core, &a, "alice@acme.test");
    tx.user_insert(&u).await.unwrap();
    tx.commit().await.unwrap();
    assert_conflict(
        begin(&core)
            .await
            .user_insert(&user(&core, &a, "alice@acme.test"))
            .await,
    );
    let mut tx = begin(&core).await;
    assert!(tx.user_soft_delete(&a.id, &u.id, core.now()).await.unwrap());
    assert!(
        tx.user_get_by_email(&a.id, u.email.as_ref().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.user_get(&a.id, &u.id)
            .await
            .unwrap()
            .unwrap()
            .deleted_at
            .is_some()
    );
    assert!(tx.user_list(&a.id, Page::first()).await.unwrap().is_empty());
    tx.user_insert(&user(&core, &a, "alice@acme.test"))
        .await
        .unwrap();
}

async fn uniqueness_is_per_tenant(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    tx.org_insert(&org(&core, &a, "acme")).await.unwrap();
    tx.org_insert(&org(&core, &b, "acme")).await.unwrap();
    tx.user_insert(&user(&core, &a, "same@x.test"))
        .await
        .unwrap();
    tx.user_insert(&user(&core, &b, "same@x.test"))
        .await
        .unwrap();
    tx.api_insert(&api(&core, &a, "https://same", &[]))
        .await
        .unwrap();
    tx.api_insert(&api(&core, &b, "https://same", &[]))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_conflict(begin(&core).await.org_insert(&org(&core, &a, "acme")).await);
    assert_conflict(
        begin(&core)
            .await
            .api_insert(&api(&core, &a, "https://same", &[]))
            .await,
    );
    assert_conflict(
        begin(&core)
            .await
            .user_insert(&user(&core, &a, "same@x.test"))
            .await,
    );
}

async fn key_rotation_publishes_before_signing(db: TestDb) {
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let core = db.core_with_clock(clock.clone());
    let (a, _) = two_tenants(&core).await;
    let kid_of = |state| {
        let core = core.clone();
        let a = a.clone();
        async move {
            let mut tx = core.store.read().await.unwrap();
            tx.key_list(&a.id)
                .await
                .unwrap()
                .into_iter()
                .filter(|k| k.state == state)
                .map(|k| k.kid)
                .collect::<Vec<_>>()
        }
    };
    let active0 = kid_of(KeyState::Active).await;
    let next0 = kid_of(KeyState::Next).await;
    assert_eq!((active0.len(), next0.len()), (1, 1));
    let jwks = core.jwks(&a).await.unwrap();
    assert!(
        jwks.find(next0[0].as_str()).is_some(),
        "next key is published before it signs"
    );

    let mut tx = core.store.begin().await.unwrap();
    let active1 = core.rotate_signing_keys(&mut *tx, &a).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        active1.kid, next0[0],
        "the published next key starts signing"
    );
    let mut tx = core.store.read().await.unwrap();
    let signer = core.active_signer(&mut *tx, &a).await.unwrap();
    drop(tx);
    assert_eq!(signer.kid(), next0[0].as_str());
    let jws = signer
        .sign_jws(
            &serde_json::Map::new(),
            &serde_json::json!({"sub": "x"}),
            &*core.rng,
        )
        .unwrap();
    let jwks = core.jwks(&a).await.unwrap();
    let verifier = clavis_crypto::Verifier::from_jwk(jwks.find(signer.kid()).unwrap()).unwrap();
    assert_eq!(verifier.verify_jws(&jws).unwrap()["sub"], "x");
    assert!(
        jwks.find(active0[0].as_str()).is_some(),
        "retired key kept while its tokens live"
    );
    assert_eq!(jwks.keys.len(), 3);
    assert_eq!(kid_of(KeyState::Retired).await, active0);

    // after the longest token lifetime the retired key leaves the JWKS, and the next
    // rotation removes it
    clock.advance_secs(a.settings.max_token_lifetime + 1);
    let jwks = core.jwks(&a).await.unwrap();
    assert!(jwks.find(active0[0].as_str()).is_none());
    let mut tx = core.store.begin().await.unwrap();
    core.rotate_signing_keys(&mut *tx, &a).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = core.store.read().await.unwrap();
    assert!(
        !tx.key_list(&a.id)
            .await
            .unwrap()
            .iter()
            .any(|k| k.kid == active0[0])
    );
}

async fn newer_schema_is_refused(db: TestDb) {
    let mut tx = db.core().store.begin().await.unwrap();
    drop(tx.tenant_list(Page::first()).await.unwrap());
    drop(tx);
    raw_exec(&db, "INSERT INTO clavis_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', 'x', 0)").await;
    let err = db
        .store
        .migrate(Timestamp::from_millis(0))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Schema(_)), "{msg}");
    assert!(msg.contains("9999") && msg.contains("newer"), "{msg}");
}

async fn edited_migration_is_refused(db: TestDb) {
    raw_exec(
        &db,
        "UPDATE clavis_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let msg = db
        .store
        .migrate(Timestamp::from_millis(0))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("never be edited"), "{msg}");
}

async fn rollback_leaves_nothing(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    {
        let mut tx = core.store.begin().await.unwrap();
        tx.org_insert(&org(&core, &a, "ghost")).await.unwrap();
        // dropped without commit
    }
    let mut tx = core.store.read().await.unwrap();
    assert!(tx.org_list(&a.id, Page::first()).await.unwrap().is_empty());
}

async fn a_failed_statement_aborts_the_transaction(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    tx.org_insert(&org(&core, &a, "first")).await.unwrap();
    assert_conflict(tx.org_insert(&org(&core, &a, "first")).await);
    // same behaviour on both backends: nothing more runs, nothing commits
    assert!(tx.org_list(&a.id, Page::first()).await.is_err());
    assert!(tx.commit().await.is_err());
    let mut tx = core.store.read().await.unwrap();
    assert!(tx.org_list(&a.id, Page::first()).await.unwrap().is_empty());
}
