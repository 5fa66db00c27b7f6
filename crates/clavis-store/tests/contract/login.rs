//! Universal Login storage, part one: one-time tickets (single use under concurrency,
//! expiry, attempts), password history, the lifecycle's session queries, consents,
//! attack-protection counters (every concurrent hit counted) and lockouts — and, for each,
//! nothing of tenant A readable, changeable or deletable through tenant B.

use clavis_core::Core;
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;
use std::collections::BTreeSet;

use crate::support::*;

clavis_store::on_both_backends!(
    tickets_are_single_use_expire_and_count_attempts,
    concurrent_consumes_of_one_ticket_succeed_once,
    ticket_isolation,
    password_history_keeps_the_newest,
    session_revoke_all_and_seen_agent,
    consents_upsert_and_isolation,
    concurrent_rate_hits_are_all_counted,
    rate_counters_windows_clear_purge_and_isolation,
    lockouts_put_replace_clear_and_isolation,
);

const T0: i64 = 1_700_000_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(T0).plus_secs(secs)
}

fn ticket(t: &Tenant, u: &User, kind: TicketKind, digest: u8, created: i64) -> UserTicket {
    UserTicket {
        tenant_id: t.id.clone(),
        digest: vec![digest; 32],
        kind,
        user_id: u.id.clone(),
        email: "alice@x.test".into(),
        code_digest: Some(vec![digest ^ 0xff; 32]),
        attempts: 0,
        created_at: at(created),
        expires_at: at(created + 600),
        consumed_at: None,
    }
}

/// Two stores on the database, as two nodes would have. SQLite has one writer per
/// process, so its "nodes" share one store (two would only wait on each other's locks).
async fn nodes(db: &TestDb) -> Vec<std::sync::Arc<dyn clavis_core::ports::Store>> {
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let store = match db.backend {
            clavis_store::testing::Backend::Sqlite if !nodes.is_empty() => continue,
            _ => clavis_store::AnyStore::connect(&db.url).await.unwrap(),
        };
        nodes.push(store.into_store());
    }
    nodes
}

async fn tenant_with_user(core: &Core) -> (Tenant, Tenant, User) {
    let (a, b) = two_tenants(core).await;
    let u = user(core, &a, "alice@x.test");
    let mut tx = begin(core).await;
    tx.user_insert(&u).await.unwrap();
    tx.commit().await.unwrap();
    (a, b, u)
}

async fn tickets_are_single_use_expire_and_count_attempts(db: TestDb) {
    let core = db.core();
    let (a, _, u) = tenant_with_user(&core).await;
    let mut tx = begin(&core).await;
    let old = ticket(&a, &u, TicketKind::VerifyEmail, 1, 0);
    let new = ticket(&a, &u, TicketKind::VerifyEmail, 2, 10);
    let reset = ticket(&a, &u, TicketKind::ResetPassword, 3, 20);
    for t in [&old, &new, &reset] {
        tx.ticket_insert(t).await.unwrap();
    }
    assert_eq!(
        tx.ticket_get(&a.id, &old.digest).await.unwrap(),
        Some(old.clone())
    );
    assert!(tx.ticket_get(&a.id, &[9; 32]).await.unwrap().is_none());
    // the newest open ticket of the kind
    assert_eq!(
        tx.ticket_latest_open(&a.id, &u.id, TicketKind::VerifyEmail, at(30))
            .await
            .unwrap(),
        Some(new.clone())
    );
    assert!(
        tx.ticket_latest_open(&a.id, &u.id, TicketKind::Unlock, at(30))
            .await
            .unwrap()
            .is_none()
    );
    // attempts count up, one at a time
    for want in 1..=3 {
        assert_eq!(
            tx.ticket_add_attempt(&a.id, &new.digest).await.unwrap(),
            want
        );
    }
    assert_eq!(tx.ticket_add_attempt(&a.id, &[9; 32]).await.unwrap(), 0);
    assert_eq!(
        tx.ticket_get(&a.id, &new.digest)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        3
    );
    // single use
    assert!(tx.ticket_consume(&a.id, &new.digest, at(40)).await.unwrap());
    assert!(!tx.ticket_consume(&a.id, &new.digest, at(41)).await.unwrap());
    assert_eq!(
        tx.ticket_get(&a.id, &new.digest)
            .await
            .unwrap()
            .unwrap()
            .consumed_at,
        Some(at(40))
    );
    // the consumed one is no longer the latest open one
    assert_eq!(
        tx.ticket_latest_open(&a.id, &u.id, TicketKind::VerifyEmail, at(40))
            .await
            .unwrap(),
        Some(old.clone())
    );
    // expired: neither open nor consumable (expiry is exclusive)
    assert!(
        tx.ticket_latest_open(&a.id, &u.id, TicketKind::VerifyEmail, old.expires_at)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !tx.ticket_consume(&a.id, &old.digest, old.expires_at)
            .await
            .unwrap()
    );
    assert!(
        tx.ticket_get(&a.id, &old.digest)
            .await
            .unwrap()
            .unwrap()
            .consumed_at
            .is_none()
    );
    // consume_all takes every open ticket of the kind, and only those
    let r2 = ticket(&a, &u, TicketKind::ResetPassword, 4, 25);
    tx.ticket_insert(&r2).await.unwrap();
    assert_eq!(
        tx.ticket_consume_all(&a.id, &u.id, TicketKind::ResetPassword, at(50))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tx.ticket_consume_all(&a.id, &u.id, TicketKind::ResetPassword, at(51))
            .await
            .unwrap(),
        0
    );
    assert!(
        !tx.ticket_consume(&a.id, &reset.digest, at(52))
            .await
            .unwrap()
    );
    assert!(
        tx.ticket_latest_open(&a.id, &u.id, TicketKind::VerifyEmail, at(52))
            .await
            .unwrap()
            .is_some(),
        "other kinds untouched"
    );
    // counted by creation time, consumed or not
    assert_eq!(
        tx.ticket_count_since(&a.id, &u.id, TicketKind::VerifyEmail, at(0))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tx.ticket_count_since(&a.id, &u.id, TicketKind::VerifyEmail, at(10))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tx.ticket_count_since(&a.id, &u.id, TicketKind::VerifyEmail, at(11))
            .await
            .unwrap(),
        0
    );
    // a duplicate digest is refused
    assert_conflict(tx.ticket_insert(&old).await);
}

async fn concurrent_consumes_of_one_ticket_succeed_once(db: TestDb) {
    let core = db.core();
    let (a, _, u) = tenant_with_user(&core).await;
    let t = ticket(&a, &u, TicketKind::ResetPassword, 7, 0);
    let mut tx = begin(&core).await;
    tx.ticket_insert(&t).await.unwrap();
    tx.commit().await.unwrap();
    // several nodes, each with its own pool, consume at once
    let nodes = nodes(&db).await;
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = nodes[i % nodes.len()].clone();
        let (tenant, digest) = (a.id.clone(), t.digest.clone());
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let ok = tx.ticket_consume(&tenant, &digest, at(60)).await.unwrap();
            tx.commit().await.unwrap();
            ok
        }));
    }
    let mut wins = 0;
    for h in handles {
        wins += usize::from(h.await.unwrap());
    }
    assert_eq!(wins, 1);
    for n in nodes {
        n.close().await;
    }
}

async fn ticket_isolation(db: TestDb) {
    let core = db.core();
    let (a, b, u) = tenant_with_user(&core).await;
    let mut tx = begin(&core).await;
    let t = ticket(&a, &u, TicketKind::VerifyEmail, 5, 0);
    tx.ticket_insert(&t).await.unwrap();
    assert!(tx.ticket_get(&b.id, &t.digest).await.unwrap().is_none());
    assert!(
        tx.ticket_latest_open(&b.id, &u.id, TicketKind::VerifyEmail, at(1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!tx.ticket_consume(&b.id, &t.digest, at(1)).await.unwrap());
    assert_eq!(tx.ticket_add_attempt(&b.id, &t.digest).await.unwrap(), 0);
    assert_eq!(
        tx.ticket_consume_all(&b.id, &u.id, TicketKind::VerifyEmail, at(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        tx.ticket_count_since(&b.id, &u.id, TicketKind::VerifyEmail, at(0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        tx.ticket_get(&a.id, &t.digest).await.unwrap(),
        Some(t.clone())
    );
    tx.commit().await.unwrap();
    // a ticket of tenant B cannot name A's user
    let mut forged = t.clone();
    forged.tenant_id = b.id.clone();
    assert_conflict(begin(&core).await.ticket_insert(&forged).await);
}

async fn password_history_keeps_the_newest(db: TestDb) {
    let core = db.core();
    let (a, b, u) = tenant_with_user(&core).await;
    let mut tx = begin(&core).await;
    for i in 0..7 {
        tx.password_history_add(&a.id, &u.id, &format!("hash-{i}"), at(i))
            .await
            .unwrap();
    }
    let recent = tx.password_history_recent(&a.id, &u.id, 5).await.unwrap();
    assert_eq!(recent, ["hash-6", "hash-5", "hash-4", "hash-3", "hash-2"]);
    // the same hash again becomes the newest, not a second row
    tx.password_history_add(&a.id, &u.id, "hash-0", at(10))
        .await
        .unwrap();
    assert_eq!(
        tx.password_history_recent(&a.id, &u.id, 2).await.unwrap(),
        ["hash-0", "hash-6"]
    );
    // tenant B sees, trims and adds nothing of A's
    assert!(
        tx.password_history_recent(&b.id, &u.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tx.password_history_trim(&b.id, &u.id, 0).await.unwrap();
    assert_eq!(
        tx.password_history_recent(&a.id, &u.id, 10)
            .await
            .unwrap()
            .len(),
        7
    );
    tx.password_history_trim(&a.id, &u.id, 3).await.unwrap();
    assert_eq!(
        tx.password_history_recent(&a.id, &u.id, 10).await.unwrap(),
        ["hash-0", "hash-6", "hash-5"]
    );
    tx.password_history_trim(&a.id, &u.id, 0).await.unwrap();
    assert!(
        tx.password_history_recent(&a.id, &u.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();
    assert_conflict(
        begin(&core)
            .await
            .password_history_add(&b.id, &u.id, "x", at(0))
            .await,
    );
}

fn session(core: &Core, t: &Tenant, u: &User, agent: Option<&str>, created: i64) -> Session {
    Session {
        tenant_id: t.id.clone(),
        id: SessionId::generate(core.now(), &*core.rng),
        secret_digest: vec![7; 32],
        user_id: u.id.clone(),
        auth_time: at(created),
        amr: vec!["pwd".into()],
        created_at: at(created),
        last_seen_at: at(created),
        idle_expires_at: at(created + 3600),
        absolute_expires_at: at(created + 7200),
        ip_address: None,
        user_agent: agent.map(str::to_owned),
        revoked_at: None,
    }
}

async fn session_revoke_all_and_seen_agent(db: TestDb) {
    let core = db.core();
    let (a, b, u) = tenant_with_user(&core).await;
    let other = user(&core, &a, "bob@x.test");
    let mut tx = begin(&core).await;
    tx.user_insert(&other).await.unwrap();
    let s1 = session(&core, &a, &u, Some("Firefox"), 0);
    let s2 = session(&core, &a, &u, Some("Chrome"), 100);
    let s3 = session(&core, &a, &u, None, 200);
    let bobs = session(&core, &a, &other, Some("Firefox"), 0);
    for s in [&s1, &s2, &s3, &bobs] {
        tx.session_insert(s).await.unwrap();
    }
    assert!(tx.session_revoke(&a.id, &s3.id, at(300)).await.unwrap());
    // seen with this exact agent since a time
    assert!(
        tx.session_seen_agent(&a.id, &u.id, "Firefox", at(0))
            .await
            .unwrap()
    );
    assert!(
        !tx.session_seen_agent(&a.id, &u.id, "Firefox", at(1))
            .await
            .unwrap()
    );
    assert!(
        tx.session_seen_agent(&a.id, &u.id, "Chrome", at(1))
            .await
            .unwrap()
    );
    assert!(
        !tx.session_seen_agent(&a.id, &u.id, "firefox", at(0))
            .await
            .unwrap()
    );
    assert!(
        !tx.session_seen_agent(&b.id, &u.id, "Firefox", at(0))
            .await
            .unwrap()
    );
    // tenant B revokes nothing of A's
    assert_eq!(
        tx.session_revoke_all(&b.id, &u.id, None, at(400))
            .await
            .unwrap(),
        0
    );
    // keep one; the already revoked one is not counted; another user's untouched
    assert_eq!(
        tx.session_revoke_all(&a.id, &u.id, Some(&s2.id), at(400))
            .await
            .unwrap(),
        1
    );
    for (s, revoked) in [
        (&s1, Some(at(400))),
        (&s2, None),
        (&s3, Some(at(300))),
        (&bobs, None),
    ] {
        let got = tx.session_get(&a.id, &s.id).await.unwrap().unwrap();
        assert_eq!(got.revoked_at, revoked, "{}", s.id);
    }
    assert_eq!(
        tx.session_revoke_all(&a.id, &u.id, None, at(500))
            .await
            .unwrap(),
        1
    );
    assert!(
        !tx.session_get(&a.id, &s2.id)
            .await
            .unwrap()
            .unwrap()
            .is_live(at(501))
    );
}

async fn consents_upsert_and_isolation(db: TestDb) {
    let core = db.core();
    let (a, b, u) = tenant_with_user(&core).await;
    let app = application(&core, &a, "third party");
    let app2 = application(&core, &a, "another");
    let mut tx = begin(&core).await;
    tx.app_insert(&app).await.unwrap();
    tx.app_insert(&app2).await.unwrap();
    let c = Consent {
        tenant_id: a.id.clone(),
        user_id: u.id.clone(),
        client_id: app.client_id.clone(),
        audience: String::new(),
        scopes: vec!["openid".into(), "profile".into()],
        created_at: at(0),
        updated_at: at(0),
    };
    tx.consent_upsert(&c).await.unwrap();
    let api_consent = Consent {
        audience: "https://api.test".into(),
        scopes: vec!["read:things".into()],
        ..c.clone()
    };
    tx.consent_upsert(&api_consent).await.unwrap();
    let other_app = Consent {
        client_id: app2.client_id.clone(),
        ..c.clone()
    };
    tx.consent_upsert(&other_app).await.unwrap();
    assert_eq!(
        tx.consent_get(&a.id, &u.id, &app.client_id, "")
            .await
            .unwrap(),
        Some(c.clone())
    );
    // upsert replaces scopes and updated_at, keeps created_at
    let widened = Consent {
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        created_at: at(99),
        updated_at: at(100),
        ..c.clone()
    };
    tx.consent_upsert(&widened).await.unwrap();
    let got = tx
        .consent_get(&a.id, &u.id, &app.client_id, "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.scopes, widened.scopes);
    assert_eq!((got.created_at, got.updated_at), (at(0), at(100)));
    assert_eq!(
        tx.consent_list_for_user(&a.id, &u.id).await.unwrap().len(),
        3
    );
    // tenant B: nothing to read, list or delete
    assert!(
        tx.consent_get(&b.id, &u.id, &app.client_id, "")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.consent_list_for_user(&b.id, &u.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !tx.consent_delete(&b.id, &u.id, &app.client_id, "")
            .await
            .unwrap()
    );
    assert!(
        tx.consent_delete(&a.id, &u.id, &app.client_id, "")
            .await
            .unwrap()
    );
    assert!(
        !tx.consent_delete(&a.id, &u.id, &app.client_id, "")
            .await
            .unwrap()
    );
    assert_eq!(
        tx.consent_get(&a.id, &u.id, &app.client_id, "https://api.test")
            .await
            .unwrap(),
        Some(api_consent.clone())
    );
    tx.commit().await.unwrap();
    // a consent of tenant B cannot name A's user and client
    let forged = Consent {
        tenant_id: b.id.clone(),
        ..c.clone()
    };
    assert_conflict(begin(&core).await.consent_upsert(&forged).await);
}

async fn concurrent_rate_hits_are_all_counted(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let nodes = nodes(&db).await;
    let mut handles = Vec::new();
    for i in 0..20 {
        let store = nodes[i % nodes.len()].clone();
        let t = a.id.clone();
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let n = tx.rate_hit(&t, "auth-ip:203.0.113.7", 60).await.unwrap();
            tx.commit().await.unwrap();
            n
        }));
    }
    let mut seen = BTreeSet::new();
    for h in handles {
        seen.insert(h.await.unwrap());
    }
    assert_eq!(
        seen,
        (1..=20).collect::<BTreeSet<i64>>(),
        "each hit saw its own count"
    );
    let mut tx = core.store.read().await.unwrap();
    assert_eq!(
        tx.rate_get(&a.id, "auth-ip:203.0.113.7", 60).await.unwrap(),
        20
    );
    for n in nodes {
        n.close().await;
    }
}

async fn rate_counters_windows_clear_purge_and_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let bucket = "login-fail:abc";
    assert_eq!(tx.rate_get(&a.id, bucket, 0).await.unwrap(), 0);
    assert_eq!(tx.rate_hit(&a.id, bucket, 0).await.unwrap(), 1);
    assert_eq!(tx.rate_hit(&a.id, bucket, 0).await.unwrap(), 2);
    // another window, another bucket, another tenant: separate counts
    assert_eq!(tx.rate_hit(&a.id, bucket, 3600).await.unwrap(), 1);
    assert_eq!(tx.rate_hit(&a.id, "login-fail:def", 0).await.unwrap(), 1);
    assert_eq!(tx.rate_get(&b.id, bucket, 0).await.unwrap(), 0);
    assert_eq!(tx.rate_hit(&b.id, bucket, 0).await.unwrap(), 1);
    assert_eq!(tx.rate_get(&a.id, bucket, 0).await.unwrap(), 2);
    // clearing through B leaves A's count
    tx.rate_clear(&b.id, bucket).await.unwrap();
    assert_eq!(tx.rate_get(&b.id, bucket, 0).await.unwrap(), 0);
    assert_eq!(tx.rate_get(&a.id, bucket, 0).await.unwrap(), 2);
    // purge drops old windows of every tenant
    tx.rate_hit(&b.id, bucket, 0).await.unwrap();
    assert_eq!(tx.rate_purge(3600).await.unwrap(), 3);
    assert_eq!(tx.rate_get(&a.id, bucket, 0).await.unwrap(), 0);
    assert_eq!(tx.rate_get(&a.id, bucket, 3600).await.unwrap(), 1);
    // clear forgets every window of the bucket, and only that bucket
    tx.rate_hit(&a.id, bucket, 7200).await.unwrap();
    tx.rate_hit(&a.id, "login-fail:def", 7200).await.unwrap();
    tx.rate_clear(&a.id, bucket).await.unwrap();
    assert_eq!(tx.rate_get(&a.id, bucket, 3600).await.unwrap(), 0);
    assert_eq!(tx.rate_get(&a.id, bucket, 7200).await.unwrap(), 0);
    assert_eq!(tx.rate_get(&a.id, "login-fail:def", 7200).await.unwrap(), 1);
}

async fn lockouts_put_replace_clear_and_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let l = Lockout {
        tenant_id: a.id.clone(),
        subject: "ab12cd".into(),
        locked_until: at(900),
        lock_count: 1,
        updated_at: at(0),
    };
    assert!(tx.lockout_get(&a.id, &l.subject).await.unwrap().is_none());
    tx.lockout_put(&l).await.unwrap();
    assert_eq!(
        tx.lockout_get(&a.id, &l.subject).await.unwrap(),
        Some(l.clone())
    );
    let again = Lockout {
        locked_until: at(2700),
        lock_count: 2,
        updated_at: at(900),
        ..l.clone()
    };
    tx.lockout_put(&again).await.unwrap();
    assert_eq!(
        tx.lockout_get(&a.id, &l.subject).await.unwrap(),
        Some(again.clone())
    );
    // tenant B neither sees nor clears it; its own lock of the same subject is separate
    assert!(tx.lockout_get(&b.id, &l.subject).await.unwrap().is_none());
    assert!(!tx.lockout_clear(&b.id, &l.subject).await.unwrap());
    let theirs = Lockout {
        tenant_id: b.id.clone(),
        ..l.clone()
    };
    tx.lockout_put(&theirs).await.unwrap();
    assert_eq!(
        tx.lockout_get(&a.id, &l.subject).await.unwrap(),
        Some(again.clone())
    );
    assert!(tx.lockout_clear(&a.id, &l.subject).await.unwrap());
    assert!(!tx.lockout_clear(&a.id, &l.subject).await.unwrap());
    assert_eq!(
        tx.lockout_get(&b.id, &l.subject).await.unwrap(),
        Some(theirs)
    );
}
