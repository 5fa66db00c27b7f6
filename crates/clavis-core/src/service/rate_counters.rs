//! The attack-protection request counters through the [`RateCounters`] port, with the
//! database as the fallback. When a shared store (Redis) fails, the request is counted in
//! the database instead (`rate_counters`, shared by every node that fell back too), so no
//! limit stops being enforced; a warning is logged (the first, then at most once a
//! minute: an outage must not flood the log) and every fallback is counted for the
//! `clavis_rate_counter_fallbacks_total` metric. After a failure the shared store is not
//! asked again for [`BREAKER_SECS`] (every request goes straight to the database), so an
//! outage costs one timeout per node every few seconds rather than one per request.
//!
//! Known limit: the two stores do not see each other's hits. A window that spans the
//! start or the end of an outage is counted partly in each, so in that one window a
//! client can get up to twice its limit.
//!
//! Must not: send a lockout or the per-address failed-login counter to the shared store
//! (they stay in the database, see `protection.rs`).

use clavis_types::TenantId;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::ports::{DATABASE_COUNTERS, DatabaseCounters, RateCounters, Tx};
use crate::{Core, CoreError, StoreError};

/// A fallback is logged at most once in this many seconds (all are counted).
pub const FALLBACK_WARN_EVERY_SECS: i64 = 60;

/// After a failure of the shared store, it is not asked again for this many seconds.
pub const BREAKER_SECS: i64 = 5;

/// Fallbacks from the shared counters to the database's.
#[derive(Debug)]
pub struct RateFallbacks {
    count: AtomicU64,
    last_warned_secs: AtomicI64,
    /// Until then (seconds since the epoch, exclusive) the shared store is skipped.
    skip_until_secs: AtomicI64,
}

impl Default for RateFallbacks {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            last_warned_secs: AtomicI64::new(i64::MIN),
            skip_until_secs: AtomicI64::new(i64::MIN),
        }
    }
}

impl RateFallbacks {
    /// Fallbacks since start.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether the shared store is skipped at `now_secs` (it failed less than
    /// [`BREAKER_SECS`] ago).
    fn skipping(&self, now_secs: i64) -> bool {
        now_secs < self.skip_until_secs.load(Ordering::Relaxed)
    }

    /// Count one fallback; `true` when a warning is due. `failed`: the shared store was
    /// asked and failed (skip it for [`BREAKER_SECS`]); otherwise it was skipped.
    fn record(&self, now_secs: i64, failed: bool) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
        if !failed {
            return false;
        }
        self.skip_until_secs
            .fetch_max(now_secs.saturating_add(BREAKER_SECS), Ordering::Relaxed);
        let last = self.last_warned_secs.load(Ordering::Relaxed);
        now_secs.saturating_sub(last) >= FALLBACK_WARN_EVERY_SECS
            && self
                .last_warned_secs
                .compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl Core {
    /// Keep the attack-protection request counters in a shared store (Redis) instead of
    /// the database. Lockouts stay in the database.
    pub fn with_rate_counters(mut self, counters: Arc<dyn RateCounters>) -> Self {
        self.rate_counters = counters;
        self
    }

    /// Whether the counters are a shared store that may fall back to the database.
    fn counters_external(&self) -> bool {
        self.rate_counters.kind() != DATABASE_COUNTERS
    }

    /// The shared store failed less than [`BREAKER_SECS`] ago: count in the database
    /// without asking it (counted as a fallback, not logged again).
    fn skip_shared(&self) -> bool {
        let now = self.now().as_secs();
        let skip = self.counters_external() && self.rate_fallbacks.skipping(now);
        if skip {
            self.rate_fallbacks.record(now, false);
        }
        skip
    }

    fn note_fallback(&self, op: &'static str, e: &StoreError) {
        if self.rate_fallbacks.record(self.now().as_secs(), true) {
            tracing::warn!(
                counters = self.rate_counters.kind(),
                op,
                error = %e,
                fallbacks = self.rate_fallbacks.count(),
                "the shared rate counters failed; counting in the database"
            );
        }
    }

    /// Count one hit (see [`RateCounters::hit`]); in the database when the shared store fails.
    pub(crate) async fn counter_hit(
        &self,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
        window_len: i64,
    ) -> Result<i64, CoreError> {
        if self.skip_shared() {
            return Ok(DatabaseCounters::new(self.store.clone())
                .hit(t, bucket, window_start, window_len)
                .await?);
        }
        match self
            .rate_counters
            .hit(t, bucket, window_start, window_len)
            .await
        {
            Ok(hits) => Ok(hits),
            Err(e) if self.counters_external() => {
                self.note_fallback("hit", &e);
                Ok(DatabaseCounters::new(self.store.clone())
                    .hit(t, bucket, window_start, window_len)
                    .await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Hits of a window (see [`RateCounters::get`]); the database's when the shared store
    /// fails.
    pub(crate) async fn counter_get(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        bucket: &str,
        window_start: i64,
    ) -> Result<i64, CoreError> {
        if self.skip_shared() {
            return Ok(tx.rate_get(t, bucket, window_start).await?);
        }
        match self.rate_counters.get(tx, t, bucket, window_start).await {
            Ok(hits) => Ok(hits),
            Err(e) if self.counters_external() => {
                self.note_fallback("get", &e);
                Ok(tx.rate_get(t, bucket, window_start).await?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fallback_is_counted_and_warnings_are_spaced() {
        let f = RateFallbacks::default();
        assert!(f.record(1_000, true));
        assert!(!f.record(1_001, true));
        assert!(!f.record(1_000 + FALLBACK_WARN_EVERY_SECS - 1, true));
        assert!(f.record(1_000 + FALLBACK_WARN_EVERY_SECS, true));
        assert_eq!(f.count(), 4);
    }

    #[test]
    fn a_failure_skips_the_shared_store_for_a_few_seconds_only() {
        let f = RateFallbacks::default();
        assert!(!f.skipping(1_000));
        f.record(1_000, true);
        assert!(f.skipping(1_000));
        assert!(f.skipping(1_000 + BREAKER_SECS - 1));
        assert!(!f.skipping(1_000 + BREAKER_SECS));
        // Skipped requests are counted but neither warn nor extend the pause.
        assert!(!f.record(1_002, false));
        assert!(!f.skipping(1_000 + BREAKER_SECS));
        assert_eq!(f.count(), 2);
    }
}
