//! Numbered migrations, the same numbers for both backends, applied at start inside one
//! transaction. A database migrated by a newer Clavis, or one whose applied migration no
//! longer matches the file this binary carries, is refused with a clear message.

use clavis_core::StoreError;
use clavis_core::ports::{SchemaStatus, StoreResult};
use clavis_types::Timestamp;

use crate::sql::{Conn, q};

/// One migration script.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $($v:literal => $name:literal),* $(,)?) => {
        &[$(Migration {
            version: $v,
            name: $name,
            sql: include_str!(concat!("../migrations/", $dir, "/", $name, ".sql")),
        }),*]
    };
}

/// SQLite migrations.
pub const SQLITE: &[Migration] = migrations!("sqlite":
    1 => "0001_core",
    2 => "0002_signing_key_states",
    3 => "0003_oauth",
    4 => "0004_audit_chain",
    5 => "0005_authz_version",
    6 => "0006_management",
    7 => "0007_universal_login",
    8 => "0008_custom_domains",
);
/// PostgreSQL migrations (same numbers and names as [`SQLITE`]).
pub const POSTGRES: &[Migration] = migrations!("postgres":
    1 => "0001_core",
    2 => "0002_signing_key_states",
    3 => "0003_oauth",
    4 => "0004_audit_chain",
    5 => "0005_authz_version",
    6 => "0006_management",
    7 => "0007_universal_login",
    8 => "0008_custom_domains",
);

/// Data a migration's script cannot move by itself, moved right after that script in the
/// same transaction (the same step for both backends).
async fn data_step(conn: &mut Conn, version: i64) -> StoreResult<()> {
    match version {
        // Chain the events of the old `audit_events` table, then drop it.
        4 => crate::repo::chain_legacy_events(conn).await,
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// The highest migration this binary knows.
pub fn latest() -> i64 {
    SQLITE.iter().map(|m| m.version).max().unwrap_or(0)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS clavis_migrations (
    version BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

pub(crate) async fn run(
    mut conn: Conn,
    dialect: Dialect,
    now: Timestamp,
) -> StoreResult<SchemaStatus> {
    let set = match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    let latest = latest();
    conn.exec(q!(CREATE_TABLE)).await?;
    let applied = conn
        .fetch(q!(
            "SELECT version, name, checksum FROM clavis_migrations ORDER BY version"
        ))
        .await?;
    let mut max_applied = 0;
    for row in &applied {
        let version = row.int("version")?;
        max_applied = max_applied.max(version);
        let Some(known) = set.iter().find(|m| m.version == version) else {
            return Err(StoreError::Schema(format!(
                "the database schema is at version {version}, newer than this Clavis binary \
                 supports (version {latest}); run a Clavis release at least as new as the one \
                 that last migrated this database"
            )));
        };
        if row.text("checksum")? != clavis_crypto::sha256_hex(known.sql.as_bytes()) {
            return Err(StoreError::Schema(format!(
                "migration {version} ({}) applied to this database differs from the one in this \
                 Clavis binary; published migrations must never be edited",
                known.name
            )));
        }
    }
    for m in set.iter().filter(|m| m.version > max_applied) {
        conn.script(m.sql).await?;
        data_step(&mut conn, m.version).await?;
        conn.exec(q!(
            "INSERT INTO clavis_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            m.version,
            m.name,
            clavis_crypto::sha256_hex(m.sql.as_bytes()),
            now
        ))
        .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    conn.commit().await?;
    Ok(SchemaStatus {
        applied: latest.max(max_applied),
        latest,
    })
}

pub(crate) async fn status(mut conn: Conn) -> StoreResult<SchemaStatus> {
    let row = conn
        .fetch_opt(q!(
            "SELECT COALESCE(MAX(version), 0) AS v FROM clavis_migrations"
        ))
        .await?;
    let applied = match row {
        Some(r) => r.int("v")?,
        None => 0,
    };
    Ok(SchemaStatus {
        applied,
        latest: latest(),
    })
}
