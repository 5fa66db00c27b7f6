//! Helpers of the mail tests: a server configured for an SMTP sink, queueing through
//! `Core::queue_email`, reading the outbox, and waiting without sleeping.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clavis_core::model::{OutboxEmail, Page};
use clavis_core::service::lifecycle::EmailKind;
use clavis_server::{Config, LogFormat, Server};
use clavis_testkit::{Backend, SmtpSink, TestServer};
use clavis_types::EmailId;
use serde_json::json;

/// Longest wait for something the worker should do.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// Poll interval of the workers under test.
pub const POLL_MS: u64 = 20;
pub const FROM: &str = "Clavis Test <no-reply@clavis.test>";
/// The link put in queued verification emails.
pub const LINK: &str = "https://id.example/t/default/verify-email/confirm?ticket=abc.DEF_123";

/// A server whose worker delivers to `sink` (STARTTLS verified against the sink's CA).
pub async fn server_for(b: Backend, sink: &SmtpSink, dir: &tempfile::TempDir) -> TestServer {
    let ca = sink.write_ca(dir.path());
    let url = sink.url();
    TestServer::start_with(b, |c| {
        c.smtp_url = Some(url);
        c.email_from = Some(FROM.to_owned());
        c.smtp_ca_file = Some(ca);
        c.smtp_poll_interval_ms = POLL_MS;
        c.smtp_timeout_secs = 10;
    })
    .await
}

/// A second node of `s`: same database, master key, public URL and SMTP settings; its own
/// clock (set to `s`'s time). Returns its stop handle and task.
pub async fn second_node(
    s: &TestServer,
    sink: &SmtpSink,
    dir: &tempfile::TempDir,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let data = dir.path().join("node2");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = Config {
        data_dir: PathBuf::from(&data),
        database_url: Some(s.db.url.clone()),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: Some(s.base_url.clone()),
        master_key: Some(s.db.master_key_b64.clone()),
        log_format: LogFormat::Json,
        log_level: "warn".to_owned(),
        smtp_url: Some(sink.url()),
        email_from: Some(FROM.to_owned()),
        smtp_ca_file: Some(sink.write_ca(dir.path())),
        smtp_poll_interval_ms: POLL_MS,
        smtp_timeout_secs: 10,
        ..Config::default()
    };
    let clock = Arc::new(clavis_types::ManualClock::new(s.core.now()));
    let server = Server::build_with_clock(cfg, clock).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = server
            .run(async {
                let _ = rx.await;
            })
            .await;
    });
    (tx, handle)
}

/// Queue a verification email to `to` in the `default` tenant; returns its id.
pub async fn queue(s: &TestServer, to: &str, link: &str) -> EmailId {
    let tenant = s.fixtures("default").tenant().await;
    let mut tx = s.core.store.begin().await.unwrap();
    s.core
        .queue_email(
            &mut *tx,
            &tenant,
            EmailKind::VerifyEmail,
            to,
            "en",
            json!({"link": link, "code": "482913", "expires_minutes": 1440}),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mine = outbox(s, Some(to)).await;
    mine.first().expect("the queued message").id.clone()
}

/// The `default` tenant's outbox, newest first (to `to` only, when given).
pub async fn outbox(s: &TestServer, to: Option<&str>) -> Vec<OutboxEmail> {
    let tenant = s.fixtures("default").tenant().await;
    let mut tx = s.core.store.read().await.unwrap();
    tx.outbox_list(&tenant.id, to, Page::new(0, 100))
        .await
        .unwrap()
}

/// One message of the `default` tenant's outbox.
pub async fn row(s: &TestServer, id: &EmailId) -> OutboxEmail {
    let tenant = s.fixtures("default").tenant().await;
    let mut tx = s.core.store.read().await.unwrap();
    tx.outbox_get(&tenant.id, id).await.unwrap().expect("row")
}

/// Wait (polling every 20 ms, at most [`PATIENCE`]) until `check` holds.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        tick.tick().await;
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
    }
}

/// Wait until the message has been tried `attempts` times and recorded; returns it.
pub async fn wait_attempts(s: &TestServer, id: &EmailId, attempts: i64) -> OutboxEmail {
    wait_until(&format!("{attempts} attempt(s) recorded"), || async {
        row(s, id).await.attempts >= attempts
    })
    .await;
    row(s, id).await
}

/// Let the workers run for `polls` poll intervals (to show that nothing happens).
pub async fn idle(polls: u32) {
    let mut tick = tokio::time::interval(Duration::from_millis(POLL_MS));
    for _ in 0..=polls {
        tick.tick().await;
    }
}

/// A `clavis_email_deliveries_total` value from `/metrics`.
pub async fn delivered(s: &TestServer, outcome: &str) -> u64 {
    let m = s.client.metrics().await;
    let prefix = format!("clavis_email_deliveries_total{{outcome=\"{outcome}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {m}"))
}
