//! Email delivery end to end, against a real SMTP server (the testkit's sink) on SQLite and
//! PostgreSQL: a message queued by `Core::queue_email` is delivered over STARTTLS with AUTH
//! (headers, both parts, the content) and its outbox row becomes `sent` with the bodies
//! emptied; a `451` is retried after the backoff (the `ManualClock` moves time) and then
//! delivered; six failures give up (`failed`); without `smtp_url` nothing is sent and
//! messages stay `stored`; two servers on one database never send a message twice; the
//! 30-day retention; and (in `security`) the SMTP password never shows, certificates are
//! verified and STARTTLS cannot be stripped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod security;
mod support;

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use clavis_core::model::{EmailState, OutboxEmail};
use clavis_core::service::lifecycle::EmailKind;
use clavis_testkit::{Backend, SmtpSink, TestServer};
use clavis_types::EmailId;
use security::{
    an_untrusted_certificate_is_refused, starttls_cannot_be_stripped, the_smtp_password_never_shows,
};
use serde_json::json;
use support::{
    LINK, PATIENCE, delivered, idle, outbox, queue, row, second_node, server_for, wait_attempts,
    wait_until,
};

clavis_testkit::on_both!(
    delivered_over_starttls_with_auth,
    a_temporary_failure_is_retried_later,
    six_failures_give_up,
    without_smtp_messages_stay_in_the_outbox,
    two_workers_never_send_a_message_twice,
    old_messages_are_purged,
    the_smtp_password_never_shows,
    an_untrusted_certificate_is_refused,
    starttls_cannot_be_stripped,
);

async fn delivered_over_starttls_with_auth(b: Backend) {
    let sink = SmtpSink::secure().await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(b, &sink, &dir).await;
    assert!(s.core.smtp_enabled.load(Ordering::Relaxed));
    let id = queue(&s, "alice@example.com", LINK).await;
    let queued = row(&s, &id).await;
    assert_eq!(queued.template, "verify_email");
    let got = sink.wait_for(1, PATIENCE).await;
    let m = &got[0];
    assert!(m.tls, "delivered over STARTTLS");
    assert_eq!(m.auth_user.as_deref(), Some("clavis"));
    assert!(
        sink.transcript()
            .iter()
            .any(|l| l == "AUTH as clavis over TLS")
    );
    assert_eq!(m.mail_from, "no-reply@clavis.test");
    assert_eq!(m.rcpt_to, ["alice@example.com"]);
    let from = m.header("From").unwrap();
    assert!(
        from.contains("Clavis Test") && from.contains("<no-reply@clavis.test>"),
        "{from}"
    );
    assert_eq!(m.header("To").unwrap(), "alice@example.com");
    assert_eq!(m.header("Subject").unwrap(), queued.subject);
    assert_eq!(
        m.header("Message-ID").unwrap(),
        format!("<{id}@clavis.test>")
    );
    assert!(m.header("Date").is_some_and(|d| !d.is_empty()));
    assert!(
        m.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    let text = m.text_part().expect("text part");
    assert!(
        text.contains(LINK) && text.contains("482913") && text.contains("alice@example.com"),
        "{text}"
    );
    let html = m.html_part().expect("HTML part");
    assert!(
        html.contains("482913") && html.contains("abc.DEF_123") && html.contains("<html"),
        "{html}"
    );
    assert!(!html.contains("{{"), "{html}");
    wait_until("the row marked sent", || async {
        row(&s, &id).await.state == EmailState::Sent
    })
    .await;
    let r = row(&s, &id).await;
    assert_eq!((r.attempts, r.last_error.as_deref()), (1, None));
    assert_eq!(r.sent_at, Some(s.core.now()));
    assert!(
        r.text_body.is_empty() && r.html_body.is_empty(),
        "bodies kept"
    );
    assert_eq!(r.subject, queued.subject);
    assert_eq!(delivered(&s, "sent").await, 1);
    assert_eq!(sink.attempts(), 1);
}

async fn a_temporary_failure_is_retried_later(b: Backend) {
    let sink = SmtpSink::secure().await;
    sink.fail_next(1);
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(b, &sink, &dir).await;
    let id = queue(&s, "bob@example.com", LINK).await;
    let r = wait_attempts(&s, &id, 1).await;
    assert_eq!(r.state, EmailState::Pending);
    assert!(r.last_error.as_deref().unwrap().contains("451"), "{r:?}");
    assert_eq!(r.next_attempt_at, s.core.now().plus_secs(60));
    assert!(!r.text_body.is_empty(), "bodies kept for the retry");
    // Not before the minute is up.
    idle(10).await;
    s.clock.advance_secs(59);
    idle(10).await;
    assert_eq!((sink.attempts(), sink.messages().len()), (1, 0));
    s.clock.advance_secs(1);
    let got = sink.wait_for(1, PATIENCE).await;
    assert_eq!(
        got[0].header("Message-ID").unwrap(),
        format!("<{id}@clavis.test>")
    );
    wait_until("the row marked sent", || async {
        row(&s, &id).await.state == EmailState::Sent
    })
    .await;
    let r = row(&s, &id).await;
    assert_eq!((r.attempts, r.last_error), (2, None));
    assert_eq!(delivered(&s, "retry").await, 1);
    assert_eq!(delivered(&s, "sent").await, 1);
    assert_eq!(sink.attempts(), 2);
}

async fn six_failures_give_up(b: Backend) {
    let sink = SmtpSink::secure().await;
    sink.fail_next(1_000);
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(b, &sink, &dir).await;
    let id = queue(&s, "carol@example.com", LINK).await;
    for (i, wait) in [60, 300, 1_800, 7_200, 21_600].into_iter().enumerate() {
        let attempts = i64::try_from(i).unwrap() + 1;
        let r = wait_attempts(&s, &id, attempts).await;
        assert_eq!((r.state, r.attempts), (EmailState::Pending, attempts));
        assert_eq!(r.next_attempt_at, s.core.now().plus_secs(wait));
        assert_eq!(i64::from(sink.attempts()), attempts);
        s.clock.advance_secs(wait);
    }
    let r = wait_attempts(&s, &id, 6).await;
    assert_eq!((r.state, r.attempts), (EmailState::Failed, 6));
    assert!(r.last_error.as_deref().unwrap().contains("451"), "{r:?}");
    assert!(
        r.text_body.is_empty() && r.html_body.is_empty(),
        "bodies kept"
    );
    s.clock.advance_secs(2 * 86_400);
    idle(10).await;
    assert_eq!(sink.attempts(), 6, "a failed message is never tried again");
    assert_eq!(row(&s, &id).await.state, EmailState::Failed);
    assert_eq!(delivered(&s, "retry").await, 5);
    assert_eq!(delivered(&s, "failed").await, 1);
    assert_eq!(delivered(&s, "sent").await, 0);
}

async fn without_smtp_messages_stay_in_the_outbox(b: Backend) {
    let sink = SmtpSink::secure().await;
    let s = TestServer::start(b).await;
    assert!(!s.core.smtp_enabled.load(Ordering::Relaxed));
    let id = queue(&s, "dave@example.com", LINK).await;
    let r = row(&s, &id).await;
    assert_eq!((r.state, r.attempts), (EmailState::Stored, 0));
    assert!(
        r.text_body.contains(LINK),
        "the development outbox keeps the body"
    );
    s.clock.advance_secs(3_600);
    idle(10).await;
    let r = row(&s, &id).await;
    assert_eq!(
        (r.state, r.attempts, r.sent_at),
        (EmailState::Stored, 0, None)
    );
    assert_eq!(sink.attempts(), 0);
    assert!(sink.transcript().is_empty());
    assert_eq!(delivered(&s, "sent").await, 0);
}

async fn two_workers_never_send_a_message_twice(b: Backend) {
    const N: usize = 30;
    let sink = SmtpSink::secure().await;
    let dir = tempfile::tempdir().unwrap();
    let s = server_for(b, &sink, &dir).await;
    let (stop, handle) = second_node(&s, &sink, &dir).await;
    // One transaction: both workers find all of them due at once.
    let tenant = s.fixtures("default").tenant().await;
    let mut tx = s.core.store.begin().await.unwrap();
    for i in 0..N {
        s.core
            .queue_email(
                &mut *tx,
                &tenant,
                EmailKind::VerifyEmail,
                &format!("user{i}@example.com"),
                "en",
                json!({"link": LINK, "code": "482913", "expires_minutes": 1440}),
            )
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    sink.wait_for(N, PATIENCE).await;
    wait_until("every row marked sent", || async {
        let all = outbox(&s, None).await;
        all.len() == N && all.iter().all(|e| e.state == EmailState::Sent)
    })
    .await;
    idle(20).await;
    let got = sink.messages();
    assert_eq!(got.len(), N, "a message was sent twice");
    assert_eq!(usize::try_from(sink.attempts()).unwrap(), N);
    let ids: HashSet<String> = got
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    let to: HashSet<String> = got.iter().map(|m| m.rcpt_to[0].clone()).collect();
    assert_eq!((ids.len(), to.len()), (N, N));
    assert!(
        outbox(&s, None).await.iter().all(|e| e.attempts == 1),
        "each message was tried once"
    );
    let _ = stop.send(());
    handle.await.unwrap();
}

async fn old_messages_are_purged(b: Backend) {
    let s = TestServer::start(b).await;
    let tenant = s.fixtures("default").tenant().await;
    let now = s.core.now();
    let message = |days: i64, state: EmailState| OutboxEmail {
        tenant_id: tenant.id.clone(),
        id: EmailId::generate(now.plus_secs(-days * 86_400), &*s.core.rng),
        to_address: format!("d{days}@example.com"),
        template: "verify_email".to_owned(),
        subject: "s".to_owned(),
        text_body: "t".to_owned(),
        html_body: "h".to_owned(),
        state,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now.plus_secs(-days * 86_400),
        sent_at: None,
    };
    let mut tx = s.core.store.begin().await.unwrap();
    for (days, state) in [
        (31, EmailState::Stored),
        (45, EmailState::Sent),
        (29, EmailState::Stored),
        (0, EmailState::Failed),
    ] {
        tx.outbox_insert(&message(days, state)).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(clavis_server::purge_outbox(&s.core).await.unwrap(), 2);
    let left: HashSet<String> = outbox(&s, None)
        .await
        .into_iter()
        .map(|e| e.to_address)
        .collect();
    assert_eq!(
        left,
        HashSet::from(["d29@example.com".to_owned(), "d0@example.com".to_owned()])
    );
    assert_eq!(clavis_server::purge_outbox(&s.core).await.unwrap(), 0);
}
