//! What holds a retention purge back besides the retention itself: streaming sinks that
//! have not delivered every due event yet, and legal holds however many there are.

use std::sync::Arc;

use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;
use serde_json::json;

use crate::{T0, append, head, meta, stored, tenant};

clavis_store::on_both_backends!(
    a_lagging_sink_holds_the_purge_back,
    every_active_legal_hold_stops_the_purge_however_many,
);

fn sink(t: &Tenant, id: &str, enabled: bool, cursor: i64) -> AuditSink {
    AuditSink {
        tenant_id: t.id.clone(),
        id: id.into(),
        name: id.into(),
        kind: SinkKind::SplunkHec,
        endpoint: "https://splunk.test/services/collector/event".into(),
        sealed_secret: None,
        options: JsonMap::from_iter([("index".to_owned(), json!("main"))]),
        enabled,
        cursor,
        status: SinkStatus::Pending,
        last_error: None,
        attempts: 0,
        next_attempt_at: T0,
        delivered_total: 0,
        last_delivered_at: None,
        created_at: T0,
        updated_at: T0,
    }
}

async fn a_lagging_sink_holds_the_purge_back(db: TestDb) {
    let clock = Arc::new(ManualClock::new(T0));
    let core = db.core_with_clock(clock.clone());
    let settings = TenantSettings {
        audit_retention_days: 1,
        ..TenantSettings::default()
    };
    let t = tenant(&core, "acme", settings.clone()).await;
    let other = tenant(&core, "other", settings).await;
    let base = head(&core, &t).await.seq;
    let delivered = append(&core, &t, 2, None).await;
    let old = append(&core, &t, 3, None).await;
    append(&core, &other, 2, None).await;
    let mut tx = core.store.begin().await.unwrap();
    // Behind the cut: holds it. Paused far behind: does not. Ahead: does not. Another
    // tenant's sink far behind: does not.
    tx.sink_insert(&sink(&t, "snk_lagging", true, delivered))
        .await
        .unwrap();
    tx.sink_insert(&sink(&t, "snk_paused", false, base))
        .await
        .unwrap();
    tx.sink_insert(&sink(&t, "snk_ahead", true, old + 1))
        .await
        .unwrap();
    tx.sink_insert(&sink(&other, "snk_theirs", true, 0))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    clock.advance_secs(2 * 86_400);
    append(&core, &t, 1, None).await;

    let r = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!(r.through_seq, Some(delivered), "{r:?}");
    assert_eq!(r.events_purged, delivered - base);
    assert_eq!(r.held_by_sinks, vec!["snk_lagging".to_owned()]);
    assert!(r.held_by.is_empty());
    assert!(core.audit_verify(&t.id).await.unwrap().ok);
    assert_eq!(stored(&core, &t, delivered + 1).await.seq, delivered + 1);

    // Once the sink has delivered the rest, the purge goes on.
    let now = clock.now();
    let mut tx = core.store.begin().await.unwrap();
    let claimed = tx
        .sink_claim_due("node-1", now, now.plus_secs(60), 10)
        .await
        .unwrap();
    let mut lagging = claimed.into_iter().find(|s| s.id == "snk_lagging").unwrap();
    lagging.cursor = head(&core, &t).await.seq;
    assert!(tx.sink_record(&lagging, "node-1").await.unwrap());
    tx.commit().await.unwrap();
    let r = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!(r.through_seq, Some(old), "{r:?}");
    assert!(r.held_by_sinks.is_empty(), "{r:?}");
    assert!(core.audit_verify(&t.id).await.unwrap().ok);
}

async fn every_active_legal_hold_stops_the_purge_however_many(db: TestDb) {
    let clock = Arc::new(ManualClock::new(T0));
    let core = db.core_with_clock(clock.clone());
    let settings = TenantSettings {
        audit_retention_days: 1,
        ..TenantSettings::default()
    };
    let t = tenant(&core, "acme", settings).await;
    let held = OrgId::generate(T0, &*core.rng);
    append(&core, &t, 2, None).await;
    let first_held = append(&core, &t, 1, Some(held.as_str())).await;
    append(&core, &t, 2, None).await;
    // The held organization's hold is the oldest of 1,001: not among the newest 1,000.
    let hold = |id: String, org: String, at: Timestamp| LegalHold {
        tenant_id: t.id.clone(),
        id,
        org_id: org,
        reason: "litigation".into(),
        created_at: at,
        released_at: None,
    };
    let mut tx = core.store.begin().await.unwrap();
    tx.legal_hold_insert(&hold("hold_0000".into(), held.as_str().into(), T0))
        .await
        .unwrap();
    for i in 1..=1000 {
        tx.legal_hold_insert(&hold(
            format!("hold_{i:04}"),
            format!("org_other_{i:04}"),
            T0.plus_secs(i),
        ))
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    clock.advance_secs(2 * 86_400);

    let r = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!(r.through_seq, Some(first_held - 1), "{r:?}");
    assert_eq!(r.held_by, vec![held.as_str().to_owned()]);
    assert_eq!(
        stored(&core, &t, first_held).await.org_id.as_deref(),
        Some(held.as_str())
    );
    assert!(core.audit_verify(&t.id).await.unwrap().ok);
}
