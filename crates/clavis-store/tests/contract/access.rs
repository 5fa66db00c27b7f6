//! Applications, Apis, roles and role assignments.

use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;

use crate::support::*;

clavis_store::on_both_backends!(
    application_isolation,
    api_isolation,
    role_isolation,
    role_assignment_isolation,
);

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
