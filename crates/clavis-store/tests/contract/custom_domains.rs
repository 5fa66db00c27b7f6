//! Custom domains of tenants: one tenant per domain in the whole installation, the
//! pending → ready transition taken once, lookups by host, and nothing of tenant A
//! readable, changeable or deletable through tenant B.

use clavis_core::Core;
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;

use crate::support::*;

clavis_store::on_both_backends!(
    custom_domains_are_unique_in_the_installation,
    custom_domains_ready_once_and_isolated,
);

fn domain(core: &Core, t: &Tenant, name: &str) -> CustomDomain {
    CustomDomain {
        tenant_id: t.id.clone(),
        id: CustomDomainId::generate(core.now(), &*core.rng),
        domain: name.into(),
        status: CustomDomainStatus::PendingVerification,
        verification_token: random_base32(&*core.rng, 32),
        created_at: Timestamp::from_millis(1_700_000_000_000),
        verified_at: None,
    }
}

async fn custom_domains_are_unique_in_the_installation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let da = domain(&core, &a, "login.acme.example");
    assert!(tx.custom_domain_insert(&da).await.unwrap());
    // the same host for another tenant, or again for the same tenant: refused
    assert!(
        !tx.custom_domain_insert(&domain(&core, &b, "login.acme.example"))
            .await
            .unwrap()
    );
    assert!(
        !tx.custom_domain_insert(&domain(&core, &a, "login.acme.example"))
            .await
            .unwrap()
    );
    let db2 = domain(&core, &b, "id.globex.example");
    assert!(tx.custom_domain_insert(&db2).await.unwrap());
    assert_eq!(
        tx.custom_domain_by_host("login.acme.example")
            .await
            .unwrap(),
        Some(da.clone())
    );
    assert_eq!(
        tx.custom_domain_by_host("id.globex.example").await.unwrap(),
        Some(db2.clone())
    );
    assert_eq!(
        tx.custom_domain_by_host("unknown.example").await.unwrap(),
        None
    );
    tx.commit().await.unwrap();
}

async fn custom_domains_ready_once_and_isolated(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let d1 = domain(&core, &a, "b.acme.example");
    let d2 = domain(&core, &a, "a.acme.example");
    let other = domain(&core, &b, "id.globex.example");
    for d in [&d1, &d2, &other] {
        assert!(tx.custom_domain_insert(d).await.unwrap());
    }
    // listed in name order, only the tenant's own
    assert_eq!(
        tx.custom_domain_list(&a.id).await.unwrap(),
        [d2.clone(), d1.clone()]
    );
    assert_eq!(
        tx.custom_domain_list(&b.id).await.unwrap(),
        std::slice::from_ref(&other)
    );
    // tenant B can neither read, verify nor delete tenant A's domain
    assert_eq!(tx.custom_domain_get(&b.id, &d1.id).await.unwrap(), None);
    let at = Timestamp::from_millis(1_700_000_100_000);
    assert!(
        !tx.custom_domain_mark_ready(&b.id, &d1.id, at)
            .await
            .unwrap()
    );
    assert!(!tx.custom_domain_delete(&b.id, &d1.id).await.unwrap());
    assert_eq!(
        tx.custom_domain_get(&a.id, &d1.id).await.unwrap(),
        Some(d1.clone())
    );
    // pending → ready, once
    assert!(
        tx.custom_domain_mark_ready(&a.id, &d1.id, at)
            .await
            .unwrap()
    );
    assert!(
        !tx.custom_domain_mark_ready(&a.id, &d1.id, at)
            .await
            .unwrap()
    );
    let ready = tx.custom_domain_get(&a.id, &d1.id).await.unwrap().unwrap();
    assert_eq!(ready.status, CustomDomainStatus::Ready);
    assert_eq!(ready.verified_at, Some(at));
    // delete, once; the host is free again for another tenant
    assert!(tx.custom_domain_delete(&a.id, &d1.id).await.unwrap());
    assert!(!tx.custom_domain_delete(&a.id, &d1.id).await.unwrap());
    assert_eq!(
        tx.custom_domain_by_host("b.acme.example").await.unwrap(),
        None
    );
    assert!(
        tx.custom_domain_insert(&domain(&core, &b, "b.acme.example"))
            .await
            .unwrap()
    );
    assert_eq!(tx.custom_domain_list(&b.id).await.unwrap().len(), 2);
    tx.commit().await.unwrap();
}
