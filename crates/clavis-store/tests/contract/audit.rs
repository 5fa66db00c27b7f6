//! The tamper-evident audit log: gap-free chains under concurrent writers (several stores
//! on one database, as several nodes), search and cursors, purge with anchors — and
//! nothing of the log or its records (`audit_records.rs`) crosses tenants.

use clavis_core::chain::{GENESIS, check_link};
use clavis_core::model::*;
use clavis_core::ports::{Store, Tx};
use clavis_store::testing::TestDb;
use clavis_types::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::audit_records::{checkpoint, hold, sink, subject_key};
use crate::support::*;

clavis_store::on_both_backends!(
    append_assigns_gap_free_seqs_and_a_valid_chain,
    an_event_of_another_tenant_is_refused_before_anything_is_written,
    a_failing_row_in_a_batch_writes_nothing_of_it,
    concurrent_appends_from_several_nodes_form_one_chain,
    nothing_crosses_tenants,
    search_filters_and_both_cursor_directions,
    purge_cuts_a_prefix_and_leaves_an_anchor,
    last_seq_before_stops_at_the_first_newer_event,
);

pub(crate) const T0: Timestamp = Timestamp::from_millis(1_705_329_000_000);

pub(crate) fn event(t: &TenantId, id: &str, ty: &str, at: Timestamp) -> AuditEvent {
    AuditEvent {
        tenant_id: t.clone(),
        seq: 0,
        event_id: id.to_owned(),
        timestamp: at,
        event_type: ty.to_owned(),
        actor: AuditActor {
            user_id: Some("usr_1".into()),
            ip_address: Some("203.0.113.9".into()),
            ..AuditActor::default()
        },
        organization: None,
        context: JsonMap::from_iter([("id".to_owned(), json!(id))]),
    }
}

/// `n` simple events `{prefix}{i}`, one second apart from `T0`.
fn events(t: &TenantId, prefix: &str, n: i64) -> Vec<AuditEvent> {
    (1..=n)
        .map(|i| event(t, &format!("{prefix}{i}"), "test.event", T0.plus_secs(i)))
        .collect()
}

async fn append(store: &Arc<dyn Store>, t: &TenantId, mut evs: Vec<AuditEvent>) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let last = tx.audit_append(t, &mut evs).await.unwrap();
    tx.commit().await.unwrap();
    last
}

/// Walk the tenant's chain from `(after, prev)` (genesis or an anchor): every link
/// valid, sequence numbers consecutive, the head at the end. Returns the events.
async fn verify(
    tx: &mut dyn Tx,
    t: &TenantId,
    mut after: i64,
    mut prev: String,
) -> Vec<ChainedEvent> {
    let mut all = Vec::new();
    loop {
        let page = tx.audit_range(t, after, None, 100).await.unwrap();
        if page.is_empty() {
            break;
        }
        for e in page {
            assert_eq!(e.seq, after + 1, "gap-free");
            check_link(&e, &prev).unwrap_or_else(|err| panic!("seq {}: {err:?}", e.seq));
            assert_eq!(e.tenant_id, *t);
            after = e.seq;
            prev = e.hash.clone();
            all.push(e);
        }
    }
    let head = tx.audit_head(t).await.unwrap();
    assert_eq!(
        (head.seq, head.hash),
        (after, prev),
        "head is the chain's end"
    );
    all
}

async fn append_assigns_gap_free_seqs_and_a_valid_chain(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    assert_eq!(
        tx.audit_head(&a.id).await.unwrap(),
        ChainHead {
            seq: 0,
            hash: GENESIS.into()
        }
    );
    // a batch of several statements (SQLite 64 + 64 + 3 rows, PostgreSQL 64 + 64 + 2 + 1),
    // then single events and an empty batch
    let mut batch = events(&a.id, "evt_", 131);
    batch[3].actor.client_id = Some("cli_9".into());
    batch[4].organization = Some(AuditOrganization {
        org_id: "org_1".into(),
        name: Some("Acme".into()),
    });
    assert_eq!(tx.audit_append(&a.id, &mut batch).await.unwrap(), 131);
    assert_eq!(
        batch.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=131).collect::<Vec<_>>(),
        "seqs are written back"
    );
    tx.commit().await.unwrap();
    for i in 0..3 {
        let mut one = vec![event(&a.id, &format!("one_{i}"), "x", T0)];
        let mut tx = begin(&core).await;
        assert_eq!(tx.audit_append(&a.id, &mut one).await.unwrap(), 132 + i);
        tx.commit().await.unwrap();
    }
    let mut tx = begin(&core).await;
    assert_eq!(tx.audit_append(&a.id, &mut []).await.unwrap(), 134);
    let chain = verify(&mut *tx, &a.id, 0, GENESIS.into()).await;
    assert_eq!(chain.len(), 134);
    // index columns come from the event
    assert_eq!(chain[0].actor_user_id.as_deref(), Some("usr_1"));
    assert_eq!(chain[3].actor_client_id.as_deref(), Some("cli_9"));
    assert_eq!(chain[4].org_id.as_deref(), Some("org_1"));
    assert_eq!(chain[5].org_id, None);
    // decoded events are what was appended
    let listed = tx.audit_list(&a.id, 0, 1000).await.unwrap();
    assert_eq!(&listed[..131], &batch[..]);
    assert_eq!(tx.audit_list(&a.id, 130, 2).await.unwrap().len(), 2);
    assert_eq!(
        tx.audit_get(&a.id, "evt_5").await.unwrap().as_ref(),
        Some(&chain[4])
    );
    assert!(tx.audit_get(&a.id, "nope").await.unwrap().is_none());
    assert_eq!(
        tx.audit_range(&a.id, 10, Some(12), 100).await.unwrap(),
        chain[10..12]
    );
    // a duplicate event id is refused
    let mut dup = vec![event(&a.id, "evt_1", "x", T0)];
    assert_conflict(tx.audit_append(&a.id, &mut dup).await);
}

async fn a_failing_row_in_a_batch_writes_nothing_of_it(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut first = events(&a.id, "evt_", 3);
    let mut tx = begin(&core).await;
    assert_eq!(tx.audit_append(&a.id, &mut first).await.unwrap(), 3);
    tx.commit().await.unwrap();
    let head = {
        let mut tx = begin(&core).await;
        tx.audit_head(&a.id).await.unwrap()
    };
    // The sixth of ten events repeats an existing id: one statement on SQLite, several
    // chunks on PostgreSQL; either way the batch and the head move are refused together.
    let mut batch = events(&a.id, "new_", 10);
    batch[5].event_id = "evt_2".into();
    let mut tx = begin(&core).await;
    assert_conflict(tx.audit_append(&a.id, &mut batch).await);
    assert!(
        tx.commit().await.is_err(),
        "a failed transaction must not commit"
    );
    let mut tx = begin(&core).await;
    assert_eq!(tx.audit_head(&a.id).await.unwrap(), head);
    let listed = tx.audit_list(&a.id, 0, 100).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["evt_1", "evt_2", "evt_3"]
    );
    // and the chain goes on from the old head
    let mut next = events(&a.id, "next_", 2);
    assert_eq!(tx.audit_append(&a.id, &mut next).await.unwrap(), 5);
    tx.commit().await.unwrap();
    let mut tx = begin(&core).await;
    assert_eq!(verify(&mut *tx, &a.id, 0, GENESIS.into()).await.len(), 5);
}

async fn an_event_of_another_tenant_is_refused_before_anything_is_written(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let mut mixed = vec![event(&a.id, "e1", "x", T0), event(&b.id, "e2", "x", T0)];
    assert!(tx.audit_append(&a.id, &mut mixed).await.is_err());
    // the transaction is still clean: committing it leaves no gap
    let mut ok = vec![event(&a.id, "e3", "x", T0)];
    assert_eq!(tx.audit_append(&a.id, &mut ok).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let mut tx = begin(&core).await;
    assert_eq!(verify(&mut *tx, &a.id, 0, GENESIS.into()).await.len(), 1);
    assert_eq!(tx.audit_head(&b.id).await.unwrap().seq, 0);
}

async fn concurrent_appends_from_several_nodes_form_one_chain(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    // three stores on one database, as three Clavis nodes
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let s = clavis_store::AnyStore::connect(&db.url).await.unwrap();
        nodes.push(s.into_store());
    }
    let tasks: Vec<_> = (0..12_usize)
        .map(|w| {
            let store = nodes[w % 3].clone();
            let (a, b) = (a.id.clone(), b.id.clone());
            tokio::spawn(async move {
                for i in 0..8_usize {
                    let t = if (w + i) % 3 == 0 { &b } else { &a };
                    let size = 1 + (w + i) % 3;
                    let evs = (0..size)
                        .map(|k| event(t, &format!("w{w}_{i}_{k}"), "test.concurrent", T0))
                        .collect();
                    append(&store, t, evs).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut tx = begin(&core).await;
    let chain_a = verify(&mut *tx, &a.id, 0, GENESIS.into()).await;
    let chain_b = verify(&mut *tx, &b.id, 0, GENESIS.into()).await;
    let mut expected = BTreeSet::new();
    for w in 0..12_usize {
        for i in 0..8_usize {
            for k in 0..1 + (w + i) % 3 {
                expected.insert(format!("w{w}_{i}_{k}"));
            }
        }
    }
    let got: BTreeSet<String> = chain_a
        .iter()
        .chain(&chain_b)
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(
        chain_a.len() + chain_b.len(),
        expected.len(),
        "nothing lost or doubled"
    );
    assert_eq!(got, expected);
    drop(tx);
    for n in nodes {
        n.close().await;
    }
}

async fn nothing_crosses_tenants(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    let mut evs = events(&a.id, "evt_", 6);
    evs[1].organization = Some(AuditOrganization {
        org_id: "org_1".into(),
        name: None,
    });
    evs[2].actor.client_id = Some("cli_1".into());
    tx.audit_append(&a.id, &mut evs).await.unwrap();
    let chain = tx.audit_range(&a.id, 0, None, 100).await.unwrap();
    tx.audit_checkpoint_insert(&checkpoint(&a.id, 3, &chain[2].hash))
        .await
        .unwrap();
    let anchor_a = AuditAnchor {
        tenant_id: a.id.clone(),
        seq: 1,
        hash: chain[0].hash.clone(),
        events_purged: 1,
        jws: "jws.a".into(),
        purged_at: T0,
    };
    assert_eq!(tx.audit_purge(&anchor_a).await.unwrap(), 1);
    assert!(
        tx.audit_subject_key_insert(&subject_key(&a.id, "usr_1", b"k"))
            .await
            .unwrap()
    );
    tx.legal_hold_insert(&hold(&a.id, "hold_1", "org_1", T0))
        .await
        .unwrap();
    tx.sink_insert(&sink(&a.id, "snk_1", "splunk"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(&core).await;
    // reads through B see nothing of A
    assert!(tx.audit_list(&b.id, 0, 100).await.unwrap().is_empty());
    assert_eq!(tx.audit_head(&b.id).await.unwrap().seq, 0);
    assert!(
        tx.audit_range(&b.id, 0, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(tx.audit_get(&b.id, "evt_2").await.unwrap().is_none());
    let everything = AuditQuery {
        org_id: Some("org_1".into()),
        ..AuditQuery::default()
    };
    assert!(
        tx.audit_search(&b.id, &everything, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        tx.audit_search(&b.id, &AuditQuery::default(), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.audit_last_seq_before(&b.id, T0.plus_secs(100))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tx.audit_first_seq_of_orgs(&b.id, &["org_1".into()])
            .await
            .unwrap(),
        None
    );
    assert!(tx.audit_anchor_latest(&b.id).await.unwrap().is_none());
    assert!(
        tx.audit_checkpoint_covering(&b.id, 0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.audit_checkpoint_latest(&b.id).await.unwrap().is_none());
    assert!(
        tx.audit_checkpoint_list(&b.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        tx.audit_subject_key(&b.id, "usr_1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.legal_hold_list(&b.id, false).await.unwrap().is_empty());
    assert!(tx.sink_get(&b.id, "snk_1").await.unwrap().is_none());
    assert!(tx.sink_list(&b.id).await.unwrap().is_empty());
    // changes through B reach nothing of A
    assert!(!tx.audit_subject_erase(&b.id, "usr_1", T0).await.unwrap());
    assert!(!tx.legal_hold_release(&b.id, "hold_1", T0).await.unwrap());
    let mut moved = sink(&a.id, "snk_1", "renamed");
    moved.tenant_id = b.id.clone();
    assert!(!tx.sink_update_config(&moved).await.unwrap());
    assert!(!tx.sink_record(&moved, "node").await.unwrap());
    assert!(!tx.sink_delete(&b.id, "snk_1").await.unwrap());
    let anchor_b = AuditAnchor {
        tenant_id: b.id.clone(),
        seq: 100,
        ..anchor_a.clone()
    };
    assert_eq!(
        tx.audit_purge(&anchor_b).await.unwrap(),
        0,
        "B's purge deletes nothing of A"
    );
    // B's own records of the same names do not collide with A's
    tx.audit_checkpoint_insert(&checkpoint(&b.id, 3, "h"))
        .await
        .unwrap();
    assert!(
        tx.audit_subject_key_insert(&subject_key(&b.id, "usr_1", b"kb"))
            .await
            .unwrap()
    );
    tx.legal_hold_insert(&hold(&b.id, "hold_1", "org_1", T0))
        .await
        .unwrap();
    tx.sink_insert(&sink(&b.id, "snk_1", "splunk"))
        .await
        .unwrap();
    let mut evs_b = vec![event(&b.id, "evt_2", "x", T0)];
    assert_eq!(tx.audit_append(&b.id, &mut evs_b).await.unwrap(), 1);
    tx.commit().await.unwrap();

    // A is untouched
    let mut tx = begin(&core).await;
    let kept = verify(&mut *tx, &a.id, 1, anchor_a.hash.clone()).await;
    assert_eq!(kept, chain[1..]);
    assert_eq!(tx.audit_anchor_latest(&a.id).await.unwrap(), Some(anchor_a));
    assert_eq!(
        tx.audit_checkpoint_latest(&a.id)
            .await
            .unwrap()
            .unwrap()
            .hash,
        chain[2].hash
    );
    let key = tx.audit_subject_key(&a.id, "usr_1").await.unwrap().unwrap();
    assert_eq!(key.sealed_key.as_deref(), Some(&b"k"[..]));
    assert!(
        tx.legal_hold_list(&a.id, true).await.unwrap()[0]
            .released_at
            .is_none()
    );
    assert_eq!(
        tx.sink_get(&a.id, "snk_1").await.unwrap(),
        Some(sink(&a.id, "snk_1", "splunk"))
    );
    assert_eq!(
        tx.audit_first_seq_of_orgs(&a.id, &["org_1".into()])
            .await
            .unwrap(),
        Some(2)
    );
}

async fn search_filters_and_both_cursor_directions(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let types = [
        "user.login.success",
        "user.login.failure",
        "user.logout",
        "user.login",
        "USER.LOGIN.SUCCESS",
        "token.issued",
        "a%b_c.issued",
    ];
    let mut evs: Vec<AuditEvent> = (0..42_i64)
        .map(|i| {
            let ty = types[usize::try_from(i).unwrap() % types.len()];
            let mut e = event(&a.id, &format!("evt_{i}"), ty, T0.plus_secs(i));
            e.actor.user_id = Some(format!("usr_{}", i % 4));
            e.actor.client_id = (i % 5 == 0).then(|| "cli_1".to_owned());
            e.organization = (i % 3 == 0).then(|| AuditOrganization {
                org_id: format!("org_{}", i % 2),
                name: None,
            });
            e
        })
        .collect();
    let mut tx = begin(&core).await;
    tx.audit_append(&a.id, &mut evs).await.unwrap();
    let mut other = events(&b.id, "evt_", 5);
    tx.audit_append(&b.id, &mut other).await.unwrap();
    tx.commit().await.unwrap();

    // the oracle: the same filters applied in Rust
    let matches = |q: &AuditQuery, e: &AuditEvent| {
        q.from.is_none_or(|f| e.timestamp >= f)
            && q.to.is_none_or(|t| e.timestamp < t)
            && (q.event_types.is_empty()
                || q.event_types.iter().any(|ty| match ty.strip_suffix('*') {
                    Some(p) if p.ends_with('.') => e.event_type.starts_with(p),
                    _ => e.event_type == *ty,
                }))
            && q.actor_user_id
                .as_ref()
                .is_none_or(|u| e.actor.user_id.as_ref() == Some(u))
            && q.actor_client_id
                .as_ref()
                .is_none_or(|c| e.actor.client_id.as_ref() == Some(c))
            && q.org_id
                .as_ref()
                .is_none_or(|o| e.organization.as_ref().map(|x| &x.org_id) == Some(o))
            && q.after_seq.is_none_or(|s| e.seq > s)
            && q.before_seq.is_none_or(|s| e.seq < s)
    };
    let mut tx = core.store.read().await.unwrap();
    let queries = [
        AuditQuery::default(),
        AuditQuery {
            event_types: vec!["user.logout".into()],
            ..AuditQuery::default()
        },
        AuditQuery {
            event_types: vec!["user.login.*".into()],
            ..AuditQuery::default()
        },
        AuditQuery {
            event_types: vec![
                "token.issued".into(),
                "user.login.*".into(),
                "a%b_c.*".into(),
            ],
            ..AuditQuery::default()
        },
        AuditQuery {
            event_types: vec!["a%b_c.*".into(), "user.*".into()],
            ..AuditQuery::default()
        },
        AuditQuery {
            from: Some(T0.plus_secs(10)),
            to: Some(T0.plus_secs(20)),
            ..AuditQuery::default()
        },
        AuditQuery {
            actor_user_id: Some("usr_1".into()),
            ..AuditQuery::default()
        },
        AuditQuery {
            actor_client_id: Some("cli_1".into()),
            org_id: Some("org_0".into()),
            ..AuditQuery::default()
        },
        AuditQuery {
            org_id: Some("org_1".into()),
            event_types: vec!["user.login.*".into()],
            from: Some(T0.plus_secs(3)),
            ..AuditQuery::default()
        },
    ];
    for q in &queries {
        let want: Vec<i64> = evs
            .iter()
            .filter(|e| matches(q, e))
            .map(|e| e.seq)
            .collect();
        assert!(
            q.event_types.is_empty() || !want.is_empty(),
            "{q:?} matches something"
        );
        let got = tx.audit_search(&a.id, q, 1000).await.unwrap();
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), want, "{q:?}");
        assert!(got.iter().all(|e| e.tenant_id == a.id));
        // paging forward with the cursor yields the same sequence
        let mut paged = Vec::new();
        let mut cursor = AuditQuery {
            after_seq: Some(0),
            ..q.clone()
        };
        loop {
            let page = tx.audit_search(&a.id, &cursor, 4).await.unwrap();
            let Some(last) = page.last() else { break };
            cursor.after_seq = Some(last.seq);
            paged.extend(page.iter().map(|e| e.seq));
        }
        assert_eq!(paged, want, "forward pages of {q:?}");
        // and backwards, newest first
        let mut back = Vec::new();
        let mut cursor = AuditQuery {
            newest_first: true,
            before_seq: Some(i64::MAX),
            ..q.clone()
        };
        loop {
            let page = tx.audit_search(&a.id, &cursor, 3).await.unwrap();
            let Some(last) = page.last() else { break };
            cursor.before_seq = Some(last.seq);
            back.extend(page.iter().map(|e| e.seq));
        }
        back.reverse();
        assert_eq!(back, want, "backward pages of {q:?}");
    }
    let newest = AuditQuery {
        newest_first: true,
        ..AuditQuery::default()
    };
    let top = tx.audit_search(&a.id, &newest, 2).await.unwrap();
    assert_eq!(top.iter().map(|e| e.seq).collect::<Vec<_>>(), [42, 41]);
}

async fn purge_cuts_a_prefix_and_leaves_an_anchor(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut evs = events(&a.id, "evt_", 20);
    for i in [6, 14] {
        evs[i].organization = Some(AuditOrganization {
            org_id: "org_held".into(),
            name: None,
        });
    }
    let mut tx = begin(&core).await;
    tx.audit_append(&a.id, &mut evs).await.unwrap();
    assert_eq!(tx.audit_last_seq_before(&a.id, T0).await.unwrap(), None);
    assert_eq!(
        tx.audit_last_seq_before(&a.id, T0.plus_secs(11))
            .await
            .unwrap(),
        Some(10)
    );
    let orgs = ["org_held".to_owned(), "org_other".to_owned()];
    assert_eq!(
        tx.audit_first_seq_of_orgs(&a.id, &orgs).await.unwrap(),
        Some(7)
    );
    assert_eq!(tx.audit_first_seq_of_orgs(&a.id, &[]).await.unwrap(), None);
    assert_eq!(
        tx.audit_first_seq_of_orgs(&a.id, &orgs[1..]).await.unwrap(),
        None
    );
    let chain = tx.audit_range(&a.id, 0, None, 100).await.unwrap();
    let cut = |seq: i64, purged: i64| AuditAnchor {
        tenant_id: a.id.clone(),
        seq,
        hash: chain[usize::try_from(seq - 1).unwrap()].hash.clone(),
        events_purged: purged,
        jws: format!("jws.{seq}"),
        purged_at: T0.plus_secs(1000),
    };
    assert_eq!(tx.audit_purge(&cut(6, 6)).await.unwrap(), 6);
    tx.commit().await.unwrap();

    let mut tx = begin(&core).await;
    assert_eq!(
        tx.audit_anchor_latest(&a.id).await.unwrap(),
        Some(cut(6, 6))
    );
    let kept = verify(&mut *tx, &a.id, 6, chain[5].hash.clone()).await;
    assert_eq!(kept, chain[6..]);
    assert_eq!(
        tx.audit_first_seq_of_orgs(&a.id, &orgs).await.unwrap(),
        Some(7)
    );
    assert_eq!(
        tx.audit_last_seq_before(&a.id, T0.plus_secs(5))
            .await
            .unwrap(),
        None
    );
    assert!(tx.audit_get(&a.id, "evt_3").await.unwrap().is_none());
    assert_eq!(tx.audit_purge(&cut(10, 4)).await.unwrap(), 4);
    assert_eq!(
        tx.audit_anchor_latest(&a.id).await.unwrap(),
        Some(cut(10, 4))
    );
    assert_eq!(
        tx.audit_first_seq_of_orgs(&a.id, &orgs).await.unwrap(),
        Some(15)
    );
    // the head is unaffected and appends go on after it
    let mut more = vec![event(&a.id, "evt_21", "x", T0)];
    assert_eq!(tx.audit_append(&a.id, &mut more).await.unwrap(), 21);
    assert_eq!(
        verify(&mut *tx, &a.id, 10, chain[9].hash.clone())
            .await
            .len(),
        11
    );
}

async fn last_seq_before_stops_at_the_first_newer_event(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    // one node's clock ran ahead: event 4 is stamped later than events 5 and 6
    let mut evs: Vec<AuditEvent> = [1, 2, 3, 9, 4, 5]
        .iter()
        .enumerate()
        .map(|(i, s)| event(&a.id, &format!("evt_{i}"), "x", T0.plus_secs(*s)))
        .collect();
    let mut tx = begin(&core).await;
    tx.audit_append(&a.id, &mut evs).await.unwrap();
    let before = T0.plus_secs(6);
    assert_eq!(
        tx.audit_last_seq_before(&a.id, before).await.unwrap(),
        Some(3)
    );
    assert_eq!(
        tx.audit_last_seq_before(&a.id, T0.plus_secs(10))
            .await
            .unwrap(),
        Some(6)
    );
    let chain = tx.audit_range(&a.id, 0, None, 10).await.unwrap();
    let anchor = AuditAnchor {
        tenant_id: a.id.clone(),
        seq: 3,
        hash: chain[2].hash.clone(),
        events_purged: 3,
        jws: "jws".into(),
        purged_at: T0,
    };
    assert_eq!(tx.audit_purge(&anchor).await.unwrap(), 3);
    // nothing more may go: the oldest remaining event is newer than the cut-off
    assert_eq!(tx.audit_last_seq_before(&a.id, before).await.unwrap(), None);
}
