//! Injected time and randomness. Server code never reads the wall clock or an ambient RNG
//! directly; it asks the `Clock` and `Rng` it was given, so expiry and rotation are testable.

use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    /// RFC 3339 with millisecond precision, as the APIs print times.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => {
                let fmt = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                );
                t.format(&fmt).unwrap_or_default()
            }
            Err(_) => String::new(),
        }
    }

    /// Parse RFC 3339 (any offset, any sub-second precision; truncated to milliseconds).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))
            .ok()
            .map(Self)
    }
}

/// The source of "now".
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.as_millis()))
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0
            .fetch_add(secs.saturating_mul(1000), Ordering::SeqCst);
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// A cryptographically secure random source.
pub trait Rng: Send + Sync + std::fmt::Debug {
    fn fill(&self, buf: &mut [u8]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic bytes for tests of this crate only.
    #[derive(Debug, Default)]
    pub struct CountingRng(std::sync::atomic::AtomicU8);
    impl Rng for CountingRng {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn rfc3339_formats_millis() {
        assert_eq!(
            Timestamp::from_millis(1_700_000_000_123).to_rfc3339(),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn rfc3339_parses_what_it_prints_and_offsets() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2023-11-15T00:13:20.123456+02:00"),
            Some(t)
        );
        assert_eq!(Timestamp::parse_rfc3339("2023-11-15"), None);
    }

    #[test]
    fn manual_clock_moves() {
        let c = ManualClock::new(Timestamp::from_millis(0));
        c.advance_secs(5);
        assert_eq!(c.now().as_secs(), 5);
    }
}
