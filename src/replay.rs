//! Replay windows on signed timestamps, and an injectable clock.

use std::time::Duration;

use time::OffsetDateTime;

use crate::error::VerifyError;

/// How far a signed timestamp may lie from now.
///
/// Both tolerances are unsigned, so a window cannot be negative. A timestamp
/// exactly at either edge is accepted; one second beyond it is not. All
/// arithmetic is done in `i128`, so absurd timestamps are rejected rather
/// than overflowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayWindow {
    past: Duration,
    future: Duration,
}

impl Default for ReplayWindow {
    /// Five minutes each way, the tolerance Standard Webhooks, Stripe and
    /// Slack recommend.
    fn default() -> Self {
        Self::symmetric(Duration::from_secs(5 * 60))
    }
}

impl ReplayWindow {
    /// A window with the given tolerances into the past and the future.
    #[must_use]
    pub const fn new(past: Duration, future: Duration) -> Self {
        Self { past, future }
    }

    /// The same tolerance both ways.
    #[must_use]
    pub const fn symmetric(tolerance: Duration) -> Self {
        Self::new(tolerance, tolerance)
    }

    /// How old a timestamp may be.
    #[must_use]
    pub fn past(&self) -> Duration {
        self.past
    }

    /// How far ahead a timestamp may be (clock skew).
    #[must_use]
    pub fn future(&self) -> Duration {
        self.future
    }

    /// Checks `timestamp` (Unix seconds) against `now`.
    ///
    /// # Errors
    ///
    /// [`VerifyError::TimestampTooOld`] or [`VerifyError::TimestampTooNew`].
    pub fn check(&self, timestamp: i64, now: OffsetDateTime) -> Result<(), VerifyError> {
        let now = now.unix_timestamp();
        let delta = i128::from(timestamp) - i128::from(now);
        if delta < 0 && delta.unsigned_abs() > u128::from(self.past.as_secs()) {
            return Err(VerifyError::TimestampTooOld {
                timestamp,
                now,
                tolerance: self.past,
            });
        }
        if delta > 0 && delta.unsigned_abs() > u128::from(self.future.as_secs()) {
            return Err(VerifyError::TimestampTooNew {
                timestamp,
                now,
                tolerance: self.future,
            });
        }
        Ok(())
    }
}

/// `at + duration`, or the latest time `time` can represent when that
/// overflows: durations from configuration (leases, retentions, windows)
/// may be as large as [`Duration::MAX`] and must never panic.
pub(crate) fn saturating_add(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    time::Duration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc())
}

/// A source of the current time, so that tests and replays can fix it.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub OffsetDateTime);

impl FixedClock {
    /// A clock fixed at `seconds` after the Unix epoch; `None` if that is out
    /// of the range `time` supports.
    #[must_use]
    pub fn from_unix(seconds: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Self)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(s).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn accepts_timestamps_exactly_at_both_edges() {
        let w = ReplayWindow::default();
        assert_eq!(w.check(1_000_000 - 300, at(1_000_000)), Ok(()));
        assert_eq!(w.check(1_000_000 + 300, at(1_000_000)), Ok(()));
    }

    #[test]
    fn rejects_one_second_beyond_either_edge() {
        let w = ReplayWindow::default();
        assert_eq!(
            w.check(1_000_000 - 301, at(1_000_000))
                .map_err(|e| e.code()),
            Err("timestamp_too_old")
        );
        assert_eq!(
            w.check(1_000_000 + 301, at(1_000_000))
                .map_err(|e| e.code()),
            Err("timestamp_too_new")
        );
    }

    #[test]
    fn absurd_timestamps_do_not_overflow() {
        let w = ReplayWindow::symmetric(Duration::from_secs(u64::MAX));
        assert_eq!(w.check(i64::MAX, at(0)), Ok(()));
        let w = ReplayWindow::default();
        assert!(w.check(i64::MAX, at(-1_000)).is_err());
        assert!(w.check(i64::MIN, at(1_000)).is_err());
    }

    #[test]
    fn saturating_add_never_panics() {
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(saturating_add(at(0), Duration::MAX), max);
        assert_eq!(saturating_add(max, Duration::from_secs(1)), max);
        assert_eq!(saturating_add(at(0), Duration::from_secs(5)), at(5));
    }

    #[test]
    fn asymmetric_window_uses_each_side() {
        let w = ReplayWindow::new(Duration::from_secs(10), Duration::from_secs(0));
        assert!(w.check(95, at(100)).is_ok());
        assert!(w.check(101, at(100)).is_err());
    }
}
