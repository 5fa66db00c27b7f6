//! Signing keys: isolation and the rotation life cycle (retired keys are kept for good).

use clavis_core::StoreError;
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;

use clavis_core::service::Rotation;

use crate::support::*;

clavis_store::on_both_backends!(
    signing_key_isolation,
    key_rotation_publishes_before_signing,
    without_a_next_key_rotation_publishes_one_first,
    concurrent_rotations_leave_one_active_key,
);

async fn signing_key_isolation(db: TestDb) {
    let core = db.core();
    let (a, b) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let keys_a = tx.key_list(&a.id).await.unwrap();
    let keys_b = tx.key_list(&b.id).await.unwrap();
    assert_eq!(keys_a.len(), 2);
    assert!(keys_b.iter().all(|k| k.tenant_id == b.id));
    assert!(
        keys_a
            .iter()
            .all(|k| !keys_b.iter().any(|kb| kb.kid == k.kid))
    );
    let mut forged = keys_a[0].clone();
    forged.tenant_id = b.id.clone();
    forged.state = KeyState::Revoked;
    assert!(!tx.key_update(&forged, KeyState::Active).await.unwrap());
    assert!(!tx.key_update(&forged, KeyState::Next).await.unwrap());
    assert!(!tx.key_delete(&b.id, &keys_a[0].kid).await.unwrap());
    assert_eq!(tx.key_list(&a.id).await.unwrap(), keys_a);
    tx.commit().await.unwrap();
    let jwks_b = core.jwks(&b).await.unwrap();
    assert!(keys_a.iter().all(|k| jwks_b.find(k.kid.as_str()).is_none()));
    // a sealed private key moved to another tenant cannot be opened there
    let mut tx = core.store.begin().await.unwrap();
    let mut stolen = keys_a
        .iter()
        .find(|k| k.state == KeyState::Active)
        .unwrap()
        .clone();
    stolen.tenant_id = b.id.clone();
    for k in tx.key_list(&b.id).await.unwrap() {
        tx.key_delete(&b.id, &k.kid).await.unwrap();
    }
    tx.key_insert(&stolen).await.unwrap();
    assert!(core.active_signer(&mut *tx, &b).await.is_err());
    assert!(core.active_signer(&mut *tx, &a).await.is_ok());
}

async fn key_rotation_publishes_before_signing(db: TestDb) {
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let core = db.core_with_clock(clock.clone());
    let (a, _) = two_tenants(&core).await;
    let kid_of = |state| {
        let core = core.clone();
        let a = a.clone();
        async move {
            let mut tx = core.store.read().await.unwrap();
            tx.key_list(&a.id)
                .await
                .unwrap()
                .into_iter()
                .filter(|k| k.state == state)
                .map(|k| k.kid)
                .collect::<Vec<_>>()
        }
    };
    let active0 = kid_of(KeyState::Active).await;
    let next0 = kid_of(KeyState::Next).await;
    assert_eq!((active0.len(), next0.len()), (1, 1));
    let jwks = core.jwks(&a).await.unwrap();
    assert!(
        jwks.find(next0[0].as_str()).is_some(),
        "next key is published before it signs"
    );

    // too early: relying parties may not have fetched the next key yet
    let mut tx = core.store.begin().await.unwrap();
    let early = core
        .rotate_signing_keys(&mut *tx, &a)
        .await
        .unwrap_err()
        .to_string();
    assert!(early.contains("can start signing at"), "{early}");
    drop(tx);
    clock.advance_secs(clavis_core::service::JWKS_MAX_AGE_SECS);
    let mut tx = core.store.begin().await.unwrap();
    let Rotation::Rotated(active1) = core.rotate_signing_keys(&mut *tx, &a).await.unwrap() else {
        panic!("expected a rotation")
    };
    tx.commit().await.unwrap();
    assert_eq!(
        active1.kid, next0[0],
        "the published next key starts signing"
    );
    let mut tx = core.store.read().await.unwrap();
    let signer = core.active_signer(&mut *tx, &a).await.unwrap();
    drop(tx);
    assert_eq!(signer.kid(), next0[0].as_str());
    let jws = signer
        .sign_jws(
            &serde_json::Map::new(),
            &serde_json::json!({"sub": "x"}),
            &*core.rng,
        )
        .unwrap();
    let jwks = core.jwks(&a).await.unwrap();
    let verifier = clavis_crypto::Verifier::from_jwk(jwks.find(signer.kid()).unwrap()).unwrap();
    assert_eq!(verifier.verify_jws(&jws).unwrap()["sub"], "x");
    assert!(
        jwks.find(active0[0].as_str()).is_some(),
        "retired key kept while its tokens live"
    );
    assert_eq!(jwks.keys.len(), 3);
    assert_eq!(kid_of(KeyState::Retired).await, active0);

    // after the longest token lifetime the retired key leaves the JWKS, but it is never
    // deleted, not even by later rotations: audit checkpoints it signed stay verifiable
    clock.advance_secs(a.settings.max_token_lifetime + 1);
    let jwks = core.jwks(&a).await.unwrap();
    assert!(jwks.find(active0[0].as_str()).is_none());
    let mut tx = core.store.begin().await.unwrap();
    assert!(matches!(
        core.rotate_signing_keys(&mut *tx, &a).await.unwrap(),
        Rotation::Rotated(_)
    ));
    tx.commit().await.unwrap();
    let mut retired = kid_of(KeyState::Retired).await;
    retired.sort();
    let mut expected = vec![active0[0].clone(), next0[0].clone()];
    expected.sort();
    assert_eq!(retired, expected);
    assert!(
        core.jwks(&a)
            .await
            .unwrap()
            .find(active0[0].as_str())
            .is_none()
    );
    let audit_keys = core.audit_keys(&a).await.unwrap();
    assert!(audit_keys.find(active0[0].as_str()).is_some());
    assert_eq!(audit_keys.keys.len(), 4);
}

async fn without_a_next_key_rotation_publishes_one_first(db: TestDb) {
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let core = db.core_with_clock(clock.clone());
    let (a, _) = two_tenants(&core).await;
    let mut tx = core.store.begin().await.unwrap();
    let next = tx
        .key_list(&a.id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.state == KeyState::Next)
        .unwrap();
    tx.key_delete(&a.id, &next.kid).await.unwrap();
    tx.commit().await.unwrap();
    let active_before = core
        .active_signer(&mut *core.store.read().await.unwrap(), &a)
        .await
        .unwrap()
        .kid()
        .to_owned();

    let mut tx = core.store.begin().await.unwrap();
    let outcome = core.rotate_signing_keys(&mut *tx, &a).await.unwrap();
    tx.commit().await.unwrap();
    let Rotation::NextPublished { usable_at } = outcome else {
        panic!("signed with an unpublished key: {outcome:?}")
    };
    assert_eq!(
        usable_at,
        clock
            .now()
            .plus_secs(clavis_core::service::JWKS_MAX_AGE_SECS)
    );
    // the active key did not change, and the new next key is in the JWKS
    let signer = core
        .active_signer(&mut *core.store.read().await.unwrap(), &a)
        .await
        .unwrap();
    assert_eq!(signer.kid(), active_before);
    assert_eq!(core.jwks(&a).await.unwrap().keys.len(), 2);
}

async fn concurrent_rotations_leave_one_active_key(db: TestDb) {
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let core = db.core_with_clock(clock.clone());
    let (a, _) = two_tenants(&core).await;
    clock.advance_secs(clavis_core::service::JWKS_MAX_AGE_SECS);
    let rotate = |core: clavis_core::Core, a: Tenant| async move {
        let mut tx = core.store.begin().await?;
        let r = core.rotate_signing_keys(&mut *tx, &a).await?;
        tx.commit().await?;
        Ok::<_, clavis_core::CoreError>(r)
    };
    let results: Vec<_> = join_all(
        (0..4)
            .map(|_| tokio::spawn(rotate(core.clone(), a.clone())))
            .collect(),
    )
    .await;
    let rotated = results
        .iter()
        .filter(|r| matches!(r, Ok(Rotation::Rotated(_))))
        .count();
    assert_eq!(rotated, 1, "{results:?}");
    assert!(
        results.iter().all(|r| r.is_ok()
            || matches!(
                r,
                Err(clavis_core::CoreError::Conflict(_))
                    | Err(clavis_core::CoreError::Store(StoreError::Conflict(_)))
            )),
        "{results:?}"
    );
    let keys = core
        .store
        .read()
        .await
        .unwrap()
        .key_list(&a.id)
        .await
        .unwrap();
    let count = |s| keys.iter().filter(|k| k.state == s).count();
    assert_eq!(
        (
            count(KeyState::Active),
            count(KeyState::Next),
            count(KeyState::Retired)
        ),
        (1, 1, 1)
    );
}

async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
