//! The audit chain across real `clavis` processes: three `clavis serve` on one PostgreSQL
//! database appending concurrently produce one gap-free, valid chain holding exactly the
//! `token.issued` events of the tokens they handed out; and a `kill -9` of `clavis serve`
//! during sustained appends (SQLite and PostgreSQL) loses no event whose token was
//! acknowledged, and leaves a chain that verifies and grows on after a restart.
//!
//! Every token request is audited by a `token.issued` event carrying the token's `jti`,
//! and the 200 is sent only once that event has committed: so the set of `jti`s of the
//! 200 responses must be found, each exactly once, in the log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

mod common;

use clavis_core::chain::{GENESIS, check_link, parse_body};
use clavis_store::testing::Backend;
use common::{STEP, Server, Site};
use tokio::sync::Notify;
use tokio::task::JoinSet;

const AUDIENCE: &str = "https://audit-load.example.com";

const YAML: &str = "\
tenants:
  - slug: default
    display_name: Default
    apis:
      - identifier: https://audit-load.example.com
        name: Audit load
        permissions:
          - { value: read:things, description: Read things }
    applications:
      - name: Load client
        type: m2m
        grant_types: [client_credentials]
        token_endpoint_auth_method: client_secret_basic
        grants:
          - api: https://audit-load.example.com
            scope: [read:things]
";

/// The m2m client's credentials printed by `clavis apply`.
#[derive(Clone)]
struct Creds {
    client_id: String,
    secret: String,
}

/// How one token request ended.
enum Outcome {
    /// 200, with the access token's `jti`.
    Issued(String),
    /// Any other HTTP status (with the body).
    Refused(u16, String),
    /// No response (connection refused or reset: the server is gone).
    NoResponse(String),
}

/// What the audit log holds once re-walked link by link.
struct Chain {
    head: i64,
    /// `jti` of every `token.issued` event, in chain order.
    token_jtis: Vec<String>,
}

impl Site {
    /// `clavis apply -f` the Api and m2m client; returns the printed credentials.
    async fn apply(&self) -> Creds {
        let file = self.dir.path().join("load.yaml");
        std::fs::write(&file, YAML).unwrap();
        let out = self.run(&["apply", "-f", file.to_str().unwrap()]).await;
        assert!(out.status.success(), "clavis apply failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("client secret for application `Load client`"))
            .unwrap_or_else(|| panic!("no client secret printed: {stdout}"));
        let (_, rest) = line.split_once("client_id ").unwrap();
        let (client_id, secret) = rest.split_once("): ").unwrap();
        Creds {
            client_id: client_id.to_owned(),
            secret: secret.trim().to_owned(),
        }
    }

    /// `clavis audit verify --tenant default` must exit 0 and report the chain ok.
    async fn verify(&self) {
        let out = self.run(&["audit", "verify", "--tenant", "default"]).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with("default: ok"),
            "verify failed: {stdout}"
        );
    }

    /// Re-walk the default tenant's chain from the database, independently of `verify`:
    /// every seq from 1 to the head present once, every link and hash sound, the head's
    /// hash the last event's.
    async fn chain(&self, client_id: &str) -> Chain {
        let core = self.db.core();
        let tenant = core.tenant_by_slug("default").await.unwrap();
        let mut tx = core.store.read().await.unwrap();
        let head = tx.audit_head(&tenant.id).await.unwrap();
        let mut prev = GENESIS.to_owned();
        let mut seq = 0;
        let mut token_jtis = Vec::new();
        loop {
            let page = tx.audit_range(&tenant.id, seq, None, 1000).await.unwrap();
            if page.is_empty() {
                break;
            }
            for e in page {
                seq += 1;
                assert_eq!(e.seq, seq, "the chain has a gap before seq {}", e.seq);
                if let Err(err) = check_link(&e, &prev) {
                    panic!("broken link at seq {}: {err:?}", e.seq);
                }
                prev.clone_from(&e.hash);
                if e.event_type == "token.issued" {
                    let ev = parse_body(&e.body).unwrap();
                    assert_eq!(ev.actor.client_id.as_deref(), Some(client_id));
                    assert_eq!(ev.context["grant_type"], "client_credentials");
                    token_jtis.push(ev.context["jti"].as_str().unwrap().to_owned());
                }
            }
        }
        assert_eq!(
            seq, head.seq,
            "events stop at {seq}, the head says {}",
            head.seq
        );
        assert_eq!(prev, head.hash, "the head's hash is not the last event's");
        // (the store is the TestDb's own pool: not closed here)
        drop(tx);
        Chain {
            head: head.seq,
            token_jtis,
        }
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(STEP).build().unwrap()
}

/// One client-credentials token request.
async fn request_token(http: &reqwest::Client, url: &str, c: &Creds) -> Outcome {
    let sent = http
        .post(format!("{url}/t/default/oauth/token"))
        .basic_auth(&c.client_id, Some(&c.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&audience={}",
            AUDIENCE.replace(':', "%3A").replace('/', "%2F")
        ))
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::NoResponse(e.to_string()),
    };
    let status = resp.status().as_u16();
    let body = match resp.text().await {
        Ok(b) => b,
        // headers came but the body did not: the server died mid-response
        Err(e) => return Outcome::NoResponse(e.to_string()),
    };
    if status != 200 {
        return Outcome::Refused(status, body);
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = v["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&clavis_crypto::b64url_decode(payload).unwrap()).unwrap();
    Outcome::Issued(claims["jti"].as_str().unwrap().to_owned())
}

/// Every `jti` appears once in the log, and the log has no `token.issued` event
/// besides those of `acked` and at most `unacked_max` others.
fn assert_all_acked_logged(chain: &Chain, acked: &[String], unacked_max: usize) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for j in &chain.token_jtis {
        *counts.entry(j.as_str()).or_default() += 1;
    }
    if let Some((j, n)) = counts.iter().find(|(_, n)| **n > 1) {
        panic!("jti {j} was logged {n} times");
    }
    let acked_set: HashSet<&str> = acked.iter().map(String::as_str).collect();
    assert_eq!(
        acked_set.len(),
        acked.len(),
        "the server issued a jti twice"
    );
    let missing: Vec<&&str> = acked_set
        .iter()
        .filter(|j| !counts.contains_key(**j))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged token(s) have no token.issued event, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let extra = chain.token_jtis.len() - acked.len();
    assert!(
        extra <= unacked_max,
        "{extra} token.issued events for tokens nobody received (at most {unacked_max} were in flight)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_on_one_postgres_append_one_gap_free_chain() {
    const SERVERS: usize = 3;
    const TASKS_PER_SERVER: usize = 8;
    const REQUESTS_PER_TASK: usize = 40;
    let started = Instant::now();
    let site = Arc::new(Site::new(Backend::Postgres).await);
    let creds = site.apply().await;
    let before = site.chain(&creds.client_id).await;
    assert!(before.token_jtis.is_empty());

    // three servers starting at once on the one database
    let mut starting = JoinSet::new();
    for _ in 0..SERVERS {
        let site = site.clone();
        starting.spawn(async move { site.serve().await });
    }
    let servers: Vec<Server> = starting.join_all().await;

    let load = Instant::now();
    let mut tasks = JoinSet::new();
    for server in &servers {
        let http = http_client();
        for _ in 0..TASKS_PER_SERVER {
            let (http, url, creds) = (http.clone(), server.url.clone(), creds.clone());
            tasks.spawn(async move {
                let mut outcomes = Vec::with_capacity(REQUESTS_PER_TASK);
                for _ in 0..REQUESTS_PER_TASK {
                    outcomes.push(request_token(&http, &url, &creds).await);
                }
                (url, outcomes)
            });
        }
    }
    let mut issued = Vec::new();
    let mut per_server: HashMap<String, usize> = HashMap::new();
    let mut failures = Vec::new();
    for (url, outcomes) in tasks.join_all().await {
        for o in outcomes {
            match o {
                Outcome::Issued(jti) => {
                    *per_server.entry(url.clone()).or_default() += 1;
                    issued.push(jti);
                }
                Outcome::Refused(status, body) => failures.push(format!("{url}: {status} {body}")),
                Outcome::NoResponse(e) => failures.push(format!("{url}: {e}")),
            }
        }
    }
    let load_secs = load.elapsed().as_secs_f64();
    for s in servers {
        s.stop().await;
    }
    let total = SERVERS * TASKS_PER_SERVER * REQUESTS_PER_TASK;
    assert!(
        failures.is_empty(),
        "{} of {total} token requests failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(per_server.len(), SERVERS, "every server issued tokens");

    site.verify().await;
    let chain = site.chain(&creds.client_id).await;
    // exactly one event per 200: none lost, none extra
    assert_eq!(chain.token_jtis.len(), issued.len());
    assert_all_acked_logged(&chain, &issued, 0);
    assert!(chain.head >= before.head + total as i64);
    println!(
        "{} tokens from {SERVERS} processes in {load_secs:.1}s ({:.0}/s); chain head {}; test took {:.1}s",
        issued.len(),
        issued.len() as f64 / load_secs,
        chain.head,
        started.elapsed().as_secs_f64()
    );
}

/// Hammer one `clavis serve` from `TASKS` tasks, SIGKILL it after `KILL_AFTER` tokens were
/// issued, and check that the log holds every acknowledged token; then restart on the
/// crashed database and check that the chain grows on.
async fn kill_9_during_sustained_appends(backend: Backend) {
    const TASKS: usize = 8;
    const KILL_AFTER: usize = 400;
    const AFTER_RESTART: usize = 20;
    let started = Instant::now();
    let site = Site::new(backend).await;
    let creds = site.apply().await;
    let server = site.serve().await;

    let stop = Arc::new(AtomicBool::new(false));
    let issued_count = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let http = http_client();
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let (http, url, creds) = (http.clone(), server.url.clone(), creds.clone());
        let (stop, issued_count, enough) = (stop.clone(), issued_count.clone(), enough.clone());
        tasks.spawn(async move {
            let mut issued = Vec::new();
            let mut refused = Vec::new();
            let mut no_response = 0;
            while !stop.load(Ordering::SeqCst) {
                match request_token(&http, &url, &creds).await {
                    Outcome::Issued(jti) => {
                        issued.push(jti);
                        if issued_count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            enough.notify_one();
                        }
                    }
                    Outcome::Refused(status, body) => refused.push(format!("{status} {body}")),
                    Outcome::NoResponse(_) => no_response += 1,
                }
            }
            (issued, refused, no_response)
        });
    }
    tokio::time::timeout(STEP, enough.notified())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "only {} tokens were issued: {}",
                issued_count.load(Ordering::SeqCst),
                server.logs()
            )
        });
    // requests are in flight on every task at this moment
    server.kill_9().await;
    stop.store(true, Ordering::SeqCst);
    let mut issued = Vec::new();
    let mut refused = Vec::new();
    let mut no_response = 0;
    for (i, r, n) in tasks.join_all().await {
        issued.extend(i);
        refused.extend(r);
        no_response += n;
    }
    assert!(refused.is_empty(), "requests were refused: {refused:?}");
    assert!(issued.len() >= KILL_AFTER);

    // the crashed database verifies and holds every acknowledged token's event; at most
    // one request per task was in flight, so at most TASKS events went unacknowledged
    site.verify().await;
    let crashed = site.chain(&creds.client_id).await;
    assert_all_acked_logged(&crashed, &issued, TASKS);
    let unacked = crashed.token_jtis.len() - issued.len();

    // Clavis starts again on it, and new events chain onto the crashed head
    let server = site.serve().await;
    for _ in 0..AFTER_RESTART {
        match request_token(&http, &server.url, &creds).await {
            Outcome::Issued(jti) => issued.push(jti),
            Outcome::Refused(s, b) => panic!("after restart: {s} {b}"),
            Outcome::NoResponse(e) => panic!("after restart: {e}"),
        }
    }
    server.stop().await;
    site.verify().await;
    let restarted = site.chain(&creds.client_id).await;
    assert!(restarted.head >= crashed.head + AFTER_RESTART as i64);
    assert_all_acked_logged(&restarted, &issued, unacked);
    assert_eq!(restarted.token_jtis.len(), issued.len() + unacked);
    println!(
        "{backend:?}: killed after {} acknowledged tokens ({unacked} logged but unacknowledged, \
         {no_response} requests without a response); chain head {} after restart; test took {:.1}s",
        issued.len() - AFTER_RESTART,
        restarted.head,
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_sustained_appends_loses_no_committed_event_sqlite() {
    kill_9_during_sustained_appends(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_sustained_appends_loses_no_committed_event_postgres() {
    kill_9_during_sustained_appends(Backend::Postgres).await;
}
