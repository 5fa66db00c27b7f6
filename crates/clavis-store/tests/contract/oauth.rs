//! Client grants, sessions, authorization codes, token families and refresh tokens:
//! single use where it matters, and nothing crosses tenants. (The audit log has its own
//! suite in `audit.rs`.)

use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;

use crate::support::*;

clavis_store::on_both_backends!(
    client_grant_isolation,
    session_isolation_and_sliding,
    codes_are_single_use_and_tenant_scoped,
    refresh_tokens_and_families,
    every_family_of_one_user_is_revoked_at_once,
    assertion_jtis_are_single_use,
    a_login_never_unblocks_a_user,
);

async fn client_grant_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let api_a = api(&core, &a, "https://api", &["read"]);
    let app_a = application(&core, &a, "m2m");
    tx.api_insert(&api_a).await.unwrap();
    tx.app_insert(&app_a).await.unwrap();
    let now = core.now();
    let g = ClientGrant {
        tenant_id: a.id.clone(),
        id: ClientGrantId::generate(now, &*core.rng),
        client_id: app_a.client_id.clone(),
        api_id: api_a.id.clone(),
        scope: vec!["read".into()],
        created_at: now,
        updated_at: now,
    };
    tx.client_grant_upsert(&g).await.unwrap();
    assert!(
        tx.client_grant_get(&b.id, &app_a.client_id, &api_a.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.client_grant_list(&b.id, &app_a.client_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!tx.client_grant_delete(&b.id, &g.id).await.unwrap());
    assert_eq!(
        tx.client_grant_get(&a.id, &app_a.client_id, &api_a.id)
            .await
            .unwrap(),
        Some(g.clone())
    );
    tx.commit().await.unwrap();
    // a grant of tenant B cannot point at A's client or Api
    let mut forged = g.clone();
    forged.tenant_id = b.id.clone();
    forged.id = ClientGrantId::generate(now, &*core.rng);
    assert_conflict(begin(&core).await.client_grant_upsert(&forged).await);
}

fn session(core: &clavis_core::Core, t: &Tenant, u: &User) -> Session {
    let now = core.now();
    Session {
        tenant_id: t.id.clone(),
        id: SessionId::generate(now, &*core.rng),
        secret_digest: vec![7; 32],
        user_id: u.id.clone(),
        auth_time: now,
        amr: vec!["pwd".into()],
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now.plus_secs(60),
        absolute_expires_at: now.plus_secs(120),
        ip_address: Some("127.0.0.1".into()),
        user_agent: None,
        revoked_at: None,
    }
}

async fn session_isolation_and_sliding(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let u = user(&core, &a, "alice@x.test");
    tx.user_insert(&u).await.unwrap();
    let s = session(&core, &a, &u);
    tx.session_insert(&s).await.unwrap();
    assert!(tx.session_get(&b.id, &s.id).await.unwrap().is_none());
    assert!(
        !tx.session_touch(&b.id, &s.id, core.now(), core.now().plus_secs(90))
            .await
            .unwrap()
    );
    assert!(!tx.session_revoke(&b.id, &s.id, core.now()).await.unwrap());
    // sliding never passes the absolute expiry
    assert!(
        tx.session_touch(&a.id, &s.id, core.now(), s.created_at.plus_secs(1000))
            .await
            .unwrap()
    );
    let got = tx.session_get(&a.id, &s.id).await.unwrap().unwrap();
    assert_eq!(got.idle_expires_at, s.absolute_expires_at);
    assert!(tx.session_revoke(&a.id, &s.id, core.now()).await.unwrap());
    assert!(!tx.session_revoke(&a.id, &s.id, core.now()).await.unwrap());
    assert!(
        !tx.session_get(&a.id, &s.id)
            .await
            .unwrap()
            .unwrap()
            .is_live(core.now())
    );
}

async fn setup_user_app(core: &clavis_core::Core, t: &Tenant) -> (User, Application, Session) {
    let mut tx = begin(core).await;
    let u = user(core, t, "alice@x.test");
    let app = application(core, t, "web");
    let s = session(core, t, &u);
    tx.user_insert(&u).await.unwrap();
    tx.app_insert(&app).await.unwrap();
    tx.session_insert(&s).await.unwrap();
    tx.commit().await.unwrap();
    (u, app, s)
}

async fn codes_are_single_use_and_tenant_scoped(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let (u, app, s) = setup_user_app(&core, &a).await;
    let now = core.now();
    let code = AuthorizationCode {
        tenant_id: a.id.clone(),
        code_digest: vec![1; 32],
        client_id: app.client_id.clone(),
        user_id: u.id.clone(),
        session_id: s.id.clone(),
        org_id: None,
        redirect_uri: "https://app.test/callback".into(),
        scope: "openid".into(),
        audience: None,
        nonce: Some("n".into()),
        code_challenge: None,
        auth_time: now,
        amr: vec!["pwd".into()],
        family_id: FamilyId::generate(now, &*core.rng),
        created_at: now,
        expires_at: now.plus_secs(60),
        consumed_at: None,
    };
    let mut tx = begin(&core).await;
    tx.code_insert(&code).await.unwrap();
    assert!(
        tx.code_consume(&b.id, &code.code_digest, now)
            .await
            .unwrap()
            .is_none()
    );
    let (first, fresh) = tx
        .code_consume(&a.id, &code.code_digest, now)
        .await
        .unwrap()
        .unwrap();
    assert!(fresh);
    assert_eq!(first.nonce.as_deref(), Some("n"));
    let (_, again) = tx
        .code_consume(&a.id, &code.code_digest, now)
        .await
        .unwrap()
        .unwrap();
    assert!(!again, "a second consumption is reported as a replay");
}

async fn refresh_tokens_and_families(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let (u, app, s) = setup_user_app(&core, &a).await;
    let now = core.now();
    let fam = TokenFamily {
        tenant_id: a.id.clone(),
        id: FamilyId::generate(now, &*core.rng),
        client_id: app.client_id.clone(),
        user_id: u.id.clone(),
        org_id: None,
        session_id: Some(s.id.clone()),
        scope: "openid offline_access".into(),
        audience: None,
        auth_time: now,
        amr: vec!["pwd".into()],
        created_at: now,
        absolute_expires_at: now.plus_secs(90),
        revoked_at: None,
        revoked_reason: None,
    };
    let rt = RefreshToken {
        tenant_id: a.id.clone(),
        token_digest: vec![9; 32],
        family_id: fam.id.clone(),
        created_at: now,
        idle_expires_at: now.plus_secs(30),
        used_at: None,
    };
    let mut tx = begin(&core).await;
    tx.family_insert(&fam).await.unwrap();
    tx.refresh_insert(&rt).await.unwrap();
    tx.access_token_record(&a.id, "jti-1", &fam.id, now.plus_secs(60))
        .await
        .unwrap();
    assert!(
        tx.refresh_get(&b.id, &rt.token_digest)
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.family_get(&b.id, &fam.id).await.unwrap().is_none());
    assert!(
        tx.access_token_family(&b.id, "jti-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !tx.refresh_mark_used(&b.id, &rt.token_digest, now)
            .await
            .unwrap()
    );
    assert!(!tx.family_revoke(&b.id, &fam.id, now, "x").await.unwrap());
    assert_eq!(
        tx.access_token_family(&a.id, "jti-1").await.unwrap(),
        Some(fam.id.clone())
    );
    assert!(
        tx.refresh_mark_used(&a.id, &rt.token_digest, now)
            .await
            .unwrap()
    );
    assert!(
        !tx.refresh_mark_used(&a.id, &rt.token_digest, now)
            .await
            .unwrap(),
        "second use is detected"
    );
    assert!(
        tx.family_revoke(&a.id, &fam.id, now, "reuse")
            .await
            .unwrap()
    );
    assert!(
        !tx.family_revoke(&a.id, &fam.id, now, "reuse")
            .await
            .unwrap()
    );
    let f = tx.family_get(&a.id, &fam.id).await.unwrap().unwrap();
    assert_eq!(f.revoked_reason.as_deref(), Some("reuse"));
}

/// A token family of `user` (through `app`) created at `now`.
fn family_of(core: &clavis_core::Core, user: &User, app: &Application) -> TokenFamily {
    let now = core.now();
    TokenFamily {
        tenant_id: user.tenant_id.clone(),
        id: FamilyId::generate(now, &*core.rng),
        client_id: app.client_id.clone(),
        user_id: user.id.clone(),
        org_id: None,
        session_id: None,
        scope: "openid offline_access".into(),
        audience: None,
        auth_time: now,
        amr: vec!["pwd".into()],
        created_at: now,
        absolute_expires_at: now.plus_secs(90),
        revoked_at: None,
        revoked_reason: None,
    }
}

async fn every_family_of_one_user_is_revoked_at_once(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let (u, app, _) = setup_user_app(&core, &a).await;
    let v = user(&core, &a, "bob@x.test");
    let earlier = core.now().plus_secs(-10);
    let now = core.now();
    let mut tx = begin(&core).await;
    tx.user_insert(&v).await.unwrap();
    let mine = [family_of(&core, &u, &app), family_of(&core, &u, &app)];
    let already = family_of(&core, &u, &app);
    let other = family_of(&core, &v, &app);
    for f in mine.iter().chain([&already, &other]) {
        tx.family_insert(f).await.unwrap();
    }
    assert!(
        tx.family_revoke(&a.id, &already.id, earlier, "reuse")
            .await
            .unwrap()
    );
    // Another tenant cannot reach them.
    assert_eq!(
        tx.family_revoke_all_for_user(&b.id, &u.id, now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        tx.family_revoke_all_for_user(&a.id, &u.id, now)
            .await
            .unwrap(),
        2,
        "the families not revoked yet"
    );
    for f in &mine {
        let f = tx.family_get(&a.id, &f.id).await.unwrap().unwrap();
        assert_eq!(f.revoked_at, Some(now));
        assert_eq!(
            f.revoked_reason.as_deref(),
            Some(clavis_core::ports::USER_FAMILIES_REVOKED)
        );
    }
    let f = tx.family_get(&a.id, &already.id).await.unwrap().unwrap();
    assert_eq!(
        (f.revoked_at, f.revoked_reason.as_deref()),
        (Some(earlier), Some("reuse")),
        "an earlier revocation is kept as it was"
    );
    let f = tx.family_get(&a.id, &other.id).await.unwrap().unwrap();
    assert_eq!(f.revoked_at, None, "another user's family is untouched");
    assert_eq!(
        tx.family_revoke_all_for_user(&a.id, &u.id, now)
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();
}

async fn assertion_jtis_are_single_use(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let app = application(&core, &a, "m2m");
    tx.app_insert(&app).await.unwrap();
    let now = core.now();
    assert!(
        tx.assertion_jti_use(&a.id, &app.client_id, "j1", now.plus_secs(60), now)
            .await
            .unwrap()
    );
    assert!(
        !tx.assertion_jti_use(&a.id, &app.client_id, "j1", now.plus_secs(60), now)
            .await
            .unwrap()
    );
    assert!(
        tx.assertion_jti_use(&b.id, &app.client_id, "j1", now.plus_secs(60), now)
            .await
            .unwrap(),
        "per tenant"
    );
    // once expired, the entry is dropped
    let later = now.plus_secs(61);
    assert!(
        tx.assertion_jti_use(&a.id, &app.client_id, "j1", later.plus_secs(60), later)
            .await
            .unwrap()
    );
}

async fn a_login_never_unblocks_a_user(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let mut u = user(&core, &a, "alice@x.test");
    tx.user_insert(&u).await.unwrap();
    let now = core.now();
    assert!(
        !tx.user_record_login(&b.id, &u.id, now).await.unwrap(),
        "not through another tenant"
    );
    assert!(tx.user_record_login(&a.id, &u.id, now).await.unwrap());
    u.blocked = true;
    assert!(tx.user_update(&u).await.unwrap());
    // a login that was checked before the block cannot record itself (or unblock)
    assert!(!tx.user_record_login(&a.id, &u.id, now).await.unwrap());
    assert!(tx.user_get(&a.id, &u.id).await.unwrap().unwrap().blocked);
}
