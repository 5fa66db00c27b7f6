//! Password reset by link and change while logged in.

use clavis_core::service::lifecycle::{
    ChangePasswordError, PasswordProblem, RESET_TICKET_SECS, ResetError,
};
use clavis_testkit::Backend;

use crate::{GOOD, all_events_text, events, last_email, meta, outbox, signup_ok, start, ticket_in};

/// The `i`th password of a user's history (all acceptable to the default policy).
fn pw(i: u32) -> String {
    format!("Qz{i}!mK8-vRt{i}x")
}

pub async fn reset_flow_revokes_sessions_and_refuses_the_last_five_passwords(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    let (_, cookie_a, ada) = signup_ok(&s.core, &t, "ada@example.com", "en").await;
    let (_, cookie_b, _) = s
        .core
        .password_login(&t, "ada@example.com", GOOD, &m)
        .await
        .unwrap();

    s.core
        .request_password_reset(&t, "ADA@example.com", "en", &m)
        .await
        .unwrap();
    let mail = last_email(&s.core, &t, "ada@example.com", "reset_email").await;
    assert_eq!(mail.subject, "Reset your Default password");
    assert!(
        mail.text_body
            .contains(&format!("{}/t/default/password/reset?ticket=", s.base_url))
    );
    assert!(mail.text_body.contains("15 minutes"), "{}", mail.text_body);
    assert!(mail.text_body.contains(crate::IP));
    let ticket = ticket_in(&mail.text_body);
    let owner = s
        .core
        .reset_ticket_user(&t, &ticket)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.id, ada.id);

    // Refused passwords leave the link usable.
    let r = s
        .core
        .reset_password(&t, &ticket, "password1", "en", &m)
        .await;
    assert!(
        matches!(&r, Err(ResetError::Password(p)) if p.contains(&PasswordProblem::Common)),
        "{r:?}"
    );
    let r = s.core.reset_password(&t, &ticket, GOOD, "en", &m).await;
    assert!(
        matches!(&r, Err(ResetError::Password(p)) if p == &vec![PasswordProblem::Reused]),
        "{r:?}"
    );

    s.clock.advance_secs(60);
    let user = s
        .core
        .reset_password(&t, &ticket, &pw(1), "en", &m)
        .await
        .unwrap();
    assert!(user.email_verified, "the link proved the address");
    // Every session ended; the new password works, the old one does not.
    for cookie in [&cookie_a, &cookie_b] {
        assert!(
            s.core
                .session_from_cookie(&t, cookie)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        s.core
            .password_login(&t, "ada@example.com", GOOD, &m)
            .await
            .is_err()
    );
    s.core
        .password_login(&t, "ada@example.com", &pw(1), &m)
        .await
        .unwrap();
    let changed = last_email(&s.core, &t, "ada@example.com", "password_changed").await;
    assert!(changed.text_body.contains("/t/default/password/forgot"));
    let e = events(&s.core, &t, &["user.password_reset"]).await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["context"]["sessions_revoked"], 2);
    assert_eq!(e[0]["context"]["email_verified_now"], true);
    assert_eq!(
        events(&s.core, &t, &["user.password_reset.requested"])
            .await
            .len(),
        1
    );
    // Single use.
    assert!(matches!(
        s.core.reset_password(&t, &ticket, &pw(9), "en", &m).await,
        Err(ResetError::InvalidTicket)
    ));
    assert!(
        s.core
            .reset_ticket_user(&t, &ticket)
            .await
            .unwrap()
            .is_none()
    );

    // Four more passwords by change: the history now holds pw(1)..pw(5). (The clock
    // moves between changes, as it does between real ones: the history is ordered by time.)
    for i in 2..=5 {
        s.clock.advance_secs(60);
        let (session, _, user) = s
            .core
            .password_login(&t, "ada@example.com", &pw(i - 1), &m)
            .await
            .unwrap();
        s.core
            .change_password(&t, &session, &user, &pw(i - 1), &pw(i), "en", &m)
            .await
            .unwrap();
    }
    let (session, _, user) = s
        .core
        .password_login(&t, "ada@example.com", &pw(5), &m)
        .await
        .unwrap();
    for old in 1..=5 {
        let r = s
            .core
            .change_password(&t, &session, &user, &pw(5), &pw(old), "en", &m)
            .await;
        assert!(
            matches!(&r, Err(ChangePasswordError::Password(p)) if p == &vec![PasswordProblem::Reused]),
            "pw({old}): {r:?}"
        );
    }
    s.core
        .request_password_reset(&t, "ada@example.com", "en", &m)
        .await
        .unwrap();
    let ticket = ticket_in(
        &last_email(&s.core, &t, "ada@example.com", "reset_email")
            .await
            .text_body,
    );
    let r = s.core.reset_password(&t, &ticket, &pw(3), "en", &m).await;
    assert!(
        matches!(&r, Err(ResetError::Password(p)) if p == &vec![PasswordProblem::Reused]),
        "{r:?}"
    );
    // The sixth password back has left the history.
    s.core
        .reset_password(&t, &ticket, GOOD, "en", &m)
        .await
        .unwrap();
    s.core
        .password_login(&t, "ada@example.com", GOOD, &m)
        .await
        .unwrap();

    let all = all_events_text(&s.core, &t).await;
    for secret in [GOOD.to_owned(), pw(1), pw(3), ticket] {
        assert!(!all.contains(&secret), "{secret} leaked into the audit log");
    }
    assert!(!all.contains("$argon2"), "a hash leaked into the audit log");
}

pub async fn reset_links_are_single_use_expire_and_reveal_nothing(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    // Unknown and malformed addresses: the same answer, nothing sent or recorded.
    s.core
        .request_password_reset(&t, "nobody@example.com", "en", &m)
        .await
        .unwrap();
    s.core
        .request_password_reset(&t, "not an address", "en", &m)
        .await
        .unwrap();
    assert!(outbox(&s.core, &t, "nobody@example.com").await.is_empty());
    assert!(
        events(&s.core, &t, &["user.password_reset.requested"])
            .await
            .is_empty()
    );

    let ada = s.fixtures("default").user("ada@example.com", GOOD).await;
    s.core
        .request_password_reset(&t, "ada@example.com", "fr", &m)
        .await
        .unwrap();
    let first = last_email(&s.core, &t, "ada@example.com", "reset_email").await;
    assert!(
        first.subject.starts_with("Réinitialisez"),
        "{}",
        first.subject
    );
    let first = ticket_in(&first.text_body);
    // A newer request replaces the older link.
    s.clock.advance_secs(1);
    s.core
        .request_password_reset(&t, "ada@example.com", "en", &m)
        .await
        .unwrap();
    assert!(
        s.core
            .reset_ticket_user(&t, &first)
            .await
            .unwrap()
            .is_none()
    );
    let second = ticket_in(
        &last_email(&s.core, &t, "ada@example.com", "reset_email")
            .await
            .text_body,
    );
    // Another tenant cannot use it.
    let other = s.fixtures("other").tenant().await;
    assert!(
        s.core
            .reset_ticket_user(&other, &second)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.core
            .reset_password(&other, &second, &pw(1), "en", &m)
            .await,
        Err(ResetError::InvalidTicket)
    ));
    // Fifteen minutes later it has expired.
    s.clock.advance_secs(RESET_TICKET_SECS + 1);
    assert!(
        s.core
            .reset_ticket_user(&t, &second)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.core.reset_password(&t, &second, &pw(1), "en", &m).await,
        Err(ResetError::InvalidTicket)
    ));
    for bad in ["", "x", "../../etc/passwd", &"B".repeat(1000)] {
        assert!(matches!(
            s.core.reset_password(&t, bad, &pw(1), "en", &m).await,
            Err(ResetError::InvalidTicket)
        ));
    }
    // Three reset emails an hour per account; the fourth request sends nothing.
    s.core
        .request_password_reset(&t, "ada@example.com", "en", &m)
        .await
        .unwrap();
    s.core
        .request_password_reset(&t, "ada@example.com", "en", &m)
        .await
        .unwrap();
    let resets = |v: Vec<clavis_core::model::OutboxEmail>| {
        v.into_iter()
            .filter(|e| e.template == "reset_email")
            .count()
    };
    assert_eq!(resets(outbox(&s.core, &t, "ada@example.com").await), 3);
    s.clock.advance_secs(3_601);

    // A locked account: a reset proves the owner and lifts the lock.
    for _ in 0..t.settings.attack_protection.failed_logins_per_hour {
        assert!(
            s.core
                .password_login(&t, "ada@example.com", "wrong", &m)
                .await
                .is_err()
        );
    }
    assert!(
        s.core
            .password_login(&t, "ada@example.com", GOOD, &m)
            .await
            .is_err(),
        "locked"
    );
    s.core
        .request_password_reset(&t, "ada@example.com", "en", &m)
        .await
        .unwrap();
    let ticket = ticket_in(
        &last_email(&s.core, &t, "ada@example.com", "reset_email")
            .await
            .text_body,
    );
    let user = s
        .core
        .reset_password(&t, &ticket, &pw(1), "en", &m)
        .await
        .unwrap();
    assert_eq!(user.id, ada.id);
    s.core
        .password_login(&t, "ada@example.com", &pw(1), &m)
        .await
        .unwrap();
    let e = events(&s.core, &t, &["user.password_reset"]).await;
    assert_eq!(e[0]["context"]["unlocked"], true);
}

pub async fn change_password_checks_the_current_one_and_keeps_this_session(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    let (session_a, cookie_a, ada) = signup_ok(&s.core, &t, "ada@example.com", "en").await;
    let (_, cookie_b, _) = s
        .core
        .password_login(&t, "ada@example.com", GOOD, &m)
        .await
        .unwrap();
    s.core
        .request_password_reset(&t, "ada@example.com", "en", &m)
        .await
        .unwrap();
    let ticket = ticket_in(
        &last_email(&s.core, &t, "ada@example.com", "reset_email")
            .await
            .text_body,
    );

    let change = |current: String, new: String| {
        let (core, t, session, ada, m) = (
            s.core.clone(),
            t.clone(),
            session_a.clone(),
            ada.clone(),
            m.clone(),
        );
        async move {
            core.change_password(&t, &session, &ada, &current, &new, "en", &m)
                .await
        }
    };
    assert!(matches!(
        change("not it".into(), pw(1)).await,
        Err(ChangePasswordError::WrongCurrent)
    ));
    assert!(matches!(
        change("x".repeat(10_000), pw(1)).await,
        Err(ChangePasswordError::WrongCurrent)
    ));
    let r = change(GOOD.into(), "ada-example".into()).await;
    assert!(
        matches!(&r, Err(ChangePasswordError::Password(p)) if p.contains(&PasswordProblem::ContainsPersonalInfo)),
        "{r:?}"
    );
    let r = change(GOOD.into(), "y".repeat(300)).await;
    assert!(
        matches!(&r, Err(ChangePasswordError::Password(p)) if p == &vec![PasswordProblem::TooLong])
    );
    change(GOOD.into(), pw(1)).await.unwrap();
    // This session stays; the other one ends; an earlier reset link is void.
    assert!(
        s.core
            .session_from_cookie(&t, &cookie_a)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.core
            .session_from_cookie(&t, &cookie_b)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.core
            .reset_ticket_user(&t, &ticket)
            .await
            .unwrap()
            .is_none()
    );
    s.core
        .password_login(&t, "ada@example.com", &pw(1), &m)
        .await
        .unwrap();
    last_email(&s.core, &t, "ada@example.com", "password_changed").await;
    let e = events(&s.core, &t, &["user.password_changed"]).await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["context"]["other_sessions_revoked"], 1);
    assert_eq!(e[0]["context"]["session_id"], session_a.id.as_str());
    let all = all_events_text(&s.core, &t).await;
    assert!(!all.contains(&pw(1)) && !all.contains(GOOD));
}
