//! Forgeries that verification must catch: a checkpoint replayed as a purge anchor, an
//! anchor or checkpoint signed with a key that is not the tenant's, events stored outside
//! the walked range (beyond the head, at or below the anchor); and checkpoints signed by
//! keys retired long ago, which must stay verifiable.

use std::sync::Arc;

use clavis_core::chain::chain_hash;
use clavis_core::chain_verify::{
    ANCHOR_TYP, AnchorClaims, CHECKPOINT_TYP, CheckpointClaims, verify_export,
};
use clavis_core::model::*;
use clavis_core::service::{BreakKind, ExportFormat, JWKS_MAX_AGE_SECS, Rotation};
use clavis_crypto::{Signer, generate_signing_key};
use clavis_store::testing::TestDb;
use clavis_types::*;

use crate::{T0, append, broken_at, export, head, meta, quote, sql, stored, tenant};

clavis_store::on_both_backends!(
    a_checkpoint_replayed_as_an_anchor_is_a_break,
    a_checkpoint_signed_by_an_unknown_key_is_a_break,
    checkpoints_signed_by_long_retired_keys_stay_verifiable,
    events_outside_the_walked_range_are_breaks,
);

/// A signer whose key the tenant never had.
fn foreign_signer() -> Signer {
    let k = generate_signing_key(SigningAlg::Es256, "kid_forged").unwrap();
    Signer::from_pkcs8(SigningAlg::Es256, "kid_forged", &k.pkcs8_der).unwrap()
}

async fn insert_anchor(db: &TestDb, t: &Tenant, seq: i64, hash: &str, jws: &str) {
    sql(
        db,
        format!(
            "INSERT INTO audit_anchors (tenant_id, seq, hash, events_purged, jws, purged_at) \
             VALUES ({}, {seq}, {}, {seq}, {}, {})",
            quote(t.id.as_str()),
            quote(hash),
            quote(jws),
            T0.as_millis()
        ),
    )
    .await;
}

async fn a_checkpoint_replayed_as_an_anchor_is_a_break(db: TestDb) {
    let core = db.core();
    let t = tenant(&core, "acme", TenantSettings::default()).await;
    let mid = append(&core, &t, 5, None).await;
    let c = core.audit_checkpoint(&t).await.unwrap();
    assert_eq!(c.seq, mid);
    append(&core, &t, 3, None).await;
    assert!(core.audit_verify(&t.id).await.unwrap().ok);
    // Delete the prefix and pass the genuine checkpoint of its end off as a purge anchor.
    let id = quote(t.id.as_str());
    sql(
        &db,
        format!("DELETE FROM audit_log WHERE tenant_id = {id} AND seq <= {mid}"),
    )
    .await;
    insert_anchor(&db, &t, mid, &c.hash, &c.jws).await;
    let r = core.audit_verify(&t.id).await.unwrap();
    broken_at(&r, mid, BreakKind::Anchor);
    let found = &r.broken.as_ref().unwrap().found;
    assert!(found.contains(ANCHOR_TYP), "{r:?}");

    // A well-formed anchor of exactly that purge, signed with a key of the forger's own.
    let claims = AnchorClaims {
        tenant_id: t.id.to_string(),
        purged_through: mid,
        hash: c.hash.clone(),
        events_purged: mid,
        retention_cutoff: T0.to_rfc3339(),
        iat: T0.as_secs(),
    };
    let jws = foreign_signer()
        .sign_typed(ANCHOR_TYP, &claims, &*core.rng)
        .unwrap();
    sql(
        &db,
        format!(
            "UPDATE audit_anchors SET jws = {} WHERE tenant_id = {id}",
            quote(&jws)
        ),
    )
    .await;
    let r = core.audit_verify(&t.id).await.unwrap();
    broken_at(&r, mid, BreakKind::Anchor);
    assert!(
        r.broken.as_ref().unwrap().found.contains("unknown key"),
        "{r:?}"
    );
    assert_eq!(r.signatures_unverifiable, 0);
}

async fn a_checkpoint_signed_by_an_unknown_key_is_a_break(db: TestDb) {
    let core = db.core();
    let t = tenant(&core, "acme", TenantSettings::default()).await;
    let base = head(&core, &t).await.seq;
    let cp = append(&core, &t, 6, None).await;
    assert_eq!(core.audit_checkpoint(&t).await.unwrap().seq, cp);
    append(&core, &t, 2, None).await;
    // Rewrite event base+4 and re-chain everything after it and the head; then re-sign the
    // checkpoint over the new hash with a key the tenant never had.
    let id = quote(t.id.as_str());
    let top = head(&core, &t).await.seq;
    let mut prev = stored(&core, &t, base + 3).await.hash;
    let mut new_cp_hash = String::new();
    for seq in base + 4..=top {
        let e = stored(&core, &t, seq).await;
        let body = if seq == base + 4 {
            e.body.replace("\"i\":3", "\"i\":5")
        } else {
            e.body
        };
        let hash = chain_hash(&prev, &body);
        sql(&db, format!(
            "UPDATE audit_log SET body = {}, prev_hash = {}, hash = {} WHERE tenant_id = {id} AND seq = {seq}",
            quote(&body), quote(&prev), quote(&hash)
        ))
        .await;
        if seq == cp {
            new_cp_hash.clone_from(&hash);
        }
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
    let claims = CheckpointClaims {
        tenant_id: t.id.to_string(),
        seq: cp,
        hash: new_cp_hash.clone(),
        iat: T0.as_secs(),
    };
    let jws = foreign_signer()
        .sign_typed(CHECKPOINT_TYP, &claims, &*core.rng)
        .unwrap();
    sql(&db, format!(
        "UPDATE audit_checkpoints SET hash = {}, kid = 'kid_forged', jws = {} WHERE tenant_id = {id} AND seq = {cp}",
        quote(&new_cp_hash), quote(&jws)
    ))
    .await;
    let r = core.audit_verify(&t.id).await.unwrap();
    broken_at(&r, cp, BreakKind::Checkpoint);
    assert!(
        r.broken.as_ref().unwrap().found.contains("unknown key"),
        "{r:?}"
    );
    assert_eq!(r.signatures_unverifiable, 0);
}

async fn checkpoints_signed_by_long_retired_keys_stay_verifiable(db: TestDb) {
    let clock = Arc::new(ManualClock::new(T0));
    let core = db.core_with_clock(clock.clone());
    let t = tenant(&core, "acme", TenantSettings::default()).await;
    append(&core, &t, 3, None).await;
    let c = core.audit_checkpoint(&t).await.unwrap();
    let old_export = export(&core, &t, &AuditQuery::default(), ExportFormat::Jsonl).await;
    // Two rotations, the second after every token of the first key has expired: the key
    // that signed the checkpoint is out of the JWKS, but not gone.
    clock.advance_secs(JWKS_MAX_AGE_SECS);
    for _ in 0..2 {
        let mut tx = core.store.begin().await.unwrap();
        let rotated = core.rotate_signing_keys(&mut *tx, &t).await.unwrap();
        assert!(matches!(rotated, Rotation::Rotated(_)), "{rotated:?}");
        tx.commit().await.unwrap();
        clock.advance_secs(t.settings.max_token_lifetime + JWKS_MAX_AGE_SECS + 1);
    }
    let jwks = core.jwks(&t).await.unwrap();
    assert!(jwks.find(&c.kid).is_none());
    let all = core.audit_keys(&t).await.unwrap();
    assert!(all.find(&c.kid).is_some());
    assert_eq!(all.keys.len(), 4, "two retired, one active, one next");
    let mut tx = core.store.read().await.unwrap();
    let kept = tx.key_list(&t.id).await.unwrap();
    drop(tx);
    assert!(
        kept.iter()
            .any(|k| k.kid.as_str() == c.kid && k.state == KeyState::Retired)
    );

    let r = core.audit_verify(&t.id).await.unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!((r.checkpoints_checked, r.signatures_unverifiable), (1, 0));
    // The old export verifies with the audit key set, not with today's JWKS.
    verify_export(&mut old_export.as_bytes(), &all).unwrap();
    let err = verify_export(&mut old_export.as_bytes(), &jwks).unwrap_err();
    assert!(err.contains("unknown key"), "{err}");
    // Another tenant's audit keys are its own.
    let other = tenant(&core, "other", TenantSettings::default()).await;
    let theirs = core.audit_keys(&other).await.unwrap();
    assert!(theirs.keys.iter().all(|k| all.find(&k.kid).is_none()));
}

async fn events_outside_the_walked_range_are_breaks(db: TestDb) {
    let clock = Arc::new(ManualClock::new(T0));
    let core = db.core_with_clock(clock.clone());
    let settings = TenantSettings {
        audit_retention_days: 1,
        ..TenantSettings::default()
    };
    let t = tenant(&core, "acme", settings).await;
    let id = quote(t.id.as_str());
    let base = head(&core, &t).await.seq;
    let old = append(&core, &t, 3, None).await;
    clock.advance_secs(2 * 86_400);
    let top = append(&core, &t, 2, None).await;

    // A row far beyond the head, a copy of the last one: never walked before.
    let columns = "tenant_id, seq, event_id, occurred_at, event_type, actor_user_id, \
                   actor_client_id, org_id, body, prev_hash, hash";
    sql(
        &db,
        format!(
            "INSERT INTO audit_log ({columns}) SELECT tenant_id, seq + 100, event_id || '_x', \
         occurred_at, event_type, actor_user_id, actor_client_id, org_id, body, prev_hash, hash \
         FROM audit_log WHERE tenant_id = {id} AND seq = {top}"
        ),
    )
    .await;
    let r = core.audit_verify(&t.id).await.unwrap();
    broken_at(&r, top + 100, BreakKind::Head);
    assert_eq!(r.to_seq, top, "the chain itself verified up to the head");
    sql(
        &db,
        format!(
            "DELETE FROM audit_log WHERE tenant_id = {id} AND seq = {}",
            top + 100
        ),
    )
    .await;
    assert!(core.audit_verify(&t.id).await.unwrap().ok);

    // A purged row put back below the anchor.
    let first = stored(&core, &t, base + 1).await;
    let p = core.audit_purge_expired(&t, &meta()).await.unwrap();
    assert_eq!(p.through_seq, Some(old), "{p:?}");
    assert!(core.audit_verify(&t.id).await.unwrap().ok);
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "NULL".to_owned(), quote);
    sql(
        &db,
        format!(
            "INSERT INTO audit_log ({columns}) VALUES ({id}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            first.seq,
            quote(&first.event_id),
            first.timestamp.as_millis(),
            quote(&first.event_type),
            opt(&first.actor_user_id),
            opt(&first.actor_client_id),
            opt(&first.org_id),
            quote(&first.body),
            quote(&first.prev_hash),
            quote(&first.hash)
        ),
    )
    .await;
    broken_at(
        &core.audit_verify(&t.id).await.unwrap(),
        first.seq,
        BreakKind::Anchor,
    );
}
