//! Password attempts are counted before the password is checked: concurrent wrong
//! attempts on one address get at most `failed_logins_per_hour` checks (the rest are
//! refused as locked, unchecked), and a password change checks the current password under
//! the same count and lock as a login (refused with 429 + `Retry-After` on the page).

use clavis_core::oauth::LoginError;
use clavis_core::service::lifecycle::ChangePasswordError;
use clavis_testkit::{Backend, TestServer};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::{EMAIL, IP, PASSWORD, align, events, fail_times, locked_for, login, meta, outbox};

/// A new password the default policy accepts.
const NEW_PASSWORD: &str = "violet-kettle-harbour-93";

/// How many `user.login.failure` events give `reason`.
fn with_reason(events: &[Value], reason: &str) -> usize {
    events
        .iter()
        .filter(|e| e["context"]["reason"] == reason)
        .count()
}

pub(crate) async fn parallel_attempts_get_at_most_the_limit_of_checks(b: Backend) {
    const ATTEMPTS: usize = 20;
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let t = fx.tenant().await;
    let limit = usize::try_from(t.settings.attack_protection.failed_logins_per_hour).unwrap();
    // Well inside one hourly window.
    align(&[&s.clock], 3_600, 60);

    // Twenty wrong passwords at once, as many clients would send them.
    let mut attempts = JoinSet::new();
    for _ in 0..ATTEMPTS {
        let (core, t) = (s.core.clone(), t.clone());
        attempts.spawn(async move {
            let m = meta(Some(IP), Some("parallel"));
            core.password_login(&t, EMAIL, "not the password", &m).await
        });
    }
    let answers = attempts.join_all().await;
    let wrong = answers
        .iter()
        .filter(|r| matches!(r, Err(LoginError::WrongCredentials)))
        .count();
    let locked = answers
        .iter()
        .filter(|r| matches!(r, Err(LoginError::Locked { .. })))
        .count();
    assert_eq!(wrong + locked, ATTEMPTS, "{answers:?}");
    // Exactly `limit` passwords were checked (each attempt up to the limit is), the
    // others were refused unchecked.
    assert_eq!(wrong, limit, "{answers:?}");
    let failures = events(&s.core, &t, &["user.login.failure"]).await;
    assert_eq!(failures.len(), ATTEMPTS);
    assert_eq!(with_reason(&failures, "wrong password"), limit);
    assert_eq!(with_reason(&failures, "account locked"), ATTEMPTS - limit);

    // The address is locked: the right password is refused, on a later request too.
    assert_eq!(
        locked_for(login(&s.core, &t, EMAIL, PASSWORD, &meta(Some(IP), None)).await),
        900
    );
    // At least one lock, never more than the attempts over the limit (each lock emails).
    let locks = events(&s.core, &t, &["user.locked"]).await.len();
    assert!((1..=ATTEMPTS - limit).contains(&locks), "{locks} locks");
    let mails = outbox(&s.core, &t, EMAIL).await;
    assert_eq!(mails.len(), locks, "{mails:?}");
    // The lock ends; the count starts afresh.
    s.clock.advance_secs(900);
    fail_times(&s.core, &t, EMAIL, limit - 1, &meta(Some(IP), None)).await;
    login(&s.core, &t, EMAIL, PASSWORD, &meta(Some(IP), None))
        .await
        .unwrap();
}

pub(crate) async fn unknown_addresses_are_counted_before_the_check_too(b: Backend) {
    let s = TestServer::start(b).await;
    let t = s.fixtures("default").tenant().await;
    align(&[&s.clock], 3_600, 60);
    let mut attempts = JoinSet::new();
    for _ in 0..12 {
        let (core, t) = (s.core.clone(), t.clone());
        attempts.spawn(async move {
            let m = meta(Some(IP), None);
            core.password_login(&t, "nobody@example.com", "guess", &m)
                .await
        });
    }
    let answers = attempts.join_all().await;
    let wrong = answers
        .iter()
        .filter(|r| matches!(r, Err(LoginError::WrongCredentials)))
        .count();
    assert_eq!(wrong, 5, "{answers:?}");
    let failures = events(&s.core, &t, &["user.login.failure"]).await;
    assert_eq!(with_reason(&failures, "unknown email"), 5);
    assert_eq!(with_reason(&failures, "account locked"), 7);
    let r = login(
        &s.core,
        &t,
        "nobody@example.com",
        "guess",
        &meta(None, None),
    )
    .await;
    assert_eq!(locked_for(r), 900);
}

pub(crate) async fn changing_a_password_is_under_the_lockout(b: Backend) {
    let s = TestServer::start(b).await;
    let fx = s.fixtures("default");
    fx.user(EMAIL, PASSWORD).await;
    let t = fx.tenant().await;
    align(&[&s.clock], 3_600, 60);
    let m = meta(Some(IP), Some("agent"));
    let (session, cookie, user) = login(&s.core, &t, EMAIL, PASSWORD, &m).await.unwrap();
    let change = async |current: &str, new: &str| {
        s.core
            .change_password(&t, &session, &user, current, new, "en", &m)
            .await
    };

    // Wrong current passwords count with failed logins: 3 + 1 + 1 lock the address.
    for _ in 0..3 {
        let r = change("not the password", NEW_PASSWORD).await;
        assert!(matches!(r, Err(ChangePasswordError::WrongCurrent)), "{r:?}");
    }
    fail_times(&s.core, &t, EMAIL, 1, &m).await;
    let r = change(&"x".repeat(10_000), NEW_PASSWORD).await;
    assert!(matches!(r, Err(ChangePasswordError::WrongCurrent)), "{r:?}");
    assert_eq!(
        locked_for(login(&s.core, &t, EMAIL, PASSWORD, &m).await),
        900
    );
    let mails = outbox(&s.core, &t, EMAIL).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].template, "blocked_account");

    // Locked: even the right current password is refused, unchecked.
    match change(PASSWORD, NEW_PASSWORD).await {
        Err(ChangePasswordError::Locked { retry_after_secs }) => {
            assert_eq!(retry_after_secs, 900);
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    // The page answers 429 with Retry-After.
    let mut br = s.browser();
    br.cookies
        .insert("clavis_session".to_owned(), cookie.clone());
    let page = match br.navigate("/t/default/password/change").await {
        clavis_testkit::Landing::Page(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = clavis_testkit::hidden(&page.body, "csrf");
    let refused = match br
        .submit(
            "/t/default/password/change",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await
    {
        clavis_testkit::Landing::Page(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused.status, 429, "{}", refused.body);
    let wait: i64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");

    // Once the lock ends the change works, and forgets the address's attempts: after 3
    // wrong tries and a change, 4 failed logins do not lock.
    s.clock.advance_secs(900);
    for _ in 0..3 {
        let r = change("not the password", NEW_PASSWORD).await;
        assert!(matches!(r, Err(ChangePasswordError::WrongCurrent)), "{r:?}");
    }
    change(PASSWORD, NEW_PASSWORD).await.unwrap();
    fail_times(&s.core, &t, EMAIL, 4, &m).await;
    login(&s.core, &t, EMAIL, NEW_PASSWORD, &m).await.unwrap();
    assert_eq!(events(&s.core, &t, &["user.locked"]).await.len(), 1);
    assert_eq!(
        events(&s.core, &t, &["user.password_changed"]).await[0]["actor"]["user_id"],
        user.id.as_str()
    );
}
