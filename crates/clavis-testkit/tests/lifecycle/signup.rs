//! Signup: the verification email in both languages, the password policy, an address
//! that already has an account, and the tenant's switches.

use clavis_core::model::EmailState;
use clavis_core::service::lifecycle::{PasswordProblem, SignupError, SignupOutcome};
use clavis_testkit::Backend;

use crate::{
    GOOD, all_events_text, code_in, events, last_email, meta, outbox, password_problems, signup_ok,
    start, ticket_in, user_by_email,
};

pub async fn signup_sends_the_verification_email_in_english_and_french(b: Backend) {
    let (s, t) = start(b).await;
    let (session, cookie, user) = signup_ok(&s.core, &t, "ada@example.com", "en").await;
    assert!(!user.email_verified);
    assert_eq!(user.profile.name.as_deref(), Some("Test Person"));
    assert_eq!(user.profile.locale.as_deref(), Some("en"));
    // Logged in: the cookie opens the session.
    let (found, _) = s
        .core
        .session_from_cookie(&t, &cookie)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, session.id);
    assert_eq!(found.amr, vec!["pwd".to_owned()]);

    let mail = outbox(&s.core, &t, "ada@example.com").await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    let m = &mail[0];
    assert_eq!(m.template, "verify_email");
    assert_eq!(m.state, EmailState::Stored, "no SMTP server in tests");
    assert_eq!(m.subject, "Verify your email address for Default");
    let ticket = ticket_in(&m.text_body);
    assert_eq!(ticket.len(), 43, "32 random bytes, base64url");
    let link = format!(
        "{}/t/default/verify-email/confirm?ticket={ticket}",
        s.base_url
    );
    assert!(m.text_body.contains(&link), "{}", m.text_body);
    let code = code_in(&m.text_body);
    assert!(m.text_body.contains("24 hours"), "{}", m.text_body);
    // The HTML body: the same link and code, accessible, nothing loaded from elsewhere.
    let html = &m.html_body;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(html.contains(&code));
    for remote in ["<img", "<script", "<link", "src=", "url(", "@import"] {
        assert!(!html.contains(remote), "{remote} in {html}");
    }
    assert!(html.contains("<title>Verify your email address for Default</title>"));

    // French: the same email in French.
    let (_, _, fr) = signup_ok(&s.core, &t, "zoe@example.fr", "fr-CA").await;
    assert_eq!(fr.profile.locale.as_deref(), Some("fr"));
    let m = last_email(&s.core, &t, "zoe@example.fr", "verify_email").await;
    assert_eq!(m.subject, "Vérifiez votre adresse e-mail pour Default");
    assert!(
        m.text_body.contains("expirent dans 24 heures"),
        "{}",
        m.text_body
    );
    assert!(m.html_body.contains("<html lang=\"fr\">"));
    assert!(m.html_body.contains("Vérifier mon adresse e-mail"));
    // An unknown language falls back to English.
    signup_ok(&s.core, &t, "kim@example.kr", "ko").await;
    let m = last_email(&s.core, &t, "kim@example.kr", "verify_email").await;
    assert!(m.subject.starts_with("Verify"));

    // Audited in the signup's transaction; no secret in any event.
    let signups = events(&s.core, &t, &["user.signup"]).await;
    assert_eq!(signups.len(), 3);
    assert_eq!(signups[2]["context"]["user_id"], user.id.as_str());
    assert_eq!(signups[2]["context"]["verification_sent"], true);
    assert_eq!(events(&s.core, &t, &["user.created"]).await.len(), 3);
    let all = all_events_text(&s.core, &t).await;
    let quoted_code = format!("\"{code}\"");
    for secret in [GOOD, ticket.as_str(), quoted_code.as_str()] {
        assert!(!all.contains(secret), "{secret} leaked into the audit log");
    }
}

pub async fn common_personal_and_long_passwords_are_refused(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    let signup = |email: &'static str, pw: String, name: Option<&'static str>| {
        let core = s.core.clone();
        let t = t.clone();
        let m = m.clone();
        async move { core.signup(&t, email, &pw, name, "en", &m).await }
    };
    for common in ["password1", "Iloveyou1", "QWERTY123", "trustno1"] {
        let p = password_problems(signup("ann@example.com", common.into(), None).await);
        assert!(p.contains(&PasswordProblem::Common), "{common}: {p:?}");
    }
    let p =
        password_problems(signup("jean.dupont@example.fr", "Dupont#2024-xQ".into(), None).await);
    assert_eq!(p, vec![PasswordProblem::ContainsPersonalInfo]);
    let p = password_problems(
        signup(
            "jd@example.fr",
            "9!Okafor-rules-Q".into(),
            Some("Marie-Claire Okafor"),
        )
        .await,
    );
    assert_eq!(p, vec![PasswordProblem::ContainsPersonalInfo]);
    let p = password_problems(signup("ann@example.com", "Zq7!mK".into(), None).await);
    assert!(p.contains(&PasswordProblem::TooShort { min: 8 }), "{p:?}");
    let p = password_problems(signup("ann@example.com", "Summer2024!".into(), None).await);
    assert!(p.contains(&PasswordProblem::TooWeak), "{p:?}");
    // Too long: refused alone, before anything else looks at it.
    let p = password_problems(signup("ann@example.com", "x".repeat(257), None).await);
    assert_eq!(p, vec![PasswordProblem::TooLong]);
    assert_eq!(p[0].message_key(), "password.too_long");
    // Nothing was created or sent.
    for email in ["ann@example.com", "jean.dupont@example.fr", "jd@example.fr"] {
        assert!(user_by_email(&s.core, &t, email).await.is_none());
        assert!(outbox(&s.core, &t, email).await.is_empty());
    }
    assert!(
        events(&s.core, &t, &["user.signup", "user.created"])
            .await
            .is_empty()
    );
    // Bad addresses.
    for bad in [
        "not an address",
        "a@b",
        "ann@example.com\r\nBcc: x@example.com",
    ] {
        assert!(matches!(
            s.core.signup(&t, bad, GOOD, None, "en", &m).await,
            Err(SignupError::InvalidEmail)
        ));
    }
}

pub async fn already_registered_signup_creates_nothing_and_emails_the_owner(b: Backend) {
    let (s, t) = start(b).await;
    let owner = s.fixtures("default").user("owner@example.com", GOOD).await;
    let m = meta();
    // A new address and a registered one give the same kind of answer for a refused
    // password: the check runs before the address is looked up.
    let new = s
        .core
        .signup(&t, "fresh@example.com", "password1", None, "en", &m)
        .await;
    let old = s
        .core
        .signup(&t, "owner@example.com", "password1", None, "en", &m)
        .await;
    assert_eq!(password_problems(new), password_problems(old));

    let r = s
        .core
        .signup(&t, "Owner@Example.com", "Zr8!kW2m-Qp5x", None, "en", &m)
        .await
        .unwrap();
    assert!(matches!(r, SignupOutcome::AlreadyRegistered), "{r:?}");
    // Nothing created: the same single user, no new session, no verification email.
    let still = user_by_email(&s.core, &t, "owner@example.com")
        .await
        .unwrap();
    assert_eq!(still.id, owner.id);
    assert_eq!(
        s.fixtures("default").password_hash(&owner).await,
        s.fixtures("default").password_hash(&still).await
    );
    assert!(
        events(&s.core, &t, &["user.signup", "user.created"])
            .await
            .is_empty()
    );
    // The owner is told, with links to log in or reset.
    let mail = outbox(&s.core, &t, "owner@example.com").await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0].template, "already_registered");
    assert!(
        mail[0]
            .text_body
            .contains(&format!("{}/t/default/login", s.base_url))
    );
    assert!(mail[0].text_body.contains("/t/default/password/forgot"));
    // Repeated attempts do not flood the owner: three emails an hour.
    for _ in 0..4 {
        let r = s
            .core
            .signup(&t, "owner@example.com", GOOD, None, "en", &m)
            .await;
        assert!(matches!(r, Ok(SignupOutcome::AlreadyRegistered)));
    }
    assert_eq!(outbox(&s.core, &t, "owner@example.com").await.len(), 3);
    s.clock.advance_secs(3_600);
    s.core
        .signup(&t, "owner@example.com", GOOD, None, "en", &m)
        .await
        .unwrap();
    assert_eq!(outbox(&s.core, &t, "owner@example.com").await.len(), 4);
}

pub async fn signup_can_be_disabled_or_skip_verification(b: Backend) {
    let (s, t) = start(b).await;
    let m = meta();
    let mut off = t.clone();
    off.settings.universal_login.signup_enabled = false;
    assert!(matches!(
        s.core
            .signup(&off, "ann@example.com", GOOD, None, "en", &m)
            .await,
        Err(SignupError::Disabled)
    ));
    assert!(
        user_by_email(&s.core, &t, "ann@example.com")
            .await
            .is_none()
    );

    let mut no_verify = t.clone();
    no_verify
        .settings
        .universal_login
        .require_email_verification = false;
    let (_, _, user) = signup_ok(&s.core, &no_verify, "ann@example.com", "en").await;
    assert!(!user.email_verified);
    assert!(outbox(&s.core, &t, "ann@example.com").await.is_empty());
    let e = events(&s.core, &t, &["user.signup"]).await;
    assert_eq!(e[0]["context"]["verification_sent"], false);

    // With no history kept, signup records none (and the policy still applies).
    let mut lax = t.clone();
    lax.settings.password_policy.history = 0;
    lax.settings.password_policy.dictionary = false;
    lax.settings.password_policy.min_strength = 0;
    let r = s
        .core
        .signup(&lax, "bo@example.com", "password1", None, "en", &m)
        .await;
    assert!(matches!(r, Ok(SignupOutcome::Created { .. })), "{r:?}");
}
