//! SQL adapters implementing clavis-core's storage ports on SQLite (the embedded default)
//! and PostgreSQL (several stateless nodes on one database).
//!
//! Layout: `sql` holds the portable layer (values, rows, the connection enum); `repo/`
//! holds every query and row mapping once, in portable SQL; `sqlite/` and `postgres/` hold
//! only pool set-up, binding/decoding and dialect differences; `migrate` runs the numbered
//! scripts in `migrations/{sqlite,postgres}`.
//!
//! `redis_counters` keeps the attack-protection request counters in Redis when an
//! installation configures one (core's `RateCounters` port).
//!
//! Must not: contain business rules (they belong to core), or take a tenant-scoped query
//! without its tenant id.

pub mod migrate;
mod postgres;
mod redis_counters;
mod repo;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use clavis_core::StoreError;
use clavis_core::ports::{SchemaStatus, Store, StoreResult};
use clavis_types::Timestamp;
use std::sync::Arc;

pub use postgres::PgStore;
pub use redis_counters::{REDIS_KEEP_SECS, RedisCounters};
pub use sqlite::{CheckpointCycle, SqliteStore, WAL_RESTART_FRAMES};

/// A transaction on either backend; implements every repository port.
pub(crate) struct SqlTx {
    conn: sql::Conn,
}

impl SqlTx {
    pub(crate) fn new(conn: sql::Conn) -> Self {
        Self { conn }
    }
}

#[async_trait::async_trait]
impl clavis_core::ports::Tx for SqlTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.conn.commit().await
    }
}

/// A store of either kind, before it is handed to core as `Arc<dyn Store>`.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// Open the database named by `url`: `sqlite://…` / `sqlite:…` or `postgres://…`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::open(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::open(url).await?))
        } else {
            Err(StoreError::Unavailable(
                "database URL must start with sqlite: or postgres://".to_owned(),
            ))
        }
    }

    /// Apply pending migrations; refuses a database migrated by a newer Clavis.
    pub async fn migrate(&self, now: Timestamp) -> StoreResult<SchemaStatus> {
        match self {
            Self::Sqlite(s) => s.migrate(now).await,
            Self::Postgres(s) => s.migrate(now).await,
        }
    }

    pub fn into_store(self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::new(s),
            Self::Postgres(s) => Arc::new(s),
        }
    }
}
