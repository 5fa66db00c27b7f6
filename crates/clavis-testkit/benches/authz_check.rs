//! Authorization decisions per second and their latency, in-process and over HTTP, on a
//! tenant with 1,000 roles and 100,000 role assignments. Run with `bench/authz.sh`.
//!
//! The data (per backend, a fresh database behind a real in-process server,
//! [`TestServer`]): one Api with `AUTHZ_BENCH_PERMS` (500) permissions; `AUTHZ_BENCH_ROLES`
//! (1,000) roles of 10 permissions each, in inheritance chains of five (role 5k+j inherits
//! 5k+j−1, so a role brings up to four more); `AUTHZ_BENCH_USERS` (10,000) users, each a
//! member of one of 100 organizations and of one of its 10 teams; per user 10 role
//! assignments (4 tenant-wide, 6 in the organization), i.e. 100,000, plus 2 roles per team.
//! Everything is written through the store's ports, 200 users per transaction.
//!
//! The checks: a random user, inside their organization (70 %) or tenant-wide (30 %), one
//! of the Api's permissions at random (the `allowed` column says how many were allowed).
//! Rows:
//! - `cold`: each of the first checks of distinct users after seeding, so every decision
//!   computes the user's effective permissions from the database (no cached entry yet);
//! - `inproc`: [`Core::authz_check`] from C concurrent tasks;
//! - `inproc+explain`: the same with `explain: true`;
//! - `inproc batch100`: [`Core::authz_check_batch`] with 100 checks per call (decisions/s
//!   counts checks; latency is per call);
//! - `http`: `wrk` (one thread, C keep-alive connections) POSTing
//!   `/api/v2/authorize/check` with 1,000 prepared checks in turn and a Management API
//!   token carrying `read:authz` (token verification and the grant re-check included);
//! - `http batch100`: `wrk` POSTing `/check-batch` with 100 checks per request.
//!
//! The warm rows (in-process and HTTP) draw their users from a working set of
//! `AUTHZ_BENCH_HOT_USERS` (1,000) users, each decided once in and out of their
//! organization before those rows, so they measure decisions from cached effective
//! permissions (the version read stays on every decision); `cold` uses the other users.
//! Every in-process row runs a warm-up then a measured window; decisions completed inside
//! the window give decisions/s and the percentiles. `wrk` runs its own warm-up.
//! Knobs (environment variables) are listed in `bench/authz.sh`, plus
//! `AUTHZ_BENCH_HOT_USERS` (1000) and `WRK` (the wrk binary).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clavis_core::Core;
use clavis_core::authz::{CheckRequest, Subject};
use clavis_core::model::{
    Api, JsonMap, OrgMetadata, Organization, Permission, Role, RolePermission, Team, Tenant, User,
    UserProfile,
};
use clavis_testkit::{Backend, TestServer};
use clavis_types::{ApiId, OrgId, RoleId, SigningAlg, Slug, TeamId, UserId};
use serde_json::{Value, json};

const API: &str = "https://bench.example.com";
const ORGS: usize = 100;
const TEAMS_PER_ORG: usize = 10;
const PERMS_PER_ROLE: usize = 10;
const CHAIN: usize = 5;
const TENANT_WIDE_PER_USER: usize = 4;
const ORG_PER_USER: usize = 6;
const ROLES_PER_TEAM: usize = 2;
/// Users written per seeding transaction (about 13 statements each).
const USERS_PER_TX: usize = 200;

struct Config {
    secs: f64,
    warmup_secs: f64,
    conc: Vec<usize>,
    http_conns: Vec<usize>,
    backends: Vec<Backend>,
    users: usize,
    roles: usize,
    perms: usize,
    hot_users: usize,
    http: bool,
    wrk: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn numbers(name: &str, default: &str) -> Vec<usize> {
    env_or(name, default)
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.parse()
                .unwrap_or_else(|_| panic!("{name}: `{w}` is not a number"))
        })
        .collect()
}

fn config() -> Config {
    let num = |name: &str, default: &str| -> f64 {
        env_or(name, default)
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    };
    Config {
        secs: num("AUTHZ_BENCH_SECS", "5"),
        warmup_secs: num("AUTHZ_BENCH_WARMUP_SECS", "1"),
        conc: numbers("AUTHZ_BENCH_CONC", "1 16 64"),
        http_conns: numbers("AUTHZ_BENCH_HTTP_CONNS", "1 16 64"),
        backends: env_or("AUTHZ_BENCH_BACKENDS", "sqlite postgres")
            .split([' ', ','])
            .filter(|w| !w.is_empty())
            .map(|w| match w {
                "sqlite" => Backend::Sqlite,
                "postgres" | "pg" => Backend::Postgres,
                _ => panic!("AUTHZ_BENCH_BACKENDS: unknown backend `{w}`"),
            })
            .collect(),
        users: num("AUTHZ_BENCH_USERS", "10000") as usize,
        roles: num("AUTHZ_BENCH_ROLES", "1000") as usize,
        perms: num("AUTHZ_BENCH_PERMS", "500") as usize,
        hot_users: num("AUTHZ_BENCH_HOT_USERS", "1000") as usize,
        http: env_or("AUTHZ_BENCH_HTTP", "1") != "0",
        wrk: env_or("WRK", "wrk"),
    }
}

/// A small deterministic generator (splitmix64), so every run builds the same graph.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the seeded tenant holds, for making checks.
struct Seeded {
    tenant: Tenant,
    users: Vec<UserId>,
    /// The organization of each user (same index).
    user_org: Vec<OrgId>,
    perms: Vec<String>,
    /// Users `0..hot` are the working set of the warm rows; the rest are cold.
    hot: usize,
    assignments: usize,
    seed_secs: f64,
}

fn perm(i: usize) -> String {
    format!("perm:{i:04}")
}

/// `count` distinct values below `n`, drawn from `mix`.
fn distinct(mix: &mut Mix, count: usize, n: usize) -> Vec<usize> {
    let mut set = BTreeSet::new();
    while set.len() < count.min(n) {
        set.insert(mix.below(n));
    }
    set.into_iter().collect()
}

async fn seed(s: &TestServer, cfg: &Config) -> Seeded {
    let started = Instant::now();
    let core = &s.core;
    let t = s.fixtures("bench").tenant().await;
    let now = core.now();
    let rng = &*core.rng;
    let mut mix = Mix(0x00C1_A515);
    let api = Api {
        tenant_id: t.id.clone(),
        id: ApiId::generate(now, rng),
        identifier: API.to_owned(),
        name: "Bench".to_owned(),
        signing_alg: SigningAlg::Rs256,
        token_lifetime: 3600,
        rbac_enabled: true,
        permissions_in_token: true,
        allow_offline_access: false,
        skip_consent: true,
        permissions: (0..cfg.perms)
            .map(|i| Permission {
                value: perm(i),
                description: String::new(),
            })
            .collect(),
        created_at: now,
        updated_at: now,
    };
    let mut tx = core.store.begin().await.unwrap();
    tx.api_insert(&api).await.unwrap();

    let mut roles = Vec::with_capacity(cfg.roles);
    for r in 0..cfg.roles {
        let role = Role {
            tenant_id: t.id.clone(),
            id: RoleId::generate(now, rng),
            name: format!("role-{r:04}"),
            description: String::new(),
            created_at: now,
            updated_at: now,
        };
        tx.role_insert(&role).await.unwrap();
        let rp: Vec<_> = distinct(&mut mix, PERMS_PER_ROLE, cfg.perms)
            .into_iter()
            .map(|p| RolePermission {
                api_id: api.id.clone(),
                permission: perm(p),
            })
            .collect();
        tx.role_permissions_set(&t.id, &role.id, &rp).await.unwrap();
        if r % CHAIN != 0 {
            let parent: &Role = &roles[r - 1];
            tx.role_inherits_set(&t.id, &role.id, std::slice::from_ref(&parent.id))
                .await
                .unwrap();
        }
        roles.push(role);
    }
    tx.commit().await.unwrap();
    let mut tx = core.store.begin().await.unwrap();

    let mut orgs = Vec::with_capacity(ORGS);
    let mut teams = Vec::with_capacity(ORGS * TEAMS_PER_ORG);
    for o in 0..ORGS {
        let org = Organization {
            tenant_id: t.id.clone(),
            id: OrgId::generate(now, rng),
            slug: Slug::parse(&format!("org-{o:03}")).unwrap(),
            display_name: format!("Org {o}"),
            metadata: OrgMetadata::default(),
            user_limit: None,
            created_at: now,
            updated_at: now,
        };
        tx.org_insert(&org).await.unwrap();
        for k in 0..TEAMS_PER_ORG {
            let team = Team {
                tenant_id: t.id.clone(),
                org_id: org.id.clone(),
                id: TeamId::generate(now, rng),
                slug: Slug::parse(&format!("team-{k}")).unwrap(),
                display_name: format!("Team {k}"),
                description: String::new(),
                created_at: now,
                updated_at: now,
            };
            tx.team_insert(&team).await.unwrap();
            for r in distinct(&mut mix, ROLES_PER_TEAM, cfg.roles) {
                tx.team_role_add(&t.id, &team.id, &roles[r].id, now)
                    .await
                    .unwrap();
            }
            teams.push(team);
        }
        orgs.push(org);
    }
    tx.commit().await.unwrap();
    let mut tx = core.store.begin().await.unwrap();

    let mut users = Vec::with_capacity(cfg.users);
    let mut user_org = Vec::with_capacity(cfg.users);
    let mut assignments = 0;
    for u in 0..cfg.users {
        let user = User {
            tenant_id: t.id.clone(),
            id: UserId::generate(now, rng),
            email: None,
            email_verified: false,
            profile: UserProfile::default(),
            user_metadata: JsonMap::new(),
            app_metadata: JsonMap::new(),
            blocked: false,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deleted_at: None,
        };
        tx.user_insert(&user).await.unwrap();
        let org = &orgs[u % ORGS];
        let team = &teams[(u % ORGS) * TEAMS_PER_ORG + (u / ORGS) % TEAMS_PER_ORG];
        tx.member_add(&t.id, &org.id, &user.id, now).await.unwrap();
        tx.team_member_add(&t.id, &team.id, &user.id, now)
            .await
            .unwrap();
        let picked = distinct(&mut mix, TENANT_WIDE_PER_USER + ORG_PER_USER, cfg.roles);
        for (k, r) in picked.into_iter().enumerate() {
            let role = &roles[r].id;
            if k < TENANT_WIDE_PER_USER {
                tx.user_role_add(&t.id, &user.id, role, now).await.unwrap();
            } else {
                tx.member_role_add(&t.id, &org.id, &user.id, role, now)
                    .await
                    .unwrap();
            }
            assignments += 1;
        }
        users.push(user.id);
        user_org.push(org.id.clone());
        if (u + 1) % USERS_PER_TX == 0 {
            tx.commit().await.unwrap();
            tx = core.store.begin().await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    Seeded {
        tenant: t,
        users,
        user_org,
        perms: (0..cfg.perms).map(perm).collect(),
        hot: cfg.hot_users.clamp(1, cfg.users.max(1)),
        assignments,
        seed_secs: started.elapsed().as_secs_f64(),
    }
}

/// The next check of a stream drawn from `mix`: a user of the warm set, in their
/// organization 70 % of the time, a random permission.
fn random_check(seeded: &Seeded, mix: &mut Mix, explain: bool) -> CheckRequest {
    let u = mix.below(seeded.hot);
    user_check(
        seeded,
        u,
        mix.below(10) < 7,
        mix.below(seeded.perms.len()),
        explain,
    )
}

fn user_check(seeded: &Seeded, u: usize, in_org: bool, p: usize, explain: bool) -> CheckRequest {
    CheckRequest {
        subject: Subject::User(seeded.users[u].clone()),
        organization: in_org.then(|| seeded.user_org[u].clone()),
        api: API.to_owned(),
        permission: seeded.perms[p].clone(),
        resource: None,
        context: JsonMap::new(),
        explain,
    }
}

/// The same check as a JSON body of the HTTP API.
fn check_json(r: &CheckRequest) -> Value {
    let Subject::User(u) = &r.subject else {
        panic!("bench checks are users' checks")
    };
    let mut b = json!({
        "subject": {"user_id": u.to_string()},
        "api": r.api,
        "permission": r.permission,
    });
    if let Some(o) = &r.organization {
        b["organization"] = json!(o.to_string());
    }
    b
}

struct Row {
    backend: Backend,
    mode: String,
    conc: usize,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    allowed_pct: f64,
    errors: u64,
    note: String,
}

fn pct(lat: &mut [u32], p: f64) -> f64 {
    if lat.is_empty() {
        return f64::NAN;
    }
    lat.sort_unstable();
    let idx = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
    f64::from(lat[idx]) / 1e3
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Single { explain: bool },
    Batch,
}

/// C tasks calling core for a warm-up then the measured window.
async fn inproc(
    cfg: &Config,
    core: &Arc<Core>,
    seeded: &Arc<Seeded>,
    backend: Backend,
    kind: Kind,
    conc: usize,
) -> Row {
    let start = Instant::now();
    let from = start + Duration::from_secs_f64(cfg.warmup_secs);
    let until = from + Duration::from_secs_f64(cfg.secs);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..conc)
        .map(|k| {
            let (core, seeded, stop) = (core.clone(), seeded.clone(), stop.clone());
            tokio::spawn(async move {
                let mut mix = Mix(0xBE7C_0000 + k as u64);
                let (mut lat, mut decided, mut allowed, mut errors) =
                    (Vec::new(), 0u64, 0u64, 0u64);
                let mut first_error = None;
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    let t0 = Instant::now();
                    let res = match kind {
                        Kind::Single { explain } => {
                            let req = random_check(&seeded, &mut mix, explain);
                            core.authz_check(&seeded.tenant, &req)
                                .await
                                .map(|d| vec![d])
                        }
                        Kind::Batch => {
                            let reqs: Vec<_> = (0..100)
                                .map(|_| random_check(&seeded, &mut mix, false))
                                .collect();
                            core.authz_check_batch(&seeded.tenant, &reqs).await
                        }
                    };
                    let t1 = Instant::now();
                    match res {
                        Ok(ds) => {
                            if t1 >= from && t1 < until {
                                lat.push(u32::try_from((t1 - t0).as_micros()).unwrap_or(u32::MAX));
                                decided += ds.len() as u64;
                                allowed += ds.iter().filter(|d| d.allowed).count() as u64;
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e.to_string());
                            if errors >= 100 {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                (lat, decided, allowed, errors, first_error)
            })
        })
        .collect();
    let (mut lat, mut decided, mut allowed, mut errors, mut note) =
        (Vec::new(), 0, 0, 0, String::new());
    for t in tasks {
        let (l, d, a, e, f) = t.await.unwrap();
        lat.extend(l);
        decided += d;
        allowed += a;
        errors += e;
        if let (Some(f), true) = (f, note.is_empty()) {
            note = format!("first error: {f}");
        }
    }
    let mode = match kind {
        Kind::Single { explain: false } => "inproc",
        Kind::Single { explain: true } => "inproc+explain",
        Kind::Batch => "inproc batch100",
    };
    Row {
        backend,
        mode: mode.to_owned(),
        conc,
        per_sec: decided as f64 / cfg.secs,
        p50_ms: pct(&mut lat, 0.50),
        p99_ms: pct(&mut lat, 0.99),
        allowed_pct: 100.0 * allowed as f64 / decided.max(1) as f64,
        errors,
        note,
    }
}

/// First decisions for distinct users, nothing cached: C tasks take users in turn until
/// every user has been checked once or the window ends.
async fn cold(
    cfg: &Config,
    core: &Arc<Core>,
    seeded: &Arc<Seeded>,
    backend: Backend,
    conc: usize,
) -> Row {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(cfg.secs);
    let tasks: Vec<_> = (0..conc)
        .map(|_| {
            let (core, seeded, next) = (core.clone(), seeded.clone(), next.clone());
            tokio::spawn(async move {
                let (mut lat, mut allowed, mut errors) = (Vec::new(), 0u64, 0u64);
                let mut mix = Mix(0xC01D);
                loop {
                    let u = seeded.hot + next.fetch_add(1, Ordering::Relaxed);
                    if u >= seeded.users.len() || Instant::now() >= until {
                        break;
                    }
                    let req = user_check(&seeded, u, true, mix.below(seeded.perms.len()), false);
                    let t0 = Instant::now();
                    match core.authz_check(&seeded.tenant, &req).await {
                        Ok(d) => {
                            lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                            allowed += u64::from(d.allowed);
                        }
                        Err(_) => errors += 1,
                    }
                }
                (lat, allowed, errors)
            })
        })
        .collect();
    let (mut lat, mut allowed, mut errors) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, a, e) = t.await.unwrap();
        lat.extend(l);
        allowed += a;
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = lat.len();
    Row {
        backend,
        mode: "cold (first check per user)".to_owned(),
        conc,
        per_sec: n as f64 / secs,
        p50_ms: pct(&mut lat, 0.50),
        p99_ms: pct(&mut lat, 0.99),
        allowed_pct: 100.0 * allowed as f64 / n.max(1) as f64,
        errors,
        note: format!("{n} users"),
    }
}

/// One decision for every (hot user, in their organization or not), so the warm rows
/// measure decisions from cached effective permissions; returns the seconds it took.
async fn warm_up(core: &Arc<Core>, seeded: &Arc<Seeded>) -> f64 {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (core, seeded, next) = (core.clone(), seeded.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= 2 * seeded.hot {
                        break;
                    }
                    let req = user_check(&seeded, k / 2, k % 2 == 0, 0, false);
                    core.authz_check(&seeded.tenant, &req).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Writes the wrk script: POST one of `bodies` in turn with the bearer token.
fn wrk_script(path: &std::path::Path, token: &str, bodies: &[String]) {
    let mut lua = String::new();
    lua.push_str("local bodies = {\n");
    for b in bodies {
        // Lua long brackets: JSON never holds `]==]`.
        let _ = writeln!(lua, "  [==[{b}]==],");
    }
    lua.push_str("}\nlocal n = #bodies\nlocal i = 0\n");
    let _ = write!(
        lua,
        "local headers = {{ [\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer {token}\" }}\n\
         request = function()\n  i = i % n + 1\n  return wrk.format(\"POST\", nil, headers, bodies[i])\nend\n"
    );
    std::fs::write(path, lua).unwrap();
}

/// A latency of wrk's table (`812.00us`, `1.20ms`, `2.01s`) in milliseconds.
fn wrk_ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let x: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => x / 1e3,
        "ms" => x,
        "s" => x * 1e3,
        "m" => x * 60e3,
        _ => f64::NAN,
    }
}

/// Runs wrk and reads requests/s, p50, p99 and non-2xx answers from its output.
async fn wrk(
    cfg: &Config,
    url: &str,
    script: &std::path::Path,
    conns: usize,
    secs: f64,
) -> (f64, f64, f64, u64, String) {
    let out = tokio::process::Command::new(&cfg.wrk)
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{}s", secs.ceil() as u64),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {}: {e} (is wrk installed?)", cfg.wrk));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |key: &str, col: usize| -> Option<String> {
        text.lines()
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>)
            .find(|w| w.first() == Some(&key))
            .and_then(|w| w.get(col).map(|s| (*s).to_owned()))
    };
    let rps = field("Requests/sec:", 1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let p50 = field("50%", 1).map_or(f64::NAN, |v| wrk_ms(&v));
    let p99 = field("99%", 1).map_or(f64::NAN, |v| wrk_ms(&v));
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let errors = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    (rps, p50, p99, non2xx, errors)
}

async fn http_rows(
    cfg: &Config,
    s: &TestServer,
    token: &str,
    seeded: &Seeded,
    backend: Backend,
) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let mut mix = Mix(0x4777);
    let singles: Vec<String> = (0..1000)
        .map(|_| check_json(&random_check(seeded, &mut mix, false)).to_string())
        .collect();
    let batches: Vec<String> = (0..50)
        .map(|_| {
            let checks: Vec<Value> = (0..100)
                .map(|_| check_json(&random_check(seeded, &mut mix, false)))
                .collect();
            json!({ "checks": checks }).to_string()
        })
        .collect();
    let one = dir.path().join("check.lua");
    let many = dir.path().join("batch.lua");
    wrk_script(&one, token, &singles);
    wrk_script(&many, token, &batches);
    let url = format!("{}/t/bench/api/v2/authorize/check", s.base_url);
    let batch_url = format!("{url}-batch");

    // Sanity: the bodies are answered, and the answers are decisions.
    let mut allowed = 0usize;
    for b in singles.iter().take(200) {
        let v: Value = serde_json::from_str(b).unwrap();
        let r = s
            .client
            .send("POST", "/t/bench/api/v2/authorize/check", token, Some(&v))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        allowed += usize::from(r.json()["allowed"] == true);
    }
    let v: Value = serde_json::from_str(&batches[0]).unwrap();
    let r = s
        .client
        .send(
            "POST",
            "/t/bench/api/v2/authorize/check-batch",
            token,
            Some(&v),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"].as_array().map(Vec::len), Some(100));
    let allowed_pct = allowed as f64 / 2.0;

    let _ = wrk(cfg, &url, &one, 16, cfg.warmup_secs.max(1.0)).await;
    let mut rows = Vec::new();
    for &c in &cfg.http_conns {
        let (rps, p50, p99, non2xx, errs) = wrk(cfg, &url, &one, c, cfg.secs).await;
        rows.push(Row {
            backend,
            mode: "http".to_owned(),
            conc: c,
            per_sec: rps,
            p50_ms: p50,
            p99_ms: p99,
            allowed_pct,
            errors: non2xx,
            note: errs,
        });
    }
    let c = 16.min(cfg.http_conns.iter().copied().max().unwrap_or(16));
    let (rps, p50, p99, non2xx, errs) = wrk(cfg, &batch_url, &many, c, cfg.secs).await;
    rows.push(Row {
        backend,
        mode: "http batch100".to_owned(),
        conc: c,
        per_sec: rps * 100.0,
        p50_ms: p50,
        p99_ms: p99,
        allowed_pct: f64::NAN,
        errors: non2xx,
        note: errs,
    });
    rows
}

fn print_row(r: &Row) {
    let backend = match r.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    println!(
        "{backend:<9} {:<28} {:>4} {:>12.0} {:>8.3} {:>8.3} {:>8.1} {:>6}  {}",
        r.mode, r.conc, r.per_sec, r.p50_ms, r.p99_ms, r.allowed_pct, r.errors, r.note
    );
}

fn main() {
    let cfg = config();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "# authorization decisions; {} s measured after {} s warm-up per row; fresh database and server per backend",
        cfg.secs, cfg.warmup_secs
    );
    rt.block_on(async {
        for &backend in &cfg.backends {
            let s = TestServer::start(backend).await;
            let seeded = Arc::new(seed(&s, &cfg).await);
            let users = seeded.users.len();
            println!(
                "# {backend:?}: {users} users, {} roles (chains of {CHAIN}, {PERMS_PER_ROLE} permissions each, {} on the Api), {} user role assignments ({} tenant-wide, {} in organizations) + {} team role assignments, {ORGS} organizations, {} teams; seeded in {:.1} s",
                cfg.roles,
                cfg.perms,
                seeded.assignments,
                users * TENANT_WIDE_PER_USER,
                users * ORG_PER_USER,
                ORGS * TEAMS_PER_ORG * ROLES_PER_TEAM,
                ORGS * TEAMS_PER_ORG,
                seeded.seed_secs
            );
            // The Management API client is made before anything is cached.
            let token = if cfg.http {
                s.mgmt_token("bench", &["read:authz"]).await
            } else {
                String::new()
            };
            println!(
                "{:<9} {:<28} {:>4} {:>12} {:>8} {:>8} {:>8} {:>6}  note",
                "backend", "mode", "conc", "decisions/s", "p50_ms", "p99_ms", "allowed%", "errors"
            );
            let core = Arc::new(s.core.clone());
            let c0 = cfg.conc.iter().copied().max().unwrap_or(16).min(16);
            print_row(&cold(&cfg, &core, &seeded, backend, c0).await);
            let warm_secs = warm_up(&core, &seeded).await;
            println!(
                "# warm set: {} users x (in their organization, tenant-wide), cached in {warm_secs:.1} s",
                seeded.hot
            );
            let single = Kind::Single { explain: false };
            for &c in &cfg.conc {
                print_row(&inproc(&cfg, &core, &seeded, backend, single, c).await);
            }
            let explained = Kind::Single { explain: true };
            print_row(&inproc(&cfg, &core, &seeded, backend, explained, c0).await);
            print_row(&inproc(&cfg, &core, &seeded, backend, Kind::Batch, 4).await);
            if cfg.http {
                for r in http_rows(&cfg, &s, &token, &seeded, backend).await {
                    print_row(&r);
                }
            }
            s.stop().await;
        }
    });
}
