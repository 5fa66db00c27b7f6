//! Universal Login storage, part two: the email outbox (listing, claims that never hand
//! one message to two nodes, delivery outcomes that empty the bodies, purge), email
//! templates, branding of tenants and organizations, and organizations' email domains —
//! and, for each, nothing of tenant A readable, changeable or deletable through tenant B.

use clavis_core::Core;
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::support::*;

clavis_store::on_both_backends!(
    outbox_list_filter_and_isolation,
    concurrent_claims_never_share_a_message,
    delivery_outcomes_and_purge,
    email_templates_put_list_delete_and_isolation,
    branding_of_tenant_and_org_are_separate,
    org_domains_are_unique_per_tenant,
);

const T0: i64 = 1_700_000_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(T0).plus_secs(secs)
}

fn email(core: &Core, t: &Tenant, to: &str, state: EmailState, created: i64) -> OutboxEmail {
    OutboxEmail {
        tenant_id: t.id.clone(),
        id: EmailId::generate(at(created), &*core.rng),
        to_address: to.into(),
        template: "verify_email".into(),
        subject: "Verify your email".into(),
        text_body: "Open https://id.test/t/a/verify-email/confirm?ticket=secret".into(),
        html_body: "<p>Open <a href=\"https://id.test/\">the link</a></p>".into(),
        state,
        attempts: 0,
        next_attempt_at: at(created),
        last_error: None,
        created_at: at(created),
        sent_at: None,
    }
}

async fn outbox_list_filter_and_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let mut mine = Vec::new();
    for i in 0..5 {
        let to = if i % 2 == 0 {
            "alice@x.test"
        } else {
            "bob@x.test"
        };
        let e = email(&core, &a, to, EmailState::Stored, i);
        tx.outbox_insert(&e).await.unwrap();
        mine.push(e);
    }
    let theirs = email(&core, &b, "alice@x.test", EmailState::Stored, 10);
    tx.outbox_insert(&theirs).await.unwrap();
    assert_eq!(
        tx.outbox_get(&a.id, &mine[0].id).await.unwrap(),
        Some(mine[0].clone())
    );
    // newest first, filtered by exact address, paged
    let all = tx.outbox_list(&a.id, None, Page::new(0, 50)).await.unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
    let want: Vec<_> = mine.iter().rev().map(|e| e.id.clone()).collect();
    assert_eq!(ids, want);
    assert_eq!(tx.outbox_count(&a.id, None).await.unwrap(), 5);
    let alice = tx
        .outbox_list(&a.id, Some("alice@x.test"), Page::new(0, 50))
        .await
        .unwrap();
    assert_eq!(alice.len(), 3);
    assert!(alice.iter().all(|e| e.to_address == "alice@x.test"));
    assert_eq!(
        tx.outbox_count(&a.id, Some("alice@x.test")).await.unwrap(),
        3
    );
    assert_eq!(
        tx.outbox_count(&a.id, Some("ALICE@x.test")).await.unwrap(),
        0
    );
    let page = tx.outbox_list(&a.id, None, Page::new(1, 2)).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        want[2..4].to_vec()
    );
    // tenant B: only its own message, nothing of A's
    assert!(tx.outbox_get(&b.id, &mine[0].id).await.unwrap().is_none());
    assert_eq!(tx.outbox_count(&b.id, None).await.unwrap(), 1);
    assert_eq!(
        tx.outbox_list(&b.id, Some("alice@x.test"), Page::new(0, 50))
            .await
            .unwrap(),
        std::slice::from_ref(&theirs)
    );
    tx.outbox_mark_sent(&b.id, &mine[0].id, at(100))
        .await
        .unwrap();
    tx.outbox_mark_failed(&b.id, &mine[1].id, at(100), "boom", true)
        .await
        .unwrap();
    assert_eq!(
        tx.outbox_get(&a.id, &mine[0].id).await.unwrap(),
        Some(mine[0].clone())
    );
    assert_eq!(
        tx.outbox_get(&a.id, &mine[1].id).await.unwrap(),
        Some(mine[1].clone())
    );
    // the same id in two tenants is two messages
    let twin = OutboxEmail {
        tenant_id: b.id.clone(),
        ..mine[0].clone()
    };
    tx.outbox_insert(&twin).await.unwrap();
    assert_conflict(tx.outbox_insert(&mine[0]).await);
}

async fn claim(store: Arc<dyn clavis_core::ports::Store>, now: Timestamp) -> Vec<String> {
    let mut tx = store.begin().await.unwrap();
    let got = tx
        .outbox_claim_due(now, now.plus_secs(60), 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    got.iter()
        .map(|e| format!("{}/{}", e.tenant_id, e.id))
        .collect()
}

async fn concurrent_claims_never_share_a_message(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut due = BTreeSet::new();
    let mut tx = begin(&core).await;
    for (t, n) in [(&a, 7), (&b, 6)] {
        for i in 0..n {
            let e = email(&core, t, "x@x.test", EmailState::Pending, i);
            due.insert(format!("{}/{}", t.id, e.id));
            tx.outbox_insert(&e).await.unwrap();
        }
    }
    // not due yet, stored, sent: never claimed
    let later = email(&core, &a, "x@x.test", EmailState::Pending, 500);
    tx.outbox_insert(&later).await.unwrap();
    for s in [EmailState::Stored, EmailState::Sent, EmailState::Failed] {
        tx.outbox_insert(&email(&core, &a, "x@x.test", s, 0))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let nodes: Vec<_> = [
        clavis_store::AnyStore::connect(&db.url).await.unwrap(),
        clavis_store::AnyStore::connect(&db.url).await.unwrap(),
    ]
    .into_iter()
    .map(|s| s.into_store())
    .collect();
    let now = at(100);
    let mut claimed = BTreeSet::new();
    for round in 0..10 {
        let (x, y) = tokio::join!(
            tokio::spawn(claim(nodes[0].clone(), now)),
            tokio::spawn(claim(nodes[1].clone(), now)),
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x.len() <= 3 && y.len() <= 3, "{x:?} {y:?}");
        for id in x.into_iter().chain(y) {
            assert!(
                claimed.insert(id.clone()),
                "round {round}: {id} claimed twice"
            );
        }
    }
    assert_eq!(claimed, due, "every due message claimed exactly once");
    // leased: nothing until the lease ends, then everything again (nobody reported)
    assert!(claim(nodes[0].clone(), at(159)).await.is_empty());
    let mut tx = begin(&core).await;
    let again = tx.outbox_claim_due(at(160), at(220), 100).await.unwrap();
    assert_eq!(again.len(), due.len());
    // oldest first
    assert!(again.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    assert!(again.iter().all(|e| e.next_attempt_at == at(220)));
    assert!(again.iter().all(|e| e.state == EmailState::Pending));
    let with_later = tx.outbox_claim_due(at(500), at(560), 100).await.unwrap();
    assert_eq!(with_later.len(), due.len() + 1);
    assert_eq!(with_later.last().map(|e| &e.id), Some(&later.id));
    tx.commit().await.unwrap();
    for n in nodes {
        n.close().await;
    }
}

async fn delivery_outcomes_and_purge(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let sent = email(&core, &a, "x@x.test", EmailState::Pending, 0);
    let retry = email(&core, &a, "x@x.test", EmailState::Pending, 1);
    let dead = email(&core, &a, "x@x.test", EmailState::Pending, 2);
    let young = email(&core, &b, "x@x.test", EmailState::Stored, 1000);
    for e in [&sent, &retry, &dead, &young] {
        tx.outbox_insert(e).await.unwrap();
    }
    tx.outbox_mark_sent(&a.id, &sent.id, at(10)).await.unwrap();
    let got = tx.outbox_get(&a.id, &sent.id).await.unwrap().unwrap();
    assert_eq!(got.state, EmailState::Sent);
    assert_eq!(got.sent_at, Some(at(10)));
    assert_eq!(got.attempts, 1);
    assert_eq!((got.text_body.as_str(), got.html_body.as_str()), ("", ""));
    assert_eq!(got.subject, sent.subject);
    // a failure to retry keeps the bodies; giving up empties them
    tx.outbox_mark_failed(&a.id, &retry.id, at(70), "421 try later", false)
        .await
        .unwrap();
    let got = tx.outbox_get(&a.id, &retry.id).await.unwrap().unwrap();
    assert_eq!(got.state, EmailState::Pending);
    assert_eq!(got.attempts, 1);
    assert_eq!(got.next_attempt_at, at(70));
    assert_eq!(got.last_error.as_deref(), Some("421 try later"));
    assert_eq!(got.text_body, retry.text_body);
    assert_eq!(
        tx.outbox_claim_due(at(69), at(100), 10)
            .await
            .unwrap()
            .len(),
        1,
        "only `dead` is due before the retry time"
    );
    tx.outbox_mark_failed(&a.id, &dead.id, at(80), "550 no such user", true)
        .await
        .unwrap();
    let got = tx.outbox_get(&a.id, &dead.id).await.unwrap().unwrap();
    assert_eq!(got.state, EmailState::Failed);
    assert_eq!(got.attempts, 1);
    assert_eq!((got.text_body.as_str(), got.html_body.as_str()), ("", ""));
    assert_eq!(got.last_error.as_deref(), Some("550 no such user"));
    assert!(
        tx.outbox_claim_due(at(10_000), at(10_060), 10)
            .await
            .unwrap()
            .len()
            == 1
    );
    // purge: every tenant's messages created before the cut
    assert_eq!(tx.outbox_purge(at(500)).await.unwrap(), 3);
    assert_eq!(tx.outbox_count(&a.id, None).await.unwrap(), 0);
    assert_eq!(tx.outbox_count(&b.id, None).await.unwrap(), 1);
}

fn template(t: &Tenant, name: &str) -> EmailTemplate {
    EmailTemplate {
        tenant_id: t.id.clone(),
        name: name.into(),
        subject: "Hello {{ tenant_name }}".into(),
        text_body: "Click {{ link }}".into(),
        html_body: "<p>Click <a href=\"{{ link }}\">here</a></p>".into(),
        enabled: true,
        updated_at: at(0),
    }
}

async fn email_templates_put_list_delete_and_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let v = template(&a, "verify_email");
    let r = template(&a, "reset_email");
    tx.email_template_put(&v).await.unwrap();
    tx.email_template_put(&r).await.unwrap();
    assert_eq!(
        tx.email_template_get(&a.id, "verify_email").await.unwrap(),
        Some(v.clone())
    );
    let replaced = EmailTemplate {
        subject: "Bonjour".into(),
        enabled: false,
        updated_at: at(5),
        ..v.clone()
    };
    tx.email_template_put(&replaced).await.unwrap();
    assert_eq!(
        tx.email_template_list(&a.id).await.unwrap(),
        [r.clone(), replaced.clone()]
    );
    // tenant B
    assert!(
        tx.email_template_get(&b.id, "verify_email")
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.email_template_list(&b.id).await.unwrap().is_empty());
    assert!(
        !tx.email_template_delete(&b.id, "verify_email")
            .await
            .unwrap()
    );
    let theirs = template(&b, "verify_email");
    tx.email_template_put(&theirs).await.unwrap();
    assert_eq!(
        tx.email_template_get(&a.id, "verify_email").await.unwrap(),
        Some(replaced.clone())
    );
    assert!(
        tx.email_template_delete(&a.id, "verify_email")
            .await
            .unwrap()
    );
    assert!(
        !tx.email_template_delete(&a.id, "verify_email")
            .await
            .unwrap()
    );
    assert_eq!(tx.email_template_list(&a.id).await.unwrap(), [r]);
    assert_eq!(tx.email_template_list(&b.id).await.unwrap(), [theirs]);
}

fn branding(t: &Tenant, org: Option<&Organization>, name: &str) -> Branding {
    Branding {
        tenant_id: t.id.clone(),
        org_id: org.map(|o| o.id.clone()),
        settings: BrandingSettings {
            display_name: Some(name.into()),
            primary_color: Some("#112233".into()),
            page_background: None,
            custom_text: [(
                "fr".to_owned(),
                [("login.title".to_owned(), "Bienvenue".to_owned())].into(),
            )]
            .into(),
            custom_css: Some(".card { border-radius: 0 }".into()),
        },
        logo: Some(Logo {
            bytes: vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255],
            content_type: "image/png".into(),
        }),
        updated_at: at(0),
    }
}

async fn branding_of_tenant_and_org_are_separate(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let oa = org(&core, &a, "acme");
    let ob = org(&core, &b, "globex");
    let mut tx = begin(&core).await;
    tx.org_insert(&oa).await.unwrap();
    tx.org_insert(&ob).await.unwrap();
    assert!(tx.branding_get(&a.id, None).await.unwrap().is_none());
    let tb = branding(&a, None, "Tenant A");
    let obr = branding(&a, Some(&oa), "Acme");
    tx.branding_put(&tb).await.unwrap();
    assert!(
        tx.branding_get(&a.id, Some(&oa.id))
            .await
            .unwrap()
            .is_none()
    );
    tx.branding_put(&obr).await.unwrap();
    assert_eq!(
        tx.branding_get(&a.id, None).await.unwrap(),
        Some(tb.clone())
    );
    assert_eq!(
        tx.branding_get(&a.id, Some(&oa.id)).await.unwrap(),
        Some(obr.clone())
    );
    // replace: settings and logo together (a removed logo stays removed)
    let plain = Branding {
        settings: BrandingSettings::default(),
        logo: None,
        updated_at: at(9),
        ..tb.clone()
    };
    tx.branding_put(&plain).await.unwrap();
    assert_eq!(
        tx.branding_get(&a.id, None).await.unwrap(),
        Some(plain.clone())
    );
    assert_eq!(
        tx.branding_get(&a.id, Some(&oa.id)).await.unwrap(),
        Some(obr.clone())
    );
    // tenant B reads, replaces and deletes nothing of A's
    assert!(tx.branding_get(&b.id, None).await.unwrap().is_none());
    assert!(
        tx.branding_get(&b.id, Some(&oa.id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!tx.branding_delete(&b.id, None).await.unwrap());
    assert!(!tx.branding_delete(&b.id, Some(&oa.id)).await.unwrap());
    let theirs = branding(&b, Some(&ob), "Globex");
    tx.branding_put(&theirs).await.unwrap();
    assert_eq!(
        tx.branding_get(&a.id, Some(&oa.id)).await.unwrap(),
        Some(obr.clone())
    );
    // deleting the organization's branding leaves the tenant's, and back
    assert!(tx.branding_delete(&a.id, Some(&oa.id)).await.unwrap());
    assert!(!tx.branding_delete(&a.id, Some(&oa.id)).await.unwrap());
    assert_eq!(tx.branding_get(&a.id, None).await.unwrap(), Some(plain));
    assert!(tx.branding_delete(&a.id, None).await.unwrap());
    assert!(tx.branding_get(&a.id, None).await.unwrap().is_none());
    assert_eq!(
        tx.branding_get(&b.id, Some(&ob.id)).await.unwrap(),
        Some(theirs)
    );
    tx.commit().await.unwrap();
    // tenant B cannot brand A's organization
    let forged = branding(&b, Some(&oa), "forged");
    assert_conflict(begin(&core).await.branding_put(&forged).await);
    // deleting an organization deletes its branding
    let mut tx = begin(&core).await;
    tx.branding_put(&branding(&a, Some(&oa), "Acme"))
        .await
        .unwrap();
    assert!(tx.org_delete(&a.id, &oa.id).await.unwrap());
    assert!(
        tx.branding_get(&a.id, Some(&oa.id))
            .await
            .unwrap()
            .is_none()
    );
}

fn connection(core: &Core, t: &Tenant, name: &str) -> Connection {
    Connection {
        tenant_id: t.id.clone(),
        id: ConnectionId::generate(core.now(), &*core.rng),
        name: name.into(),
        strategy: ConnectionStrategy::Database,
        options: JsonMap::new(),
        created_at: core.now(),
        updated_at: core.now(),
    }
}

async fn org_domains_are_unique_per_tenant(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let acme = org(&core, &a, "acme");
    let other = org(&core, &a, "other");
    let globex = org(&core, &b, "globex");
    let ca = connection(&core, &a, "acme-db");
    let cb = connection(&core, &b, "globex-db");
    let mut tx = begin(&core).await;
    for o in [&acme, &other, &globex] {
        tx.org_insert(o).await.unwrap();
    }
    tx.connection_insert(&ca).await.unwrap();
    tx.connection_insert(&cb).await.unwrap();
    let d = OrgDomain {
        tenant_id: a.id.clone(),
        domain: "acme.example".into(),
        org_id: acme.id.clone(),
        connection_id: Some(ca.id.clone()),
        created_at: at(0),
    };
    assert!(tx.org_domain_insert(&d).await.unwrap());
    let d2 = OrgDomain {
        domain: "acme.test".into(),
        connection_id: None,
        ..d.clone()
    };
    assert!(tx.org_domain_insert(&d2).await.unwrap());
    // one organization per domain within a tenant, even for another organization
    assert!(!tx.org_domain_insert(&d).await.unwrap());
    let taken = OrgDomain {
        org_id: other.id.clone(),
        connection_id: None,
        ..d.clone()
    };
    assert!(!tx.org_domain_insert(&taken).await.unwrap());
    assert_eq!(
        tx.org_domain_get(&a.id, "acme.example").await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(
        tx.org_domain_list(&a.id, &acme.id).await.unwrap(),
        [d.clone(), d2.clone()]
    );
    assert!(
        tx.org_domain_list(&a.id, &other.id)
            .await
            .unwrap()
            .is_empty()
    );
    // another tenant may use the same domain; it sees and deletes nothing of A's
    assert!(
        tx.org_domain_get(&b.id, "acme.example")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.org_domain_list(&b.id, &acme.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !tx.org_domain_delete(&b.id, &acme.id, "acme.example")
            .await
            .unwrap()
    );
    let theirs = OrgDomain {
        tenant_id: b.id.clone(),
        org_id: globex.id.clone(),
        connection_id: Some(cb.id.clone()),
        ..d.clone()
    };
    assert!(tx.org_domain_insert(&theirs).await.unwrap());
    // deleting needs the owning organization
    assert!(
        !tx.org_domain_delete(&a.id, &other.id, "acme.example")
            .await
            .unwrap()
    );
    assert!(
        tx.org_domain_delete(&a.id, &acme.id, "acme.example")
            .await
            .unwrap()
    );
    assert!(
        !tx.org_domain_delete(&a.id, &acme.id, "acme.example")
            .await
            .unwrap()
    );
    assert_eq!(
        tx.org_domain_get(&b.id, "acme.example").await.unwrap(),
        Some(theirs)
    );
    tx.commit().await.unwrap();
    // a domain of tenant B cannot point at A's organization or connection
    let forged_org = OrgDomain {
        tenant_id: b.id.clone(),
        domain: "forged.example".into(),
        org_id: acme.id.clone(),
        connection_id: None,
        created_at: at(0),
    };
    assert_conflict(begin(&core).await.org_domain_insert(&forged_org).await);
    let forged_conn = OrgDomain {
        org_id: globex.id.clone(),
        connection_id: Some(ca.id.clone()),
        ..forged_org
    };
    assert_conflict(begin(&core).await.org_domain_insert(&forged_conn).await);
    // deleting the organization deletes its domains
    let mut tx = begin(&core).await;
    assert!(tx.org_delete(&a.id, &acme.id).await.unwrap());
    assert!(
        tx.org_domain_get(&a.id, "acme.test")
            .await
            .unwrap()
            .is_none()
    );
}
