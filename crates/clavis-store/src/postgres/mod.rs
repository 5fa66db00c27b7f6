//! PostgreSQL backend: a connection pool shared by several stateless Clavis nodes.
//! Migrations take an advisory lock so nodes starting together apply them once.

use clavis_core::StoreError;
use clavis_core::ports::{SchemaStatus, Store, StoreResult, Tx};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Column, Row as _, TypeInfo, ValueRef};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::SqlTx;
use crate::migrate::{self, Dialect};
use crate::sql::{Conn, Kind, Q, Row, Value, map_err};

/// A Clavis store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("clavis");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self, now: clavis_types::Timestamp) -> StoreResult<SchemaStatus> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // One node at a time; the lock is released at commit.
        sqlx::query("SELECT pg_advisory_xact_lock(7355608)")
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        migrate::run(Conn::postgres(tx), Dialect::Postgres, now).await
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(Box::new(SqlTx::new(Conn::postgres(tx))))
    }
    async fn read(&self) -> StoreResult<Box<dyn Tx>> {
        self.begin().await
    }
    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let tx = self.pool.begin().await.map_err(map_err)?;
        migrate::status(Conn::postgres(tx)).await
    }
    fn backend(&self) -> &'static str {
        "postgres"
    }
    async fn close(&self) {
        self.pool.close().await;
    }
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    args: Vec<Value>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for a in args {
        query = match a {
            Value::Null(Kind::Int) => query.bind(None::<i64>),
            Value::Null(Kind::Bool) => query.bind(None::<bool>),
            Value::Null(Kind::Text) => query.bind(None::<String>),
            Value::Null(Kind::Bytes) => query.bind(None::<Vec<u8>>),
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
) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments> {
    match sql {
        std::borrow::Cow::Borrowed(s) => sqlx::query(s),
        std::borrow::Cow::Owned(s) => sqlx::query(sqlx::AssertSqlSafe(s)),
    }
}

pub(crate) async fn fetch(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
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

fn decode(r: &sqlx::postgres::PgRow, i: usize) -> StoreResult<Value> {
    let raw = r.try_get_raw(i).map_err(map_err)?;
    if raw.is_null() {
        return Ok(Value::Null(Kind::Text));
    }
    let kind = raw.type_info().name().to_owned();
    match kind.as_str() {
        "INT8" => r.try_get::<i64, _>(i).map(Value::Int),
        "INT4" => r.try_get::<i32, _>(i).map(|v| Value::Int(i64::from(v))),
        "INT2" => r.try_get::<i16, _>(i).map(|v| Value::Int(i64::from(v))),
        "BOOL" => r.try_get::<bool, _>(i).map(Value::Bool),
        "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => r.try_get::<String, _>(i).map(Value::Text),
        "BYTEA" => r.try_get::<Vec<u8>, _>(i).map(Value::Bytes),
        other => {
            return Err(StoreError::Corrupt(format!(
                "unexpected PostgreSQL type {other}"
            )));
        }
    }
    .map_err(map_err)
}

pub(crate) async fn exec(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    q: Q,
) -> StoreResult<u64> {
    bind(statement(q.sql), q.args)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
        .map_err(map_err)
}

pub(crate) async fn exec_script(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    script: &'static str,
) -> StoreResult<()> {
    sqlx::raw_sql(script)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(map_err)
}
