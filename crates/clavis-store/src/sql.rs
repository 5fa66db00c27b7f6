//! The portable SQL layer shared by both backends: bound values, decoded rows, and the
//! connection enum that dispatches to the backend modules.
//!
//! Queries are written once in portable SQL with `$1…$n` placeholders (SQLite accepts the
//! same numbered form) and mapped from [`Row`] once. Dialect and pool differences live
//! in `sqlite/` and `postgres/`, except for the few statements that branch on
//! [`Conn::dialect`] (row locks that skip other nodes' rows; the audit log's bulk insert).

use clavis_core::StoreError;
use clavis_core::ports::StoreResult;
use clavis_types::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::{postgres, sqlite};

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A NULL of the given kind (PostgreSQL types its parameters, even NULL ones).
    Null(Kind),
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

/// The SQL type class of a bound value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Bool,
    Text,
    Bytes,
}

/// Rust types that bind as one SQL type class.
pub(crate) trait SqlKind {
    const KIND: Kind;
}

macro_rules! kinds {
    ($($t:ty => $k:ident),* $(,)?) => {$(impl SqlKind for $t { const KIND: Kind = Kind::$k; })*};
}
kinds!(
    i64 => Int, u32 => Int, Timestamp => Int, bool => Bool,
    &str => Text, String => Text, &String => Text,
    &[u8] => Bytes, &Vec<u8> => Bytes,
);

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}
impl From<&Vec<u8>> for Value {
    fn from(v: &Vec<u8>) -> Self {
        Value::Bytes(v.clone())
    }
}
impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Self {
        Value::Int(v.as_millis())
    }
}
impl<T: Into<Value> + SqlKind> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null(T::KIND), Into::into)
    }
}

macro_rules! id_values {
    ($($t:ty),*) => {$(
        impl From<&$t> for Value {
            fn from(v: &$t) -> Self { Value::Text(v.as_str().to_owned()) }
        }
        impl SqlKind for &$t { const KIND: Kind = Kind::Text; }
    )*};
}
id_values!(
    clavis_types::TenantId,
    clavis_types::OrgId,
    clavis_types::TeamId,
    clavis_types::UserId,
    clavis_types::ApiId,
    clavis_types::RoleId,
    clavis_types::ConnectionId,
    clavis_types::ClientId,
    clavis_types::Kid,
    clavis_types::Slug,
    clavis_types::Email,
    clavis_types::ClientGrantId,
    clavis_types::SessionId,
    clavis_types::FamilyId,
    clavis_types::InvitationId,
    clavis_types::ApiKeyId,
    clavis_types::EmailId,
    clavis_types::CustomDomainId
);

/// JSON-encode a value for a TEXT column.
pub(crate) fn json<T: Serialize>(v: &T) -> Value {
    Value::Text(serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()))
}

/// JSON-encode an optional value for a nullable TEXT column.
pub(crate) fn opt_json<T: Serialize>(v: Option<&T>) -> Value {
    v.map_or(Value::Null(Kind::Text), json)
}

/// A statement and its arguments. The text is static except for the few statements
/// generated from a fixed shape (multi-row inserts), never from input.
#[derive(Debug)]
pub(crate) struct Q {
    pub sql: std::borrow::Cow<'static, str>,
    pub args: Vec<Value>,
}

/// Build a [`Q`]: `q!("SELECT … WHERE a = $1", a)`.
macro_rules! q {
    ($sql:expr $(, $arg:expr)* $(,)?) => {
        $crate::sql::Q { sql: std::borrow::Cow::Borrowed($sql), args: vec![$($crate::sql::Value::from($arg)),*] }
    };
}
pub(crate) use q;

/// A decoded row: column names shared by all rows of one result.
#[derive(Debug)]
pub(crate) struct Row {
    names: Arc<[String]>,
    vals: Vec<Value>,
}

impl Row {
    pub(crate) fn new(names: Arc<[String]>, vals: Vec<Value>) -> Self {
        Self { names, vals }
    }

    fn get(&self, col: &str) -> StoreResult<&Value> {
        self.names
            .iter()
            .position(|n| n == col)
            .and_then(|i| self.vals.get(i))
            .ok_or_else(|| StoreError::Corrupt(format!("column `{col}` missing from result")))
    }

    fn wrong(col: &str, want: &str, v: &Value) -> StoreError {
        StoreError::Corrupt(format!("column `{col}`: expected {want}, found {v:?}"))
    }

    pub(crate) fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        match self.get(col)? {
            Value::Null(_) => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            v => Err(Self::wrong(col, "text", v)),
        }
    }
    pub(crate) fn text(&self, col: &str) -> StoreResult<String> {
        self.opt_text(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column `{col}` is NULL")))
    }
    pub(crate) fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        match self.get(col)? {
            Value::Null(_) => Ok(None),
            Value::Int(i) => Ok(Some(*i)),
            v => Err(Self::wrong(col, "integer", v)),
        }
    }
    pub(crate) fn int(&self, col: &str) -> StoreResult<i64> {
        self.opt_int(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column `{col}` is NULL")))
    }
    pub(crate) fn ts(&self, col: &str) -> StoreResult<Timestamp> {
        self.int(col).map(Timestamp::from_millis)
    }
    pub(crate) fn opt_ts(&self, col: &str) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_int(col)?.map(Timestamp::from_millis))
    }
    pub(crate) fn bool(&self, col: &str) -> StoreResult<bool> {
        match self.get(col)? {
            Value::Bool(b) => Ok(*b),
            Value::Int(i) => Ok(*i != 0),
            v => Err(Self::wrong(col, "boolean", v)),
        }
    }
    pub(crate) fn opt_bytes(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.get(col)? {
            Value::Null(_) => Ok(None),
            Value::Bytes(b) => Ok(Some(b.clone())),
            v => Err(Self::wrong(col, "bytes", v)),
        }
    }
    pub(crate) fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
        self.opt_bytes(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column `{col}` is NULL")))
    }
    /// Parse a TEXT column through a domain parse constructor.
    pub(crate) fn parse<T, E: std::fmt::Display>(
        &self,
        col: &str,
        f: impl FnOnce(&str) -> Result<T, E>,
    ) -> StoreResult<T> {
        let s = self.text(col)?;
        f(&s).map_err(|e| StoreError::Corrupt(format!("column `{col}`: {e}")))
    }
    pub(crate) fn opt_parse<T, E: std::fmt::Display>(
        &self,
        col: &str,
        f: impl FnOnce(&str) -> Result<T, E>,
    ) -> StoreResult<Option<T>> {
        match self.opt_text(col)? {
            None => Ok(None),
            Some(s) => f(&s)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("column `{col}`: {e}"))),
        }
    }
    /// Decode a JSON TEXT column.
    pub(crate) fn json<T: DeserializeOwned>(&self, col: &str) -> StoreResult<T> {
        let s = self.text(col)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("column `{col}`: {e}")))
    }
}

/// An open transaction on one of the backends.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// A transaction plus the one behaviour both backends must share: after any failed
/// statement the transaction is unusable (PostgreSQL aborts it; on SQLite we refuse
/// further statements), so callers never build on a half-applied unit of work.
pub(crate) struct Conn {
    tx: Tx,
    failed: bool,
}

impl Conn {
    pub(crate) fn sqlite(tx: sqlx::Transaction<'static, sqlx::Sqlite>) -> Self {
        Self {
            tx: Tx::Sqlite(tx),
            failed: false,
        }
    }
    pub(crate) fn postgres(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Self {
        Self {
            tx: Tx::Postgres(tx),
            failed: false,
        }
    }

    /// Which backend this transaction runs on, for the rare statement whose portable form
    /// would be wrong on one of them (row locks that skip rows other nodes hold) or too slow
    /// (the audit log's bulk insert: numbered placeholders cost SQLite a scan per bound
    /// value, and a group commit wants one round trip).
    pub(crate) fn dialect(&self) -> crate::migrate::Dialect {
        match self.tx {
            Tx::Sqlite(_) => crate::migrate::Dialect::Sqlite,
            Tx::Postgres(_) => crate::migrate::Dialect::Postgres,
        }
    }

    fn check<T>(&mut self, r: StoreResult<T>) -> StoreResult<T> {
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn usable(&self) -> StoreResult<()> {
        if self.failed {
            Err(StoreError::Other(
                "the transaction was aborted by an earlier error; start a new one".to_owned(),
            ))
        } else {
            Ok(())
        }
    }

    pub(crate) async fn fetch(&mut self, q: Q) -> StoreResult<Vec<Row>> {
        self.usable()?;
        let r = match &mut self.tx {
            Tx::Sqlite(tx) => sqlite::fetch(tx, q).await,
            Tx::Postgres(tx) => postgres::fetch(tx, q).await,
        };
        self.check(r)
    }
    pub(crate) async fn fetch_opt(&mut self, q: Q) -> StoreResult<Option<Row>> {
        Ok(self.fetch(q).await?.into_iter().next())
    }
    /// Execute and return the number of rows affected.
    pub(crate) async fn exec(&mut self, q: Q) -> StoreResult<u64> {
        self.usable()?;
        let r = match &mut self.tx {
            Tx::Sqlite(tx) => sqlite::exec(tx, q).await,
            Tx::Postgres(tx) => postgres::exec(tx, q).await,
        };
        self.check(r)
    }
    /// Run a multi-statement script (migrations only).
    pub(crate) async fn script(&mut self, sql: &'static str) -> StoreResult<()> {
        self.usable()?;
        let r = match &mut self.tx {
            Tx::Sqlite(tx) => sqlite::exec_script(tx, sql).await,
            Tx::Postgres(tx) => postgres::exec_script(tx, sql).await,
        };
        self.check(r)
    }
    pub(crate) async fn commit(self) -> StoreResult<()> {
        self.usable()?;
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await.map_err(map_err),
            Tx::Postgres(tx) => tx.commit().await.map_err(map_err),
        }
    }
}

/// Map a driver error into the port's error, keeping messages free of bound values.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    use sqlx::error::ErrorKind;
    match &e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict("already exists".to_owned()),
            ErrorKind::ForeignKeyViolation => StoreError::Conflict(
                "refers to something that does not exist, or is still referred to".to_owned(),
            ),
            ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                StoreError::Conflict(format!("rejected by a constraint: {}", db.message()))
            }
            _ => StoreError::Other(db.message().to_owned()),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}
