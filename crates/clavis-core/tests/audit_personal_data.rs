//! Personal data in the audit log, against a real store on SQLite and PostgreSQL: sealed
//! on append under the subject user's key, unsealed in views, searchable by IP and email
//! within a scan budget, crypto-shredded by erasure while every hash still verifies, and
//! never readable through another tenant.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::chain::{ERASED, GENESIS, check_link};
use clavis_core::model::{
    AuditActor, AuditEvent, AuditOrganization, AuditQuery, ChainedEvent, JsonMap, Tenant,
    TenantSettings, User, UserProfile,
};
use clavis_core::oauth::LoginError;
use clavis_core::service::{AuditView, RequestMeta, SEARCH_SCAN_BUDGET, UNREADABLE};
use clavis_core::{Core, CoreError};
use clavis_store::testing::TestDb;
use clavis_types::{Email, Slug, UserId};
use serde_json::{Value, json};

clavis_store::on_both_backends!(
    personal_fields_are_sealed_at_rest_and_unsealed_in_views,
    events_without_a_subject_keep_their_fields_in_the_clear,
    another_tenant_cannot_unseal,
    erasure_shreds_the_key_and_keeps_every_hash,
    a_rolled_back_key_is_never_reused,
    concurrent_first_events_of_a_user_share_one_key,
    search_by_ip_and_email_continues_across_the_scan_budget,
    failed_logins_for_unknown_addresses_are_sealed_and_erased_with_the_address,
);

const EMAIL: &str = "ann@example.com";
const IP: &str = "198.51.100.7";
const UA: &str = "Mozilla/5.0 (AuditTest)";
const NAME: &str = "Ann Example";

fn meta(ip: &str) -> RequestMeta {
    RequestMeta {
        ip_address: Some(ip.to_owned()),
        user_agent: Some(UA.to_owned()),
        caller: None,
    }
}

async fn tenant(core: &Core, slug: &str) -> Tenant {
    let mut tx = core.store.begin().await.unwrap();
    let t = core
        .create_tenant(
            &mut *tx,
            &Slug::parse(slug).unwrap(),
            slug,
            TenantSettings::default(),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    t
}

fn new_user(core: &Core) -> String {
    UserId::generate(core.now(), &*core.rng).to_string()
}

/// A login-like event of `user` (actor) carrying every kind of personal data.
fn user_event(core: &Core, t: &Tenant, user: &str, email: &str, ip: &str) -> AuditEvent {
    core.audit_event(
        &t.id,
        "user.login.success",
        AuditActor {
            user_id: Some(user.to_owned()),
            email: Some(email.to_owned()),
            ..AuditActor::default()
        },
        Some(AuditOrganization {
            org_id: "org_acme".into(),
            name: Some("Acme".into()),
        }),
        JsonMap::from_iter([
            ("connection".to_owned(), json!("db")),
            ("name".to_owned(), json!(NAME)),
            ("phone_number".to_owned(), json!({"e164": "+15550100"})),
            ("nickname".to_owned(), Value::Null),
            ("risk_score".to_owned(), json!(0.12)),
        ]),
        &meta(ip),
    )
}

/// An event whose subject is named only in `context.user_id` (e.g. an admin action).
fn context_subject_event(core: &Core, t: &Tenant, user: &str) -> AuditEvent {
    core.audit_event(
        &t.id,
        "user.updated",
        AuditActor {
            client_id: Some("cl_admin".into()),
            ..AuditActor::default()
        },
        None,
        JsonMap::from_iter([
            ("user_id".to_owned(), json!(user)),
            ("email".to_owned(), json!(EMAIL)),
            ("username".to_owned(), json!("ann")),
        ]),
        &meta(IP),
    )
}

/// A client_credentials token issuance: no subject user.
fn client_event(core: &Core, t: &Tenant, ip: &str) -> AuditEvent {
    core.audit_event(
        &t.id,
        "token.issued",
        AuditActor {
            client_id: Some("cl_m2m".into()),
            ..AuditActor::default()
        },
        None,
        JsonMap::from_iter([("grant_type".to_owned(), json!("client_credentials"))]),
        &meta(ip),
    )
}

async fn append_in(core: &Core, e: AuditEvent) {
    let mut tx = core.store.begin().await.unwrap();
    core.audit_in(&mut *tx, e).await.unwrap();
    tx.commit().await.unwrap();
}

/// Every stored event of `t`, oldest first.
async fn stored(core: &Core, t: &Tenant) -> Vec<ChainedEvent> {
    let mut tx = core.store.read().await.unwrap();
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |e: &ChainedEvent| e.seq);
        let page = tx.audit_range(&t.id, after, None, 1000).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// Every link of the chain verifies from genesis.
fn assert_chain(events: &[ChainedEvent]) {
    let mut prev = GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "gap-free");
        check_link(e, &prev).unwrap_or_else(|err| panic!("seq {}: {err:?}", e.seq));
        prev = e.hash.clone();
    }
}

async fn views(core: &Core, t: &Tenant, events: &[ChainedEvent]) -> Vec<AuditView> {
    core.audit_views(t, events).await.unwrap()
}

async fn personal_fields_are_sealed_at_rest_and_unsealed_in_views(db: TestDb) {
    let core = db.core();
    let a = tenant(&core, "tenant-a").await;
    let ann = new_user(&core);
    append_in(&core, user_event(&core, &a, &ann, EMAIL, IP)).await;
    // Through the group-commit writer, subject named in the context.
    core.audit_now(context_subject_event(&core, &a, &ann))
        .await
        .unwrap();

    let rows = stored(&core, &a).await;
    assert_eq!(rows.len(), 2);
    assert_chain(&rows);
    for r in &rows {
        for secret in [EMAIL, IP, UA, NAME, "+15550100", "\"ann\""] {
            assert!(!r.body.contains(secret), "`{secret}` in clear: {}", r.body);
        }
        assert!(r.body.contains(&format!("sealed:v1:{ann}:")), "{}", r.body);
    }
    assert!(
        rows[0].body.contains("\"risk_score\":0.12"),
        "not personal: clear"
    );
    assert!(
        rows[0].body.contains("\"nickname\":null"),
        "null stays null"
    );

    let v = views(&core, &a, &rows).await;
    assert_eq!(v[0].seq, 1);
    assert_eq!(v[0].event_id, rows[0].event_id);
    assert_eq!(v[0].actor.user_id.as_deref(), Some(ann.as_str()));
    assert_eq!(v[0].actor.email.as_deref(), Some(EMAIL));
    assert_eq!(v[0].actor.ip_address.as_deref(), Some(IP));
    assert_eq!(v[0].actor.user_agent.as_deref(), Some(UA));
    assert_eq!(v[0].context["name"], json!(NAME));
    assert_eq!(v[0].context["phone_number"], json!({"e164": "+15550100"}));
    assert_eq!(v[0].context["risk_score"], json!(0.12));
    assert_eq!(v[0].organization.as_ref().unwrap().org_id, "org_acme");
    assert_eq!(
        v[0].hash_chain,
        format!("sha256:{GENESIS}:{}", rows[0].hash)
    );
    assert_eq!(
        v[1].hash_chain,
        format!("sha256:{}:{}", rows[0].hash, rows[1].hash)
    );
    assert_eq!(v[1].actor.ip_address.as_deref(), Some(IP));
    assert_eq!(v[1].context["email"], json!(EMAIL));
    assert_eq!(v[1].context["username"], json!("ann"));
    assert_eq!(v[1].context["user_id"], json!(ann));

    // The seed-000 shape on the wire.
    let wire = serde_json::to_value(&v[0]).unwrap();
    assert_eq!(wire["timestamp"].as_str().unwrap().len(), 24, "{wire}");
    assert!(wire["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(wire["actor"]["email"], EMAIL);
    assert_eq!(wire["organization"]["name"], "Acme");
    assert!(wire["context"].is_object() && wire["hash_chain"].is_string());

    let one = core
        .audit_event_view(&a, &rows[1].event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one, v[1]);
    assert!(
        core.audit_event_view(&a, "evt_nope")
            .await
            .unwrap()
            .is_none()
    );
}

async fn events_without_a_subject_keep_their_fields_in_the_clear(db: TestDb) {
    let core = db.core();
    let a = tenant(&core, "tenant-a").await;
    core.audit_now(client_event(&core, &a, IP)).await.unwrap();
    append_in(&core, client_event(&core, &a, "192.0.2.44")).await;
    let rows = stored(&core, &a).await;
    assert_eq!(rows.len(), 2);
    assert_chain(&rows);
    assert!(rows[0].body.contains(IP), "{}", rows[0].body);
    assert!(rows[0].body.contains(UA), "{}", rows[0].body);
    assert!(rows[1].body.contains("192.0.2.44"), "{}", rows[1].body);
    assert!(!rows.iter().any(|r| r.body.contains("sealed:")));
    let v = views(&core, &a, &rows).await;
    assert_eq!(v[0].actor.ip_address.as_deref(), Some(IP));
    assert_eq!(v[0].actor.client_id.as_deref(), Some("cl_m2m"));
}

async fn another_tenant_cannot_unseal(db: TestDb) {
    let core = db.core();
    let a = tenant(&core, "tenant-a").await;
    let b = tenant(&core, "tenant-b").await;
    let ann = new_user(&core);
    append_in(&core, user_event(&core, &a, &ann, EMAIL, IP)).await;
    let rows_a = stored(&core, &a).await;

    // B has no key for the user: nothing opens.
    let seen_by_b = serde_json::to_string(&views(&core, &b, &rows_a).await).unwrap();
    assert!(
        !seen_by_b.contains(EMAIL) && !seen_by_b.contains(IP),
        "{seen_by_b}"
    );
    assert!(seen_by_b.contains(ERASED), "{seen_by_b}");

    // Even when B has a key for the same user id, it does not open A's data.
    append_in(
        &core,
        user_event(&core, &b, &ann, "b@example.com", "192.0.2.9"),
    )
    .await;
    let v = views(&core, &b, &rows_a).await;
    assert_eq!(v[0].actor.email.as_deref(), Some(UNREADABLE));
    assert_eq!(v[0].context["name"], json!(UNREADABLE));
    // Each tenant reads its own.
    assert_eq!(
        views(&core, &a, &rows_a).await[0].actor.email.as_deref(),
        Some(EMAIL)
    );
    let rows_b = stored(&core, &b).await;
    assert_eq!(
        views(&core, &b, &rows_b).await[0].actor.email.as_deref(),
        Some("b@example.com")
    );

    // Search and lookups by id stay inside the tenant.
    let page = core
        .audit_search(&b, &AuditQuery::default(), None, Some(EMAIL), None, 100)
        .await
        .unwrap();
    assert!(page.events.is_empty(), "{:?}", page.events);
    assert!(
        core.audit_event_view(&b, &rows_a[0].event_id)
            .await
            .unwrap()
            .is_none()
    );
    // Erasing the user in B leaves A readable.
    assert!(core.audit_erase_subject(&b, &ann, &meta(IP)).await.unwrap());
    assert_eq!(
        views(&core, &a, &rows_a).await[0].actor.email.as_deref(),
        Some(EMAIL)
    );
}

async fn erasure_shreds_the_key_and_keeps_every_hash(db: TestDb) {
    let core = db.core();
    let a = tenant(&core, "tenant-a").await;
    let ann = new_user(&core);
    let bob = new_user(&core);
    append_in(&core, user_event(&core, &a, &ann, EMAIL, IP)).await;
    core.audit_now(user_event(&core, &a, &ann, EMAIL, IP))
        .await
        .unwrap(); // key now cached
    core.audit_now(context_subject_event(&core, &a, &ann))
        .await
        .unwrap();
    append_in(&core, user_event(&core, &a, &bob, "bob@example.com", IP)).await;
    core.audit_now(client_event(&core, &a, IP)).await.unwrap();
    let before = stored(&core, &a).await;

    let bad = core.audit_erase_subject(&a, "not-a-user", &meta(IP)).await;
    assert!(matches!(bad, Err(CoreError::Invalid { .. })), "{bad:?}");
    assert!(
        core.audit_erase_subject(&a, &ann, &meta("10.0.0.1"))
            .await
            .unwrap()
    );
    assert!(
        !core
            .audit_erase_subject(&a, &ann, &meta("10.0.0.1"))
            .await
            .unwrap(),
        "a second erasure changes nothing"
    );

    // Events appended after the erasure, on this node (its cache was invalidated) and
    // through both paths, carry no personal data at all.
    append_in(&core, user_event(&core, &a, &ann, EMAIL, IP)).await;
    core.audit_now(context_subject_event(&core, &a, &ann))
        .await
        .unwrap();

    let after = stored(&core, &a).await;
    assert_eq!(after.len(), before.len() + 3);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the log itself is not rewritten"
    );
    assert_chain(&after);
    let v = views(&core, &a, &after).await;
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains(EMAIL), "{text}");
    for i in [0, 1, 6] {
        assert_eq!(v[i].actor.email.as_deref(), Some(ERASED), "{i}");
        assert_eq!(v[i].actor.ip_address.as_deref(), Some(ERASED), "{i}");
        assert_eq!(v[i].actor.user_agent.as_deref(), Some(ERASED), "{i}");
        assert_eq!(v[i].context["name"], json!(ERASED), "{i}");
        assert_eq!(v[i].actor.user_id.as_deref(), Some(ann.as_str()));
    }
    for i in [2, 7] {
        assert_eq!(v[i].context["email"], json!(ERASED), "{i}");
        assert_eq!(v[i].actor.ip_address.as_deref(), Some(ERASED), "{i}");
    }
    for r in &after[6..] {
        assert!(
            !r.body.contains("sealed:") && r.body.contains(ERASED),
            "{}",
            r.body
        );
    }
    // Others are untouched.
    assert_eq!(v[3].actor.email.as_deref(), Some("bob@example.com"));
    assert_eq!(
        v[4].actor.ip_address.as_deref(),
        Some(IP),
        "no subject: in clear"
    );
    // The erasure is recorded, without the user's personal data.
    let erased = &v[5];
    assert_eq!(erased.event_type, "audit.subject_erased");
    assert_eq!(erased.context["subject_user_id"], json!(ann));
    assert_eq!(
        erased.actor.ip_address.as_deref(),
        Some("10.0.0.1"),
        "the operator's"
    );
    assert!(!after[5].body.contains(EMAIL));

    // A user who never had a key: erased up front, later events too.
    let cy = new_user(&core);
    assert!(core.audit_erase_subject(&a, &cy, &meta(IP)).await.unwrap());
    core.audit_now(user_event(&core, &a, &cy, "cy@example.com", IP))
        .await
        .unwrap();
    let last = stored(&core, &a).await.pop().unwrap();
    assert!(!last.body.contains("cy@example.com"), "{}", last.body);
    let v = views(&core, &a, std::slice::from_ref(&last)).await;
    assert_eq!(v[0].actor.email.as_deref(), Some(ERASED));
    assert_chain(&stored(&core, &a).await);
}

async fn a_rolled_back_key_is_never_reused(db: TestDb) {
    let core = db.core();
    let a = tenant(&core, "tenant-a").await;
    let dee = new_user(&core);
    {
        // The key is created in this transaction, which then rolls back.
        let mut tx = core.store.begin().await.unwrap();
        core.audit_in(&mut *tx, user_event(&core, &a, &dee, EMAIL, IP))
            .await
            .unwrap();
    }
    append_in(&core, user_event(&core, &a, &dee, EMAIL, IP)).await;
    core.audit_now(user_event(&core, &a, &dee, EMAIL, IP))
        .await
        .unwrap();
    let rows = stored(&core, &a).await;
    assert_eq!(rows.len(), 2, "the rolled-back event is gone");
    for v in views(&core, &a, &rows).await {
        assert_eq!(v.actor.email.as_deref(), Some(EMAIL), "seq {}", v.seq);
    }
}

async fn concurrent_first_events_of_a_user_share_one_key(db: TestDb) {
    // Two nodes (separate caches) on one database, both paths, all at once.
    let nodes = [db.core(), db.core()];
    let a = tenant(&nodes[0], "tenant-a").await;
    let eve = new_user(&nodes[0]);
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let core = nodes[i % 2].clone();
        let (a, eve, start) = (a.clone(), eve.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let e = user_event(&core, &a, &eve, EMAIL, IP);
            start.wait().await;
            if i % 4 < 2 {
                core.audit_now(e).await.unwrap();
            } else {
                append_in(&core, e).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = stored(&nodes[0], &a).await;
    assert_eq!(rows.len(), 16);
    assert_chain(&rows);
    for v in views(&nodes[1], &a, &rows).await {
        assert_eq!(v.actor.email.as_deref(), Some(EMAIL), "seq {}", v.seq);
    }
}

async fn search_by_ip_and_email_continues_across_the_scan_budget(db: TestDb) {
    let core = db.core();
    let a = tenant(&core, "tenant-a").await;
    let (ann, bob) = (new_user(&core), new_user(&core));
    let other_ip = "203.0.113.50";
    // seq 1: Ann (sealed); 2: a failed login for her address naming no user (sealed under
    // the address's pseudo-subject, other case); 3: Bob elsewhere; then more fillers than one call may scan; then Ann again and
    // Bob from Ann's address.
    append_in(&core, user_event(&core, &a, &ann, EMAIL, IP)).await;
    let unknown = core.audit_event(
        &a.id,
        "user.login.failure",
        AuditActor {
            email: Some("Ann@Example.COM".into()),
            ..AuditActor::default()
        },
        None,
        JsonMap::new(),
        &meta(&format!("::ffff:{IP}")),
    );
    append_in(&core, unknown).await;
    append_in(
        &core,
        user_event(&core, &a, &bob, "bob@example.com", other_ip),
    )
    .await;
    let fillers = SEARCH_SCAN_BUDGET as usize + 500;
    let mut batch: Vec<AuditEvent> = (0..fillers)
        .map(|_| client_event(&core, &a, other_ip))
        .collect();
    let mut tx = core.store.begin().await.unwrap();
    tx.audit_append(&a.id, &mut batch).await.unwrap();
    tx.commit().await.unwrap();
    append_in(&core, user_event(&core, &a, &ann, EMAIL, IP)).await;
    append_in(&core, user_event(&core, &a, &bob, "bob@example.com", IP)).await;
    let total = 3 + fillers as i64 + 2;
    let (late_ann, late_bob) = (total - 1, total);

    // Follow the cursors to the end; returns the seqs and how many pages were empty.
    let all = |q: AuditQuery, ip: Option<&'static str>, email: Option<&'static str>, limit| {
        let core = core.clone();
        let a = a.clone();
        async move {
            let (mut seqs, mut empty_pages, mut cursor) = (Vec::new(), 0, None::<String>);
            for _ in 0..20 {
                let page = core
                    .audit_search(&a, &q, ip, email, cursor.as_deref(), limit)
                    .await
                    .unwrap();
                assert!(page.events.len() <= limit.clamp(1, 100) as usize);
                if page.events.is_empty() {
                    empty_pages += 1;
                }
                seqs.extend(page.events.iter().map(|e| e.seq));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return (seqs, empty_pages),
                }
            }
            panic!("the cursor must end: {seqs:?}");
        }
    };

    // By IP: the budget ends the first call after the early matches.
    let first = core
        .audit_search(&a, &AuditQuery::default(), Some(IP), None, None, 100)
        .await
        .unwrap();
    assert_eq!(
        first.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        first.events[0].actor.ip_address.as_deref(),
        Some(IP),
        "unsealed"
    );
    let second = core
        .audit_search(
            &a,
            &AuditQuery::default(),
            Some(IP),
            None,
            Some(
                first
                    .next_cursor
                    .as_deref()
                    .expect("budget exhausted: a cursor"),
            ),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        second.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [late_ann, late_bob]
    );
    assert_eq!(second.next_cursor, None);

    // Pages of one, both directions; some pages are empty because the budget ran out.
    let (asc, empty) = all(AuditQuery::default(), Some(IP), None, 1).await;
    assert_eq!(asc, [1, 2, late_ann, late_bob]);
    assert!(empty >= 1, "one call cannot scan all {total} events");
    let newest = AuditQuery {
        newest_first: true,
        ..AuditQuery::default()
    };
    let (desc, _) = all(newest.clone(), Some(IP), None, 1).await;
    assert_eq!(desc, [late_bob, late_ann, 2, 1]);

    // By email (ASCII case ignored; sealed or in clear), and with SQL filters.
    let (by_email, _) = all(AuditQuery::default(), None, Some("ANN@example.com"), 100).await;
    assert_eq!(by_email, [1, 2, late_ann]);
    let bobs = AuditQuery {
        actor_user_id: Some(bob.clone()),
        ..AuditQuery::default()
    };
    let (bob_at_ip, _) = all(bobs, Some(IP), None, 100).await;
    assert_eq!(bob_at_ip, [late_bob]);
    let (both, _) = all(newest, Some(IP), Some(EMAIL), 100).await;
    assert_eq!(both, [late_ann, 2, 1]);

    // Without IP or email: plain pages; limit clamped to 1..=100.
    let p = core
        .audit_search(&a, &AuditQuery::default(), None, None, None, 0)
        .await
        .unwrap();
    assert_eq!(p.events.len(), 1);
    let p = core
        .audit_search(
            &a,
            &AuditQuery::default(),
            None,
            None,
            p.next_cursor.as_deref(),
            1000,
        )
        .await
        .unwrap();
    assert_eq!(p.events.len(), 100);
    assert_eq!(p.events[0].seq, 2);

    // After erasure, Ann's sealed address and IP no longer match; the failed login does
    // (Ann has no account here, so her erasure cannot name the address).
    core.audit_erase_subject(&a, &ann, &meta(other_ip))
        .await
        .unwrap();
    let (erased, _) = all(AuditQuery::default(), None, Some(EMAIL), 100).await;
    assert_eq!(erased, [2]);

    // A cursor from garbage is a clear error naming the cursor.
    for garbage in ["%00garbage", "djE6eDox", ""] {
        let err = core
            .audit_search(
                &a,
                &AuditQuery::default(),
                Some(IP),
                None,
                Some(garbage),
                10,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CoreError::Invalid { field, .. } if field == "cursor"),
            "{garbage}: {err}"
        );
    }
}

/// The pseudo-subject a sealed value names (`sealed:v1:{subject}:{ciphertext}`).
fn sealed_subject(v: &str) -> &str {
    let rest = v
        .strip_prefix("sealed:v1:")
        .unwrap_or_else(|| panic!("not sealed: {v}"));
    rest.rsplit_once(':').unwrap().0
}

async fn failed_logins_for_unknown_addresses_are_sealed_and_erased_with_the_address(db: TestDb) {
    // Two nodes: the second has not unwrapped the tenant's data key yet.
    let (core, node2) = (db.core(), db.core());
    let a = tenant(&core, "tenant-a").await;
    let login = |core: &Core, email: &'static str, ip: &'static str| {
        let (core, a) = (core.clone(), a.clone());
        async move {
            let r = core
                .password_login(&a, email, "not the password", &meta(ip))
                .await;
            assert!(matches!(r, Err(LoginError::WrongCredentials)), "{r:?}");
        }
    };
    let other_ip = "192.0.2.8";
    login(&core, "Zoe@Example.com", IP).await;
    login(&node2, "zoe@example.com", IP).await;
    login(&node2, "other@example.com", other_ip).await;
    // The same kind of event appended inside a transaction.
    let in_tx = core.audit_event(
        &a.id,
        "user.login.failure",
        AuditActor {
            email: Some("ZOE@example.com".into()),
            ..AuditActor::default()
        },
        None,
        JsonMap::new(),
        &meta(IP),
    );
    append_in(&core, in_tx).await;

    let rows = stored(&core, &a).await;
    assert_eq!(rows.len(), 4);
    assert_chain(&rows);
    let mut subjects = Vec::new();
    for r in &rows {
        let lower = r.body.to_lowercase();
        for secret in ["zoe@", "other@", "example.com", IP, other_ip, "mozilla"] {
            assert!(!lower.contains(secret), "`{secret}` in clear: {}", r.body);
        }
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let actor = &body["actor"];
        assert!(
            actor.get("user_id").is_none_or(Value::is_null),
            "{}",
            r.body
        );
        let subject = sealed_subject(actor["email"].as_str().unwrap()).to_owned();
        for field in ["ip_address", "user_agent"] {
            assert_eq!(sealed_subject(actor[field].as_str().unwrap()), subject);
        }
        assert!(subject.starts_with("eml_"), "{subject}");
        subjects.push(subject);
    }
    // One pseudo-subject per address, whatever its case and whichever node sealed it.
    assert_eq!(subjects[0], subjects[1]);
    assert_eq!(subjects[0], subjects[3]);
    assert_ne!(subjects[0], subjects[2]);

    // Views and searches unseal.
    let v = views(&core, &a, &rows).await;
    assert_eq!(v[0].actor.email.as_deref(), Some("zoe@example.com"));
    assert_eq!(v[0].actor.ip_address.as_deref(), Some(IP));
    assert_eq!(v[0].actor.user_agent.as_deref(), Some(UA));
    assert_eq!(v[0].actor.user_id, None);
    assert_eq!(v[0].context["reason"], json!("unknown email"));
    assert_eq!(v[2].actor.email.as_deref(), Some("other@example.com"));
    assert_eq!(v[3].actor.email.as_deref(), Some("ZOE@example.com"));
    let search = |ip: Option<&'static str>, email: Option<&'static str>| {
        let (core, a) = (core.clone(), a.clone());
        async move {
            let page = core
                .audit_search(&a, &AuditQuery::default(), ip, email, None, 100)
                .await
                .unwrap();
            page.events.iter().map(|e| e.seq).collect::<Vec<_>>()
        }
    };
    assert_eq!(search(None, Some("zoe@EXAMPLE.com")).await, [1, 2, 4]);
    assert_eq!(search(Some(other_ip), None).await, [3]);

    // The address later gets an account; erasing that user reaches the failed logins made
    // for the address before the account existed.
    let zoe = UserId::generate(core.now(), &*core.rng);
    let now = core.now();
    let mut tx = core.store.begin().await.unwrap();
    tx.user_insert(&User {
        tenant_id: a.id.clone(),
        id: zoe.clone(),
        email: Some(Email::parse("zoe@example.com").unwrap()),
        email_verified: false,
        profile: UserProfile::default(),
        user_metadata: JsonMap::new(),
        app_metadata: JsonMap::new(),
        blocked: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        deleted_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(
        core.audit_erase_subject(&a, zoe.as_str(), &meta("10.0.0.1"))
            .await
            .unwrap()
    );
    let after = stored(&core, &a).await;
    assert_eq!(after.len(), 5);
    assert_eq!(&after[..4], &rows[..], "the log itself is not rewritten");
    let v = views(&node2, &a, &after).await;
    for i in [0, 1, 3] {
        assert_eq!(v[i].actor.email.as_deref(), Some(ERASED), "{i}");
        assert_eq!(v[i].actor.ip_address.as_deref(), Some(ERASED), "{i}");
        assert_eq!(v[i].actor.user_agent.as_deref(), Some(ERASED), "{i}");
    }
    assert_eq!(v[2].actor.email.as_deref(), Some("other@example.com"));
    assert_eq!(v[2].actor.ip_address.as_deref(), Some(other_ip));
    assert_eq!(v[4].event_type, "audit.subject_erased");
    assert_eq!(v[4].context["subject_user_id"], json!(zoe.as_str()));
    assert_eq!(v[4].context["email_subject_erased"], json!(true));
    assert!(!after[4].body.contains("zoe@"), "{}", after[4].body);
    assert!(search(None, Some("zoe@example.com")).await.is_empty());
    assert_eq!(search(Some(IP), None).await, Vec::<i64>::new());
    let report = core.audit_verify(&a.id).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 5);
    assert!(
        !core
            .audit_erase_subject(&a, zoe.as_str(), &meta("10.0.0.1"))
            .await
            .unwrap(),
        "a second erasure changes nothing"
    );
}
