//! The audit chain services of clavis-core on both backends: verification names the first
//! broken sequence (tampered body, deleted event, swapped bodies, truncated tail, forged
//! anchor), checkpoints, retention purge with legal holds, export verified offline, and
//! key rotation audited. `forgery` holds forged anchors and checkpoints and events outside
//! the walked range; `purge_limits` what holds a purge back (sinks, many legal holds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use clavis_core::Core;
use clavis_core::chain_verify::verify_export;
use clavis_core::model::*;
use clavis_core::service::{BreakKind, ExportFormat, RequestMeta, Rotation, VerifyReport};
use clavis_store::testing::TestDb;
use clavis_types::*;
use serde_json::{Value, json};

mod forgery;
mod purge_limits;

clavis_store::on_both_backends!(
    verify_names_the_first_broken_seq,
    truncation_with_a_rewound_head_is_caught_by_a_checkpoint,
    a_rechained_rewrite_is_caught_by_a_checkpoint,
    checkpoints_are_idempotent_and_refuse_a_broken_chain,
    purge_keeps_the_chain_verifiable,
    a_legal_hold_stops_the_purge_at_the_held_orgs_first_event,
    export_verifies_offline_with_the_tenants_jwks,
    key_rotation_is_audited,
);

const T0: Timestamp = Timestamp::from_millis(1_705_329_000_000);

fn meta() -> RequestMeta {
    RequestMeta {
        ip_address: None,
        user_agent: Some("test".into()),
        caller: None,
    }
}

async fn tenant(core: &Core, slug: &str, settings: TenantSettings) -> Tenant {
    let mut tx = core.store.begin().await.unwrap();
    let t = core
        .create_tenant(&mut *tx, &Slug::parse(slug).unwrap(), slug, settings)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    t
}

/// Append `n` events of type `test.event` (in the given organization) through the core,
/// one transaction each; returns the head's seq.
async fn append(core: &Core, t: &Tenant, n: usize, org: Option<&str>) -> i64 {
    for i in 0..n {
        let mut ctx = JsonMap::new();
        ctx.insert("i".into(), json!(i));
        let e = core.audit_event(
            &t.id,
            "test.event",
            AuditActor {
                client_id: Some("cli_machine".into()),
                user_agent: Some("=HYPERLINK(\"http://evil\")".into()),
                ..AuditActor::default()
            },
            org.map(|o| AuditOrganization {
                org_id: o.to_owned(),
                name: Some("Acme".into()),
            }),
            ctx,
            &meta(),
        );
        let mut tx = core.store.begin().await.unwrap();
        core.audit_in(&mut *tx, e).await.unwrap();
        tx.commit().await.unwrap();
    }
    head(core, t).await.seq
}

async fn head(core: &Core, t: &Tenant) -> ChainHead {
    let mut tx = core.store.read().await.unwrap();
    tx.audit_head(&t.id).await.unwrap()
}

async fn stored(core: &Core, t: &Tenant, seq: i64) -> ChainedEvent {
    let mut tx = core.store.read().await.unwrap();
    tx.audit_range(&t.id, seq - 1, Some(seq), 1)
        .await
        .unwrap()
        .pop()
        .unwrap()
}

/// Run SQL on the test database outside the ports (to tamper with it).
async fn sql(db: &TestDb, statement: String) {
    match &db.store {
        clavis_store::AnyStore::Sqlite(_) => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let r = sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .unwrap();
            assert!(r.rows_affected() > 0);
            pool.close().await;
        }
        clavis_store::AnyStore::Postgres(_) => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let r = sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .unwrap();
            assert!(r.rows_affected() > 0);
            pool.close().await;
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn broken_at(r: &VerifyReport, seq: i64, kind: BreakKind) {
    assert!(!r.ok, "expected a break at {seq}: {r:?}");
    let b = r.broken.as_ref().unwrap();
    assert_eq!((b.seq, b.kind), (seq, kind), "{r:?}");
}

async fn verify_names_the_first_broken_seq(db: TestDb) {
    let core = db.core();
    let mut ts = Vec::new();
    for slug in ["body", "delete", "swap", "tail", "rehash", "clean"] {
        let t = tenant(&core, slug, TenantSettings::default()).await;
        append(&core, &t, 10, None).await;
        let r = core.audit_verify(&t.id).await.unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!((r.from_seq, r.to_seq, r.events_checked), (1, 10, 10));
        ts.push(t);
    }
    let id = |i: usize| quote(ts[i].id.as_str());

    // A body edited in place.
    sql(&db, format!(
        "UPDATE audit_log SET body = replace(body, '\"i\":3', '\"i\":7') WHERE tenant_id = {} AND seq = 4",
        id(0)
    ))
    .await;
    broken_at(
        &core.audit_verify(&ts[0].id).await.unwrap(),
        4,
        BreakKind::Hash,
    );

    // An event deleted.
    sql(
        &db,
        format!(
            "DELETE FROM audit_log WHERE tenant_id = {} AND seq = 6",
            id(1)
        ),
    )
    .await;
    let r = core.audit_verify(&ts[1].id).await.unwrap();
    broken_at(&r, 6, BreakKind::Gap);
    assert_eq!(r.to_seq, 5);

    // Two events' bodies swapped.
    let (b3, b4) = (
        stored(&core, &ts[2], 3).await.body,
        stored(&core, &ts[2], 4).await.body,
    );
    sql(
        &db,
        format!(
            "UPDATE audit_log SET body = {} WHERE tenant_id = {} AND seq = 3",
            quote(&b4),
            id(2)
        ),
    )
    .await;
    sql(
        &db,
        format!(
            "UPDATE audit_log SET body = {} WHERE tenant_id = {} AND seq = 4",
            quote(&b3),
            id(2)
        ),
    )
    .await;
    broken_at(
        &core.audit_verify(&ts[2].id).await.unwrap(),
        3,
        BreakKind::Hash,
    );

    // The tail truncated (the head still says 10).
    sql(
        &db,
        format!(
            "DELETE FROM audit_log WHERE tenant_id = {} AND seq > 8",
            id(3)
        ),
    )
    .await;
    let r = core.audit_verify(&ts[3].id).await.unwrap();
    broken_at(&r, 9, BreakKind::Head);
    assert_eq!((r.to_seq, r.events_checked), (8, 8));

    // A body edited and its hash recomputed: the next event's link breaks.
    let e = stored(&core, &ts[4], 5).await;
    let body = e.body.replace("\"i\":4", "\"i\":9");
    assert_ne!(body, e.body);
    let hash = clavis_core::chain::chain_hash(&e.prev_hash, &body);
    sql(
        &db,
        format!(
            "UPDATE audit_log SET body = {}, hash = {} WHERE tenant_id = {} AND seq = 5",
            quote(&body),
            quote(&hash),
            id(4)
        ),
    )
    .await;
    broken_at(
        &core.audit_verify(&ts[4].id).await.unwrap(),
        6,
        BreakKind::Link,
    );

    // Other tenants are untouched.
    let r = core.audit_verify(&ts[5].id).await.unwrap();
    assert!(r.ok && r.events_checked == 10, "{r:?}");
}

async fn truncation_with_a_rewound_head_is_caught_by_a_checkpoint(db: TestDb) {
    let core = db.core();
    let t = tenant(&core, "acme", TenantSettings::default()).await;
    append(&core, &t, 10, None).await;
    let c = core.audit_checkpoint(&t).await.unwrap();
    assert_eq!(c.seq, 10);
    append(&core, &t, 2, None).await;
    let r = core.audit_verify(&t.id).await.unwrap();
    assert!(r.ok && r.checkpoints_checked == 1, "{r:?}");
    // Cut the tail back to 7 and rewind the head to match: only the checkpoint knows.
    let e7 = stored(&core, &t, 7).await;
    let id = quote(t.id.as_str());
    sql(
        &db,
        format!("DELETE FROM audit_log WHERE tenant_id = {id} AND seq > 7"),
    )
    .await;
    sql(
        &db,
        format!(
            "UPDATE audit_heads SET seq = 7, hash = {} WHERE tenant_id = {id}",
            quote(&e7.hash)
        ),
    )
    .await;
    broken_at(
        &core.audit_verify(&t.id).await.unwrap(),
        8,
        BreakKind::Checkpoint,
    );
}

async fn a_rechained_rewrite_is_caught_by_a_checkpoint(db: TestDb) {
    let core = db.core();
    let t = tenant(&core, "acme", TenantSettings::default()).await;
    append(&core, &t, 6, None).await;
    assert_eq!(core.audit_checkpoint(&t).await.unwrap().seq, 6);
    append(&core, &t, 2, None).await;
    // Rewrite event 4 and recompute every later link and hash, and the head: only the
    // signed checkpoint at 6 still holds the original hash.
    let id = quote(t.id.as_str());
    let mut prev = stored(&core, &t, 3).await.hash;
    for seq in 4..=8 {
        let e = stored(&core, &t, seq).await;
        let body = if seq == 4 {
            e.body.replace("\"i\":3", "\"i\":5")
        } else {
            e.body
        };
        let hash = clavis_core::chain::chain_hash(&prev, &body);
        sql(&db, format!(
            "UPDATE audit_log SET body = {}, prev_hash = {}, hash = {} WHERE tenant_id = {id} AND seq = {seq}",
            quote(&body), quote(&prev), quote(&hash)
        ))
        .await;
        prev = hash;
    }
    sql(
        &db,
        format!(
            "UPDATE audit_heads SET hash = {} WHERE tenant_id = {id}",
            quote(&prev)
        ),
    )
    .await;
    let r = core.audit_verify(&t.id).await.unwrap();
    broken_at(&r, 6, BreakKind::Checkpoint);
    assert_eq!(r.to_seq, 5);
}

async fn checkpoints_are_idempotent_and_refuse_a_broken_chain(db: TestDb) {
    let core = db.core();
    let a = tenant(&core, "a", TenantSettings::default()).await;
    let b = tenant(&core, "b", TenantSettings::default()).await;
    let idle = tenant(&core, "idle", TenantSettings::default()).await;
    let idle_head = head(&core, &idle).await.seq;
    append(&core, &a, 3, None).await;
    append(&core, &b, 2, None).await;
    let c1 = core.audit_checkpoint(&a).await.unwrap();
    let c2 = core.audit_checkpoint(&a).await.unwrap();
    assert_eq!(c1, c2, "same seq, same stored checkpoint");
    assert_eq!(c1.hash, head(&core, &a).await.hash);
    // The JWS verifies with the tenant's published keys, and says what it should.
    let claims =
        clavis_core::chain_verify::verify_checkpoint_jws(&c1.jws, &core.jwks(&a).await.unwrap())
            .unwrap();
    assert_eq!(
        (claims.seq, claims.hash.as_str()),
        (c1.seq, c1.hash.as_str())
    );
    assert_eq!(claims.tenant_id, a.id.to_string());
    assert!(
        clavis_core::chain_verify::verify_checkpoint_jws(&c1.jws, &core.jwks(&b).await.unwrap())
            .is_err()
    );
    // Every tenant whose head moved: b (and idle only if it has events of its own).
    let expected = 1 + usize::from(idle_head > 0);
    assert_eq!(core.audit_checkpoint_all().await.unwrap(), expected);
    assert_eq!(core.audit_checkpoint_all().await.unwrap(), 0);
    append(&core, &a, 1, None).await;
    assert_eq!(core.audit_checkpoint_all().await.unwrap(), 1);
    assert_eq!(core.audit_checkpoints(&a, 10).await.unwrap().len(), 2);
    // A broken chain is not attested.
    append(&core, &b, 2, None).await;
    sql(&db, format!(
        "UPDATE audit_log SET body = replace(body, 'test.event', 'test.evil') WHERE tenant_id = {} AND seq = {}",
        quote(b.id.as_str()),
        head(&core, &b).await.seq
    ))
    .await;
    let err = core.audit_checkpoint(&b).await.unwrap_err().to_string();
    assert!(err.contains("broken"), "{err}");
}

async fn purge_keeps_the_chain_verifiable(db: TestDb) {
    let clock = Arc::new(ManualClock::new(T0));
    let core = db.core_with_clock(clock.clone());
    let settings = TenantSettings {
        audit_retention_days: 1,
        ..TenantSettings::default()
    };
    let t = tenant(&core, "acme", settings).await;
    let other = tenant(&core, "other", TenantSettings::default()).await;
    append(&core, &t, 3, None).await;
    core.audit_checkpoint(&t).await.unwrap();
    let old = append(&core, &t, 2, None).await;
    append(&core, &other, 2, None).await;
    clock.advance_secs(2 * 86_400);
    let head_before = append(&core, &t, 3, None).await;

    let r = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!(r.through_seq, Some(old), "{r:?}");
    assert_eq!(r.events_purged, old);
    assert!(r.held_by.is_empty());
    let v = core.audit_verify(&t.id).await.unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.anchor_seq, Some(old));
    assert_eq!(v.from_seq, old + 1);
    // The three new events and the `audit.purged` event remain.
    assert_eq!(v.to_seq, head_before + 1);
    assert_eq!(v.events_checked, 4);
    let mut tx = core.store.read().await.unwrap();
    let left = tx.audit_range(&t.id, 0, None, 100).await.unwrap();
    assert_eq!(left.first().unwrap().seq, old + 1);
    let purged = left.last().unwrap();
    assert_eq!(purged.event_type, "audit.purged");
    let body: Value = serde_json::from_str(&purged.body).unwrap();
    assert_eq!(body["context"]["through_seq"], json!(old));
    drop(tx);
    // Nothing more is due; the other tenant is untouched.
    let again = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!((again.events_purged, again.through_seq), (0, None));
    assert!(core.audit_verify(&other.id).await.unwrap().ok);
    // Later purges build on the anchor.
    clock.advance_secs(2 * 86_400);
    append(&core, &t, 1, None).await;
    let all = core.audit_purge_all(&meta()).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].through_seq, Some(head_before + 1));
    let v = core.audit_verify(&t.id).await.unwrap();
    assert!(v.ok && v.anchor_seq == Some(head_before + 1), "{v:?}");
    // A forged anchor signature is caught.
    sql(
        &db,
        format!(
            "UPDATE audit_anchors SET jws = {} WHERE tenant_id = {} AND seq = {}",
            quote("eyJhbGciOiJub25lIn0.e30."),
            quote(t.id.as_str()),
            head_before + 1
        ),
    )
    .await;
    broken_at(
        &core.audit_verify(&t.id).await.unwrap(),
        head_before + 1,
        BreakKind::Anchor,
    );
}

async fn a_legal_hold_stops_the_purge_at_the_held_orgs_first_event(db: TestDb) {
    let clock = Arc::new(ManualClock::new(T0));
    let core = db.core_with_clock(clock.clone());
    let settings = TenantSettings {
        audit_retention_days: 1,
        ..TenantSettings::default()
    };
    let t = tenant(&core, "acme", settings).await;
    let held = OrgId::generate(T0, &*core.rng);
    let free = OrgId::generate(T0, &*core.rng);
    let start = append(&core, &t, 2, Some(free.as_str())).await;
    let first_held = append(&core, &t, 1, Some(held.as_str())).await;
    assert_eq!(first_held, start + 1);
    append(&core, &t, 2, None).await;
    append(&core, &t, 1, Some(held.as_str())).await;
    let hold = core
        .audit_hold_create(&t, held.as_str(), "litigation 2024-17", &meta())
        .await
        .unwrap();
    assert!(
        core.audit_hold_create(&t, "not-an-org", "x", &meta())
            .await
            .is_err()
    );
    assert_eq!(
        core.audit_holds(&t, true).await.unwrap(),
        vec![hold.clone()]
    );
    let held_head = head(&core, &t).await.seq;
    clock.advance_secs(2 * 86_400);

    let r = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!(r.through_seq, Some(first_held - 1), "{r:?}");
    assert_eq!(r.held_by, vec![held.as_str().to_owned()]);
    assert_eq!(
        stored(&core, &t, first_held).await.org_id.as_deref(),
        Some(held.as_str())
    );
    assert!(core.audit_verify(&t.id).await.unwrap().ok);

    // Released: the rest of the old events go.
    assert!(
        core.audit_hold_release(&t, &hold.id, &meta())
            .await
            .unwrap()
    );
    assert!(
        !core
            .audit_hold_release(&t, &hold.id, &meta())
            .await
            .unwrap()
    );
    assert!(core.audit_holds(&t, true).await.unwrap().is_empty());
    assert!(
        core.audit_holds(&t, false).await.unwrap()[0]
            .released_at
            .is_some()
    );
    let r = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!(r.through_seq, Some(held_head), "{r:?}");
    let v = core.audit_verify(&t.id).await.unwrap();
    assert!(v.ok, "{v:?}");
    // The hold's life cycle is in the log.
    let mut tx = core.store.read().await.unwrap();
    let types: Vec<String> = tx
        .audit_range(&t.id, 0, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert!(
        types.contains(&"audit.legal_hold.released".to_owned()),
        "{types:?}"
    );
    assert_eq!(types.last().map(String::as_str), Some("audit.purged"));
}

async fn export(core: &Core, t: &Tenant, q: &AuditQuery, format: ExportFormat) -> String {
    let mut out = Vec::new();
    core.audit_export(t, q, format, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

async fn export_verifies_offline_with_the_tenants_jwks(db: TestDb) {
    let core = db.core();
    let t = tenant(&core, "acme", TenantSettings::default()).await;
    let other = tenant(&core, "other", TenantSettings::default()).await;
    let org = OrgId::generate(core.now(), &*core.rng);
    append(&core, &t, 3, None).await;
    append(&core, &t, 2, Some(org.as_str())).await;
    let last = append(&core, &t, 3, None).await;
    let jwks = core.jwks(&t).await.unwrap();

    let all = export(&core, &t, &AuditQuery::default(), ExportFormat::Jsonl).await;
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len() as i64, last + 1);
    let v = verify_export(&mut all.as_bytes(), &jwks).unwrap();
    assert!(v.status.contains("complete and unaltered"), "{v:?}");
    assert_eq!(
        (v.first_seq, v.last_seq, v.checkpoint_seq),
        (Some(1), Some(last), last)
    );
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        first["body"],
        json!(stored(&core, &t, 1).await.body),
        "body verbatim"
    );
    // The checkpoint made for the export is stored; a second export reuses it.
    let again = export(&core, &t, &AuditQuery::default(), ExportFormat::Jsonl).await;
    assert_eq!(again, all);

    // One edited line fails; so does another tenant's JWKS.
    let mut edited: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    edited[2] = edited[2].replacen("test.event", "test.evil", 1);
    assert_ne!(edited[2], lines[2]);
    let edited = edited.join("\n");
    assert!(verify_export(&mut edited.as_bytes(), &jwks).is_err());
    let err = verify_export(&mut all.as_bytes(), &core.jwks(&other).await.unwrap()).unwrap_err();
    assert!(err.contains("unknown key"), "{err}");

    // A filtered export with no gap inside verifies (it is a range); with gaps it is
    // refused, saying how to export a verifiable one.
    let q = AuditQuery {
        org_id: Some(org.as_str().to_owned()),
        ..AuditQuery::default()
    };
    let some = export(&core, &t, &q, ExportFormat::Jsonl).await;
    let v = verify_export(&mut some.as_bytes(), &jwks).unwrap();
    assert_eq!(v.events, 2);
    let q = AuditQuery {
        event_types: vec!["test.event".into()],
        before_seq: Some(last),
        after_seq: Some(2),
        ..AuditQuery::default()
    };
    let some = export(&core, &t, &q, ExportFormat::Jsonl).await;
    let v = verify_export(&mut some.as_bytes(), &jwks).unwrap();
    assert_eq!((v.first_seq, v.last_seq), (Some(3), Some(last - 1)));
    let mixed = format!("{}{}", lines[0], "\n") + &some;
    let err = verify_export(&mut mixed.as_bytes(), &jwks).unwrap_err();
    assert!(
        err.contains("Only an unfiltered range can be verified"),
        "{err}"
    );

    // Personal data: sealed in the body, readable in the view, "[erased]" after erasure,
    // and the export verifies throughout.
    let user = UserId::generate(core.now(), &*core.rng);
    let e = core.audit_event(
        &t.id,
        "user.login.success",
        AuditActor {
            user_id: Some(user.as_str().to_owned()),
            email: Some("jane@example.com".into()),
            ip_address: Some("198.51.100.7".into()),
            ..AuditActor::default()
        },
        None,
        JsonMap::new(),
        &meta(),
    );
    let mut tx = core.store.begin().await.unwrap();
    core.audit_in(&mut *tx, e).await.unwrap();
    tx.commit().await.unwrap();
    let q = AuditQuery {
        actor_user_id: Some(user.as_str().to_owned()),
        ..AuditQuery::default()
    };
    let personal = export(&core, &t, &q, ExportFormat::Jsonl).await;
    let line: Value = serde_json::from_str(personal.lines().next().unwrap()).unwrap();
    assert_eq!(line["event"]["actor"]["email"], json!("jane@example.com"));
    assert!(!line["body"].as_str().unwrap().contains("jane@"), "{line}");
    verify_export(&mut personal.as_bytes(), &jwks).unwrap();
    assert!(
        core.audit_erase_subject(&t, user.as_str(), &meta())
            .await
            .unwrap()
    );
    let erased = export(&core, &t, &q, ExportFormat::Jsonl).await;
    let line: Value = serde_json::from_str(erased.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["event"]["actor"]["email"],
        json!(clavis_core::chain::ERASED)
    );
    verify_export(&mut erased.as_bytes(), &jwks).unwrap();
    let full = export(&core, &t, &AuditQuery::default(), ExportFormat::Jsonl).await;
    verify_export(&mut full.as_bytes(), &jwks).unwrap();

    // CSV: header, one row per event, formulas neutralised.
    let csv = export(&core, &t, &AuditQuery::default(), ExportFormat::Csv).await;
    let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len() as i64, head(&core, &t).await.seq + 1);
    assert!(
        csv.contains(",[erased],"),
        "the erased email reads as erased"
    );
    assert!(rows[0].starts_with("seq,event_id,timestamp,event_type,actor_user_id,actor_email"));
    assert!(
        rows[1].contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{}",
        rows[1]
    );
    assert!(!csv.contains(",=HYPERLINK"));
}

async fn key_rotation_is_audited(db: TestDb) {
    let clock = Arc::new(ManualClock::new(T0));
    let core = db.core_with_clock(clock.clone());
    let t = tenant(&core, "acme", TenantSettings::default()).await;
    clock.advance_secs(clavis_core::service::JWKS_MAX_AGE_SECS);
    let mut tx = core.store.begin().await.unwrap();
    let Rotation::Rotated(active) = core.rotate_signing_keys(&mut *tx, &t).await.unwrap() else {
        panic!("expected a rotation")
    };
    tx.commit().await.unwrap();
    let h = head(&core, &t).await;
    let e = stored(&core, &t, h.seq).await;
    assert_eq!(e.event_type, "key.rotated");
    let body: Value = serde_json::from_str(&e.body).unwrap();
    assert_eq!(body["context"]["kid"], json!(active.kid.as_str()));
    assert_eq!(body["context"]["retired_kids"].as_array().unwrap().len(), 1);
    // A refused rotation leaves no event behind.
    let mut tx = core.store.begin().await.unwrap();
    assert!(core.rotate_signing_keys(&mut *tx, &t).await.is_err());
    drop(tx);
    assert_eq!(head(&core, &t).await, h);
    assert!(core.audit_verify(&t.id).await.unwrap().ok);
}
