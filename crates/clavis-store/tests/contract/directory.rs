//! Tenants, organizations, memberships, teams, users, identities, connections.

use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;

use crate::support::*;

clavis_store::on_both_backends!(
    tenants_round_trip,
    organization_isolation,
    membership_isolation,
    team_isolation,
    user_isolation,
    identity_and_password_isolation,
    connection_isolation,
    soft_deleted_users_free_their_email,
    uniqueness_is_per_tenant,
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
