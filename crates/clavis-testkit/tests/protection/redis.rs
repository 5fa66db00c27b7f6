//! Attack protection with the request counters in Redis (`redis_url`, a real Redis at
//! `CLAVIS_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`): the per-address limit and
//! the refresh limit answer 429 with `Retry-After` at the configured numbers, counted in
//! Redis under the configured prefix and not in the database, while lockouts stay in the
//! database. A Redis that does not answer (a closed port) does not stop the start, every
//! limit is still enforced through the database, each fallback is counted in
//! `/metrics`, and the logs say so without the URL's password.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use clavis_core::model::Tenant;
use clavis_crypto::SystemRng;
use clavis_testkit::{Backend, TestServer};
use clavis_types::Rng;

use super::proxy::{csrf, wrong_login};
use super::refresh::{assert_too_many, refresh, refresh_times, refresh_token_for};
use clavis_core::oauth::LoginError;

use crate::{EMAIL, PASSWORD, align, fail_times, left_in_window, locked_for, login, meta};

pub(crate) fn redis_url() -> String {
    std::env::var("CLAVIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses.
pub(crate) fn test_prefix() -> String {
    let mut b = [0u8; 8];
    SystemRng::new().fill(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("clavis-test:{hex}:")
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The hits Redis holds for a bucket's window under `prefix`.
pub(crate) async fn redis_hits(prefix: &str, t: &Tenant, bucket: &str, window: i64) -> i64 {
    let hits: Option<i64> = redis::cmd("HGET")
        .arg(format!("{prefix}rate:{}:{bucket}", t.id))
        .arg(window)
        .query_async(&mut redis().await)
        .await
        .unwrap();
    hits.unwrap_or(0)
}

/// Every key under `prefix`.
pub(crate) async fn redis_keys(prefix: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis().await)
        .await
        .unwrap()
}

/// Delete every key under `prefix`.
pub(crate) async fn delete_keys(prefix: &str) {
    let keys = redis_keys(prefix).await;
    let mut r = redis().await;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut r)
            .await
            .unwrap();
    }
}

/// Hits the database holds for a bucket's window.
async fn db_hits(s: &TestServer, t: &Tenant, bucket: &str, window: i64) -> i64 {
    let mut tx = s.core.store.read().await.unwrap();
    tx.rate_get(&t.id, bucket, window).await.unwrap()
}

fn window(s: &TestServer, len: i64) -> i64 {
    let now = s.core.now().as_secs();
    now - now.rem_euclid(len)
}

/// Ten wrong logins from the test client (127.0.0.1) within a minute are answered 401, the
/// eleventh 429 with `Retry-After: 60`.
async fn per_address_limit_over_http(s: &TestServer) {
    align(&[&s.clock], 60, 0);
    let form = csrf(&s.client).await;
    for i in 0..10 {
        let r = wrong_login(
            &s.client,
            &form,
            &format!("a{i}@example.com"),
            "198.51.100.1",
        )
        .await;
        assert_eq!(r.status, 401, "request {i}: {}", r.body);
    }
    let r = wrong_login(&s.client, &form, "b@example.com", "198.51.100.1").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("60"));
}

fn fallbacks(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("clavis_rate_counter_fallbacks_total "))
        .expect("the fallback metric")
        .parse()
        .unwrap()
}

pub(crate) async fn limits_are_counted_in_redis(b: Backend) {
    let prefix = test_prefix();
    let s = TestServer::start_with(b, |c| {
        c.redis_url = Some(redis_url());
        c.redis_key_prefix = prefix.clone();
    })
    .await;
    assert_eq!(s.core.rate_counters.kind(), "redis");
    let fx = s.fixtures("default");
    let t = fx.tenant().await;

    // The per-address limit: 11 requests counted in Redis, none in the database; the
    // failed logins of the address (one a request) too.
    per_address_limit_over_http(&s).await;
    let minute = window(&s, 60);
    assert_eq!(
        redis_hits(&prefix, &t, "auth-ip:127.0.0.1", minute).await,
        11
    );
    assert_eq!(db_hits(&s, &t, "auth-ip:127.0.0.1", minute).await, 0);
    assert_eq!(
        redis_hits(&prefix, &t, "ipfail:127.0.0.1", window(&s, 86_400)).await,
        10
    );
    // Another tenant's counter under the same address is its own.
    let other = s.fixtures("other").tenant().await;
    assert_eq!(
        redis_hits(&prefix, &other, "auth-ip:127.0.0.1", minute).await,
        0
    );

    // The refresh limit: 30 an hour, the 31st answered 429 with the rest of the hour.
    let app = fx.web_app(&["https://rp.example.com/callback"], &[]).await;
    let bob = fx.user("bob@example.com", PASSWORD).await;
    align(&[&s.clock], 3_600, 60);
    let rt = refresh_token_for(&s, &app, &bob).await;
    let rt = refresh_times(&s.client, &app, rt, 30).await;
    assert_eq!(assert_too_many(&refresh(&s.client, &app, &rt).await), 3_540);
    let bucket = format!("refresh:{}:{}", bob.id, app.client_id);
    assert_eq!(
        redis_hits(&prefix, &t, &bucket, window(&s, 3_600)).await,
        31
    );
    assert_eq!(db_hits(&s, &t, &bucket, window(&s, 3_600)).await, 0);

    // Lockouts stay in the database: five failures lock the address for 15 minutes.
    fx.user(EMAIL, PASSWORD).await;
    let m = meta(Some("198.51.100.20"), Some("agent"));
    fail_times(&s.core, &t, EMAIL, 5, &m).await;
    assert_eq!(
        locked_for(login(&s.core, &t, EMAIL, PASSWORD, &m).await),
        900
    );
    // Redis holds only the request counters (no `fail:` counter, no lock).
    let keys = redis_keys(&prefix).await;
    assert!(!keys.is_empty());
    for k in &keys {
        let bucket = k
            .split_once(&format!(":{}:", t.id))
            .map_or(k.as_str(), |x| x.1);
        assert!(
            ["auth-ip:", "ipfail:", "refresh:"]
                .iter()
                .any(|p| bucket.starts_with(p)),
            "{k}"
        );
    }

    assert_eq!(fallbacks(&s.client.metrics().await), 0);
    delete_keys(&prefix).await;
}

/// Everything logged in this process (the subscriber is global; nextest runs each test in
/// its own process, and only this test installs one).
fn captured_logs() -> Option<Arc<Mutex<Vec<u8>>>> {
    static LOGS: OnceLock<Option<Arc<Mutex<Vec<u8>>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let installed = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .try_init()
            .is_ok();
        installed.then_some(buf)
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) async fn limits_hold_through_the_database_when_redis_does_not_answer(b: Backend) {
    let logs = captured_logs().expect("no other log subscriber is installed in this process");
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let secret = "Redis-pw-not-for-logs";
    let s = TestServer::start_with(b, |c| {
        c.redis_url = Some(format!("redis://:{secret}@127.0.0.1:{port}/0"));
        c.redis_timeout_ms = 200;
    })
    .await;
    assert_eq!(s.core.rate_counters.kind(), "redis");
    let t = s.fixtures("default").tenant().await;

    // Every request is counted in the database instead: the same limit, the same answer.
    per_address_limit_over_http(&s).await;
    let minute = window(&s, 60);
    assert_eq!(db_hits(&s, &t, "auth-ip:127.0.0.1", minute).await, 11);
    assert_eq!(
        db_hits(&s, &t, "ipfail:127.0.0.1", window(&s, 86_400)).await,
        10
    );
    // 11 counted requests, 10 failures counted, and the daily failure count read on
    // each of the 10 checked logins.
    assert!(fallbacks(&s.client.metrics().await) >= 31);

    // The suspicious-address limit (the day's failures, read in the login's transaction)
    // holds too: 8 failures of one client address refuse its next login for the day.
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let mut t = fx.tenant().await;
    t.settings.attack_protection.suspicious_ip_failures_per_day = 8;
    let m = meta(Some("198.51.100.30"), None);
    for i in 0..8 {
        fail_times(&s.core, &t, &format!("x{i}@example.com"), 1, &m).await;
    }
    let day = left_in_window(&s.core, 86_400);
    match login(&s.core, &t, EMAIL, PASSWORD, &m).await {
        Err(LoginError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, day),
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(
        db_hits(&s, &t, "ipfail:198.51.100.30", window(&s, 86_400)).await,
        8
    );

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("Redis does not answer"), "{text}");
    assert!(text.contains("counting in the database"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains(secret), "{text}");
}
