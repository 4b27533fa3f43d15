//! What every [`Kv`] backend must do, as tests each backend runs against itself (the
//! memory store in-process, the Redis store against a real Redis).

use std::time::Duration;

use super::{Kv, KvError, Quota, Space};

pub fn space(name: &str, keys: u64, bytes: u64) -> Space {
    Space::of_handler(name, Quota { keys, bytes })
}

/// get, set, delete, incr, compare-and-set, keys and expiry, and spaces apart.
pub async fn operations(store: &Kv) {
    let a = space("a", 1000, 1 << 20);
    assert_eq!(store.get(&a, "a").await, Ok(None));
    store.set(&a, "a", "1".into(), None).await.expect("set");
    assert_eq!(store.get(&a, "a").await, Ok(Some("1".into())));
    assert_eq!(store.incr(&a, "a", 2, None).await, Ok(3));
    assert_eq!(store.incr(&a, "a", -5, None).await, Ok(-2));
    store.set(&a, "s", "x".into(), None).await.expect("set");
    assert_eq!(store.incr(&a, "s", 1, None).await, Err(KvError::NotANumber));
    let ttl = Some(Duration::from_millis(50));
    assert_eq!(store.incr(&a, "t", 1, ttl).await, Ok(1));
    // A later increment keeps the first expiry (a fixed window, as rate limits want).
    assert_eq!(
        store.incr(&a, "t", 1, Some(Duration::from_secs(60))).await,
        Ok(2)
    );
    assert_eq!(
        store.compare_and_set(&a, "c", None, "1".into(), None).await,
        Ok(true)
    );
    assert_eq!(
        store.compare_and_set(&a, "c", None, "2".into(), None).await,
        Ok(false)
    );
    assert_eq!(
        store
            .compare_and_set(&a, "c", Some("x"), "2".into(), None)
            .await,
        Ok(false)
    );
    assert_eq!(
        store
            .compare_and_set(&a, "c", Some("1"), "2".into(), None)
            .await,
        Ok(true)
    );
    assert_eq!(store.get(&a, "c").await, Ok(Some("2".into())));
    assert_eq!(
        store.keys(&a, "").await,
        Ok(vec!["a".into(), "c".into(), "s".into(), "t".into()])
    );
    // A TTL past any clock (a handler may ask for u64::MAX ms) is kept as "very long".
    let forever = super::ttl(Some(u64::MAX));
    store
        .set(&a, "far", "1".into(), forever)
        .await
        .expect("set");
    assert_eq!(store.incr(&a, "far2", 1, forever).await, Ok(1));
    assert_eq!(
        store
            .compare_and_set(&a, "far3", None, "1".into(), forever)
            .await,
        Ok(true)
    );
    for key in ["far", "far2", "far3"] {
        assert_eq!(store.delete(&a, key).await, Ok(true));
    }
    let b = space("b", 10, 100);
    assert_eq!(store.get(&b, "a").await, Ok(None), "another space");
    assert_eq!(store.keys(&b, "").await, Ok(vec![]), "another space");
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.get(&a, "t").await, Ok(None), "expired");
    assert_eq!(store.incr(&a, "t", 1, None).await, Ok(1), "lives again");
    assert_eq!(store.keys(&a, "c").await, Ok(vec!["c".to_owned()]));
    for key in ["a", "s", "c", "t"] {
        assert_eq!(store.delete(&a, key).await, Ok(true));
    }
    assert_eq!(store.delete(&a, "a").await, Ok(false));
}

/// Every write keeps to its space's quota; nothing of a refused write stays; deletes and
/// expiries make room.
pub async fn quotas(store: &Kv) {
    let small = space("small", 3, 20);
    for k in ["k1", "k2", "k3"] {
        store
            .set(&small, k, "1234".into(), None)
            .await
            .expect("fits");
    }
    let refused = store.set(&small, "k4", "1".into(), None).await;
    assert!(
        matches!(
            refused,
            Err(KvError::OverQuota {
                keys: 4,
                bytes: 21,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(store.get(&small, "k4").await, Ok(None), "nothing stored");
    store
        .set(&small, "k1", "123456".into(), None)
        .await
        .expect("20 bytes: fits");
    assert!(matches!(
        store.set(&small, "k1", "1234567".into(), None).await,
        Err(KvError::OverQuota { bytes: 21, .. })
    ));
    assert_eq!(store.get(&small, "k1").await, Ok(Some("123456".into())));
    assert!(matches!(
        store.incr(&small, "n", 1, None).await,
        Err(KvError::OverQuota { .. })
    ));
    assert_eq!(store.get(&small, "n").await, Ok(None), "no increment stays");
    assert!(matches!(
        store
            .compare_and_set(&small, "n", None, "1".into(), None)
            .await,
        Err(KvError::OverQuota { .. })
    ));
    // Another space is not affected; a delete makes room.
    let other = space("other", 10, 100);
    store
        .set(&other, "k4", "1".into(), None)
        .await
        .expect("other");
    assert_eq!(store.delete(&small, "k2").await, Ok(true));
    assert_eq!(store.incr(&small, "n", 5, None).await, Ok(5), "room again");
    assert!(
        matches!(
            store.incr(&small, "n", 1_000_000, None).await,
            Err(KvError::OverQuota { .. })
        ),
        "a longer number is more bytes"
    );
    assert_eq!(store.get(&small, "n").await, Ok(Some("5".into())), "kept");

    // Expired entries make room before a write is refused.
    let short = space("short", 2, 100);
    let ttl = Some(Duration::from_millis(20));
    store.set(&short, "a", "1".into(), ttl).await.expect("a");
    assert_eq!(store.incr(&short, "b", 1, ttl).await, Ok(1));
    assert!(store.set(&short, "c", "1".into(), None).await.is_err());
    tokio::time::sleep(Duration::from_millis(40)).await;
    store.set(&short, "c", "1".into(), None).await.expect("c");
    store.set(&short, "d", "1".into(), None).await.expect("d");

    for (s, key) in [
        (&small, "k1"),
        (&small, "k3"),
        (&small, "n"),
        (&short, "c"),
        (&short, "d"),
        (&other, "k4"),
    ] {
        assert_eq!(store.delete(s, key).await, Ok(true), "{key}");
    }
}
