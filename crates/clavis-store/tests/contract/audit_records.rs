//! Records that go with the audit log: checkpoints, subject keys (insert races and
//! erasure), legal holds, and streaming sinks (configuration, and leases that hand each
//! due sink to one owner even when several nodes claim at once).

use clavis_core::model::*;
use clavis_core::ports::Store;
use clavis_store::testing::TestDb;
use clavis_types::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::audit::T0;
use crate::support::*;

clavis_store::on_both_backends!(
    checkpoints_cover_and_list,
    subject_keys_insert_once_and_erase,
    legal_holds_are_released_once,
    every_active_hold_org_is_listed,
    sinks_are_configured_per_tenant,
    each_due_sink_goes_to_one_owner,
);

pub(crate) fn sink(t: &TenantId, id: &str, name: &str) -> AuditSink {
    AuditSink {
        tenant_id: t.clone(),
        id: id.into(),
        name: name.into(),
        kind: SinkKind::SplunkHec,
        endpoint: "https://splunk.test/services/collector/event".into(),
        sealed_secret: Some(vec![0, 1, 2, 254, 255]),
        options: JsonMap::from_iter([("index".to_owned(), json!("main"))]),
        enabled: true,
        cursor: 0,
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

pub(crate) fn checkpoint(t: &TenantId, seq: i64, hash: &str) -> AuditCheckpoint {
    AuditCheckpoint {
        tenant_id: t.clone(),
        seq,
        hash: hash.into(),
        kid: "kid_1".into(),
        jws: format!("jws.{seq}"),
        created_at: T0,
    }
}

pub(crate) fn hold(t: &TenantId, id: &str, org: &str, at: Timestamp) -> LegalHold {
    LegalHold {
        tenant_id: t.clone(),
        id: id.into(),
        org_id: org.into(),
        reason: "litigation".into(),
        created_at: at,
        released_at: None,
    }
}

pub(crate) fn subject_key(t: &TenantId, user: &str, key: &[u8]) -> SubjectKey {
    SubjectKey {
        tenant_id: t.clone(),
        user_id: user.into(),
        sealed_key: Some(key.to_vec()),
        created_at: T0,
        erased_at: None,
    }
}

async fn checkpoints_cover_and_list(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    for seq in [10, 20, 30] {
        tx.audit_checkpoint_insert(&checkpoint(&a.id, seq, &format!("h{seq}")))
            .await
            .unwrap();
    }
    // a second checkpoint at the same seq is ignored
    tx.audit_checkpoint_insert(&checkpoint(&a.id, 20, "other"))
        .await
        .unwrap();
    let seqs = |v: Vec<AuditCheckpoint>| v.iter().map(|c| c.seq).collect::<Vec<_>>();
    let covering = tx
        .audit_checkpoint_covering(&a.id, 15)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(covering, checkpoint(&a.id, 20, "h20"));
    assert_eq!(
        tx.audit_checkpoint_covering(&a.id, 20)
            .await
            .unwrap()
            .unwrap()
            .seq,
        20
    );
    assert!(
        tx.audit_checkpoint_covering(&a.id, 31)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        tx.audit_checkpoint_latest(&a.id)
            .await
            .unwrap()
            .unwrap()
            .seq,
        30
    );
    assert_eq!(
        seqs(tx.audit_checkpoint_list(&a.id, None, 10).await.unwrap()),
        [30, 20, 10]
    );
    assert_eq!(
        seqs(tx.audit_checkpoint_list(&a.id, Some(30), 1).await.unwrap()),
        [20]
    );
    assert_eq!(
        seqs(tx.audit_checkpoint_list(&a.id, Some(10), 5).await.unwrap()),
        [0; 0]
    );
}

async fn subject_keys_insert_once_and_erase(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    // many transactions race to create the same user's key: exactly one wins
    let tasks: Vec<_> = (0..6_u8)
        .map(|i| {
            let store = core.store.clone();
            let k = subject_key(&a.id, "usr_1", &[i; 32]);
            tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let won = tx.audit_subject_key_insert(&k).await.unwrap();
                tx.commit().await.unwrap();
                won.then_some(i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "one insert wins: {winners:?}");
    let mut tx = begin(&core).await;
    let key = tx.audit_subject_key(&a.id, "usr_1").await.unwrap().unwrap();
    assert_eq!(
        key.sealed_key,
        Some(vec![winners[0]; 32]),
        "the winner's key is kept"
    );
    assert!(
        !tx.audit_subject_key_insert(&subject_key(&a.id, "usr_1", b"x"))
            .await
            .unwrap()
    );
    // erasure destroys the key and keeps the record
    let at = T0.plus_secs(5);
    assert!(tx.audit_subject_erase(&a.id, "usr_1", at).await.unwrap());
    let erased = tx.audit_subject_key(&a.id, "usr_1").await.unwrap().unwrap();
    assert_eq!((erased.sealed_key, erased.erased_at), (None, Some(at)));
    assert!(
        tx.audit_subject_erase(&a.id, "usr_1", at.plus_secs(1))
            .await
            .unwrap()
    );
    let again = tx.audit_subject_key(&a.id, "usr_1").await.unwrap().unwrap();
    assert_eq!(again.erased_at, Some(at), "the first erasure time stays");
    assert!(
        !tx.audit_subject_key_insert(&subject_key(&a.id, "usr_1", b"new"))
            .await
            .unwrap()
    );
    assert!(
        tx.audit_subject_key(&a.id, "usr_1")
            .await
            .unwrap()
            .unwrap()
            .sealed_key
            .is_none()
    );
    assert!(
        !tx.audit_subject_erase(&a.id, "usr_unknown", at)
            .await
            .unwrap()
    );
    // a record erased from the start
    let mut pre = subject_key(&a.id, "usr_2", b"");
    pre.sealed_key = None;
    pre.erased_at = Some(at);
    assert!(tx.audit_subject_key_insert(&pre).await.unwrap());
    assert_eq!(
        tx.audit_subject_key(&a.id, "usr_2").await.unwrap(),
        Some(pre)
    );
}

async fn legal_holds_are_released_once(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    tx.legal_hold_insert(&hold(&a.id, "hold_1", "org_1", T0))
        .await
        .unwrap();
    tx.legal_hold_insert(&hold(&a.id, "hold_2", "org_2", T0.plus_secs(1)))
        .await
        .unwrap();
    assert_conflict(
        tx.legal_hold_insert(&hold(&a.id, "hold_1", "org_3", T0))
            .await,
    );
    drop(tx);
    let mut tx = begin(&core).await;
    tx.legal_hold_insert(&hold(&a.id, "hold_1", "org_1", T0))
        .await
        .unwrap();
    tx.legal_hold_insert(&hold(&a.id, "hold_2", "org_2", T0.plus_secs(1)))
        .await
        .unwrap();
    let ids = |v: Vec<LegalHold>| v.into_iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(
        ids(tx.legal_hold_list(&a.id, true).await.unwrap()),
        ["hold_2", "hold_1"]
    );
    let at = T0.plus_secs(9);
    assert!(tx.legal_hold_release(&a.id, "hold_2", at).await.unwrap());
    assert!(!tx.legal_hold_release(&a.id, "hold_2", at).await.unwrap());
    assert!(!tx.legal_hold_release(&a.id, "hold_9", at).await.unwrap());
    assert_eq!(
        ids(tx.legal_hold_list(&a.id, true).await.unwrap()),
        ["hold_1"]
    );
    let all = tx.legal_hold_list(&a.id, false).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].released_at, Some(at));
    assert_eq!(all[1], hold(&a.id, "hold_1", "org_1", T0));
}

async fn every_active_hold_org_is_listed(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    assert!(tx.legal_hold_active_orgs(&a.id).await.unwrap().is_empty());
    // More holds than `legal_hold_list` returns, each on its own organization.
    for i in 0..1001 {
        tx.legal_hold_insert(&hold(
            &a.id,
            &format!("hold_{i:04}"),
            &format!("org_{i:04}"),
            T0.plus_secs(i),
        ))
        .await
        .unwrap();
    }
    // A second hold on an organization lists it once; releasing one of two keeps it;
    // an organization whose only hold is released is not listed.
    for (id, org) in [
        ("hold_dup", "org_0000"),
        ("hold_rel1", "org_0001"),
        ("hold_rel", "org_released"),
    ] {
        tx.legal_hold_insert(&hold(&a.id, id, org, T0.plus_secs(5000)))
            .await
            .unwrap();
    }
    for id in ["hold_rel1", "hold_rel"] {
        assert!(
            tx.legal_hold_release(&a.id, id, T0.plus_secs(6000))
                .await
                .unwrap()
        );
    }
    tx.legal_hold_insert(&hold(&b.id, "hold_b", "org_b", T0))
        .await
        .unwrap();
    tx.legal_hold_insert(&hold(&b.id, "hold_b2", "org_b_released", T0))
        .await
        .unwrap();
    assert!(tx.legal_hold_release(&b.id, "hold_b2", T0).await.unwrap());
    assert_eq!(tx.legal_hold_list(&a.id, true).await.unwrap().len(), 1000);
    let mut orgs = tx.legal_hold_active_orgs(&a.id).await.unwrap();
    orgs.sort();
    let expected: Vec<String> = (0..1001).map(|i| format!("org_{i:04}")).collect();
    assert_eq!(orgs, expected);
    // Tenant isolation: each tenant sees its own holds only; releasing through the other
    // tenant does nothing.
    assert_eq!(tx.legal_hold_active_orgs(&b.id).await.unwrap(), ["org_b"]);
    assert!(!tx.legal_hold_release(&b.id, "hold_0000", T0).await.unwrap());
    assert!(!tx.legal_hold_release(&a.id, "hold_b", T0).await.unwrap());
    assert_eq!(tx.legal_hold_active_orgs(&b.id).await.unwrap(), ["org_b"]);
    assert_eq!(tx.legal_hold_active_orgs(&a.id).await.unwrap().len(), 1001);
    tx.commit().await.unwrap();
}

async fn sinks_are_configured_per_tenant(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let s1 = sink(&a.id, "snk_1", "splunk");
    let mut s2 = sink(&a.id, "snk_2", "datadog");
    s2.kind = SinkKind::Datadog;
    s2.sealed_secret = None;
    tx.sink_insert(&s1).await.unwrap();
    tx.sink_insert(&s2).await.unwrap();
    assert_eq!(tx.sink_get(&a.id, "snk_1").await.unwrap(), Some(s1.clone()));
    assert_eq!(tx.sink_list(&a.id).await.unwrap(), [s2.clone(), s1.clone()]);
    tx.commit().await.unwrap();
    // a duplicate name is a conflict
    assert_conflict(
        begin(&core)
            .await
            .sink_insert(&sink(&a.id, "snk_3", "splunk"))
            .await,
    );
    let mut renamed = s1.clone();
    renamed.name = "datadog".into();
    assert_conflict(begin(&core).await.sink_update_config(&renamed).await);
    // configuration changes keep delivery state
    let mut tx = begin(&core).await;
    let mut changed = s1.clone();
    changed.name = "splunk-eu".into();
    changed.endpoint = "https://eu.splunk.test/services/collector/event".into();
    changed.sealed_secret = Some(vec![9; 40]);
    changed.options = JsonMap::from_iter([("index".to_owned(), json!("audit"))]);
    changed.enabled = false;
    changed.updated_at = T0.plus_secs(3);
    changed.cursor = 99; // not configuration: ignored
    assert!(tx.sink_update_config(&changed).await.unwrap());
    let stored = tx.sink_get(&a.id, "snk_1").await.unwrap().unwrap();
    assert_eq!(
        stored,
        AuditSink {
            cursor: 0,
            ..changed.clone()
        }
    );
    assert!(
        !tx.sink_update_config(&sink(&a.id, "snk_9", "x"))
            .await
            .unwrap()
    );
    assert!(tx.sink_delete(&a.id, "snk_1").await.unwrap());
    assert!(!tx.sink_delete(&a.id, "snk_1").await.unwrap());
    assert_eq!(tx.sink_list(&a.id).await.unwrap(), [s2]);
}

async fn claim(store: Arc<dyn Store>, owner: &'static str, now: Timestamp) -> Vec<String> {
    let mut tx = store.begin().await.unwrap();
    let got = tx
        .sink_claim_due(owner, now, now.plus_secs(30), 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    got.into_iter()
        .map(|s| format!("{}/{}", s.tenant_id, s.id))
        .collect()
}

async fn each_due_sink_goes_to_one_owner(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let now = T0.plus_secs(100);
    let mut due = BTreeSet::new();
    let mut tx = begin(&core).await;
    for (t, n) in [(&a, 5), (&b, 4)] {
        for i in 0..n {
            let s = sink(&t.id, &format!("snk_{i}"), &format!("sink {i}"));
            due.insert(format!("{}/{}", t.id, s.id));
            tx.sink_insert(&s).await.unwrap();
        }
    }
    let mut later = sink(&a.id, "snk_later", "later");
    later.next_attempt_at = now.plus_secs(1);
    tx.sink_insert(&later).await.unwrap();
    let mut off = sink(&a.id, "snk_off", "off");
    off.enabled = false;
    tx.sink_insert(&off).await.unwrap();
    tx.commit().await.unwrap();

    // two nodes claim at once, several rounds: never the same sink twice
    let nodes = [
        clavis_store::AnyStore::connect(&db.url)
            .await
            .unwrap()
            .into_store(),
        clavis_store::AnyStore::connect(&db.url)
            .await
            .unwrap()
            .into_store(),
    ];
    for round in 0..4_i64 {
        let at = now.plus_secs(round * 60);
        let (x, y) = tokio::join!(
            tokio::spawn(claim(nodes[0].clone(), "node-a", at)),
            tokio::spawn(claim(nodes[1].clone(), "node-b", at)),
        );
        let (x, y): (BTreeSet<_>, BTreeSet<_>) = (
            x.unwrap().into_iter().collect(),
            y.unwrap().into_iter().collect(),
        );
        assert!(x.is_disjoint(&y), "round {round}: {x:?} and {y:?} overlap");
        let mut union: BTreeSet<_> = x.union(&y).cloned().collect();
        if round > 0 {
            // the not-yet-due sink became due after the first round
            union.remove(&format!("{}/snk_later", a.id));
        }
        assert_eq!(
            union, due,
            "round {round}: every due sink is claimed (leases expired)"
        );
    }
    // while leased, nobody claims it again, not even its holder
    let at = now.plus_secs(3 * 60 + 29);
    assert!(claim(nodes[0].clone(), "node-c", at).await.is_empty());
    assert!(claim(nodes[0].clone(), "node-a", at).await.is_empty());
    assert!(claim(nodes[1].clone(), "node-b", at).await.is_empty());
    // expired leases go to a new owner; the holder records an outcome, a non-owner cannot
    let mut tx = begin(&core).await;
    let got = tx
        .sink_claim_due("node-c", at.plus_secs(2), at.plus_secs(60), 100)
        .await
        .unwrap();
    assert_eq!(got.len(), due.len() + 1);
    let mut outcome = got[0].clone();
    outcome.cursor = 42;
    outcome.status = SinkStatus::Retrying;
    outcome.last_error = Some("503".into());
    outcome.attempts = 1;
    outcome.next_attempt_at = at.plus_secs(500);
    outcome.delivered_total = 42;
    outcome.last_delivered_at = Some(at);
    outcome.updated_at = at;
    assert!(
        !tx.sink_record(&outcome, "node-a").await.unwrap(),
        "node-a lost its lease"
    );
    assert!(tx.sink_record(&outcome, "node-c").await.unwrap());
    assert!(
        !tx.sink_record(&outcome, "node-c").await.unwrap(),
        "the lease was dropped"
    );
    assert_eq!(
        tx.sink_get(&outcome.tenant_id, &outcome.id).await.unwrap(),
        Some(outcome.clone())
    );
    tx.commit().await.unwrap();
    // a released sink waits for its next attempt; the others' leases expired meanwhile
    let key = format!("{}/{}", outcome.tenant_id, outcome.id);
    let early = claim(nodes[1].clone(), "node-d", at.plus_secs(499)).await;
    assert_eq!(early.len(), due.len(), "{early:?}");
    assert!(!early.contains(&key));
    let on_time = claim(nodes[1].clone(), "node-d", at.plus_secs(500)).await;
    assert_eq!(on_time, [key]);
    for n in nodes {
        n.close().await;
    }
}
