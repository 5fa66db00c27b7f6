//! Test support (feature `testing`): a fresh, migrated database per test — a SQLite file in
//! a temporary directory, or a new PostgreSQL database with a random name that is dropped
//! when the [`TestDb`] is dropped. PostgreSQL is reached at `CLAVIS_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

#![allow(clippy::expect_used, clippy::panic)] // test support: failing loudly is the point

use clavis_core::Core;
use clavis_crypto::{MasterKey, SystemRng};
use clavis_types::{Clock, Rng, SystemClock, random_base32};
use std::sync::Arc;

use crate::AnyStore;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("CLAVIS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn pg_url_for(db: &str) -> String {
    let admin = pg_admin_url();
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{admin}/{db}"),
    }
}

/// A fresh database for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub store: AnyStore,
    pub master_key_b64: String,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("url", &self.url).finish()
    }
}

impl TestDb {
    /// Create an empty database (not migrated) and return its URL and guard.
    pub async fn empty(backend: Backend) -> (String, Option<tempfile::TempDir>, Option<String>) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("clavis.db").display());
                (url, Some(dir), None)
            }
            Backend::Postgres => {
                let name = format!("clavis_test_{}", random_base32(&SystemRng::new(), 16));
                let admin = sqlx::PgPool::connect(&pg_admin_url())
                    .await
                    .expect("PostgreSQL reachable for tests (is it running?)");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                (pg_url_for(&name), None, Some(name))
            }
        }
    }

    /// A fresh, migrated database.
    pub async fn new(backend: Backend) -> Self {
        let (url, dir, pg_name) = Self::empty(backend).await;
        let store = AnyStore::connect(&url).await.expect("connect");
        store.migrate(SystemClock.now()).await.expect("migrate");
        let rng = SystemRng::new();
        Self {
            backend,
            url,
            store,
            master_key_b64: MasterKey::generate(&rng).to_base64(),
            dir,
            pg_name,
        }
    }

    /// A `Core` on this database with the real clock and RNG.
    pub fn core(&self) -> Core {
        self.core_with_clock(Arc::new(SystemClock))
    }

    /// A `Core` on this database with the given clock (e.g. a `ManualClock`).
    pub fn core_with_clock(&self, clock: Arc<dyn Clock>) -> Core {
        let rng: Arc<dyn Rng> = Arc::new(SystemRng::new());
        Core::new(
            self.store.clone().into_store(),
            clock,
            rng,
            MasterKey::from_base64(&self.master_key_b64).expect("master key"),
        )
    }

    /// The directory holding the SQLite file (SQLite only).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            drop_pg_database(name);
        }
    }
}

/// Drop a test database (on a separate thread with its own runtime, so it works from
/// `Drop` inside or outside an async context).
pub fn drop_pg_database(name: String) {
    let handle = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            if let Ok(admin) = sqlx::PgPool::connect(&pg_admin_url()).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&admin)
                .await;
                admin.close().await;
            }
        });
    });
    let _ = handle.join();
}

/// Run `$body` (an async fn taking a `TestDb`) once per backend as two `#[tokio::test]`s.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::testing::TestDb::new($crate::testing::Backend::Sqlite).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::testing::TestDb::new($crate::testing::Backend::Postgres).await).await
            })*
        }
    };
}
