//! The attack-protection request counters through the [`RateCounters`] port, with the
//! database as the fallback. When a shared store (Redis) fails, the request is counted in
//! the database instead (`rate_counters`, shared by every node that fell back too), so no
//! limit stops being enforced; a warning is logged (the first, then at most once a
//! minute: an outage must not flood the log) and every fallback is counted for the
//! `clavis_rate_counter_fallbacks_total` metric. Windows counted during an outage start
//! again from the database's count, which only ever lowers an attacker's allowance by
//! the hits counted before the outage.
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

/// Fallbacks from the shared counters to the database's.
#[derive(Debug)]
pub struct RateFallbacks {
    count: AtomicU64,
    last_warned_secs: AtomicI64,
}

impl Default for RateFallbacks {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            last_warned_secs: AtomicI64::new(i64::MIN),
        }
    }
}

impl RateFallbacks {
    /// Fallbacks since start.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Count one fallback; `true` when a warning is due.
    fn record(&self, now_secs: i64) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
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

    fn note_fallback(&self, op: &'static str, e: &StoreError) {
        if self.rate_fallbacks.record(self.now().as_secs()) {
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
        assert!(f.record(1_000));
        assert!(!f.record(1_001));
        assert!(!f.record(1_000 + FALLBACK_WARN_EVERY_SECS - 1));
        assert!(f.record(1_000 + FALLBACK_WARN_EVERY_SECS));
        assert_eq!(f.count(), 4);
    }
}
