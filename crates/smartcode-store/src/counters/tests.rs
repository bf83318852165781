//! The memory counters keep their promises: atomic updates, bounded memory, challenges used once.

use smartcode_core::clock::Timestamp;

use super::*;

fn now() -> Timestamp {
    Timestamp(1_800_000_000_000_000)
}

async fn got<T>(pending: Pending<T>) -> T {
    pending.await.expect("answered").expect("no error")
}

#[tokio::test]
async fn updates_load_list_and_remove() {
    let counters = MemoryCounters::default();
    let keys = vec!["s:a".to_owned(), "s:b".to_owned(), "pool".to_owned()];
    let set = got(counters.update(
        keys.clone(),
        Box::new(|index, _| {
            Some(StoredCounter {
                level: index as i64 * 1000,
                at: now(),
            })
        }),
    ))
    .await;
    assert_eq!(set[2].map(|c| c.level), Some(2000));
    let listed = got(counters.list("s:".into(), 10)).await;
    assert_eq!(
        listed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["s:a", "s:b"]
    );
    got(counters.update(vec!["s:a".into()], Box::new(|_, _| None))).await;
    let loaded = got(counters.load(keys)).await;
    assert_eq!(loaded[0], None);
    assert_eq!(loaded[1].map(|c| c.level), Some(1000));
}

#[tokio::test]
async fn a_challenge_is_redeemed_once() {
    let counters = MemoryCounters::default();
    let until = Timestamp(now().0 + 1);
    assert!(got(counters.redeem("x".into(), until, now())).await);
    assert!(!got(counters.redeem("x".into(), until, now())).await);
    assert!(got(counters.redeem("y".into(), until, now())).await);
}
