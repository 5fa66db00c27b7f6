//! The SQLite WAL starts over while writes never pause, so the file stops growing: the
//! checkpointer catches up and then holds the writer for a last short pass. These tests
//! open a `SqliteStore` of their own (not `clavis_store::testing`): they call its
//! `checkpoint` and look at its files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::Core;
use clavis_core::model::{AuditActor, TenantSettings};
use clavis_core::service::RequestMeta;
use clavis_crypto::{MasterKey, SystemRng};
use clavis_store::{CheckpointCycle, SqliteStore, WAL_RESTART_FRAMES};
use clavis_types::{Clock, Slug, SystemClock};
use sqlx::ConnectOptions as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// SQLite's page size here and the WAL's per-frame header.
const FRAME_BYTES: u64 = 4096 + 24;

fn wal_len(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len())
}

/// Frames the WAL holds now (`PRAGMA wal_checkpoint` reports them; a PASSIVE pass copies
/// frames but never starts the WAL over by itself). Asked again while another checkpoint
/// makes SQLite answer "busy".
async fn wal_frames(url: &str) -> i64 {
    let mut conn = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    within("an answer about the WAL", async {
        loop {
            let (busy, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if busy == 0 {
                assert!(log >= 0, "the database is not in WAL mode");
                return log;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
}

/// `f`, or a failure naming `what` after a minute.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Wait until `commits` has moved past `from` (the writer task must still be running).
async fn commits_after(commits: &AtomicU64, from: u64, writer: &tokio::task::JoinHandle<()>) {
    within("the writer's commits", async {
        while commits.load(Ordering::Acquire) <= from {
            assert!(!writer.is_finished(), "the writer task stopped");
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_writes_never_pause() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clavis.db");
    let url = format!("sqlite://{}", db.display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate(SystemClock.now()).await.unwrap();
    let rng = SystemRng::new();
    let core = Arc::new(Core::new(
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        Arc::new(SystemRng::new()),
        MasterKey::generate(&rng),
    ));
    let mut tx = core.store.begin().await.unwrap();
    let tenant = core
        .create_tenant(
            &mut *tx,
            &Slug::parse("wal").unwrap(),
            "WAL",
            TenantSettings::default(),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // One small write transaction after another, never pausing, until told to stop.
    let start = wal_len(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (core, stop, commits, tenant) = (
            core.clone(),
            stop.clone(),
            commits.clone(),
            tenant.id.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let event = core.audit_event(
                    &tenant,
                    "token.issued",
                    AuditActor::default(),
                    None,
                    serde_json::Map::new(),
                    &RequestMeta::default(),
                );
                let mut tx = core.store.begin().await.unwrap();
                tx.audit_append(&tenant, &mut [event]).await.unwrap();
                tx.commit().await.unwrap();
                commits.fetch_add(1, Ordering::AcqRel);
            }
        })
    };

    // Let the WAL grow past the size from which a cycle starts it over.
    let past = u64::try_from(WAL_RESTART_FRAMES + 256).unwrap() * FRAME_BYTES;
    within("the WAL to grow", async {
        while wal_len(&db) < past {
            assert!(!writer.is_finished(), "the writer task stopped");
            tokio::task::yield_now().await;
        }
    })
    .await;
    let growth = wal_len(&db) - start;
    let commits_to_grow = commits.load(Ordering::Acquire);

    // Cycles run while the writes go on; one of them leaves nothing to copy, and the next
    // write transaction starts the WAL over: it then holds only what came after. (A reader
    // of the moment can make SQLite put the restart off to a later cycle: try a few.)
    let mut frames = i64::MAX;
    let mut at = 0;
    for _ in 0..10 {
        within("a cycle that catches up with the writer", async {
            while store.checkpoint().await.unwrap() != CheckpointCycle::Restartable {
                assert!(!writer.is_finished(), "the writer task stopped");
            }
        })
        .await;
        at = commits.load(Ordering::Acquire);
        commits_after(&commits, at + 1, &writer).await;
        frames = wal_frames(&url).await;
        if frames < WAL_RESTART_FRAMES {
            break;
        }
    }
    assert!(
        frames < WAL_RESTART_FRAMES,
        "the WAL did not start over: {frames} frames after restartable cycles"
    );
    // The file's size now: the writes went on during the cycles above, and on a busy
    // machine a cycle can take long enough for them to grow it further.
    let restarted = wal_len(&db);

    // As many commits again as it took to grow the file by `growth`: they overwrite it
    // from the beginning, so it does not grow by their size again.
    commits_after(&commits, at + commits_to_grow, &writer).await;
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    let after = wal_len(&db);
    assert!(
        after < restarted + growth / 2,
        "the WAL file kept growing: {restarted} bytes when it started over, then {after} \
         after the commits that had grown it by {growth} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_wal_is_copied_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clavis.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate(SystemClock.now()).await.unwrap();
    // The migrations leave far fewer frames than the restart size: nothing to hold.
    assert!(wal_frames(&url).await < WAL_RESTART_FRAMES);
    assert_eq!(store.checkpoint().await.unwrap(), CheckpointCycle::Copied);
}
