//! Attack protection across real `clavis` processes: two `clavis serve` on one PostgreSQL
//! database, reached alternately over HTTP through the hosted login page, enforce one
//! failed-login lockout and one per-address request limit between them — the counters
//! live in the database, not in either process.
//!
//! The processes run on the real clock and count in fixed windows (a minute, an hour), so
//! each part starts well inside its window.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clavis_store::testing::{Backend, TestDb};
use clavis_types::{Clock, SystemClock};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_clavis");
/// Longest any one step (a command, a start-up, a request) may take.
const STEP: Duration = Duration::from_secs(30);

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

/// One PostgreSQL database and the configuration both processes share.
struct Site {
    db: TestDb,
    dir: tempfile::TempDir,
    servers_started: AtomicUsize,
}

/// A running `clavis serve`.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

/// The answer to one form post.
struct Answer {
    status: u16,
    retry_after: Option<i64>,
    body: String,
}

impl Site {
    async fn new() -> Self {
        Self {
            db: TestDb::new(Backend::Postgres).await,
            dir: tempfile::tempdir().unwrap(),
            servers_started: AtomicUsize::new(0),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CLAVIS_DATA_DIR", self.dir.path().join("data"))
            .env("CLAVIS_DATABASE_URL", &self.db.url)
            .env("CLAVIS_MASTER_KEY", &self.db.master_key_b64)
            .env("CLAVIS_LISTEN", "127.0.0.1:0")
            .env("CLAVIS_LOG_LEVEL", "warn")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

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

    /// Start `clavis serve` and wait until it answers `/ready`.
    async fn serve(&self) -> Server {
        let n = self.servers_started.fetch_add(1, Ordering::Relaxed);
        let log = self.dir.path().join(format!("serve-{n}.log"));
        let mut child = self
            .command()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(STEP, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(u) = line.strip_prefix("Clavis is listening on ") {
                    return u.trim().to_owned();
                }
            }
            panic!(
                "serve exited early: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        })
        .await
        .expect("serve never printed its address");
        // keep draining stdout so the child never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Server { child, url, log };
        server.wait_ready().await;
        server
    }
}

impl Server {
    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + STEP;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            let ok = http
                .get(format!("{}/ready", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready: {}",
                self.url,
                self.logs()
            );
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the process must exit cleanly.
    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("serve did not stop on SIGTERM")
            .unwrap();
        assert!(
            status.success(),
            "serve exited with {status}: {}",
            self.logs()
        );
    }

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_and_rate_limits_hold_across_two_processes_on_one_postgres() {
    let started = Instant::now();
    let site = Site::new().await;
    site.apply().await;
    let servers = [site.serve().await, site.serve().await];
    assert_ne!(servers[0].url, servers[1].url);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(STEP)
        .build()
        .unwrap();

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

    // The per-address request limit (4 a minute in `tight`) counts the requests of both
    // processes: two on each, then both refuse.
    inside_window(60, 30).await;
    for i in 0..4 {
        let a = servers[i % 2]
            .login(&http, "tight", &format!("user{i}@example.com"), "wrong")
            .await;
        assert_eq!(a.status, 401, "request {i}: {}", a.body);
    }
    for s in &servers {
        let a = s.login(&http, "tight", "fresh@example.com", "wrong").await;
        assert_eq!(a.status, 429, "{}", a.body);
        let wait = a.retry_after.expect("Retry-After");
        assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    }

    for s in servers {
        s.stop().await;
    }
    println!("test took {:.1}s", started.elapsed().as_secs_f64());
}
