//! The port of the attack-protection counters that stand alone: fixed-window request
//! counters (`auth-ip:…`, `refresh:…`, `ipfail:…`) shared by every node, in the database by
//! default ([`DatabaseCounters`]) or in a shared store such as Redis.
//!
//! Lockouts, and the per-address failed-login counter written in the same transactions as
//! the lockouts (`fail:…`), are not behind this port: they stay in the database
//! (`RateRepo`), durable and rare.

use async_trait::async_trait;
use clavis_types::TenantId;
use std::sync::Arc;

use super::{Store, StoreResult, Tx};

/// What [`RateCounters::kind`] answers for the database's own counters.
pub const DATABASE_COUNTERS: &str = "database";

/// Fixed-window counters. Every method takes the tenant: a bucket of one tenant is never
/// read, counted or cleared through another.
#[async_trait]
pub trait RateCounters: Send + Sync + std::fmt::Debug {
    /// Where the counters live, for logs and metrics: [`DATABASE_COUNTERS`] or the name of
    /// the shared store (`redis`).
    fn kind(&self) -> &'static str;
    /// Count one hit in the window of `window_len` seconds starting at `window_start` and
    /// return the hits counted in it, this one included. Atomic: of concurrent hits every
    /// one is counted. The window is kept at least as long as the longest window (a day).
    async fn hit(
        &self,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
        window_len: i64,
    ) -> StoreResult<i64>;
    /// Hits counted in a window, without counting one. `tx` is the caller's open
    /// transaction: the database counters read through it (a request never holds two pool
    /// connections at once); other stores ignore it.
    async fn get(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
    ) -> StoreResult<i64>;
    /// Forget every window of a bucket.
    async fn clear(&self, t: &TenantId, bucket: &str) -> StoreResult<()>;
}

/// The counters in the database (`rate_counters`, through [`super::RateRepo`]): each hit
/// and each clear in its own short write transaction, committed before the work it guards.
/// Old windows are deleted by `Core::purge_rate_counters`.
#[derive(Debug, Clone)]
pub struct DatabaseCounters {
    store: Arc<dyn Store>,
}

impl DatabaseCounters {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl RateCounters for DatabaseCounters {
    fn kind(&self) -> &'static str {
        DATABASE_COUNTERS
    }

    async fn hit(
        &self,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
        _window_len: i64,
    ) -> StoreResult<i64> {
        let mut tx = self.store.begin().await?;
        let hits = tx.rate_hit(t, bucket, window_start).await?;
        tx.commit().await?;
        Ok(hits)
    }

    async fn get(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
    ) -> StoreResult<i64> {
        tx.rate_get(t, bucket, window_start).await
    }

    async fn clear(&self, t: &TenantId, bucket: &str) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        tx.rate_clear(t, bucket).await?;
        tx.commit().await
    }
}
