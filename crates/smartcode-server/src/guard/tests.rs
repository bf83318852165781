//! The guessing defence on the manual clock: limits, the alarm, `Retry-After`, the bounded memory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use smartcode_core::clock::{ManualClock, Timestamp};

use super::*;

const DAY: i64 = GUESS_WINDOW_SECONDS;

fn guard() -> (Arc<ManualClock>, GuessGuard) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000 * MICROS_PER_SECOND)));
    (clock.clone(), GuessGuard::new(clock))
}

fn v4(n: u32) -> Source {
    Source::of(IpAddr::V4(Ipv4Addr::from(n)))
}

/// How many failures the operator's report counts for `source` (among the ten busiest).
fn reported_failures(guard: &GuessGuard, source: Source) -> Option<usize> {
    let name = source.to_string();
    guard
        .report()
        .busiest_sources
        .into_iter()
        .find(|(s, _)| *s == name)
        .map(|(_, n)| n)
}

/// Raises the alarm with failures from sources of their own (one each, 10.x.x.x).
fn raise_alarm(guard: &GuessGuard) {
    for n in 0..ALARM_FAILURES_PER_DAY as u32 {
        guard.failed(v4(0x0a00_0000 + n));
    }
    assert!(guard.report().alarm_active);
}

/// `Retry-After` is exact: the source is still refused a second before it, and admitted at it.
fn assert_exact_retry_after(clock: &ManualClock, guard: &GuessGuard, source: Source) -> u64 {
    let Err(RetryAfter(seconds)) = guard.admit(source) else {
        panic!("{source} is admitted")
    };
    clock.advance_seconds(seconds as i64 - 1);
    assert!(
        guard.admit(source).is_err(),
        "{source} admitted before Retry-After ({seconds} s)"
    );
    clock.advance_seconds(1);
    assert!(
        guard.admit(source).is_ok(),
        "{source} still refused after Retry-After ({seconds} s)"
    );
    seconds
}

#[test]
fn a_source_is_slowed_then_refused_with_the_exact_retry_after() {
    let (clock, guard) = guard();
    let source = v4(0xc000_0201);
    for n in 0..SOURCE_FAILURES_MAX {
        assert!(guard.admit(source).is_ok(), "refused after {n} failures");
        let delay = guard.failed(source);
        let excess = (n + 1).saturating_sub(SOURCE_FAILURES_SLOW_AFTER) as u64;
        assert_eq!(
            delay.as_millis() as u64,
            (excess * SLOWDOWN_PER_FAILURE_MS).min(SLOWDOWN_MAX_MS)
        );
        clock.advance_seconds(60);
    }
    // The first failure was ten minutes ago: it lapses a day after it was made.
    let seconds = assert_exact_retry_after(&clock, &guard, source);
    assert_eq!(seconds as i64, DAY - 10 * 60 + 1);
    // One failure lapsed, so one more may be made; then the next lapses a minute later.
    guard.failed(source);
    assert_eq!(assert_exact_retry_after(&clock, &guard, source), 60);
}

#[test]
fn under_alarm_retry_after_waits_for_what_admits_the_source() {
    let (clock, guard) = guard();
    let proven = v4(0xc000_0202);
    let unproven = v4(0xc000_0203);
    for _ in 0..5 {
        guard.failed(proven);
        guard.failed(unproven);
        clock.advance_seconds(1);
    }
    guard.succeeded(proven);
    clock.advance_seconds(10);
    raise_alarm(&guard);
    // The proven source may fail 3 times under alarm: it is admitted again when its third
    // newest failure lapses, two of five having been made before it.
    let seconds = assert_exact_retry_after(&clock, &guard, proven);
    assert_eq!(seconds as i64, DAY - 15 + 2 + 1);
    assert!(guard.report().alarm_active);
    // The unproven source waits for the alarm to clear (its failures allow it otherwise).
    let seconds = assert_exact_retry_after(&clock, &guard, unproven);
    assert_eq!(seconds, 13);
    assert!(!guard.report().alarm_active);
}

#[test]
fn a_proven_source_lapses_a_day_after_its_last_success() {
    let (clock, guard) = guard();
    let holder = v4(0xc000_0204);
    guard.succeeded(holder);
    clock.advance_seconds(1);
    raise_alarm(&guard);
    assert!(
        guard.admit(v4(0xc000_0205)).is_err(),
        "an unproven source is refused under alarm"
    );
    clock.advance_seconds(DAY - 1);
    assert!(guard.report().alarm_active);
    assert!(guard.admit(holder).is_ok(), "proven a day after its success");
    clock.advance_seconds(1);
    assert!(guard.report().alarm_active);
    // No longer proven; refused until the alarm's failures lapse, a day after they were made.
    assert_eq!(guard.admit(holder).map_err(|r| r.0), Err(1));
    clock.advance_seconds(1);
    assert!(!guard.report().alarm_active);
    assert!(guard.admit(holder).is_ok());
    // A new success proves it again.
    guard.succeeded(holder);
    raise_alarm(&guard);
    assert!(guard.admit(holder).is_ok());
}

#[test]
fn an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_source() {
    let (_clock, guard) = guard();
    let plain = Ipv4Addr::new(192, 0, 2, 7);
    let mapped = IpAddr::V6(plain.to_ipv6_mapped());
    assert_eq!(Source::of(mapped), Source::of(IpAddr::V4(plain)));
    assert_eq!(Source::of(mapped).to_string(), "192.0.2.7");
    for _ in 0..SOURCE_FAILURES_MAX / 2 {
        guard.failed(Source::of(mapped));
        guard.failed(Source::of(IpAddr::V4(plain)));
    }
    assert!(guard.admit(Source::of(IpAddr::V4(plain))).is_err());
    assert!(guard.admit(Source::of(mapped)).is_err());
    assert_eq!(reported_failures(&guard, Source::of(mapped)), Some(SOURCE_FAILURES_MAX));
    assert_eq!(guard.report().sources_tracked, 1);
    // An IPv6 source is its /64; an IPv4-compatible or other address is not taken for IPv4.
    let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: Ipv6Addr = "2001:db8:1:2:bbbb::2".parse().unwrap();
    let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(Source::of(a.into()), Source::of(b.into()));
    assert_ne!(Source::of(a.into()), Source::of(c.into()));
    assert_eq!(Source::of(a.into()).to_string(), "2001:db8:1:2::/64");
    let compatible: Ipv6Addr = "::c000:207".parse().unwrap();
    assert_ne!(Source::of(compatible.into()), Source::of(IpAddr::V4(plain)));
}

#[test]
fn at_the_source_cap_the_quietest_source_is_forgotten() {
    let (clock, guard) = guard();
    let quietest = v4(1);
    let repeating = v4(2);
    let holder = v4(3);
    for _ in 0..SOURCE_FAILURES_MAX {
        guard.failed(quietest);
    }
    clock.advance_seconds(1);
    for _ in 0..SOURCE_FAILURES_MAX - 1 {
        guard.failed(repeating);
    }
    guard.succeeded(holder);
    for n in 3..SOURCES_TRACKED_MAX as u32 {
        guard.failed(v4(0x0b00_0000 + n));
    }
    assert_eq!(guard.report().sources_tracked, SOURCES_TRACKED_MAX);
    clock.advance_seconds(1);
    // A new source makes room: the source whose last presentation is oldest goes, not the
    // holder that has just presented a valid code.
    guard.failed(v4(0x0c00_0000));
    assert_eq!(guard.report().sources_tracked, SOURCES_TRACKED_MAX);
    assert_eq!(
        reported_failures(&guard, quietest),
        None,
        "the quietest source is forgotten"
    );
    assert!(guard.report().alarm_active);
    clock.advance_seconds(1);
    // A source already tracked makes no room: it keeps its count, and nobody is forgotten.
    guard.failed(repeating);
    assert_eq!(reported_failures(&guard, repeating), Some(SOURCE_FAILURES_MAX));
    assert_eq!(guard.report().sources_tracked, SOURCES_TRACKED_MAX);
    // The holder is still known as proven.
    assert!(guard.admit(holder).is_ok());
}
