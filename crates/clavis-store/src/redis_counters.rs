//! The attack-protection request counters in Redis: [`RedisCounters`] implements core's
//! [`RateCounters`] port for installations whose nodes share a Redis.
//!
//! One hash per bucket, key `{prefix}rate:{tenant_id}:{bucket}`, field = the window's
//! start (epoch seconds), value = its hits. Tenant ids (`ten_` and letters, digits, `-`,
//! `_`) hold no `:`, so the first `:` after `rate:` ends the tenant and no bucket of one
//! tenant can name a key of another. A hit is one Lua script (atomic in Redis): `HINCRBY`,
//! `EXPIRE` two days (the longest window is a day), and on a window's first hit the
//! removal of windows older than two days, so a bucket hit without pause never grows
//! without bound; `get` is `HGET`, `clear` is `DEL`. Redis's expiry is the purge.
//!
//! Every command is bounded by the configured timeout, and the connection reconnects by
//! itself. Errors are reported as `StoreError::Unavailable` without the URL's credentials
//! (core then counts in the database). Lives here, beside the SQL adapters, because it is
//! a storage adapter of a core port; the server only chooses it.

use async_trait::async_trait;
use clavis_core::StoreError;
use clavis_core::ports::{RateCounters, StoreResult, Tx};
use clavis_types::TenantId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// How long a bucket's hash lives after its last hit, and how old a window may get.
pub const REDIS_KEEP_SECS: i64 = 2 * 86_400;

/// `KEYS[1]` the bucket, `ARGV[1]` the window start, `ARGV[2]` [`REDIS_KEEP_SECS`].
const HIT_SCRIPT: &str = r"
local hits = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if hits == 1 then
  local oldest = tonumber(ARGV[1]) - tonumber(ARGV[2])
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    local start = tonumber(f)
    if start == nil or start < oldest then redis.call('HDEL', KEYS[1], f) end
  end
end
return hits
";

/// Counters in one Redis (`redis://` or `rediss://`).
#[derive(Clone)]
pub struct RedisCounters {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// `host:port`, what logs and errors may say of the server.
    target: String,
    /// The URL's password, removed from any error text.
    password: Option<String>,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("target", &self.target)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Set up a reconnecting connection to `url` without waiting for it (call inside a
    /// tokio runtime); [`RedisCounters::ping`] says whether the server answers. Keys start
    /// with `prefix`; every command waits at most `timeout`.
    pub fn open(url: &str, prefix: &str, timeout: Duration) -> StoreResult<Self> {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(StoreError::Other(
                "the Redis URL must start with redis:// or rediss://".to_owned(),
            ));
        }
        // The parser's message may quote the URL: it is not repeated.
        let client = redis::Client::open(url).map_err(|_| {
            StoreError::Other("the Redis URL is not a valid redis:// or rediss:// URL".to_owned())
        })?;
        let info = client.get_connection_info();
        let target = info.addr().to_string();
        let password = info
            .redis_settings()
            .password()
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            StoreError::Unavailable(format!("redis at {target}: {}", redact(&e, &password)))
        })?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            target,
            password,
        })
    }

    /// `host:port` of the server (no credentials).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// One round trip (`PING`).
    pub async fn ping(&self) -> StoreResult<()> {
        self.run::<String>(redis::cmd("PING")).await.map(|_| ())
    }

    /// The key of a bucket of a tenant.
    pub fn key(&self, t: &TenantId, bucket: &str) -> String {
        format!("{}rate:{}:{bucket}", self.prefix, t.as_str())
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!(
                "redis at {}: {}",
                self.target,
                redact(&e, &self.password)
            ))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis at {}: no answer within {} ms",
                self.target,
                self.timeout.as_millis()
            ))),
        }
    }
}

/// The error's text with the password (if any) cut out.
fn redact(e: &redis::RedisError, password: &Option<String>) -> String {
    let text = e.to_string();
    match password {
        Some(p) => text.replace(p.as_str(), "**redacted**"),
        None => text,
    }
}

#[async_trait]
impl RateCounters for RedisCounters {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn hit(
        &self,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
        _window_len: i64,
    ) -> StoreResult<i64> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(HIT_SCRIPT)
            .arg(1)
            .arg(self.key(t, bucket))
            .arg(window_start)
            .arg(REDIS_KEEP_SECS);
        self.run(cmd).await
    }

    async fn get(
        &self,
        _tx: &mut dyn Tx,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
    ) -> StoreResult<i64> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.key(t, bucket)).arg(window_start);
        Ok(self.run::<Option<i64>>(cmd).await?.unwrap_or(0))
    }

    async fn clear(&self, t: &TenantId, bucket: &str) -> StoreResult<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(t, bucket));
        self.run::<i64>(cmd).await.map(|_| ())
    }
}
