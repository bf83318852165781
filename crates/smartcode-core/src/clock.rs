//! Time as the core sees it: microseconds since the Unix epoch, from a clock it is given.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

/// An instant, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

pub const MICROS_PER_SECOND: i64 = 1_000_000;

impl Timestamp {
    pub fn micros(self) -> i64 {
        self.0
    }

    /// This instant plus whole seconds, or `None` past the representable range.
    pub fn plus_seconds(self, seconds: i64) -> Option<Timestamp> {
        seconds
            .checked_mul(MICROS_PER_SECOND)
            .and_then(|micros| self.0.checked_add(micros))
            .map(Timestamp)
    }

    /// RFC 3339 in UTC with microseconds: `2026-11-24T14:49:11.123456Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000;
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000).ok().map(Timestamp)
    }

    /// The UTC calendar day, `2026-11-24`.
    pub fn day(self) -> String {
        self.to_rfc3339()[..10].to_owned()
    }

    /// The UTC calendar month, `2026-11`.
    pub fn month(self) -> String {
        self.to_rfc3339()[..7].to_owned()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Where the core's "now" comes from. The server uses the system clock; tests use [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos / 1_000).expect("the system clock is within the year 294247"))
    }
}

/// A clock that moves only when told to, for tests of expiry and periods.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock(AtomicI64::new(start.0))
    }

    pub fn advance_seconds(&self, seconds: i64) {
        self.0.fetch_add(seconds * MICROS_PER_SECOND, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// The system clock plus an offset that only grows: the broker's clock under `serve --test-clock`,
/// so tests can move a running broker a day ahead without waiting a day.
#[derive(Default)]
pub struct ShiftedClock {
    offset_micros: AtomicI64,
}

impl ShiftedClock {
    pub fn advance_seconds(&self, seconds: i64) {
        self.offset_micros
            .fetch_add(seconds.saturating_mul(MICROS_PER_SECOND), Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp(
            SystemClock
                .now()
                .0
                .saturating_add(self.offset_micros.load(Ordering::SeqCst)),
        )
    }
}
