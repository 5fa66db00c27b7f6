//! Email verification by code and by link.

use clavis_core::service::lifecycle::{MAX_CODE_ATTEMPTS, VERIFY_TICKET_SECS, VerifyError};
use clavis_testkit::Backend;

use crate::{
    all_events_text, code_in, events, last_email, meta, outbox, signup_ok, start, ticket_in,
};

/// A code that is not `code` (same length).
fn other_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

pub async fn code_verifies_once_and_wrong_codes_burn_it(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    let (_, _, ada) = signup_ok(&s.core, &t, "ada@example.com", "en").await;
    let code = code_in(
        &last_email(&s.core, &t, "ada@example.com", "verify_email")
            .await
            .text_body,
    );
    let wrong = other_code(&code);
    for _ in 0..MAX_CODE_ATTEMPTS - 1 {
        assert!(matches!(
            s.core.verify_email_code(&t, &ada, &wrong, &m).await,
            Err(VerifyError::WrongOrExpired)
        ));
    }
    // Spaces inside the code are tolerated.
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let verified = s
        .core
        .verify_email_code(&t, &ada, &spaced, &m)
        .await
        .unwrap();
    assert!(verified.email_verified);
    // Used: the code does not work twice.
    assert!(matches!(
        s.core.verify_email_code(&t, &ada, &code, &m).await,
        Err(VerifyError::WrongOrExpired)
    ));
    let e = events(&s.core, &t, &["user.email_verified"]).await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["context"]["method"], "code");
    assert_eq!(e[0]["context"]["user_id"], ada.id.as_str());

    // Five wrong codes burn the ticket: the right one no longer works.
    let (_, _, bob) = signup_ok(&s.core, &t, "bob@example.com", "en").await;
    let code = code_in(
        &last_email(&s.core, &t, "bob@example.com", "verify_email")
            .await
            .text_body,
    );
    let wrong = other_code(&code);
    for i in 1..=MAX_CODE_ATTEMPTS {
        let r = s.core.verify_email_code(&t, &bob, &wrong, &m).await;
        if i < MAX_CODE_ATTEMPTS {
            assert!(matches!(r, Err(VerifyError::WrongOrExpired)), "{i}: {r:?}");
        } else {
            assert!(matches!(r, Err(VerifyError::TooManyAttempts)), "{i}: {r:?}");
        }
    }
    assert!(s.core.verify_email_code(&t, &bob, &code, &m).await.is_err());
    // …and so does the link of the same email.
    let link = ticket_in(
        &last_email(&s.core, &t, "bob@example.com", "verify_email")
            .await
            .text_body,
    );
    assert!(s.core.verify_email_link(&t, &link, &m).await.is_err());
    // A new email brings a new code that works. (The clock moves so that the newest email
    // is the newest in the outbox.)
    s.clock.advance_secs(1);
    s.core.send_verification(&t, &bob, "en", &m).await.unwrap();
    let fresh = code_in(
        &last_email(&s.core, &t, "bob@example.com", "verify_email")
            .await
            .text_body,
    );
    assert!(
        s.core
            .verify_email_code(&t, &bob, &fresh, &m)
            .await
            .unwrap()
            .email_verified
    );

    // One user's code does not verify another.
    let (_, _, cy) = signup_ok(&s.core, &t, "cy@example.com", "en").await;
    let (_, _, di) = signup_ok(&s.core, &t, "di@example.com", "en").await;
    let cy_code = code_in(
        &last_email(&s.core, &t, "cy@example.com", "verify_email")
            .await
            .text_body,
    );
    let di_code = code_in(
        &last_email(&s.core, &t, "di@example.com", "verify_email")
            .await
            .text_body,
    );
    if cy_code != di_code {
        assert!(
            s.core
                .verify_email_code(&t, &di, &cy_code, &m)
                .await
                .is_err()
        );
    }
    assert!(
        s.core
            .verify_email_code(&t, &cy, &cy_code, &m)
            .await
            .is_ok()
    );
    let all = all_events_text(&s.core, &t).await;
    assert!(
        !all.contains(&format!("\"{cy_code}\"")),
        "a code leaked into the audit log"
    );
}

pub async fn link_is_single_use_and_expires(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    let (_, _, ada) = signup_ok(&s.core, &t, "ada@example.com", "en").await;
    let ticket = ticket_in(
        &last_email(&s.core, &t, "ada@example.com", "verify_email")
            .await
            .text_body,
    );
    let user = s.core.verify_email_link(&t, &ticket, &m).await.unwrap();
    assert_eq!(user.id, ada.id);
    assert!(user.email_verified);
    assert!(matches!(
        s.core.verify_email_link(&t, &ticket, &m).await,
        Err(VerifyError::WrongOrExpired)
    ));
    let e = events(&s.core, &t, &["user.email_verified"]).await;
    assert_eq!(e[0]["context"]["method"], "link");

    // Expired after a day.
    signup_ok(&s.core, &t, "bob@example.com", "en").await;
    let ticket = ticket_in(
        &last_email(&s.core, &t, "bob@example.com", "verify_email")
            .await
            .text_body,
    );
    s.clock.advance_secs(VERIFY_TICKET_SECS + 1);
    assert!(matches!(
        s.core.verify_email_link(&t, &ticket, &m).await,
        Err(VerifyError::WrongOrExpired)
    ));

    // Made-up, truncated, hostile and other tenants' tickets.
    let other = s.fixtures("other").tenant().await;
    signup_ok(&s.core, &t, "cy@example.com", "en").await;
    let ticket = ticket_in(
        &last_email(&s.core, &t, "cy@example.com", "verify_email")
            .await
            .text_body,
    );
    for bad in [
        "",
        "abc",
        &ticket[..20],
        "'; drop table users; --",
        &"A".repeat(5000),
    ] {
        assert!(
            s.core.verify_email_link(&t, bad, &m).await.is_err(),
            "{bad}"
        );
    }
    assert!(s.core.verify_email_link(&other, &ticket, &m).await.is_err());
    assert!(s.core.verify_email_link(&t, &ticket, &m).await.is_ok());

    // A link proves only the address it was sent to.
    let (_, _, di) = signup_ok(&s.core, &t, "di@example.com", "en").await;
    let ticket = ticket_in(
        &last_email(&s.core, &t, "di@example.com", "verify_email")
            .await
            .text_body,
    );
    s.fixtures("default")
        .edit_user(&di, |u| {
            u.email = Some(clavis_types::Email::parse("di2@example.com").unwrap());
        })
        .await;
    assert!(s.core.verify_email_link(&t, &ticket, &m).await.is_err());
}

pub async fn resends_are_limited_and_replace_the_previous_code(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    let (_, _, ada) = signup_ok(&s.core, &t, "ada@example.com", "en").await;
    let first = last_email(&s.core, &t, "ada@example.com", "verify_email").await;
    // The signup's email and four more in the hour; the sixth is refused.
    for _ in 0..4 {
        s.clock.advance_secs(1);
        s.core.send_verification(&t, &ada, "fr", &m).await.unwrap();
    }
    let r = s.core.send_verification(&t, &ada, "en", &m).await;
    assert!(
        matches!(r, Err(VerifyError::Throttled { retry_after_secs }) if retry_after_secs > 0),
        "{r:?}"
    );
    assert_eq!(outbox(&s.core, &t, "ada@example.com").await.len(), 5);
    let newest = last_email(&s.core, &t, "ada@example.com", "verify_email").await;
    assert!(newest.subject.starts_with("Vérifiez"));
    // Only the newest code and link work.
    let old_code = code_in(&first.text_body);
    let new_code = code_in(&newest.text_body);
    if old_code != new_code {
        assert!(
            s.core
                .verify_email_code(&t, &ada, &old_code, &m)
                .await
                .is_err()
        );
    }
    assert!(
        s.core
            .verify_email_link(&t, &ticket_in(&first.text_body), &m)
            .await
            .is_err()
    );
    s.clock.advance_secs(3_601);
    s.core.send_verification(&t, &ada, "en", &m).await.unwrap();
    let newest = last_email(&s.core, &t, "ada@example.com", "verify_email").await;
    let user = s
        .core
        .verify_email_link(&t, &ticket_in(&newest.text_body), &m)
        .await
        .unwrap();
    // Verified: nothing more is sent.
    s.core.send_verification(&t, &user, "en", &m).await.unwrap();
    assert_eq!(outbox(&s.core, &t, "ada@example.com").await.len(), 6);
}
