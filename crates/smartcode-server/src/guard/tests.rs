//! The guessing defence on the manual clock and the in-memory counters: budgets that refill,
//! the pool of unknown sources, proofs and seller keys that keep their own budgets, challenges
//! that admit once and grow with the attack, `Retry-After`, the alarm and what the operator does.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use smartcode_core::clock::{ManualClock, Timestamp};
use smartcode_core::code::BrokerKey;
use smartcode_store::counters::MemoryCounters;

use super::*;

const DAY: i64 = GUESS_WINDOW_SECONDS;

struct Setup {
    clock: Arc<ManualClock>,
    guard: GuessGuard,
    keys: Keys,
}

fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000 * MICROS_PER_SECOND)));
    Setup {
        guard: GuessGuard::new(clock.clone(), Arc::new(MemoryCounters::default())),
        clock,
        keys: Keys::derive(BrokerKey::from_bytes([3; 32])),
    }
}

fn source(n: u32) -> Principal {
    Principal::Source(Source::of(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))))
}

impl Setup {
    async fn admit(&self, who: &Principal) -> Result<Admission, ChallengeRequired> {
        self.guard.admit(&self.keys, who, None).await.unwrap()
    }

    async fn admit_with(&self, who: &Principal, answer: &str) -> Result<Admission, ChallengeRequired> {
        self.guard.admit(&self.keys, who, Some(answer)).await.unwrap()
    }

    /// Admits and fails, as a wrong code would.
    async fn fail(&self, who: &Principal) -> Failure {
        let admission = self.admit(who).await.expect("admitted");
        self.guard.failed(&admission).await.unwrap()
    }

    async fn report(&self) -> GuardReport {
        self.guard.report().await.unwrap()
    }
}

fn solved(challenge: &ChallengeJson) -> String {
    challenge.answer(POW_BASE_BITS + 4).expect("within reach")
}

#[tokio::test]
async fn a_source_spends_its_tries_then_gets_one_back_after_a_tenth_of_a_day() {
    let s = setup();
    let who = source(1);
    for left in (0..SOURCE_FREE_FAILURES_PER_DAY).rev() {
        assert_eq!(s.fail(&who).await.tries_left, left, "the refusal says what is left");
    }
    let refused = s.admit(&who).await.expect_err("no free try left");
    // A try refills every day/10 = 8640 s; Retry-After says exactly when.
    let period = DAY / SOURCE_FREE_FAILURES_PER_DAY;
    assert_eq!(refused.retry_after_seconds, period as u64);
    s.clock.advance_seconds(period - 1);
    assert!(s.admit(&who).await.is_err(), "admitted before Retry-After");
    s.clock.advance_seconds(1);
    assert!(s.admit(&who).await.is_ok(), "refused at Retry-After");
    assert_eq!(
        s.guard.tries_left(&who).await.unwrap(),
        1,
        "one try back, not the whole day's"
    );
    s.clock.advance_seconds(DAY);
    assert_eq!(
        s.guard.tries_left(&who).await.unwrap(),
        SOURCE_FREE_FAILURES_PER_DAY,
        "full, no more"
    );
}

#[tokio::test]
async fn the_slowdown_starts_after_a_few_failures_and_has_a_ceiling() {
    let s = setup();
    let who = source(2);
    let mut delays = Vec::new();
    for _ in 0..SOURCE_FREE_FAILURES_PER_DAY {
        delays.push(s.fail(&who).await.delay.as_millis() as u64);
    }
    let after = SOURCE_FAILURES_SLOW_AFTER as usize;
    assert!(delays[..after].iter().all(|d| *d == 0), "{delays:?}");
    assert_eq!(delays[after], SLOWDOWN_PER_FAILURE_MS);
    assert!(delays.iter().all(|d| *d <= SLOWDOWN_MAX_MS));
}

/// The attack of the issue: 31 addresses × 10 wrong codes. Unknown sources together have only
/// the pool; once it is dry a new source pays with work, a proven holder and a seller do not.
#[tokio::test]
async fn an_attack_from_many_addresses_costs_new_sources_work_and_proven_ones_nothing() {
    let s = setup();
    let mut challenged = 0;
    for n in 0..31 {
        for _ in 0..SOURCE_FREE_FAILURES_PER_DAY {
            match s.admit(&source(100 + n)).await {
                Ok(admission) => {
                    s.guard.failed(&admission).await.unwrap();
                }
                Err(_) => challenged += 1,
            }
        }
    }
    assert_eq!(
        challenged,
        310 - UNKNOWN_FREE_FAILURES_PER_DAY,
        "the pool is the most they get free"
    );
    let report = s.report().await;
    assert!(report.alarm_since.is_some(), "a dry pool raises the alarm");
    assert_eq!(report.pool_tries_left, 0);

    // A first-time holder from a fresh address: asked for work at the base difficulty, never refused.
    let fresh = source(999);
    let required = s.admit(&fresh).await.expect_err("the pool is dry");
    assert_eq!(required.challenge.difficulty_bits, POW_BASE_BITS);
    assert!(required.retry_after_seconds > 0);
    let answer = solved(&required.challenge);
    assert_eq!(s.admit_with(&fresh, &answer).await.unwrap(), Admission::Paid);
    assert!(s.admit_with(&fresh, &answer).await.is_err(), "a challenge is used once");

    // A proven holder and a seller's server keep their own budgets, whatever the pool.
    let holder = Principal::Holder("c_HOLDER".into());
    let seller = Principal::Seller("c_SELLER".into());
    assert!(matches!(s.admit(&holder).await, Ok(Admission::Free(_))));
    for _ in 0..SELLER_FREE_FAILURES_PER_DAY {
        s.fail(&seller).await;
    }
    assert!(
        s.admit(&seller).await.is_err(),
        "a seller's failures count against the seller"
    );
    assert!(
        matches!(s.admit(&holder).await, Ok(Admission::Free(_))),
        "and against nobody else"
    );
}

#[tokio::test]
async fn failures_paid_with_work_make_the_next_challenge_harder_until_they_drain() {
    let s = setup();
    for n in 0..(UNKNOWN_FREE_FAILURES_PER_DAY / SOURCE_FREE_FAILURES_PER_DAY) as u32 {
        for _ in 0..SOURCE_FREE_FAILURES_PER_DAY {
            s.fail(&source(n)).await;
        }
    }
    let who = source(500);
    for _ in 0..POW_FAILURES_PER_BIT {
        assert_eq!(s.guard.failed(&Admission::Paid).await.unwrap().tries_left, 0);
    }
    let harder = s.admit(&who).await.expect_err("pool dry");
    assert_eq!(harder.challenge.difficulty_bits, POW_BASE_BITS + 1);
    assert_eq!(s.report().await.pressure, POW_FAILURES_PER_BIT);
    // An answer to an easier challenge made before is not enough now.
    let easy = tokens::make_challenge(&s.keys, POW_BASE_BITS, s.clock.now());
    let refused = s.admit_with(&who, &solved(&easy)).await.expect_err("too easy");
    assert!(refused.answer_refused.is_some());
    // The pressure drains: a day later 50 of the 64 are gone and the base difficulty is back.
    s.clock.advance_seconds(DAY);
    let report = s.report().await;
    assert_eq!(report.pressure, POW_FAILURES_PER_BIT - POW_PRESSURE_DRAIN_PER_DAY);
    assert_eq!(report.difficulty_bits, POW_BASE_BITS);
    // Two days later the pool has refilled and nothing is pending: the alarm is over by itself.
    s.clock.advance_seconds(DAY);
    assert_eq!(s.report().await.alarm_since, None);
}

#[tokio::test]
async fn the_operator_forgives_a_network_or_a_tree_and_ends_the_alarm() {
    let s = setup();
    for n in 0..(UNKNOWN_FREE_FAILURES_PER_DAY / SOURCE_FREE_FAILURES_PER_DAY) as u32 {
        for _ in 0..SOURCE_FREE_FAILURES_PER_DAY {
            s.fail(&source(n)).await;
        }
    }
    let holder = Principal::Holder("c_TREE1".into());
    s.fail(&holder).await;
    let report = s.report().await;
    assert!(report.alarm_since.is_some());
    assert_eq!(report.counted.len(), 21);
    assert!(report
        .counted
        .iter()
        .any(|c| c.source == "10.0.0.3" && c.failures == 10 && c.tries_left == 0));

    // Forgive 10.0.0.0/29: sources 0..8.
    assert_eq!(s.guard.forgive("10.0.0.0/29").await.unwrap(), Some(8));
    assert_eq!(
        s.guard.tries_left(&source(3)).await.unwrap(),
        0,
        "the pool is still dry"
    );
    assert_eq!(s.guard.forgive("c_TREE1").await.unwrap(), Some(1));
    assert_eq!(s.guard.forgive("not a source").await.unwrap(), None);
    assert_eq!(s.report().await.counted.len(), 12);

    assert!(s.guard.end_alarm().await.unwrap());
    let report = s.report().await;
    assert_eq!(report.alarm_since, None);
    assert_eq!(report.pool_tries_left, UNKNOWN_FREE_FAILURES_PER_DAY);
    assert_eq!(
        s.guard.tries_left(&source(3)).await.unwrap(),
        SOURCE_FREE_FAILURES_PER_DAY
    );
    assert!(!s.guard.end_alarm().await.unwrap(), "no alarm to end");
}

#[test]
fn networks_contain_their_addresses_and_ipv6_sources_are_their_64() {
    let net = Network::parse("192.0.2.0/24").unwrap();
    let inside = Source::of("192.0.2.200".parse().unwrap());
    let outside = Source::of("192.0.3.1".parse().unwrap());
    assert!(net.contains(&inside) && !net.contains(&outside));
    assert!(Network::parse("0.0.0.0/0").unwrap().contains(&outside));
    assert!(Network::parse("192.0.2.0/33").is_none());
    let v6 = Source::of("2001:db8:1:2:aaaa::1".parse().unwrap());
    assert_eq!(v6.to_string(), "2001:db8:1:2::/64");
    assert_eq!(
        Source::of("2001:db8:1:2:bbbb::9".parse().unwrap()),
        v6,
        "one /64, one source"
    );
    assert!(Network::parse("2001:db8::/32").unwrap().contains(&v6));
    assert!(!net.contains(&v6));
    assert_eq!(Source::parse(&v6.to_string()), Some(v6));
}
