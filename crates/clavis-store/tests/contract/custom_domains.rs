//! Custom domains of tenants: a domain `ready` for at most one tenant of the installation
//! (pending rows of it may exist in several), a tenant registering a domain once, the
//! pending → ready transition taken once and refused while another tenant holds the domain
//! ready, the routing snapshot, and nothing of tenant A readable, changeable or deletable
//! through tenant B.

use clavis_core::Core;
use clavis_core::model::*;
use clavis_core::ports::{MarkReady, Tx};
use clavis_core::service::RequestMeta;
use clavis_store::testing::TestDb;
use clavis_types::*;
use std::sync::Arc;

use crate::support::*;

/// When the domains in these tests are marked ready.
const AT: Timestamp = Timestamp::from_millis(1_700_000_100_000);

clavis_store::on_both_backends!(
    custom_domains_are_ready_for_one_tenant_only,
    custom_domains_ready_once_and_isolated,
    the_index_refuses_a_second_ready_row,
    routing_reads_a_snapshot_that_outlives_a_failed_refresh,
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

fn routes_of(mut r: Vec<DomainRoute>) -> Vec<(String, TenantId, String)> {
    r.sort_by(|a, b| a.domain.cmp(&b.domain));
    r.into_iter()
        .map(|r| (r.domain, r.tenant_id, r.tenant_slug))
        .collect()
}

async fn custom_domains_are_ready_for_one_tenant_only(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    // Tenant B registers A's domain first: that claims nothing.
    let squat = domain(&core, &b, "login.acme.example");
    assert!(tx.custom_domain_insert(&squat).await.unwrap());
    let da = domain(&core, &a, "login.acme.example");
    assert!(tx.custom_domain_insert(&da).await.unwrap());
    // ...but a tenant registers a domain once.
    assert!(
        !tx.custom_domain_insert(&domain(&core, &a, "login.acme.example"))
            .await
            .unwrap()
    );
    assert!(
        !tx.custom_domain_insert(&domain(&core, &b, "login.acme.example"))
            .await
            .unwrap()
    );
    // Pending rows are not routed.
    assert!(tx.custom_domain_routes().await.unwrap().is_empty());
    assert_eq!(mark_ready(&mut *tx, &a, &da).await, MarkReady::Ready);
    // B proves DNS control too, later: refused while A holds the domain ready.
    assert_eq!(
        mark_ready(&mut *tx, &b, &squat).await,
        MarkReady::TakenElsewhere
    );
    assert_eq!(
        tx.custom_domain_get(&b.id, &squat.id).await.unwrap(),
        Some(squat.clone())
    );
    let db2 = domain(&core, &b, "id.globex.example");
    assert!(tx.custom_domain_insert(&db2).await.unwrap());
    assert_eq!(mark_ready(&mut *tx, &b, &db2).await, MarkReady::Ready);
    assert_eq!(
        routes_of(tx.custom_domain_routes().await.unwrap()),
        [
            (
                "id.globex.example".to_owned(),
                b.id.clone(),
                b.slug.as_str().to_owned()
            ),
            (
                "login.acme.example".to_owned(),
                a.id.clone(),
                a.slug.as_str().to_owned()
            ),
        ]
    );
    // Once A deletes its domain, B can verify its own row of it.
    assert!(tx.custom_domain_delete(&a.id, &da.id).await.unwrap());
    assert_eq!(mark_ready(&mut *tx, &b, &squat).await, MarkReady::Ready);
    assert_eq!(
        mark_ready(&mut *tx, &b, &squat).await,
        MarkReady::NotPending
    );
    tx.commit().await.unwrap();
}

/// The partial unique index itself: two `ready` rows of one domain cannot exist, even when
/// written past the repository's check.
async fn the_index_refuses_a_second_ready_row(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let mut ready = domain(&core, &a, "login.acme.example");
    ready.status = CustomDomainStatus::Ready;
    assert!(tx.custom_domain_insert(&ready).await.unwrap());
    let mut second = domain(&core, &b, "login.acme.example");
    second.status = CustomDomainStatus::Ready;
    assert!(tx.custom_domain_insert(&second).await.is_err());
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
    assert_eq!(mark_ready(&mut *tx, &b, &d1).await, MarkReady::NotPending);
    assert!(!tx.custom_domain_delete(&b.id, &d1.id).await.unwrap());
    assert_eq!(
        tx.custom_domain_get(&a.id, &d1.id).await.unwrap(),
        Some(d1.clone())
    );
    // pending → ready, once
    assert_eq!(mark_ready(&mut *tx, &a, &d1).await, MarkReady::Ready);
    assert_eq!(mark_ready(&mut *tx, &a, &d1).await, MarkReady::NotPending);
    let ready = tx.custom_domain_get(&a.id, &d1.id).await.unwrap().unwrap();
    assert_eq!(ready.status, CustomDomainStatus::Ready);
    assert_eq!(ready.verified_at, Some(AT));
    // delete, once; the host is free again for another tenant
    assert!(tx.custom_domain_delete(&a.id, &d1.id).await.unwrap());
    assert!(!tx.custom_domain_delete(&a.id, &d1.id).await.unwrap());
    assert!(tx.custom_domain_routes().await.unwrap().is_empty());
    assert!(
        tx.custom_domain_insert(&domain(&core, &b, "b.acme.example"))
            .await
            .unwrap()
    );
    assert_eq!(tx.custom_domain_list(&b.id).await.unwrap().len(), 2);
    tx.commit().await.unwrap();
}

/// Mark `d` of tenant `t` ready (its DNS proof checked) at a fixed time.
async fn mark_ready(tx: &mut dyn Tx, t: &Tenant, d: &CustomDomain) -> MarkReady {
    tx.custom_domain_mark_ready(&t.id, &d.id, AT).await.unwrap()
}

async fn ready(core: &Core, t: &Tenant, name: &str) -> CustomDomain {
    let d = domain(core, t, name);
    let mut tx = begin(core).await;
    assert!(tx.custom_domain_insert(&d).await.unwrap());
    assert_eq!(mark_ready(&mut *tx, t, &d).await, MarkReady::Ready);
    tx.commit().await.unwrap();
    d
}

/// `Core::custom_domain_route` reads an install-wide snapshot: written behind its back, a
/// domain appears only after the 5 s refresh; a failed refresh keeps the last snapshot
/// (and answers, never errs, for any host); a change through this node's services is seen
/// at once.
async fn routing_reads_a_snapshot_that_outlives_a_failed_refresh(db: TestDb) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let core = db.core_with_clock(clock.clone());
    let (a, b) = two_tenants(&core).await;
    let da = ready(&core, &a, "login.acme.example").await;
    let route = core
        .custom_domain_route("login.acme.example")
        .await
        .unwrap();
    assert_eq!(
        (route.tenant_id.clone(), route.tenant_slug.as_str()),
        (a.id.clone(), a.slug.as_str())
    );
    assert_eq!(core.custom_domain_route("unknown.example").await, None);
    // Written by another node: not seen for 5 s.
    ready(&core, &b, "id.globex.example").await;
    clock.advance_secs(4);
    assert_eq!(core.custom_domain_route("id.globex.example").await, None);
    clock.advance_secs(1);
    assert_eq!(
        core.custom_domain_route("id.globex.example")
            .await
            .unwrap()
            .tenant_id,
        b.id
    );
    // The database fails (a domain written just before is not seen: the refresh failed):
    // the last snapshot stays, every host still answers.
    ready(&core, &b, "late.globex.example").await;
    raw_exec(
        &db,
        "ALTER TABLE custom_domains RENAME TO custom_domains_away",
    )
    .await;
    clock.advance_secs(6);
    for _ in 0..3 {
        assert!(
            core.custom_domain_route("login.acme.example")
                .await
                .is_some()
        );
        assert!(
            core.custom_domain_route("id.globex.example")
                .await
                .is_some()
        );
        assert_eq!(core.custom_domain_route("late.globex.example").await, None);
        assert_eq!(core.custom_domain_route("random.example").await, None);
    }
    raw_exec(
        &db,
        "ALTER TABLE custom_domains_away RENAME TO custom_domains",
    )
    .await;
    // Back: the next refresh, 5 s after the failed one, sees it.
    clock.advance_secs(5);
    assert!(
        core.custom_domain_route("late.globex.example")
            .await
            .is_some()
    );
    // Deleted through this node's service: gone at once, on every route.
    core.mgmt_custom_domain_delete(&a, &da.id, &RequestMeta::default())
        .await
        .unwrap();
    assert_eq!(core.custom_domain_route("login.acme.example").await, None);
    assert!(
        !core
            .accepts_issuer(&a, "x", "https://login.acme.example")
            .await
            .unwrap()
    );
    assert!(
        core.custom_domain_route("id.globex.example")
            .await
            .is_some()
    );
}
