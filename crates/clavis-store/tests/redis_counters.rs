//! The contract of the Redis attack-protection counters against a real Redis
//! (`CLAVIS_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`): concurrent hits all
//! counted, windows, tenants and buckets independent (also for buckets that spell another
//! tenant's key), `clear`, every key expiring, old windows dropped, the URL's password in no
//! error, and a closed port answered with an error at once. Every test writes under its
//! own random key prefix and deletes its keys at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clavis_core::StoreError;
use clavis_core::ports::{RateCounters, Tx};
use clavis_crypto::SystemRng;
use clavis_store::testing::{Backend, TestDb};
use clavis_store::{REDIS_KEEP_SECS, RedisCounters};
use clavis_types::{Rng, TenantId};
use std::sync::Arc;
use std::time::Duration;

fn redis_url() -> String {
    std::env::var("CLAVIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    SystemRng::new().fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Counters under a fresh prefix, and a plain connection to inspect and clean up.
struct Fixture {
    counters: RedisCounters,
    prefix: String,
    raw: redis::aio::MultiplexedConnection,
    db: TestDb,
}

impl Fixture {
    async fn new() -> Self {
        let prefix = format!("clavis-test:{}:", random_hex(8));
        let counters = RedisCounters::open(&redis_url(), &prefix, Duration::from_secs(2)).unwrap();
        counters.ping().await.expect("Redis answers");
        let raw = redis::Client::open(redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Self {
            counters,
            prefix,
            raw,
            db: TestDb::new(Backend::Sqlite).await,
        }
    }

    async fn tx(&self) -> Box<dyn Tx> {
        self.db.store.clone().into_store().read().await.unwrap()
    }

    async fn keys(&mut self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut self.raw)
            .await
            .unwrap();
        keys.sort();
        keys
    }

    async fn ttl(&mut self, key: &str) -> i64 {
        redis::cmd("TTL")
            .arg(key)
            .query_async(&mut self.raw)
            .await
            .unwrap()
    }

    async fn fields(&mut self, key: &str) -> Vec<i64> {
        let mut f: Vec<i64> = redis::cmd("HKEYS")
            .arg(key)
            .query_async(&mut self.raw)
            .await
            .unwrap();
        f.sort();
        f
    }

    /// Delete every key of this test.
    async fn cleanup(mut self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut self.raw)
                .await
                .unwrap();
        }
        assert!(self.keys().await.is_empty());
    }
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_hits_are_all_counted() {
    let mut fx = Fixture::new().await;
    let t = tenant("ten_a");
    let counters = Arc::new(fx.counters.clone());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (c, t) = (counters.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            c.hit(&t, "auth-ip:203.0.113.7", 600, 60).await.unwrap()
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    // Each hit got its own count: 1..=50, none lost, none repeated.
    assert_eq!(seen, (1..=50).collect::<Vec<i64>>());
    let mut tx = fx.tx().await;
    assert_eq!(
        fx.counters
            .get(&mut *tx, &t, "auth-ip:203.0.113.7", 600)
            .await
            .unwrap(),
        50
    );
    assert_eq!(
        fx.keys().await,
        [format!("{}rate:ten_a:auth-ip:203.0.113.7", fx.prefix)]
    );
    fx.cleanup().await;
}

#[tokio::test]
async fn windows_buckets_and_tenants_are_independent_and_clear_forgets_a_bucket() {
    let fx = Fixture::new().await;
    let c = &fx.counters;
    let (a, b) = (tenant("ten_a"), tenant("ten_b"));
    for _ in 0..3 {
        c.hit(&a, "refresh:u1:app", 3_600, 3_600).await.unwrap();
    }
    assert_eq!(c.hit(&a, "refresh:u1:app", 7_200, 3_600).await.unwrap(), 1);
    // Another tenant, another bucket, and a bucket of tenant A that spells tenant B's key
    // (`rate:ten_a:ten_b:refresh…` is not `rate:ten_b:refresh…`) each count on their own.
    assert_eq!(c.hit(&b, "refresh:u1:app", 3_600, 3_600).await.unwrap(), 1);
    assert_eq!(c.hit(&a, "refresh:u2:app", 3_600, 3_600).await.unwrap(), 1);
    assert_eq!(
        c.hit(&a, "ten_b:refresh:u1:app", 3_600, 3_600)
            .await
            .unwrap(),
        1
    );
    let mut tx = fx.tx().await;
    let get = async |tx: &mut dyn Tx, t: &TenantId, bucket: &str, w: i64| {
        c.get(tx, t, bucket, w).await.unwrap()
    };
    assert_eq!(get(&mut *tx, &a, "refresh:u1:app", 3_600).await, 3);
    assert_eq!(get(&mut *tx, &a, "refresh:u1:app", 7_200).await, 1);
    assert_eq!(get(&mut *tx, &a, "refresh:u1:app", 10_800).await, 0);
    assert_eq!(get(&mut *tx, &b, "refresh:u1:app", 3_600).await, 1);
    assert_eq!(get(&mut *tx, &b, "refresh:u9:app", 3_600).await, 0);

    // Clearing tenant B's bucket leaves tenant A's alone; clearing A's forgets all its
    // windows.
    c.clear(&b, "refresh:u1:app").await.unwrap();
    assert_eq!(get(&mut *tx, &b, "refresh:u1:app", 3_600).await, 0);
    assert_eq!(get(&mut *tx, &a, "refresh:u1:app", 3_600).await, 3);
    c.clear(&a, "refresh:u1:app").await.unwrap();
    assert_eq!(get(&mut *tx, &a, "refresh:u1:app", 3_600).await, 0);
    assert_eq!(get(&mut *tx, &a, "refresh:u1:app", 7_200).await, 0);
    assert_eq!(get(&mut *tx, &a, "refresh:u2:app", 3_600).await, 1);
    // Clearing a bucket that was never hit is not an error.
    c.clear(&a, "never").await.unwrap();
    drop(tx);
    fx.cleanup().await;
}

#[tokio::test]
async fn every_key_expires_and_old_windows_are_dropped() {
    let mut fx = Fixture::new().await;
    let t = tenant("ten_a");
    let c = fx.counters.clone();
    let day = 86_400;
    c.hit(&t, "ipfail:203.0.113.7", 10 * day, day)
        .await
        .unwrap();
    let key = c.key(&t, "ipfail:203.0.113.7");
    let ttl = fx.ttl(&key).await;
    assert!(
        (REDIS_KEEP_SECS - 5..=REDIS_KEEP_SECS).contains(&ttl),
        "ttl {ttl}"
    );
    // A later window keeps the windows of the last two days and drops older ones, so a
    // bucket hit without pause does not grow without bound.
    c.hit(&t, "ipfail:203.0.113.7", 11 * day, day)
        .await
        .unwrap();
    c.hit(&t, "ipfail:203.0.113.7", 12 * day, day)
        .await
        .unwrap();
    assert_eq!(fx.fields(&key).await, [10 * day, 11 * day, 12 * day]);
    c.hit(&t, "ipfail:203.0.113.7", 13 * day, day)
        .await
        .unwrap();
    assert_eq!(fx.fields(&key).await, [11 * day, 12 * day, 13 * day]);
    // More hits in the current window neither drop nor add windows.
    c.hit(&t, "ipfail:203.0.113.7", 13 * day, day)
        .await
        .unwrap();
    assert_eq!(fx.fields(&key).await.len(), 3);
    assert!(fx.ttl(&key).await > REDIS_KEEP_SECS - 5);
    fx.cleanup().await;
}

#[tokio::test]
async fn a_closed_port_is_an_error_at_once_and_the_password_is_never_shown() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("redis://:hunter2-secret@127.0.0.1:{port}");
    let c = RedisCounters::open(&url, "clavis-test:", Duration::from_millis(300)).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
    let started = std::time::Instant::now();
    let e = c
        .hit(&tenant("ten_a"), "auth-ip:x", 60, 60)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(c.ping().await.is_err());

    // The real server refuses a password it does not have; the error does not repeat it.
    let (scheme, rest) = redis_url()
        .split_once("://")
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .unwrap();
    let host = rest.rsplit('@').next().unwrap().to_owned();
    let wrong = format!("{scheme}://:hunter2-secret@{host}");
    let c = RedisCounters::open(&wrong, "clavis-test:", Duration::from_secs(2)).unwrap();
    let e = c.ping().await.unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");

    // Anything but redis:// or rediss:// is refused without quoting the URL.
    let e =
        RedisCounters::open("http://:hunter2@127.0.0.1", "p:", Duration::from_secs(1)).unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
