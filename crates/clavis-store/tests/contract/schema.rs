//! Schema versions and transaction semantics shared by both backends.

use clavis_core::StoreError;
use clavis_core::model::*;
use clavis_store::testing::TestDb;
use clavis_types::*;

use crate::support::*;

clavis_store::on_both_backends!(
    newer_schema_is_refused,
    edited_migration_is_refused,
    rollback_leaves_nothing,
    a_failed_statement_aborts_the_transaction,
);

async fn newer_schema_is_refused(db: TestDb) {
    let mut tx = db.core().store.begin().await.unwrap();
    drop(tx.tenant_list(Page::first()).await.unwrap());
    drop(tx);
    raw_exec(&db, "INSERT INTO clavis_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', 'x', 0)").await;
    let err = db
        .store
        .migrate(Timestamp::from_millis(0))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Schema(_)), "{msg}");
    assert!(msg.contains("9999") && msg.contains("newer"), "{msg}");
}

async fn edited_migration_is_refused(db: TestDb) {
    raw_exec(
        &db,
        "UPDATE clavis_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let msg = db
        .store
        .migrate(Timestamp::from_millis(0))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("never be edited"), "{msg}");
}

async fn rollback_leaves_nothing(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    {
        let mut tx = core.store.begin().await.unwrap();
        tx.org_insert(&org(&core, &a, "ghost")).await.unwrap();
        // dropped without commit
    }
    let mut tx = core.store.read().await.unwrap();
    assert!(tx.org_list(&a.id, Page::first()).await.unwrap().is_empty());
}

async fn a_failed_statement_aborts_the_transaction(db: TestDb) {
    let core = db.core();
    let (a, _) = two_tenants(&core).await;
    let mut tx = begin(&core).await;
    tx.org_insert(&org(&core, &a, "first")).await.unwrap();
    assert_conflict(tx.org_insert(&org(&core, &a, "first")).await);
    // same behaviour on both backends: nothing more runs, nothing commits
    assert!(tx.org_list(&a.id, Page::first()).await.is_err());
    assert!(tx.commit().await.is_err());
    let mut tx = core.store.read().await.unwrap();
    assert!(tx.org_list(&a.id, Page::first()).await.unwrap().is_empty());
}
