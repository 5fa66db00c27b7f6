//! SQLite backend: one file in WAL mode, one writer connection (writes serialise with
//! `BEGIN IMMEDIATE`, so they never fail with SQLITE_BUSY mid-transaction) and a small
//! pool of readers.

use clavis_core::StoreError;
use clavis_core::ports::{SchemaStatus, Store, StoreResult, Tx};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Column, Row as _, TypeInfo, ValueRef};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::SqlTx;
use crate::migrate::{self, Dialect};
use crate::sql::{Conn, Q, Row, Value, map_err};

/// A Clavis store on a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Options of the checkpointer's own connection.
    checkpoints: Arc<SqliteConnectOptions>,
    /// Held by a checkpoint cycle and by the final checkpoint of `close`, so that they
    /// never run at once (SQLite would answer the second with "busy").
    checkpointing: Arc<tokio::sync::Mutex<()>>,
    /// Alive while any clone of the store is; the checkpointer stops when it is gone or
    /// when the store is closed.
    alive: Arc<std::sync::atomic::AtomicBool>,
}

impl SqliteStore {
    /// Open (creating if missing) the database at `url` (`sqlite://path` or `sqlite:path`).
    pub async fn open(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-8000")
            // Checkpoints run on a background connection (below), not inside a commit
            // that requests are waiting on.
            .pragma("wal_autocheckpoint", "0")
            // Room for the audit log's 64 multi-row inserts beside every other statement.
            .statement_cache_capacity(256);
        // No liveness ping before each acquire (sqlx's default): a connection to a local
        // file does not drop, and the ping is one more round trip to the connection's
        // thread in front of every transaction, the audit log's group commits included.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await
            .map_err(map_err)?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.read_only(true))
            .await
            .map_err(map_err)?;
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let checkpoints = Arc::new(opts_for_checkpoints(url)?);
        let checkpointing = Arc::new(tokio::sync::Mutex::new(()));
        spawn_checkpointer(
            (*checkpoints).clone(),
            writer.clone(),
            checkpointing.clone(),
            Arc::downgrade(&alive),
        );
        Ok(Self {
            writer,
            readers,
            checkpoints,
            checkpointing,
            alive,
        })
    }

    /// Run one checkpoint cycle now, on a connection of its own (the background
    /// checkpointer runs one every second).
    pub async fn checkpoint(&self) -> StoreResult<CheckpointCycle> {
        use sqlx::{ConnectOptions as _, Connection as _};
        let conn = self.checkpoints.connect().await.map_err(map_err)?;
        let mut ck = Checkpointer {
            conn,
            writer: self.writer.clone(),
        };
        let cycle = {
            let _one_at_a_time = self.checkpointing.lock().await;
            ck.cycle().await.map_err(map_err)
        };
        let _ = ck.conn.close().await;
        cycle
    }

    /// Apply pending migrations (refusing a database from a newer Clavis).
    pub async fn migrate(&self, now: clavis_types::Timestamp) -> StoreResult<SchemaStatus> {
        let tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        migrate::run(Conn::sqlite(tx), Dialect::Sqlite, now).await
    }

    /// `PRAGMA integrity_check` and `foreign_key_check`: `Ok(())` when both are clean.
    pub async fn integrity_check(&self) -> StoreResult<()> {
        let mut conn = Conn::sqlite(self.writer.begin().await.map_err(map_err)?);
        let rows = conn.fetch(crate::sql::q!("PRAGMA integrity_check")).await?;
        let verdict: Vec<String> = rows
            .iter()
            .filter_map(|r| r.text("integrity_check").ok())
            .collect();
        if verdict != ["ok"] {
            return Err(StoreError::Corrupt(format!(
                "integrity_check: {}",
                verdict.join("; ")
            )));
        }
        let fk = conn
            .fetch(crate::sql::q!("PRAGMA foreign_key_check"))
            .await?;
        if !fk.is_empty() {
            return Err(StoreError::Corrupt(format!(
                "{} foreign key violations",
                fk.len()
            )));
        }
        Ok(())
    }
}

/// Options for the checkpoint connection (same file, normal settings).
fn opts_for_checkpoints(url: &str) -> StoreResult<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL: {e}")))?
        .busy_timeout(Duration::from_secs(10)))
}

/// How often the checkpointer runs.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// A WAL holding more frames than this (4 MiB of 4 KiB pages) is started over by the next
/// cycle that catches up.
pub const WAL_RESTART_FRAMES: i64 = 1024;
/// A catch-up pass that had at most this many frames to copy was short, and so will be the
/// held pass after it (which also syncs them and the database file).
const HOLD_LAG_FRAMES: i64 = 64;
/// Passes a cycle makes to catch up with the writer before it gives up until the next.
const CATCH_UP_PASSES: usize = 6;
/// Longest wait for the writer connection. Whatever is committed meanwhile is copied by
/// the held pass, so a longer wait (a long transaction, a queue of writers) gives the
/// connection straight back and leaves the restart to the next cycle.
const WRITER_WAIT: Duration = Duration::from_millis(10);

/// What a checkpoint cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointCycle {
    /// Frames were copied into the database file; the WAL keeps growing from where it is.
    Copied,
    /// Every frame is in the database file and nothing was written since: the next write
    /// transaction starts the WAL over from its beginning.
    Restartable,
}

/// Copies committed WAL frames into the database file. SQLite starts the WAL over only
/// when a write transaction begins with every frame already copied, which under writes
/// that never pause does not happen by itself: the copy always trails the newest commits,
/// and the WAL file would grow for as long as the writes go on (each new frame then also
/// costs the file system an allocation). So, once the WAL is past [`WAL_RESTART_FRAMES`],
/// a cycle catches up without blocking anyone (PASSIVE passes) and then holds the writer
/// connection for one last short pass, which leaves nothing to copy when the next write
/// transaction begins.
struct Checkpointer {
    conn: sqlx::SqliteConnection,
    writer: SqlitePool,
}

/// One PASSIVE pass's answer: frames in the WAL and frames copied into the database file,
/// or `None` when SQLite did not run it (another checkpoint was running: "busy"; or the
/// database is not in WAL mode).
type Pass = Option<(i64, i64)>;

impl Checkpointer {
    async fn pass(&mut self) -> Result<Pass, sqlx::Error> {
        let (busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut self.conn)
            .await?;
        Ok((busy == 0 && log >= 0 && copied >= 0).then_some((log, copied)))
    }

    async fn cycle(&mut self) -> Result<CheckpointCycle, sqlx::Error> {
        let Some((log, mut copied)) = self.pass().await? else {
            return Ok(CheckpointCycle::Copied);
        };
        if log <= WAL_RESTART_FRAMES {
            return Ok(CheckpointCycle::Copied);
        }
        // Each pass copies what was committed while the one before ran; once a pass had
        // only a handful of frames to copy (and no reader held any back), so will the
        // held pass.
        let mut caught_up = false;
        for _ in 1..CATCH_UP_PASSES {
            let Some((now, now_copied)) = self.pass().await? else {
                return Ok(CheckpointCycle::Copied);
            };
            let work = now - copied;
            copied = now_copied;
            if now_copied == now && (0..=HOLD_LAG_FRAMES).contains(&work) {
                caught_up = true;
                break;
            }
        }
        if !caught_up {
            return Ok(CheckpointCycle::Copied);
        }
        // While this connection is held no write transaction can start; it is idle (a
        // pooled connection has no open transaction), so it holds no lock the pass needs.
        let Ok(Ok(held)) = tokio::time::timeout(WRITER_WAIT, self.writer.acquire()).await else {
            return Ok(CheckpointCycle::Copied);
        };
        let result = self.pass().await;
        drop(held);
        Ok(match result? {
            Some((log, copied)) if log == copied => CheckpointCycle::Restartable,
            _ => CheckpointCycle::Copied,
        })
    }
}

/// Every [`CHECKPOINT_EVERY`], run a [`Checkpointer`] cycle. Stops once the store is
/// closed or dropped.
fn spawn_checkpointer(
    opts: SqliteConnectOptions,
    writer: SqlitePool,
    checkpointing: Arc<tokio::sync::Mutex<()>>,
    alive: std::sync::Weak<std::sync::atomic::AtomicBool>,
) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        use sqlx::{ConnectOptions as _, Connection as _};
        let Ok(conn) = opts.connect().await else {
            return;
        };
        let mut ck = Checkpointer { conn, writer };
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let running = alive
                .upgrade()
                .is_some_and(|a| a.load(std::sync::atomic::Ordering::Acquire));
            if !running {
                let _ = ck.conn.close().await;
                return;
            }
            let failed = {
                let _one_at_a_time = checkpointing.lock().await;
                ck.cycle().await.err()
            };
            if let Some(e) = failed {
                tracing::warn!(error = %e, "SQLite checkpoint failed; reconnecting for the next");
                match opts.connect().await {
                    Ok(conn) => {
                        let _ = std::mem::replace(&mut ck.conn, conn).close().await;
                    }
                    Err(e) => tracing::warn!(error = %e, "SQLite checkpoint connection"),
                }
            }
        }
    });
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        Ok(Box::new(SqlTx::new(Conn::sqlite(tx))))
    }
    async fn read(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self.readers.begin().await.map_err(map_err)?;
        Ok(Box::new(SqlTx::new(Conn::sqlite(tx))))
    }
    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let tx = self.readers.begin().await.map_err(map_err)?;
        migrate::status(Conn::sqlite(tx)).await
    }
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    async fn close(&self) {
        self.alive
            .store(false, std::sync::atomic::Ordering::Release);
        let _one_at_a_time = self.checkpointing.lock().await;
        if let Ok(mut c) = self.writer.acquire().await {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *c)
                .await;
        }
        self.readers.close().await;
        self.writer.close().await;
    }
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    args: Vec<Value>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    for a in args {
        query = match a {
            Value::Null(_) => query.bind(None::<i64>),
            Value::Int(i) => query.bind(i),
            Value::Bool(b) => query.bind(b),
            Value::Text(s) => query.bind(s),
            Value::Bytes(b) => query.bind(b),
        };
    }
    query
}

fn statement(
    sql: std::borrow::Cow<'static, str>,
) -> sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    match sql {
        std::borrow::Cow::Borrowed(s) => sqlx::query(s),
        std::borrow::Cow::Owned(s) => sqlx::query(sqlx::AssertSqlSafe(s)),
    }
}

pub(crate) async fn fetch(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    q: Q,
) -> StoreResult<Vec<Row>> {
    let rows = bind(statement(q.sql), q.args)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let names: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    rows.iter()
        .map(|r| {
            let mut vals = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                vals.push(decode(r, i)?);
            }
            Ok(Row::new(names.clone(), vals))
        })
        .collect()
}

fn decode(r: &sqlx::sqlite::SqliteRow, i: usize) -> StoreResult<Value> {
    let raw = r.try_get_raw(i).map_err(map_err)?;
    if raw.is_null() {
        return Ok(Value::Null(crate::sql::Kind::Text));
    }
    let kind = raw.type_info().name().to_owned();
    match kind.as_str() {
        "INTEGER" | "BOOLEAN" | "NUMERIC" => r.try_get::<i64, _>(i).map(Value::Int),
        "TEXT" => r.try_get::<String, _>(i).map(Value::Text),
        "BLOB" => r.try_get::<Vec<u8>, _>(i).map(Value::Bytes),
        other => {
            return Err(StoreError::Corrupt(format!(
                "unexpected SQLite type {other}"
            )));
        }
    }
    .map_err(map_err)
}

pub(crate) async fn exec(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    q: Q,
) -> StoreResult<u64> {
    bind(statement(q.sql), q.args)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
        .map_err(map_err)
}

/// Run a migration script (several statements) on the connection.
pub(crate) async fn exec_script(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    script: &'static str,
) -> StoreResult<()> {
    sqlx::raw_sql(script)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(map_err)
}
