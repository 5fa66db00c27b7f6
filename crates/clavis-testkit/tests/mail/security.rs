//! Adversarial mail tests: the SMTP password never appears in `Debug` output, configuration
//! errors, the outbox's `last_error` or the logs; an SMTP server whose certificate is not
//! trusted gets nothing (not even the AUTH exchange); and a server that does not offer
//! STARTTLS (as an attacker stripping it would make it look) gets no password and no mail.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use clavis_core::model::EmailState;
use clavis_server::{Config, Server};
use clavis_testkit::{Backend, SinkOptions, SmtpSink, TestServer};

use crate::support::{FROM, LINK, PATIENCE, POLL_MS, idle, queue, row, wait_attempts, wait_until};

const WRONG: &str = "Wr0ng-but-s3cret-pw";

/// Everything logged in this process (the subscriber is global; each test binary run by
/// nextest is its own process, and only this module installs one).
fn captured_logs() -> Option<Arc<Mutex<Vec<u8>>>> {
    static LOGS: OnceLock<Option<Arc<Mutex<Vec<u8>>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let installed = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
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

pub(crate) async fn the_smtp_password_never_shows(b: Backend) {
    let logs = captured_logs();
    let sink = SmtpSink::secure().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = sink.write_ca(dir.path());
    let url = format!("smtp://clavis:{WRONG}@{}", sink.addr());
    // Debug output of the configuration.
    let cfg = Config {
        smtp_url: Some(url.clone()),
        email_from: Some(FROM.to_owned()),
        ..Config::default()
    };
    let debug = format!("{cfg:?}");
    assert!(
        !debug.contains(WRONG) && debug.contains("**redacted**"),
        "{debug}"
    );
    // A configuration refused at start does not repeat the URL.
    let refused = Server::build(Config {
        smtp_url: Some(format!(
            "smtp://clavis:{WRONG}@mail.example.com:25?tls=none"
        )),
        data_dir: dir.path().join("refused"),
        ..cfg.clone()
    })
    .await
    .err()
    .expect("plain text to a remote host is refused");
    let shown = format!("{refused} {refused:?}");
    assert!(
        shown.contains("smtp_url") && shown.contains("loopback"),
        "{shown}"
    );
    assert!(!shown.contains(WRONG), "{shown}");
    // The server refuses the password: the error is kept, the password is not.
    let s = TestServer::start_with(b, |c| {
        c.smtp_url = Some(url);
        c.email_from = Some(FROM.to_owned());
        c.smtp_ca_file = Some(ca);
        c.smtp_poll_interval_ms = POLL_MS;
    })
    .await;
    let id = queue(&s, "erin@example.com", LINK).await;
    let r = wait_attempts(&s, &id, 1).await;
    let error = r.last_error.clone().unwrap();
    assert!(error.contains("535"), "{error}");
    assert!(!error.contains(WRONG), "{error}");
    assert_eq!(r.state, EmailState::Pending);
    assert!(sink.messages().is_empty());
    assert!(
        sink.transcript()
            .iter()
            .any(|l| l == "AUTH as clavis over TLS")
    );
    if let Some(logs) = logs {
        let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert!(text.contains("email delivery failed"), "{text}");
        assert!(!text.contains(WRONG), "the password was logged");
    }
}

pub(crate) async fn an_untrusted_certificate_is_refused(b: Backend) {
    let sink = SmtpSink::secure().await;
    let url = sink.url();
    // No `smtp_ca_file`: the sink's throwaway CA is not trusted.
    let s = TestServer::start_with(b, |c| {
        c.smtp_url = Some(url);
        c.email_from = Some(FROM.to_owned());
        c.smtp_poll_interval_ms = POLL_MS;
    })
    .await;
    let id = queue(&s, "frank@example.com", LINK).await;
    let r = wait_attempts(&s, &id, 1).await;
    assert_eq!(r.state, EmailState::Pending);
    assert!(r.last_error.is_some());
    assert_eq!(sink.attempts(), 0);
    assert!(
        !sink.transcript().iter().any(|l| l.starts_with("AUTH")),
        "credentials went to an unverified server: {:?}",
        sink.transcript()
    );
}

pub(crate) async fn starttls_cannot_be_stripped(b: Backend) {
    // A server (or an attacker in the path) that does not offer STARTTLS.
    let sink = SmtpSink::start(SinkOptions {
        starttls: false,
        credentials: Some(("clavis".to_owned(), "pw".to_owned())),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("smtp://clavis:pw@{}", sink.addr());
    let ca = sink.write_ca(dir.path());
    let s = TestServer::start_with(b, |c| {
        c.smtp_url = Some(url);
        c.email_from = Some(FROM.to_owned());
        c.smtp_ca_file = Some(ca);
        c.smtp_poll_interval_ms = POLL_MS;
    })
    .await;
    let id = queue(&s, "grace@example.com", LINK).await;
    let r = wait_attempts(&s, &id, 1).await;
    assert_eq!(r.state, EmailState::Pending);
    idle(5).await;
    let t = sink.transcript();
    assert!(t.iter().any(|l| l.starts_with("EHLO")), "{t:?}");
    assert!(
        !t.iter()
            .any(|l| l.starts_with("AUTH") || l.starts_with("MAIL")),
        "{t:?}"
    );
    assert_eq!(sink.attempts(), 0);
    // The same sink is reachable once the operator explicitly allows plain text to it.
    let plain = format!("smtp://clavis:pw@{}?tls=none", sink.addr());
    let s2 = server_for_plain(b, &plain).await;
    let id = queue(&s2, "heidi@example.com", LINK).await;
    let got = sink.wait_for(1, PATIENCE).await;
    assert!(!got[0].tls && got[0].auth_user.as_deref() == Some("clavis"));
    wait_until("sent", || async {
        row(&s2, &id).await.state == EmailState::Sent
    })
    .await;
    drop(s);
}

async fn server_for_plain(b: Backend, url: &str) -> TestServer {
    let url = url.to_owned();
    TestServer::start_with(b, |c| {
        c.smtp_url = Some(url);
        c.email_from = Some(FROM.to_owned());
        c.smtp_poll_interval_ms = POLL_MS;
    })
    .await
}
