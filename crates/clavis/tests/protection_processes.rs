//! Attack protection across real `clavis` processes: two `clavis serve` on one PostgreSQL
//! database, reached alternately over HTTP through the hosted login page, enforce one
//! failed-login lockout and one per-address request limit between them — the counters
//! live in the database, not in either process; and two processes with `redis_url` set
//! share the per-address limit through Redis. The process helpers are in `common/`.
//!
//! The processes run on the real clock and count in fixed windows (a minute, an hour), so
//! each part starts well inside its window.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::{Duration, Instant};

use clavis_store::testing::Backend;
use clavis_types::{Clock, SystemClock};
use common::{STEP, Server, Site};

const EMAIL: &str = "alice@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// `default` keeps the default lockout (5 failed logins an hour) with a high request
/// limit, so only the lockout answers there; `tight` allows 4 authentication requests a
/// minute per client address.
const YAML: &str = "\
tenants:
  - slug: default
    display_name: Default
    attack_protection:
      auth_per_ip_per_minute: 1000
      failed_logins_per_hour: 5
      lockout_secs: 900
    users:
      - email: alice@example.com
        password: correct horse battery staple
  - slug: tight
    display_name: Tight
    attack_protection:
      auth_per_ip_per_minute: 4
";

/// The answer to one form post.
struct Answer {
    status: u16,
    retry_after: Option<i64>,
    body: String,
}

impl Site {
    /// `clavis apply -f` the tenants and the user.
    async fn apply(&self) {
        let file = self.dir.path().join("protection.yaml");
        std::fs::write(&file, YAML).unwrap();
        let out = tokio::time::timeout(
            STEP,
            self.command()
                .args(["apply", "-f", file.to_str().unwrap()])
                .output(),
        )
        .await
        .expect("clavis apply did not finish")
        .unwrap();
        assert!(
            out.status.success(),
            "clavis apply failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Server {
    /// The password step of `tenant` for `email`, as a browser posts it: the CSRF cookie
    /// and token come from the page (GET), then the form is posted.
    async fn login(&self, http: &reqwest::Client, tenant: &str, email: &str, pw: &str) -> Answer {
        let page = http
            .get(format!(
                "{}/t/{tenant}/login/password?email={}",
                self.url,
                urlencode(email)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{}", self.logs());
        let cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("clavis_csrf="))
            .and_then(|v| v.split(';').next())
            .expect("a CSRF cookie")
            .to_owned();
        let body = page.text().await.unwrap();
        let token = hidden(&body, "csrf");
        let resp = http
            .post(format!("{}/t/{tenant}/login/password", self.url))
            .header("cookie", format!("clavis_csrf={cookie}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "csrf={}&email={}&password={}",
                urlencode(&token),
                urlencode(email),
                urlencode(pw)
            ))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        Answer {
            status,
            retry_after,
            body: resp.text().await.unwrap(),
        }
    }
}

/// Percent-encoding for a query or form value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of a hidden form field.
fn hidden(body: &str, name: &str) -> String {
    let start = format!("name=\"{name}\" value=\"");
    let i = body
        .find(&start)
        .unwrap_or_else(|| panic!("no {name} field: {body}"))
        + start.len();
    let j = body[i..].find('"').unwrap();
    body[i..i + j].to_owned()
}

/// Wait until at least `margin` seconds are left in the current fixed window of `len`
/// seconds (the servers' counting windows are aligned on the epoch, on the system clock).
// The processes run on the real clock: waiting for the next window is the only way.
#[allow(clippy::disallowed_methods)]
async fn inside_window(len: i64, margin: i64) {
    let left = len - SystemClock.now().as_secs().rem_euclid(len);
    if left < margin {
        println!("waiting {left}s for the next {len}s window");
        tokio::time::sleep(Duration::from_secs(left.unsigned_abs() + 1)).await;
    }
}

/// The per-address request limit (4 a minute in `tight`) counts the requests of both
/// processes: two on each, then both refuse. Call well inside a minute.
async fn tight_limit_is_shared(servers: &[Server; 2], http: &reqwest::Client) {
    for i in 0..4 {
        let a = servers[i % 2]
            .login(http, "tight", &format!("user{i}@example.com"), "wrong")
            .await;
        assert_eq!(a.status, 401, "request {i}: {}", a.body);
    }
    for s in servers {
        let a = s.login(http, "tight", "fresh@example.com", "wrong").await;
        assert_eq!(a.status, 429, "{}", a.body);
        let wait = a.retry_after.expect("Retry-After");
        assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(STEP)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_and_rate_limits_hold_across_two_processes_on_one_postgres() {
    let started = Instant::now();
    let site = Site::new(Backend::Postgres).await;
    site.apply().await;
    let servers = [site.serve().await, site.serve().await];
    assert_ne!(servers[0].url, servers[1].url);
    let http = http_client();

    // The right password works on both processes (and forgets nothing yet: no failures).
    for s in &servers {
        let a = s.login(&http, "default", EMAIL, PASSWORD).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }

    // Five wrong passwords, alternating between the processes (3 + 2), lock the address:
    // the sixth attempt is refused with 429 and Retry-After by either process, even with
    // the right password.
    inside_window(3_600, 120).await;
    for i in 0..5 {
        let a = servers[i % 2]
            .login(&http, "default", EMAIL, "not the password")
            .await;
        assert_eq!(a.status, 401, "failure {i}: {}", a.body);
    }
    for s in [&servers[0], &servers[1], &servers[0]] {
        let a = s.login(&http, "default", EMAIL, PASSWORD).await;
        assert_eq!(a.status, 429, "{}", a.body);
        let wait = a.retry_after.expect("Retry-After");
        assert!((840..=900).contains(&wait), "Retry-After: {wait}");
    }
    // Another address is not affected.
    let a = servers[1]
        .login(&http, "default", "bob@example.com", "whatever")
        .await;
    assert_eq!(a.status, 401, "{}", a.body);

    inside_window(60, 30).await;
    tight_limit_is_shared(&servers, &http).await;

    for s in servers {
        s.stop().await;
    }
    println!("test took {:.1}s", started.elapsed().as_secs_f64());
}

fn redis_url() -> String {
    std::env::var("CLAVIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Two processes with `redis_url` set share the per-address limit through Redis: the
/// requests of both are counted there under the configured prefix, and not in the
/// database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_limit_is_shared_through_redis_by_two_processes() {
    let mut b = [0u8; 8];
    clavis_types::Rng::fill(&clavis_crypto::SystemRng::new(), &mut b);
    let prefix = format!(
        "clavis-test:{}:",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    );
    let site = Site::new(Backend::Postgres)
        .await
        .env("CLAVIS_REDIS_URL", &redis_url())
        .env("CLAVIS_REDIS_KEY_PREFIX", &prefix);
    site.apply().await;
    let servers = [site.serve().await, site.serve().await];
    let http = http_client();

    inside_window(60, 30).await;
    let now = SystemClock.now().as_secs();
    let minute = now - now.rem_euclid(60);
    tight_limit_is_shared(&servers, &http).await;

    // 4 allowed and 2 refused requests, counted in Redis; none in the database.
    let core = site.db.core();
    let tight = core.tenant_by_slug("tight").await.unwrap();
    let key = format!("{prefix}rate:{}:auth-ip:127.0.0.1", tight.id);
    let hits: Option<i64> = redis::cmd("HGET")
        .arg(&key)
        .arg(minute)
        .query_async(&mut redis().await)
        .await
        .unwrap();
    assert_eq!(hits, Some(6), "{key}");
    let mut tx = core.store.read().await.unwrap();
    let in_db = tx
        .rate_get(&tight.id, "auth-ip:127.0.0.1", minute)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(in_db, 0);

    for s in servers {
        let logs = s.logs();
        assert!(!logs.contains("Redis does not answer"), "{logs}");
        s.stop().await;
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis().await)
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis().await)
        .await
        .unwrap();
}
