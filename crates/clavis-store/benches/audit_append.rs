//! Sustained audit appends per second with chaining on, on SQLite and PostgreSQL.
//!
//! Two ways of appending, as the server does:
//! - `now`: [`Core::audit_now`] from C concurrent tasks (group commit through the audit
//!   writer task; token issuance and failed logins take this path),
//! - `tx`: one event per transaction (`store.begin()`, [`Core::audit_in`], `commit`), as a
//!   state change that writes its event in its own transaction.
//!
//! Two event shapes, both `token.issued`:
//! - `m2m`: actor.client_id + ip + user agent, context grant_type/audience/jti (no subject
//!   user, so nothing is sealed),
//! - `user`: the same plus actor.user_id and actor.email, so email, ip and user agent are
//!   sealed under the user's key. The users' keys exist beforehand and are older than the
//!   "settled" age (created by a setup pass whose clock runs two minutes behind), which is
//!   the steady state of a server whose users have logged in before.
//!
//! Every run gets a fresh database, tenant and `Core`. After a warm-up, the appends that
//! complete within the measured window give appends/s and the latency percentiles; when
//! the tasks have stopped, `audit_verify` must pass over exactly the events appended
//! (setup, warm-up and measured), or the bench fails.
//!
//! Knobs (environment): `AUDIT_BENCH_SECS` (5), `AUDIT_BENCH_WARMUP_SECS` (1),
//! `AUDIT_BENCH_CONC` ("1 16 64"), `AUDIT_BENCH_BACKENDS` ("sqlite postgres"),
//! `AUDIT_BENCH_MODES` ("now tx"), `AUDIT_BENCH_SHAPES` ("m2m user"),
//! `AUDIT_BENCH_USERS` (1000, distinct subject users of the `user` shape).
//! PostgreSQL: `CLAVIS_TEST_PG_URL` as for the tests; sqlx uses TLS when the server offers
//! it (`sslmode=prefer`), `PGSSLMODE=disable` turns it off. Run with `bench/audit.sh`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clavis_core::Core;
use clavis_core::model::{AuditActor, AuditEvent, JsonMap, Tenant, TenantSettings};
use clavis_core::service::RequestMeta;
use clavis_store::testing::{Backend, TestDb};
use clavis_types::{Clock, Slug, SystemClock, Timestamp, random_base32};
use serde_json::json;

/// Lag of the setup clock: subject keys made by it count as settled (older than 60 s).
const SETUP_LAG_MS: i64 = 120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `Core::audit_now` (group commit).
    Now,
    /// `begin` + `Core::audit_in` + `commit`, one event per transaction.
    Tx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    M2m,
    User,
}

/// The wall clock, `SETUP_LAG_MS` behind.
#[derive(Debug)]
struct Lagging;

impl Clock for Lagging {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(SystemClock.now().as_millis() - SETUP_LAG_MS)
    }
}

struct Config {
    secs: f64,
    warmup_secs: f64,
    conc: Vec<usize>,
    backends: Vec<Backend>,
    modes: Vec<Mode>,
    shapes: Vec<Shape>,
    users: usize,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn words<T>(name: &str, default: &str, parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
    env_or(name, default)
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .map(|w| parse(w).unwrap_or_else(|| panic!("{name}: unknown value `{w}`")))
        .collect()
}

fn config() -> Config {
    let num = |name: &str, default: &str| -> f64 {
        env_or(name, default)
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    };
    Config {
        secs: num("AUDIT_BENCH_SECS", "5"),
        warmup_secs: num("AUDIT_BENCH_WARMUP_SECS", "1"),
        conc: words("AUDIT_BENCH_CONC", "1 16 64", |w| w.parse().ok()),
        backends: words("AUDIT_BENCH_BACKENDS", "sqlite postgres", |w| match w {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "pg" => Some(Backend::Postgres),
            _ => None,
        }),
        modes: words("AUDIT_BENCH_MODES", "now tx", |w| match w {
            "now" => Some(Mode::Now),
            "tx" => Some(Mode::Tx),
            _ => None,
        }),
        shapes: words("AUDIT_BENCH_SHAPES", "m2m user", |w| match w {
            "m2m" => Some(Shape::M2m),
            "user" => Some(Shape::User),
            _ => None,
        }),
        users: num("AUDIT_BENCH_USERS", "1000") as usize,
    }
}

fn user_id(i: usize) -> String {
    format!("usr_bench{i:06}")
}

/// A `token.issued` event shaped like the server's (`i` picks the subject user).
fn event(core: &Core, tenant: &Tenant, shape: Shape, users: usize, i: usize) -> AuditEvent {
    let meta = RequestMeta {
        ip_address: Some(format!("203.0.113.{}", i % 250 + 1)),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) bench/1.0".into()),
        ..RequestMeta::default()
    };
    let jti = random_base32(&*core.rng, 16);
    let (actor, ctx) = match shape {
        Shape::M2m => (
            AuditActor {
                client_id: Some("cli_01HMBENCHM2M0000000000000".into()),
                ..AuditActor::default()
            },
            json!({"grant_type": "client_credentials", "audience": "https://api.example.com", "jti": jti}),
        ),
        Shape::User => {
            let n = i % users.max(1);
            (
                AuditActor {
                    user_id: Some(user_id(n)),
                    email: Some(format!("user{n}@example.com")),
                    client_id: Some("cli_01HMBENCHWEB0000000000000".into()),
                    ..AuditActor::default()
                },
                json!({"grant_type": "authorization_code", "audience": "https://api.example.com", "jti": jti}),
            )
        }
    };
    let ctx: JsonMap = match ctx {
        serde_json::Value::Object(m) => m,
        _ => JsonMap::new(),
    };
    core.audit_event(&tenant.id, "token.issued", actor, None, ctx, &meta)
}

/// What one task saw.
#[derive(Default)]
struct TaskStats {
    /// Successful appends, whenever they completed.
    appended: u64,
    errors: u64,
    first_error: Option<String>,
    /// Latencies (µs) of the appends that completed within the measured window.
    window: Vec<u32>,
}

struct Row {
    backend: Backend,
    mode: Mode,
    shape: Shape,
    conc: usize,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    appended: u64,
    errors: u64,
    verify_ms: f64,
}

async fn append_one(core: &Core, mode: Mode, e: AuditEvent) -> Result<(), String> {
    match mode {
        Mode::Now => core.audit_now(e).await.map_err(|e| e.to_string()),
        Mode::Tx => {
            let mut tx = core.store.begin().await.map_err(|e| e.to_string())?;
            core.audit_in(&mut *tx, e)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())
        }
    }
}

async fn tenant(core: &Core) -> Tenant {
    let mut tx = core.store.begin().await.unwrap();
    let t = core
        .create_tenant(
            &mut *tx,
            &Slug::parse("bench").unwrap(),
            "Bench",
            TenantSettings::default(),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    t
}

/// One event per subject user through a Core whose clock lags, so every user has a key
/// that is already settled when the measured Core first reads it.
async fn make_subject_keys(db: &TestDb, tenant: &Tenant, users: usize) {
    let setup = Arc::new(db.core_with_clock(Arc::new(Lagging)));
    let tasks: Vec<_> = (0..16)
        .map(|k| {
            let (core, tenant) = (setup.clone(), tenant.clone());
            tokio::spawn(async move {
                for i in (k..users).step_by(16) {
                    let e = event(&core, &tenant, Shape::User, users, i);
                    core.audit_now(e).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

async fn run_one(cfg: &Config, backend: Backend, mode: Mode, shape: Shape, conc: usize) -> Row {
    let db = TestDb::new(backend).await;
    let core = Arc::new(db.core());
    let tenant = tenant(&core).await;
    if shape == Shape::User {
        make_subject_keys(&db, &tenant, cfg.users).await;
    }
    let base = {
        let mut tx = core.store.read().await.unwrap();
        tx.audit_head(&tenant.id).await.unwrap().seq
    };

    let start = Instant::now();
    let from = start + Duration::from_secs_f64(cfg.warmup_secs);
    let until = from + Duration::from_secs_f64(cfg.secs);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..conc)
        .map(|k| {
            let (core, tenant, stop) = (core.clone(), tenant.clone(), stop.clone());
            let users = cfg.users;
            tokio::spawn(async move {
                let mut s = TaskStats::default();
                let mut i = k * 7919;
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    i += 1;
                    let e = event(&core, &tenant, shape, users, i);
                    let t0 = Instant::now();
                    let r = append_one(&core, mode, e).await;
                    let t1 = Instant::now();
                    match r {
                        Ok(()) => {
                            s.appended += 1;
                            if t1 >= from && t1 < until {
                                let us = (t1 - t0).as_micros();
                                s.window.push(u32::try_from(us).unwrap_or(u32::MAX));
                            }
                        }
                        Err(e) => {
                            s.errors += 1;
                            s.first_error.get_or_insert(e);
                            if s.errors >= 100 {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                s
            })
        })
        .collect();
    let mut appended = 0;
    let mut errors = 0;
    let mut first_error = None;
    let mut lat = Vec::new();
    for t in tasks {
        let s = t.await.unwrap();
        appended += s.appended;
        errors += s.errors;
        first_error = first_error.or(s.first_error);
        lat.extend(s.window);
    }
    if let Some(e) = first_error {
        println!("# {backend:?} {mode:?} {shape:?} c={conc}: {errors} errors, first: {e}");
    }

    let v0 = Instant::now();
    let report = core.audit_verify(&tenant.id).await.unwrap();
    let verify_ms = v0.elapsed().as_secs_f64() * 1e3;
    let expected = u64::try_from(base).unwrap() + appended;
    assert!(report.ok, "chain broken after the run: {report:?}");
    assert_eq!(
        report.events_checked, expected,
        "verify walked {} events, {} were appended: {report:?}",
        report.events_checked, expected
    );

    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let idx = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[idx]) / 1e3
    };
    Row {
        backend,
        mode,
        shape,
        conc,
        per_sec: lat.len() as f64 / cfg.secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        appended,
        errors,
        verify_ms,
    }
}

/// The 1-minute load average (Linux), to judge how quiet the machine was.
fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn print_row(r: &Row) {
    let backend = match r.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let mode = match r.mode {
        Mode::Now => "audit_now",
        Mode::Tx => "tx/event",
    };
    let shape = match r.shape {
        Shape::M2m => "m2m",
        Shape::User => "user(sealed)",
    };
    println!(
        "{backend:<9} {mode:<9} {shape:<12} {:>4} {:>10.0} {:>8.2} {:>8.2} {:>9} {:>6} {:>9.0}  ok     {:>5}",
        r.conc,
        r.per_sec,
        r.p50_ms,
        r.p99_ms,
        r.appended,
        r.errors,
        r.verify_ms,
        load1()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then there is
    // nothing to test here (and minutes of load to spare), so print nothing and stop.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cfg = config();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "# audit appends, chained; {} s measured after {} s warm-up per row; fresh database per row",
        cfg.secs, cfg.warmup_secs
    );
    println!(
        "{:<9} {:<9} {:<12} {:>4} {:>10} {:>8} {:>8} {:>9} {:>6} {:>9}  verify {:>5}",
        "backend",
        "mode",
        "event",
        "conc",
        "appends/s",
        "p50_ms",
        "p99_ms",
        "appended",
        "errors",
        "verify_ms",
        "load1"
    );
    rt.block_on(async {
        for &backend in &cfg.backends {
            for &mode in &cfg.modes {
                for &shape in &cfg.shapes {
                    for &conc in &cfg.conc {
                        let row = run_one(&cfg, backend, mode, shape, conc).await;
                        print_row(&row);
                    }
                }
            }
        }
    });
}
